"""Schedules over Temporal Schedules: create, list, pause, resume, trigger, delete; their runs
are ordinary runs tagged with the schedule; tenants see only their own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

from tests.conftest import Stack
from tests.helpers import as_key, make_key


async def test_a_schedule_starts_runs_that_list_under_it(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/schedules",
        json={"goal": "What is a plan?", "cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"},
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    schedule_id = schedule["schedule_id"]
    assert schedule["cron"] == "0 7 * * 1-5" and schedule["timezone"] == "Europe/Berlin"
    assert schedule["next_runs"] and schedule["overlap"] == "skip" and not schedule["paused"]
    listed = (await api.get("/v1/schedules")).json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [schedule_id]

    paused = (await api.post(f"/v1/schedules/{schedule_id}/pause")).json()
    assert paused["paused"] is True
    assert (await api.post(f"/v1/schedules/{schedule_id}/resume")).json()["paused"] is False

    triggered = await api.post(f"/v1/schedules/{schedule_id}/trigger")
    assert triggered.status_code == 200
    runs: list[dict[str, Any]] = []
    for _ in range(100):
        runs = (await api.get("/v1/runs", params={"schedule_id": schedule_id})).json()["runs"]
        if runs and runs[0]["status"] == "completed":
            break
        await asyncio.sleep(0.2)
    assert len(runs) == 1 and runs[0]["goal"] == "What is a plan?"
    assert runs[0]["status"] == "completed"
    assert (await api.get(f"/v1/runs/{runs[0]['run_id']}")).status_code == 200

    assert (await api.delete(f"/v1/schedules/{schedule_id}")).status_code == 204
    assert (await api.get(f"/v1/schedules/{schedule_id}")).status_code == 404


async def test_bad_schedules_are_refused_and_tenants_are_apart(api: httpx.AsyncClient) -> None:
    for body, words in [
        ({"goal": "g"}, "exactly one of"),
        ({"goal": "g", "cron": "0 7 * * *", "interval_s": 3600}, "exactly one of"),
        ({"goal": "g", "interval_s": 5}, "interval_s"),
        ({"goal": "g", "cron": "0 7 * * *", "timezone": "Mars/Olympus"}, "time zone"),
        ({"goal": "g", "cron": "0 7 * * *", "skill": "teleport"}, "unknown skill"),
        ({"goal": "g", "cron": "0 7 * * *", "overlap": "sometimes"}, "overlap"),
        # The goal gets the checks a run's goal gets, when the schedule is made.
        ({"goal": "   ", "cron": "0 7 * * *"}, "the goal is empty"),
        ({"goal": "a\u0000b", "cron": "0 7 * * *"}, "NUL"),
        ({"goal": "x" * 8001, "cron": "0 7 * * *"}, "the limit is 8000"),
    ]:
        response = await api.post("/v1/schedules", json=body)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["detail"], response.json()
    mine = (await api.post("/v1/schedules", json={"goal": "g", "interval_s": 3600})).json()
    other = as_key((await make_key(api, "globex", "hank"))["key"])
    assert (await api.get(f"/v1/schedules/{mine['schedule_id']}", headers=other)).status_code == 404
    assert (await api.get("/v1/schedules", headers=other)).json()["schedules"] == []
    assert (
        await api.post(f"/v1/schedules/{mine['schedule_id']}/trigger", headers=other)
    ).status_code == 404
    await api.delete(f"/v1/schedules/{mine['schedule_id']}")


async def test_a_cron_schedule_fires_on_weekdays_in_its_time_zone(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    """Firing without waiting: Temporal's backfill evaluates the schedule's own spec over a past
    week, as if that week passed now. (The time-skipping test server has no Schedules: its
    maintainers declined them, temporalio/sdk-java#1954; this is the real dev server.)"""
    created = await api.post(
        "/v1/schedules",
        json={"goal": "What is a plan?", "cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"},
    )
    schedule_id = created.json()["schedule_id"]
    await api.post(f"/v1/schedules/{schedule_id}/pause")  # only the backfill starts runs
    # Sunday 15 to Sunday 22 November 2026; Berlin is UTC+1 then, so 07:00 there is 06:00 UTC.
    await stack.client.get_schedule_handle(schedule_id).backfill(
        ScheduleBackfill(
            start_at=datetime(2026, 11, 15, tzinfo=UTC),
            end_at=datetime(2026, 11, 22, tzinfo=UTC),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    runs: list[dict[str, Any]] = []
    for _ in range(150):
        runs = (await api.get("/v1/runs", params={"schedule_id": schedule_id})).json()["runs"]
        if len(runs) == 5 and all(r["status"] == "completed" for r in runs):
            break
        await asyncio.sleep(0.2)
    assert sorted(r["run_id"][-20:] for r in runs) == [
        f"2026-11-{day}T06:00:00Z" for day in (16, 17, 18, 19, 20)
    ], [r["run_id"] for r in runs]
    assert all(r["status"] == "completed" and r["goal"] == "What is a plan?" for r in runs)
    await api.delete(f"/v1/schedules/{schedule_id}")
