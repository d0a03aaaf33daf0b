"""The admin's map of Slack users to AIOS users: a Slack user acts only as the user mapped here,
in the tenant of their workspace, with the roles given here (as a key's roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aios.errors import NotFound, ValidationFailed
from aios.stores.slack import SlackStore, SlackUser
from aios.vocabulary import BUILTIN_ROLES
from api.deps import ADMIN_ONLY, DbDep, RegistryDep, SettingsDep
from api.examples import example

router = APIRouter()

TeamId = Annotated[str, Path(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")]
SlackUserId = Annotated[str, Path(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")]


class MapSlackUser(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"team_id": "T0123ABCD", "slack_user_id": "U0456EFGH", "user_id": "ada"}]
        },
    )

    team_id: str = Field(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")
    slack_user_id: str = Field(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")
    user_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]{1,200}$")
    roles: list[str] = Field(default_factory=lambda: ["user"], min_length=1, max_length=10)


class SlackUserOut(BaseModel):
    team_id: str
    slack_user_id: str
    tenant: str
    user_id: str
    roles: list[str]


class SlackUserList(BaseModel):
    users: list[SlackUserOut]


USER_EXAMPLE = {
    "team_id": "T0123ABCD",
    "slack_user_id": "U0456EFGH",
    "tenant": "acme",
    "user_id": "ada",
    "roles": ["user"],
}


@router.post(
    "/users",
    status_code=201,
    response_model=SlackUserOut,
    responses=example(USER_EXAMPLE, 201),
    dependencies=[ADMIN_ONLY],
)
async def map_user(
    body: MapSlackUser,
    settings: SettingsDep,
    pool: DbDep,
    registry: RegistryDep,
) -> SlackUserOut:
    """Map a Slack user of a configured workspace to an AIOS user of that workspace's tenant,
    with the roles they act with from Slack (as a key's roles). Mapping again replaces. Needs
    the admin role."""
    team = settings.slack_teams.get(body.team_id)
    if team is None:
        raise ValidationFailed(f"team_id: {body.team_id!r} is not a workspace in AIOS_SLACK_TEAMS")
    known = BUILTIN_ROLES | {role for spec in registry.specs(None) for role in spec.roles}
    unknown = sorted(set(body.roles) - known)
    if unknown:
        raise ValidationFailed(
            f"roles: unknown {', '.join(map(repr, unknown))}; the known roles are "
            f"{', '.join(sorted(known))}"
        )
    user = await SlackStore(pool).map_user(
        SlackUser(
            team_id=body.team_id,
            slack_user_id=body.slack_user_id,
            tenant=team.tenant,
            user_id=body.user_id,
            roles=body.roles,
        )
    )
    return _out(user)


@router.get(
    "/users",
    response_model=SlackUserList,
    responses=example({"users": [USER_EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_users(
    pool: DbDep,
    tenant: Annotated[str | None, Query(max_length=100)] = None,
) -> SlackUserList:
    """The mapped Slack users (of one tenant, or all). Needs the admin role."""
    return SlackUserList(users=[_out(u) for u in await SlackStore(pool).users(tenant)])


@router.delete(
    "/users/{team_id}/{slack_user_id}",
    status_code=204,
    response_class=Response,
    dependencies=[ADMIN_ONLY],
)
async def unmap_user(team_id: TeamId, slack_user_id: SlackUserId, pool: DbDep) -> Response:
    """Forget a Slack user: their requests are refused from now on. Needs the admin role."""
    if not await SlackStore(pool).unmap_user(team_id, slack_user_id):
        raise NotFound(f"no mapped Slack user {slack_user_id!r} in team {team_id!r}")
    return Response(status_code=204)


def _out(user: SlackUser) -> SlackUserOut:
    return SlackUserOut(
        team_id=user.team_id,
        slack_user_id=user.slack_user_id,
        tenant=user.tenant,
        user_id=user.user_id,
        roles=list(user.roles),
    )
