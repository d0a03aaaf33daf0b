"""`aios policies` (approval policies per tool, skill or schedule) and `aios groups` (groups of
approvers): list, show, create or set, delete. Both need an admin key."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aios.approval_policies import Group, StoredPolicy
from aios.client import ApiClient
from aios.errors import UserError

SUBJECTS = ("tool", "skill", "schedule", "budget")


def _escalation(text: str) -> dict[str, Any]:
    """`role:operator,dave:7200` -> the next group and its window in seconds."""
    names, sep, seconds = text.rpartition(":")
    try:
        window = float(seconds)
    except ValueError:
        window = -1.0
    if not sep or not names or window <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give APPROVER[,APPROVER...]:SECONDS, e.g. role:operator:7200"
        )
    return {"approvers": [n for n in names.split(",") if n], "timeout_s": window}


def _json(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=2)


def policy_line(p: StoredPolicy) -> str:
    who = ", ".join(p.approvers) or "anyone with the approver role"
    terms = [f"{p.approvals_required} of {who}"]
    if p.timeout_s is not None:
        terms.append(f"within {p.timeout_s:g}s")
    terms += [f"then {', '.join(e.approvers)} ({e.timeout_s:g}s)" for e in p.escalate]
    if p.on_timeout is not None:
        terms.append(f"then {p.on_timeout}")
    if p.allow_self_approval:
        terms.append("requesters may approve their own")
    origin = "" if p.source == "tenant" else "  [repository default]"
    return f"{p.id}  {p.subject.value} {p.name}: {'; '.join(terms)}{origin}"


async def cmd_policies(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "create":
        subjects = [(s, getattr(args, s)) for s in SUBJECTS if getattr(args, s)]
        if len(subjects) != 1:
            raise UserError(
                "a policy is for one of --tool NAME, --skill NAME, --schedule ID or --budget SCOPE"
            )
        [(subject, name)] = subjects
        body: dict[str, Any] = {
            "subject": subject,
            "name": name,
            "approvers": args.approver or [],
            "approvals_required": args.k,
            "escalate": args.escalate or [],
            "note": args.note or "",
        }
        if args.timeout_s is not None:
            body["timeout_s"] = args.timeout_s
        if args.on_timeout is not None:
            body["on_timeout"] = args.on_timeout
        if args.allow_self_approval:
            body["allow_self_approval"] = True
        made = StoredPolicy.model_validate(await api.request("POST", "/v1/policies", json=body))
        print(
            json.dumps(made.model_dump(mode="json"), indent=2) if args.json else policy_line(made)
        )
        return 0
    if args.action in ("show", "delete") and not args.policy_id:
        raise UserError(
            f"which policy? aios policies {args.action} pol_… (aios policies lists them)"
        )
    if args.action == "delete":
        await api.request("DELETE", f"/v1/policies/{args.policy_id}")
        print(f"deleted {args.policy_id}")
        return 0
    if args.action == "show":
        one = StoredPolicy.model_validate(
            await api.request("GET", f"/v1/policies/{args.policy_id}")
        )
        print(_json(one) if args.json else policy_line(one))
        return 0
    listed = await api.request("GET", "/v1/policies")
    policies = [StoredPolicy.model_validate(p) for p in listed["policies"]]
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in policies], indent=2))
    elif not policies:
        print("no approval policies: aios policies create --tool publish_report --approver group:x")
    for p in policies if not args.json else []:
        print(policy_line(p))
    return 0


def group_line(g: Group) -> str:
    members = ", ".join(g.members) or "no members"
    return f"group:{g.name}  {members}" + (f"  ({g.description})" if g.description else "")


async def cmd_groups(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action != "list" and not args.name:
        raise UserError(f"which group? aios groups {args.action} NAME")
    if args.action == "set":
        body = {"members": args.member or [], "description": args.description or ""}
        exists = any(
            g["name"] == args.name for g in (await api.request("GET", "/v1/groups"))["groups"]
        )
        answer = (
            await api.request("PUT", f"/v1/groups/{args.name}", json=body)
            if exists
            else await api.request("POST", "/v1/groups", json={"name": args.name, **body})
        )
        group = Group.model_validate(answer)
        print(
            json.dumps(group.model_dump(mode="json"), indent=2) if args.json else group_line(group)
        )
        return 0
    if args.action == "delete":
        await api.request("DELETE", f"/v1/groups/{args.name}")
        print(f"deleted group:{args.name}")
        return 0
    if args.action == "show":
        group = Group.model_validate(await api.request("GET", f"/v1/groups/{args.name}"))
        print(
            json.dumps(group.model_dump(mode="json"), indent=2) if args.json else group_line(group)
        )
        return 0
    groups = [Group.model_validate(g) for g in (await api.request("GET", "/v1/groups"))["groups"]]
    if args.json:
        print(json.dumps([g.model_dump(mode="json") for g in groups], indent=2))
    elif not groups:
        print("no groups: aios groups set finance --member carol --member dave")
    for g in groups if not args.json else []:
        print(group_line(g))
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios policies` and `aios groups` with the parser's `client_verb` helper."""
    p = verb(
        "policies",
        cmd_policies,
        "approval policies per tool, skill or schedule: list, show, create, delete (admin key)",
    )
    p.add_argument(
        "action", nargs="?", choices=("list", "show", "create", "delete"), default="list"
    )
    p.add_argument("policy_id", nargs="?", help="show, delete: the policy (pol_…)")
    p.add_argument("--tool", help="create: a policy for this tool's approvals")
    p.add_argument("--skill", help="create: for every approval in runs of this skill")
    p.add_argument("--schedule", help="create: for every approval in runs of this schedule")
    p.add_argument(
        "--budget",
        metavar="SCOPE",
        help="create: a run refused by a cap of this scope (tenant, user, key, schedule, or * "
        "for any) waits for its approvers to raise the cap, instead of failing",
    )
    p.add_argument(
        "--approver",
        action="append",
        help="who may approve: a user id, role:NAME or group:NAME (repeatable; none: any approver)",
    )
    p.add_argument("--k", type=int, default=1, help="distinct approvers needed (default 1)")
    p.add_argument("--timeout-s", type=float, help="the first window (default: the plan's)")
    p.add_argument("--on-timeout", choices=("reject", "fail"), help="after the last window")
    p.add_argument(
        "--escalate",
        action="append",
        type=_escalation,
        help="the next group when a window passes: APPROVER[,APPROVER...]:SECONDS (repeatable)",
    )
    p.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="the run's requester may answer too (turns four eyes off for this subject)",
    )
    p.add_argument("--note", help="why the policy exists")
    g = verb("groups", cmd_groups, "groups of approvers (group:NAME): list, show, set, delete")
    g.add_argument("action", nargs="?", choices=("list", "show", "set", "delete"), default="list")
    g.add_argument("name", nargs="?", help="the group's name")
    g.add_argument("--member", action="append", help="set: a user id of the tenant (repeatable)")
    g.add_argument("--description", help="set: what the group is for")
