"""Approval policies as data: who answers an approval, how many, and what silence does, kept per
tool, skill or schedule instead of inside each plan.

A policy names its subject (`tool: publish_report`, `skill: research_report`, `schedule:
sched-…`) and says who may approve (user ids, `role:<name>`, `group:<name>`), how many distinct
approvers are needed (k of n), the timeout, what a timeout does (escalate to the next group,
then `reject` or `fail`). Policies come from two places:

- the repository's defaults, `policies/approvals.yaml` (AIOS_APPROVAL_POLICIES_FILE), loaded at
  start;
- each tenant's own, managed by its admins through `/v1/policies` (PostgreSQL).

When an approval opens, the run asks which policy applies (the `aios.approval_policy` activity)
and the first match wins, in this order (`resolve`):

1. the tenant's policy for the run's schedule, then its skill, then the tool;
2. the repository's default for the schedule, the skill, the tool;
3. none: the plan's or skill file's own `approval:` applies, as before.

A tenant's policy comes first because it is the tenant's admins' decision about their own
people; a repository default is the project's starting point; a plan is written by whoever
starts the run (or by a model), so it must not be able to weaken what an admin set. Within one
source the narrowest subject wins: a schedule is one job, a skill is many runs, a tool is every
run that calls it. A policy replaces the plan's approvers, k and escalation chain; its timeout
and timeout action replace the plan's when it sets them. The reason shown and what a rejection
does (`on_reject`) stay the plan's: they are about the plan's own steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aios.plan import APPROVER_PATTERN, ApprovalPolicy, Escalation, Plan

GROUP_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
GROUP_PREFIX = "group:"
ROLE_PREFIX = "role:"
# A tenant's policies and groups are bounded (what a run reads at each approval stays small).
MAX_POLICIES = 500
MAX_GROUPS = 200
MAX_MEMBERS = 500


class PolicySubject(StrEnum):
    """What a policy is about."""

    TOOL = "tool"
    SKILL = "skill"
    SCHEDULE = "schedule"
    # A spend cap a run's call crossed, named by its scope (BUDGET_SCOPES): instead of failing,
    # the run waits for the cap to be raised (workflows/run/budget_approval.py).
    BUDGET = "budget"


# Narrowest first: a schedule's policy beats its skill's, which beats the tool's.
SUBJECT_ORDER: tuple[PolicySubject, ...] = (
    PolicySubject.SCHEDULE,
    PolicySubject.SKILL,
    PolicySubject.TOOL,
)


# What a `budget` policy may be about: a cap of one of these scopes, or any cap.
ANY_CAP = "*"
BUDGET_SCOPES: tuple[str, ...] = ("tenant", "user", "key", "schedule", ANY_CAP)
# How the ledger names a refused cap (aios/stores/ledger/): `budget_exhausted: user ada, day ...`.
# A run's own budget (`budget_exhausted: run ...`) is its requester's, not a cap to raise.
_CAP_REFUSAL = re.compile(r"^budget_exhausted: (tenant|user|key|schedule) ")


def crossed_cap_scope(reason: str) -> str | None:
    """The scope of the cap a refusal names, when it is one an approval could raise."""
    found = _CAP_REFUSAL.match(reason)
    return found.group(1) if found else None


def _approver_names(value: list[str]) -> list[str]:
    bad = [v for v in value if not re.match(APPROVER_PATTERN, v)]
    if bad:
        raise ValueError(f"not a user id, role:<name> or group:<name>: {', '.join(map(repr, bad))}")
    groups = [v for v in value if v.startswith(GROUP_PREFIX)]
    bad = [g for g in groups if not re.match(GROUP_PATTERN, g[len(GROUP_PREFIX) :])]
    if bad:
        raise ValueError(f"not a group name: {', '.join(map(repr, bad))}")
    return value


class PolicyRule(BaseModel):
    """What a policy says about the approvals of its subject."""

    model_config = ConfigDict(extra="forbid")

    approvers: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="who may approve: user ids, `role:<name>`, `group:<name>`; empty: anyone "
        "with the approver role",
    )
    approvals_required: int = Field(
        default=1, ge=1, le=10, description="k of n: distinct approvers needed"
    )
    timeout_s: float | None = Field(
        default=None, gt=0, le=30 * 86400, description="the first window; unset: the plan's"
    )
    on_timeout: Literal["reject", "fail"] | None = Field(
        default=None, description="after the last window; unset: the plan's"
    )
    escalate: list[Escalation] = Field(
        default_factory=list,
        max_length=5,
        description="when a window passes unanswered, the next group and its window",
    )
    allow_self_approval: bool = Field(
        default=False,
        description="the run's requester may answer too (if otherwise allowed): four eyes "
        "off for this subject; only a policy can say so, never a plan.",
    )

    @field_validator("approvers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _approver_names(value)

    def named(self) -> list[str]:
        """Every approver name the policy uses, its escalation chain's too."""
        return [*self.approvers, *(n for e in self.escalate for n in e.approvers)]


class PolicyIn(PolicyRule):
    """A policy as an admin writes it (`POST /v1/policies`) or the repository lists it."""

    subject: PolicySubject
    name: str = Field(
        min_length=1,
        max_length=200,
        description="the tool's, skill's or schedule's name; for `budget`, the scope of the caps "
        "it is about (tenant, user, key, schedule) or * for any",
    )
    note: str = Field(default="", max_length=500)


class StoredPolicy(PolicyIn):
    """A policy as listed: a tenant's (`id` pol_…) or the repository's
    (`id` repo:<subject>:<name>)."""

    id: str
    source: Literal["tenant", "repo"]
    tenant: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None


class Group(BaseModel):
    """A named group of the tenant's users (`group:<name>` in policies and plans)."""

    name: str
    description: str = ""
    members: list[str] = Field(default_factory=list)
    created_by: str
    created_at: datetime
    updated_at: datetime


# The single-user development stack (`aios dev`): its key acts as this user of this tenant.
DEV_TENANT = "default"
DEV_USER = "dev"
DEV_SELF_APPROVAL_ID = "dev:self-approval"


class SelfApprovalPolicy(BaseModel):
    """A tenant-wide policy that lets these users answer their own runs' approvals (four eyes
    off for them), whatever the approval is about. There is one: the development stack's
    (`dev_self_approval`), which has nobody else to ask."""

    id: str
    tenant: str
    users: list[str]
    note: str = ""


def dev_self_approval(dev_key_set: bool) -> SelfApprovalPolicy | None:
    """The development stack's policy: while a development key is configured
    (AIOS_DEV_API_KEY, or the one `aios dev` makes), the runs its user asks for in the default
    tenant may be approved by that user. Keys made with `aios keys create` are other users (in
    whatever tenant), so four eyes hold for them."""
    if not dev_key_set:
        return None
    return SelfApprovalPolicy(
        id=DEV_SELF_APPROVAL_ID,
        tenant=DEV_TENANT,
        users=[DEV_USER],
        note="the single-user development stack has nobody else to ask",
    )


class PolicyRequest(BaseModel):
    """The `aios.approval_policy` activity's input: an approval about to open."""

    tenant: str
    tool: str | None = None
    skill: str | None = None
    schedule_id: str | None = None
    # Who asked for the run: a policy may let them answer their own run (self-approval). Sent
    # by runs since the `self-approval-policy` gate; without it nothing is said about it.
    requester: str | None = None
    # False: only whether self-approval is allowed (an answer review keeps its own terms).
    terms: bool = True
    # A call refused by a cap of this scope: only `budget` policies apply (budget_approval.py).
    budget: str | None = None


class AppliedPolicy(BaseModel):
    """The policy that applies to an approval (what the run's events and trace name), and the
    policy, if any, that lets the run's requester answer it (`self_approval_by`, its label)."""

    # None: no policy sets the terms (the plan's apply); only a self-approval policy applies.
    policy: StoredPolicy | None = None
    self_approval_by: str | None = None

    @property
    def label(self) -> str | None:
        p = self.policy
        if p is None:
            return None
        where = "tenant policy" if p.source == "tenant" else "repository default"
        return f"{where} {p.id} ({p.subject.value} {p.name})"

    def over(self, plan: ApprovalPolicy) -> ApprovalPolicy:
        """The plan's approval with this policy's terms in place of its own."""
        rule = self.policy
        if rule is None:
            return plan
        return plan.model_copy(
            update={
                "approvers": list(rule.approvers),
                "approvals_required": rule.approvals_required,
                "escalate": list(rule.escalate),
                "timeout_s": plan.timeout_s if rule.timeout_s is None else rule.timeout_s,
                "on_timeout": plan.on_timeout if rule.on_timeout is None else rule.on_timeout,
            }
        )


def applying(
    request: PolicyRequest,
    tenant_policies: Sequence[StoredPolicy],
    repo_policies: Sequence[StoredPolicy],
    self_approval: SelfApprovalPolicy | None,
) -> AppliedPolicy | None:
    """What applies to an approval about to open: the policy for its schedule, skill or tool
    (`resolve`; only when `request.terms`), and which policy, if any, lets the run's requester
    answer it: that policy itself when it says `allow_self_approval`, else a tenant-wide
    self-approval policy naming the requester (the development stack's). None: nothing applies.
    A request that names no requester (a run started before the `self-approval-policy` gate)
    gets the subject's policy alone, as before."""
    found = resolve(request, tenant_policies, repo_policies) if request.terms else None
    applied = AppliedPolicy(policy=found)
    if request.requester is None:
        return None if found is None else applied
    if found is not None and found.allow_self_approval:
        applied.self_approval_by = found.id
    elif (
        self_approval is not None
        and self_approval.tenant == request.tenant
        and request.requester in self_approval.users
    ):
        applied.self_approval_by = self_approval.id
    return None if found is None and applied.self_approval_by is None else applied


def subjects(request: PolicyRequest) -> list[tuple[PolicySubject, str]]:
    """What an approval is about, narrowest first. An approval to raise a cap is about that cap
    alone: its scope's policy, then the one for any cap."""
    if request.budget is not None:
        return [(PolicySubject.BUDGET, request.budget), (PolicySubject.BUDGET, ANY_CAP)]
    names = {
        PolicySubject.SCHEDULE: request.schedule_id,
        PolicySubject.SKILL: request.skill,
        PolicySubject.TOOL: request.tool,
    }
    return [(kind, names[kind] or "") for kind in SUBJECT_ORDER if names[kind]]


def resolve(
    request: PolicyRequest,
    tenant_policies: Sequence[StoredPolicy],
    repo_policies: Sequence[StoredPolicy],
) -> StoredPolicy | None:
    """The policy that applies: the tenant's before the repository's, and within each the
    schedule's, then the skill's, then the tool's; None: the plan's own approval applies."""
    wanted = subjects(request)
    for source in (tenant_policies, repo_policies):
        for kind, name in wanted:
            found = next((p for p in source if p.subject == kind and p.name == name), None)
            if found is not None:
                return found
    return None


class PolicyFileError(ValueError):
    """The repository's policy file cannot be used; the message says where and why."""


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[PolicyIn] = Field(default_factory=list, max_length=MAX_POLICIES)


def load_repo_policies(path: Path) -> list[StoredPolicy]:
    """The repository's default policies (an absent file: none). Raises PolicyFileError for a
    file that does not parse, or names one subject twice."""
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = _PolicyFile.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as e:
        raise PolicyFileError(f"{path}: {e}") from None
    seen: set[tuple[str, str]] = set()
    out: list[StoredPolicy] = []
    for policy in parsed.policies:
        key = (policy.subject.value, policy.name)
        if key in seen:
            raise PolicyFileError(f"{path}: {key[0]} {key[1]!r} has two policies")
        if policy.subject == PolicySubject.BUDGET and policy.name not in BUDGET_SCOPES:
            raise PolicyFileError(
                f"{path}: budget {policy.name!r} is no cap scope ({', '.join(BUDGET_SCOPES)})"
            )
        seen.add(key)
        out.append(StoredPolicy(**policy.model_dump(), id=f"repo:{key[0]}:{key[1]}", source="repo"))
    return out


def plan_approvers(plan: Plan) -> list[str]:
    """Every approver name a plan's approvals (and its answer review) use."""
    names: list[str] = []
    for step in plan.steps:
        if step.approval is not None:
            names += step.approval.approvers
            names += [n for e in step.approval.escalate for n in e.approvers]
    if plan.review is not None:
        names += plan.review.approvers
    return list(dict.fromkeys(names))


def problems(
    rule: PolicyRule | Sequence[str],
    *,
    known_roles: Iterable[str],
    known_groups: Iterable[str],
    known_users: Iterable[str] | None = None,
) -> list[str]:
    """What is wrong with the approvers a policy (or a plan, by its names) names: unknown roles
    and groups, and (when the tenant's users are known) unknown users."""
    roles, groups = set(known_roles), set(known_groups)
    users = None if known_users is None else set(known_users)
    found: list[str] = []
    names = rule.named() if isinstance(rule, PolicyRule) else list(rule)
    for name in dict.fromkeys(names):
        if name.startswith(ROLE_PREFIX):
            role = name[len(ROLE_PREFIX) :]
            if role not in roles:
                found.append(
                    f"unknown role {role!r} in {name!r}; the known roles are "
                    f"{', '.join(sorted(roles))}"
                )
        elif name.startswith(GROUP_PREFIX):
            group = name[len(GROUP_PREFIX) :]
            if group not in groups:
                have = ", ".join(sorted(groups)) or "none"
                found.append(f"unknown group {group!r} in {name!r}; the tenant's groups: {have}")
        elif users is not None and name not in users:
            found.append(f"{name!r} is not a user of the tenant (no key names them)")
    return found


def eligible(
    approvers: Sequence[str],
    users: dict[str, set[str]],
    groups: dict[str, set[str]],
    answering_roles: Iterable[str],
) -> set[str]:
    """The tenant's users who could answer an approval under a policy naming `approvers`: those
    named, in a named group or holding a named role (a policy's names let them answer without
    the approver role); nobody named: every user holding an answering role."""
    if not approvers:
        answering = set(answering_roles)
        return {u for u, roles in users.items() if roles & answering}
    named: set[str] = set()
    for name in approvers:
        if name.startswith(ROLE_PREFIX):
            role = name[len(ROLE_PREFIX) :]
            named |= {u for u, roles in users.items() if role in roles or "admin" in roles}
        elif name.startswith(GROUP_PREFIX):
            named |= groups.get(name[len(GROUP_PREFIX) :], set())
        else:
            named.add(name)
    return named & set(users)
