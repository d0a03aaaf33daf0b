"""Users' contact addresses (`/v1/users/{user_id}/contact`): where the notices of approvals routed
to a user reach them (an email, optionally a Slack member id). Kept per tenant.

Who may: the user themself, or an admin of the tenant for any of its users; to anyone else
another user's contact does not exist (404), as another user's memory does not. An admin sets a
contact only for a user of the tenant (a live key names them: 422 otherwise); a user sets their
own whatever signs them in (a key or a JWT). A bad address or Slack id is a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from aios.errors import NotFound, ValidationFailed
from aios.notices import Contact, ContactIn
from aios.stores.approval_policies import PolicyStore
from aios.stores.contacts import ContactStore
from aios.wire import SAFE_VALUE
from api.authz import require_self_or_admin
from api.deps import DbDep, PrincipalDep
from api.examples import example

router = APIRouter(prefix="/v1/users", tags=["approvals"])

UserId = Annotated[str, Path(max_length=200, pattern=SAFE_VALUE.pattern)]

CONTACT_EXAMPLE = {
    "user_id": "carol",
    "email": "carol@acme.example",
    "slack_user_id": "U024BE7LH",
    "updated_by": "adam",
    "updated_at": "2026-12-06T08:00:00Z",
}


@router.put("/{user_id}/contact", response_model=Contact, responses=example(CONTACT_EXAMPLE))
async def put_contact(
    user_id: UserId, body: ContactIn, principal: PrincipalDep, pool: DbDep
) -> Contact:
    """Set where approval notices reach the user (replacing what was there): the user
    themself, or an admin for a user of the tenant. Notices of approvals routed to the user (by
    name, a group they are in, or a role their keys hold) go to this address."""
    require_self_or_admin(principal, user_id, "contact")
    if user_id != principal.user_id and user_id not in await PolicyStore(pool).users(
        principal.tenant
    ):
        raise ValidationFailed(
            f"user_id: {user_id!r} is not a user of the tenant (a user is whoever a live key "
            "of the tenant names)"
        )
    return await ContactStore(pool).put(principal.tenant, user_id, body, principal.user_id)


@router.get("/{user_id}/contact", response_model=Contact, responses=example(CONTACT_EXAMPLE))
async def get_contact(user_id: UserId, principal: PrincipalDep, pool: DbDep) -> Contact:
    """The user's contact: the user themself, or an admin; 404 when none is set."""
    require_self_or_admin(principal, user_id, "contact")
    found = await ContactStore(pool).get(principal.tenant, user_id)
    if found is None:
        raise NotFound(f"no contact for user {user_id!r}")
    return found


@router.delete("/{user_id}/contact", status_code=204, response_class=Response)
async def delete_contact(user_id: UserId, principal: PrincipalDep, pool: DbDep) -> Response:
    """Forget the user's contact (their notices go to the tenant's configured address again):
    the user themself, or an admin; 404 when none is set."""
    require_self_or_admin(principal, user_id, "contact")
    if not await ContactStore(pool).delete(principal.tenant, user_id):
        raise NotFound(f"no contact for user {user_id!r}")
    return Response(status_code=204)
