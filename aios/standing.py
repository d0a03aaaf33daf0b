"""Standing approvals: an administrator's approval given in advance for a bounded action.

A standing approval names a tool and constrains its arguments (an exact value, or a list of
allowed values, per argument); it expires and has a number of uses. A run about to wait for a
person asks first (the `aios.use_standing_approval` activity, which consumes one use atomically in
PostgreSQL); when one matches, the run goes on and its events and trace name the standing
approval and who created it. Arguments the constraints do not name are free.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# At most this many live standing approvals a tenant may hold for one tool.
MAX_PER_TOOL = 100


class ArgConstraint(BaseModel):
    """What one argument may be: exactly `equals`, or one of `one_of`."""

    model_config = ConfigDict(extra="forbid")

    equals: Any = None
    one_of: list[Any] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_kind(self) -> ArgConstraint:
        if (self.equals is None) == (self.one_of is None):
            raise ValueError("give exactly one of `equals` or `one_of`")
        return self

    def allows(self, value: Any) -> bool:
        allowed = [self.equals] if self.one_of is None else self.one_of
        return any(_same(value, a) for a in allowed)


def _same(value: Any, allowed: Any) -> bool:
    # JSON equality: 1 == 1.0 is fine, True is not 1.
    if isinstance(value, bool) or isinstance(allowed, bool):
        return type(value) is type(allowed) and value == allowed
    return bool(value == allowed)


def matches(constraints: dict[str, ArgConstraint], args: dict[str, Any]) -> bool:
    """True when every constrained argument is given and allowed."""
    return all(name in args and c.allows(args[name]) for name, c in constraints.items())


class StandingApproval(BaseModel):
    """A standing approval as stored and listed (`GET /v1/standing-approvals`)."""

    id: str
    tenant: str
    tool: str
    constraints: dict[str, ArgConstraint]
    expires_at: datetime
    uses: int
    uses_left: int
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    note: str = ""


class StandingUseRequest(BaseModel):
    """The activity's input: an action about to wait for a person. `use_key` makes a retried
    attempt (or a replayed run) find the use it already made instead of consuming another."""

    tenant: str
    tool: str
    args: dict[str, Any]
    use_key: str


class StandingUse(BaseModel):
    """The standing approval that let an action through."""

    standing_approval_id: str
    created_by: str
    uses_left: int
    expires_at: datetime
