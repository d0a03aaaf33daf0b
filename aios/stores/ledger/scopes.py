"""The ledger's terms: whom a model call is charged to (`Spender`), the counters it moves, and what
caps and the usage report read back as (`BudgetCap`, `UsageRow`).

A call is in one counter per scope and period: its tenant, user, key and schedule per day and
per month, and each of its runs (its own and the runs above it) that has a cap, for the run's
whole life. `counters_of` names them; the reservations (`reservations`) lock and move those a cap
applies to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from aios.models import RunCap

CapScope = Literal["tenant", "user", "key", "schedule"]
CapPeriod = Literal["day", "month"]
GroupBy = Literal["tenant", "user", "model", "skill", "schedule"]
CAP_SCOPES: tuple[str, ...] = ("tenant", "user", "key", "schedule")
GROUP_COLUMNS: dict[str, str] = {
    "tenant": "tenant",
    "user": "user_id",
    "model": "model",
    "skill": "skill",
    "schedule": "schedule_id",
}
# A reservation not settled within this long is taken as lost with its worker (model calls are
# bounded far below it by the activities' timeouts).
DEFAULT_TTL = timedelta(minutes=30)
MICRO = Decimal("0.000001")
RUN_PERIOD = "run"


@dataclass(frozen=True)
class Spender:
    """Whom one model call's spend is charged to."""

    tenant: str
    user_id: str
    run_id: str
    # This run's cap first (when it has one), then its parent runs' up to the root's.
    runs: list[RunCap] = field(default_factory=list)
    skill: str | None = None
    schedule_id: str | None = None
    key_id: str | None = None

    @property
    def root_run_id(self) -> str:
        return self.runs[-1].run_id if self.runs else self.run_id


@dataclass(frozen=True)
class BudgetCap:
    id: str
    tenant: str
    scope: str
    subject: str
    period: str
    usd: float | None
    tokens: int | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class UsageRow:
    group: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    # Reservations still open (calls in flight): not spent yet, but held against the caps.
    reserved_usd: float


def to_usd(value: float | Decimal) -> Decimal:
    """An amount of USD as the ledger keeps it (to the millionth)."""
    return Decimal(str(value)).quantize(MICRO)


def counters_of(spender: Spender, now: datetime) -> dict[tuple[str, str], str]:
    """(scope, period) -> how a refusal names it, for each counter a call of `spender` is in."""
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    subjects: list[tuple[str, str, str]] = [
        ("tenant", spender.tenant, f"tenant {spender.tenant}"),
        ("user", spender.user_id, f"user {spender.user_id}"),
    ]
    if spender.key_id:
        subjects.append(("key", spender.key_id, f"key {spender.key_id}"))
    if spender.schedule_id:
        subjects.append(("schedule", spender.schedule_id, f"schedule {spender.schedule_id}"))
    out: dict[tuple[str, str], str] = {}
    for scope, subject, label in subjects:
        name = f"{scope}:{spender.tenant}/{subject}"
        out[(name, day)] = f"{label}, day {day}"
        out[(name, month)] = f"{label}, month {month}"
    for run in spender.runs:
        if run.usd is not None or run.tokens is not None:
            out[(f"run:{run.run_id}", RUN_PERIOD)] = f"run {run.run_id}"
    return out
