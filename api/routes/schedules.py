"""Schedules: Temporal Schedules that start ordinary runs on a cron expression or an interval.

Each scheduled run is an `AgentRunWorkflow` like any other, tagged by Temporal with the schedule
that started it (`TemporalScheduledById`), so `GET /v1/runs?schedule_id=` lists them. A schedule
belongs to the tenant and the user that created it (its memo says so): another tenant's schedule
is 404, and so is another user's to a plain `user`; an `operator` or `admin` sees and manages
every schedule of the tenant (api/authz.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.client import (
    Schedule,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError
from ulid import ULID

from aios import search_attributes as sa
from aios.config import DEFAULT_MAX_GOAL_CHARS
from aios.errors import NotFound, ValidationFailed
from aios.wire import SAFE_VALUE
from api.authz import sees_all_users
from api.deps import Principal, PrincipalDep, SettingsDep, TemporalDep
from api.examples import example
from api.run_service import RunsDep
from api.temporal_reads import UNREACHABLE, read_within, unavailable

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])
Overlap = Literal[
    "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
]
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
SCHEDULE_PREFIX = "sched-"


class CreateSchedule(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "goal": "Summarise yesterday's incidents",
                    "cron": "0 7 * * 1-5",
                    "timezone": "Europe/Berlin",
                }
            ]
        },
    )

    goal: str = Field(
        min_length=1,
        description="what each run should achieve; at most AIOS_MAX_GOAL_CHARS characters",
        # Documented here; checked in the route against the deployment's setting, with advice.
        json_schema_extra={"maxLength": DEFAULT_MAX_GOAL_CHARS},
    )
    cron: str | None = Field(default=None, max_length=200, description="e.g. `0 7 * * 1-5`")
    interval_s: int | None = Field(default=None, ge=60, le=366 * 86400)
    timezone: str = Field(default="UTC", max_length=100)
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    overlap: Overlap = Field(
        default="skip", description="when a run is still going at the next time"
    )
    catchup_window_s: int = Field(default=3600, ge=60, le=30 * 86400)
    paused: bool = False

    @model_validator(mode="after")
    def _one_timing(self) -> CreateSchedule:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of `cron` and `interval_s`")
        return self


class ScheduleOut(BaseModel):
    schedule_id: str
    goal: str
    # One of `cron` and `interval_s` is set, the other null.
    cron: str | None = None
    interval_s: int | None = None
    timezone: str
    skill: str | None = None
    overlap: str
    paused: bool
    next_runs: list[datetime]
    recent_runs: list[str]


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


def schedule_owner(memo: Mapping[str, Any], schedule: Schedule) -> str | None:
    """Who a schedule belongs to: the memo's `user`, or (a schedule made before owners were
    recorded) the user its runs are started for."""
    if isinstance(memo.get("user"), str):
        return str(memo["user"])
    attributes = getattr(schedule.action, "typed_search_attributes", None)
    return attributes.get(sa.USER) if attributes is not None else None


def _visible(principal: Principal, memo: Mapping[str, Any], schedule: Schedule) -> bool:
    """The tenant's, and the caller's own unless they see every user's."""
    if memo.get("tenant") != principal.tenant:
        return False
    return sees_all_users(principal) or schedule_owner(memo, schedule) == principal.user_id


async def _owned(
    temporal: TemporalDep, settings: Any, schedule_id: str, principal: Principal
) -> tuple[ScheduleHandle, Any]:
    if not schedule_id.startswith(SCHEDULE_PREFIX) or not SAFE_VALUE.match(schedule_id):
        raise NotFound(f"no schedule {schedule_id!r}")
    handle = temporal.get_schedule_handle(schedule_id)
    try:
        description = await read_within(settings, handle.describe(), f"schedule {schedule_id}")
    except RPCError as e:
        raise NotFound(f"no schedule {schedule_id!r}") from e
    if not _visible(principal, await description.memo(), description.schedule):
        raise NotFound(f"no schedule {schedule_id!r}")
    return handle, description


async def _out(schedule_id: str, description: Any) -> ScheduleOut:
    memo = await description.memo()
    schedule = description.schedule
    spec = schedule.spec
    return ScheduleOut(
        schedule_id=schedule_id,
        goal=str(memo.get("goal", "")),
        cron=memo.get("cron"),
        interval_s=memo.get("interval_s"),
        timezone=spec.time_zone_name or "UTC",
        skill=memo.get("skill"),
        overlap=schedule.policy.overlap.name.lower(),
        paused=schedule.state.paused,
        next_runs=list(description.info.next_action_times[:5]),
        recent_runs=[
            a.action.workflow_id
            for a in description.info.recent_actions
            if hasattr(a.action, "workflow_id")
        ],
    )


SCHEDULE_EXAMPLE = {
    "schedule_id": "sched-01jd2x7k9q3m5n8p4r6s0t2v4w",
    "goal": "Summarise yesterday's incidents",
    "cron": "0 7 * * 1-5",
    "timezone": "Europe/Berlin",
    "overlap": "skip",
    "paused": False,
    "next_runs": ["2026-11-23T06:00:00Z", "2026-11-24T06:00:00Z"],
    "recent_runs": ["run-sched-01jd2x7k9q3m5n8p4r6s0t2v4w-2026-11-20T06:00:00Z"],
}


@router.post(
    "", status_code=201, response_model=ScheduleOut, responses=example(SCHEDULE_EXAMPLE, status=201)
)
async def create_schedule(
    body: CreateSchedule,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    runs: RunsDep,
) -> ScheduleOut:
    """A schedule that starts a run (the goal, or a skill with inputs) on a cron expression or
    every `interval_s` seconds, in a time zone, with an overlap policy and a catch-up window."""
    schedule_id = f"{SCHEDULE_PREFIX}{str(ULID()).lower()}"
    action, goal = runs.scheduled_start(
        principal, schedule_id, goal=body.goal, skill=body.skill, inputs=body.inputs
    )
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"timezone: {body.timezone!r} is not an IANA time zone") from None
    spec = ScheduleSpec(
        cron_expressions=[body.cron] if body.cron else [],
        intervals=[ScheduleIntervalSpec(every=timedelta(seconds=body.interval_s))]
        if body.interval_s
        else [],
        time_zone_name=body.timezone,
    )
    try:
        handle = await temporal.create_schedule(
            schedule_id,
            Schedule(
                action=action,
                spec=spec,
                policy=SchedulePolicy(
                    overlap=_OVERLAP[body.overlap],
                    catchup_window=timedelta(seconds=body.catchup_window_s),
                ),
                state=ScheduleState(paused=body.paused, note=f"created by {principal.user_id}"),
            ),
            memo={
                "tenant": principal.tenant,
                "user": principal.user_id,
                "goal": goal[:2000],
                "cron": body.cron,
                "interval_s": body.interval_s,
                "skill": body.skill,
            },
            rpc_timeout=timedelta(seconds=settings.read_timeout_s * 3),
        )
    except RPCError as e:
        if "cron" in str(e).lower() or "invalid" in str(e).lower():
            raise ValidationFailed(f"cron: {e.message}") from None
        raise unavailable(settings, "the schedule", e) from e
    except UNREACHABLE as e:
        raise unavailable(settings, "the schedule", e) from e
    response.headers["Location"] = f"/v1/schedules/{schedule_id}"
    return await _out(schedule_id, await handle.describe())


async def tenant_schedule_ids(
    temporal: TemporalDep, settings: SettingsDep, tenant: str
) -> AsyncIterator[str]:
    """The ids of the tenant's schedules (AIOS's, by their prefix; the tenant is in the memo)."""
    async for listed in await read_within(settings, temporal.list_schedules(), "the schedules"):
        if listed.id.startswith(SCHEDULE_PREFIX) and (await listed.memo()).get("tenant") == tenant:
            yield listed.id


@router.get("", response_model=ScheduleList, responses=example({"schedules": [SCHEDULE_EXAMPLE]}))
async def list_schedules(
    principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> ScheduleList:
    """The tenant's schedules: a `user` sees their own, an operator or admin every user's."""
    out = []
    async for schedule_id in tenant_schedule_ids(temporal, settings, principal.tenant):
        description = await temporal.get_schedule_handle(schedule_id).describe()
        if _visible(principal, await description.memo(), description.schedule):
            out.append(await _out(schedule_id, description))
    return ScheduleList(schedules=out)


@router.get("/{schedule_id}", response_model=ScheduleOut, responses=example(SCHEDULE_EXAMPLE))
async def get_schedule(
    schedule_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> ScheduleOut:
    _, description = await _owned(temporal, settings, schedule_id, principal)
    return await _out(schedule_id, description)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(
    schedule_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    """Delete the schedule; runs it started carry on."""
    handle, _ = await _owned(temporal, settings, schedule_id, principal)
    await handle.delete()
    return Response(status_code=204)


@router.post(
    "/{schedule_id}/{action}",
    response_model=ScheduleOut,
    responses=example({**SCHEDULE_EXAMPLE, "paused": True}),
)
async def act_on_schedule(
    schedule_id: str,
    action: Literal["pause", "resume", "trigger"],
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> ScheduleOut:
    """`pause` and `resume` the schedule, or `trigger` one run now (its overlap policy holds)."""
    handle, _ = await _owned(temporal, settings, schedule_id, principal)
    if action == "pause":
        await handle.pause(note=note or f"paused by {principal.user_id}")
    elif action == "resume":
        await handle.unpause(note=note or f"resumed by {principal.user_id}")
    else:
        await handle.trigger()
    return await _out(schedule_id, await handle.describe())
