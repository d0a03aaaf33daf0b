"""Standing approvals: an administrator approves a bounded action in advance (a tool, constraints
on its arguments, an expiry, a number of uses), per tenant. A run whose approval it matches goes
on without pausing; the run's events and trace name it (aios/standing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aios.errors import NotFound, ValidationFailed
from aios.standing import MAX_PER_TOOL, ArgConstraint, StandingApproval
from aios.stores.standing_approvals import StandingApprovalStore
from api.deps import ADMIN_ONLY, DbDep, PrincipalDep, RegistryDep
from api.examples import example

router = APIRouter(prefix="/v1/standing-approvals", tags=["approvals"])

# How far ahead a standing approval may expire.
MAX_LIFETIME = timedelta(days=366)


class CreateStandingApproval(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tool": "send_email",
                    "constraints": {"to": {"equals": ["reports@acme.example"]}},
                    "expires_at": "2026-12-31T00:00:00Z",
                    "uses": 52,
                    "note": "the weekly report",
                }
            ]
        },
    )

    tool: str = Field(min_length=1, max_length=200, description="the tool it approves")
    constraints: dict[str, ArgConstraint] = Field(
        default_factory=dict,
        max_length=50,
        description="per argument: `equals` (an exact value) or `one_of` (allowed values); "
        "arguments not named are free",
    )
    expires_at: AwareDatetime
    uses: int = Field(ge=1, le=100_000, description="how many actions it lets through")
    note: str = Field(default="", max_length=500)


class StandingApprovalList(BaseModel):
    standing_approvals: list[StandingApproval]


EXAMPLE: dict[str, Any] = {
    "id": "sa_5f2c9a1e0b7d3c4a",
    "tenant": "acme",
    "tool": "send_email",
    "constraints": {"to": {"equals": ["reports@acme.example"]}},
    "expires_at": "2026-12-31T00:00:00Z",
    "uses": 52,
    "uses_left": 51,
    "created_by": "adam",
    "created_at": "2026-11-22T08:00:00Z",
    "revoked_at": None,
    "note": "the weekly report",
}


@router.post(
    "",
    status_code=201,
    response_model=StandingApproval,
    responses=example(EXAMPLE, status=201),
    dependencies=[ADMIN_ONLY],
)
async def create(
    body: CreateStandingApproval, principal: PrincipalDep, pool: DbDep, registry: RegistryDep
) -> StandingApproval:
    """Approve, for the caller's tenant, every call of `tool` whose arguments meet `constraints`,
    until `expires_at` or `uses` calls. Needs the admin role. An unknown tool, a constraint on an
    argument the tool does not take, or an expiry in the past is a 422."""
    spec = next((s for s in registry.specs(None) if s.name == body.tool), None)
    if spec is None:
        known = ", ".join(s.name for s in registry.specs(None))
        raise ValidationFailed(f"tool: unknown tool {body.tool!r}; known tools: {known}")
    takes = set((spec.input_schema.get("properties") or {}).keys())
    unknown = sorted(set(body.constraints) - takes)
    if unknown:
        raise ValidationFailed(
            f"constraints: {body.tool} takes no argument {', '.join(map(repr, unknown))}; "
            f"its arguments are {', '.join(sorted(takes)) or 'none'}"
        )
    now = datetime.now(UTC)
    if body.expires_at <= now:
        raise ValidationFailed(f"expires_at: {body.expires_at.isoformat()} is in the past")
    if body.expires_at > now + MAX_LIFETIME:
        raise ValidationFailed(f"expires_at: at most {MAX_LIFETIME.days} days ahead")
    store = StandingApprovalStore(pool)
    if await store.live_count(principal.tenant, body.tool) >= MAX_PER_TOOL:
        raise ValidationFailed(
            f"tool: the tenant holds {MAX_PER_TOOL} live standing approvals for {body.tool}; "
            "revoke some first"
        )
    return await store.create(
        tenant=principal.tenant,
        tool=body.tool,
        constraints=body.constraints,
        expires_at=body.expires_at,
        uses=body.uses,
        created_by=principal.user_id,
        note=body.note,
    )


@router.get(
    "",
    response_model=StandingApprovalList,
    responses=example({"standing_approvals": [EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_standing(
    principal: PrincipalDep, pool: DbDep, include_revoked: bool = False
) -> StandingApprovalList:
    """The tenant's standing approvals (revoked ones too with `include_revoked`), with the uses
    left. Needs the admin role."""
    found = await StandingApprovalStore(pool).list(
        principal.tenant, include_revoked=include_revoked
    )
    return StandingApprovalList(standing_approvals=found)


@router.delete(
    "/{standing_id}", status_code=204, response_class=Response, dependencies=[ADMIN_ONLY]
)
async def revoke(standing_id: str, principal: PrincipalDep, pool: DbDep) -> Response:
    """Revoke one: runs from now on wait for a person again. Needs the admin role; another
    tenant's (or an already revoked) one is 404."""
    if not await StandingApprovalStore(pool).revoke(principal.tenant, standing_id):
        raise NotFound(f"no live standing approval {standing_id!r}")
    return Response(status_code=204)
