"""Who may do what inside a tenant: the one place the API's routes, the run service and the MCP
server (which calls the routes with the caller's own key) ask.

Across tenants nothing is shared: another tenant's anything is 404. Inside a tenant:

| who        | own runs, memory, chat | others' runs                 | answer an approval     |
|------------|------------------------|------------------------------|------------------------|
| `user`     | read, cancel, follow   | 404                          | 403 (*)                |
| `approver` | read, cancel, follow   | read while awaiting them (†) | yes, but not their own |
| `operator` | read, cancel, follow   | read, cancel, follow         | 403 (unless approver)* |
| `admin`    | everything             | everything                   | yes, but not their own |

(*) An approval whose approval policy (set by an admin: aios/approval_policies.py) names the caller,
by user id, group or role, may be answered by them without the approver role; a plan's own
`approvers` only narrow (a plan is written by the requester).

(†) Routed: a run is readable (its state, events, trace, outputs; listed) by someone who is not
its owner and no operator only while it (or a skill step's child run of it) waits on an approval
they may answer: one whose approvers name them (user id, a group they are in, a role they hold),
or, naming nobody, any approval while they hold the approver role. Everyone else gets 404, as
for another tenant's run; the approvals inbox lists the same approvals.

Another user's memory, chat sessions and schedules are 404 to everyone but `operator` and `admin`;
another user's contact address (where their approval notices go) to everyone but `admin`.

Four eyes: the user a run belongs to never answers its approvals, whatever their roles, unless
the approval's policy allows self-approval (the run's pending approval says so: `self_approval`).
"""

from __future__ import annotations

from collections.abc import Collection

from aios.approvals import FOUR_EYES, may_answer, named_by_policy
from aios.errors import Forbidden, NotFound
from aios.models import PendingApproval
from aios.vocabulary import Role
from api.deps import Principal


def has_role(principal: Principal, role: Role) -> bool:
    """Whether the caller holds `role` (`admin` holds every role)."""
    return role in principal.roles or Role.ADMIN in principal.roles


def sees_all_users(principal: Principal) -> bool:
    """Operators and admins see every user's runs, memory and sessions in their tenant."""
    return has_role(principal, Role.OPERATOR)


def require_user(principal: Principal, user_id: str, noun: str) -> None:
    """404 unless the caller is `user_id` or sees every user: another user's things do not exist
    for them, as another tenant's do not."""
    if user_id != principal.user_id and not sees_all_users(principal):
        raise NotFound(f"no {noun} for user {user_id!r}")


def require_self_or_admin(principal: Principal, user_id: str, noun: str) -> None:
    """404 unless the caller is `user_id` or an admin of the tenant (a user's contact: what
    only they and the tenant's admins manage)."""
    if user_id != principal.user_id and not has_role(principal, Role.ADMIN):
        raise NotFound(f"no {noun} for user {user_id!r}")


def routed_to(principal: Principal, pending: PendingApproval, groups: Collection[str]) -> bool:
    """Whether a pending approval waits on the caller (in `groups`): the approver role and named
    among its approvers (an approval naming nobody is every approver's), or named by the approval
    policy an admin set (which needs no approver role)."""
    user, roles = principal.user_id, principal.roles
    if has_role(principal, Role.APPROVER) and may_answer(pending.approvers, user, roles, groups):
        return True
    return named_by_policy(pending, user, roles, groups)


def may_read_run(principal: Principal, owner: str | None, awaiting_approval: bool) -> bool:
    """The run's owner, an operator, or (`awaiting_approval`) someone the run waits on: it waits
    on an approval routed to the caller (`routed_to`; the run service looks)."""
    if owner == principal.user_id or sees_all_users(principal):
        return True
    return awaiting_approval


def may_act_on_run(principal: Principal, owner: str | None) -> bool:
    """Cancel (and other changes to a run's course): its owner or an operator."""
    return owner == principal.user_id or sees_all_users(principal)


def require_approver(
    principal: Principal, requester: str | None, *, named: bool = False, own: bool = False
) -> None:
    """403 unless the caller may answer an approval of a run `requester` asked for: the approver
    role (or, `named`, an approval policy an admin set names the caller), and someone other than
    the requester (or, `own`, the approval's policy allows self-approval, as far as the run's
    last known state shows; the run checks it again itself)."""
    if not has_role(principal, Role.APPROVER) and not named:
        raise Forbidden("answering approvals needs the approver role; this key does not have it")
    if requester == principal.user_id and not own:
        raise Forbidden(FOUR_EYES)
