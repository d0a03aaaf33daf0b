"""Versions hold whoever starts the run and whoever picks the skill: a scheduled run records the
latest prompts and its skill at its start (its input was written when the schedule was); a
skill's `versions:` pins hold when the planner picks the skill by its triggers and when the skill
runs as a skill step's child, unless the run's request pinned the same name."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from temporalio.testing import ActivityEnvironment

from activities.llm.activities import LlmActivities
from activities.planning import PlanningActivities
from aios.models import PlanningInput, PlanningResult
from aios.skills import Skill, SkillCatalog, SkillSpec
from aios.stores.deltas import DeltaHub
from aios.versions import content_hash
from aios.vocabulary import PlannerName
from aios.wire import CreateRun
from api.deps import Principal
from api.run_service import RunService
from tests.conftest import Stack


async def test_a_scheduled_run_records_the_versions_it_used(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/schedules", json={"goal": "What is a durable run?", "interval_s": 86_400}
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["schedule_id"]
    try:
        assert (await api.post(f"/v1/schedules/{schedule_id}/trigger")).status_code == 200
        runs: list[dict[str, Any]] = []
        for _ in range(100):  # the schedule starts the run on its own time
            runs = (await api.get("/v1/runs", params={"schedule_id": schedule_id})).json()["runs"]
            if runs:
                break
            await asyncio.sleep(0.1)
        assert runs, "the schedule started no run"
        run_id = runs[0]["run_id"]
        state = (await api.get(f"/v1/runs/{run_id}", params={"wait_s": 30})).json()
        assert state["status"] == "completed", state
        latest = {
            v["name"]: v["hash"]
            for v in (await api.get("/v1/versions")).json()["versions"]
            if v["latest"]
        }
        versions = state["versions"]
        assert versions is not None, "a scheduled run recorded no versions"
        for name in ("system", "planner", "agent"):
            assert versions["prompts"][name] == latest[name]
        assert versions["skill"] and versions["skill_hash"] == latest[versions["skill"]]
        trace = (await api.get(f"/v1/runs/{run_id}/trace")).json()
        assert trace["versions"]["prompts"] == versions["prompts"]
    finally:
        await api.delete(f"/v1/schedules/{schedule_id}")


async def test_a_skills_pins_hold_when_the_planner_picks_it_or_it_runs_as_a_child(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    label = f"picked-{uuid.uuid4().hex[:6]}"
    text = f"You answer as the picked skill asks. {uuid.uuid4().hex}"
    made = await api.post("/v1/versions", json={"name": "system", "label": label, "text": text})
    assert made.status_code == 201, made.text
    word = f"zebra{uuid.uuid4().hex[:8]}"
    base = stack.resources.skills.get("answer_with_citations").spec.model_dump()
    spec = SkillSpec.model_validate(
        {
            **base,
            "name": "picked_answer",
            "triggers": [word],
            "priority": 100,
            "versions": {"system": label, "model": "fast"},
        }
    )
    resources = stack.resources
    skills = SkillCatalog([*resources.skills.all(), Skill(spec)])
    llm = LlmActivities(resources.router, resources.registry, resources.pool)
    planning = PlanningActivities(resources.registry, llm, skills, resources.pool)

    async def plan(**request: Any) -> PlanningResult:
        result: PlanningResult = await ActivityEnvironment().run(
            planning.plan_run, PlanningInput(goal=f"Explain {word} to me", **request)
        )
        return result

    # Picked by its triggers, for a run that carries no versions (a scheduled run's).
    picked = await plan()
    assert picked.skill == "picked_answer" and picked.versions is not None
    assert picked.versions.skill == "picked_answer" and picked.versions.model == "fast"
    assert picked.versions.prompts["system"] == content_hash(text)
    assert picked.versions.pinned == ["model", "system"]

    # As a skill step's child run: the parent's versions, its skill cleared; what the parent's
    # request pinned holds over the skill's pins, the rest is the skill's.
    service = RunService(
        stack.client, stack.settings, stack.pool, resources.registry, skills, DeltaHub(stack.pool)
    )
    parent, _ = await service.versions.resolve("default", {"system": "latest"}, None)
    child = await plan(
        skill="picked_answer",
        planner=PlannerName.RULE,
        versions=parent.model_copy(update={"skill": None, "skill_hash": None}),
    )
    assert child.versions is not None and child.versions.skill == "picked_answer"
    assert child.versions.prompts["system"] == parent.prompts["system"] != content_hash(text)
    assert child.versions.model == "fast"

    # Started through the API, planned before the run starts (the rule planner's triggers).
    principal = Principal("default", "versions-test", frozenset({"user"}))
    run_input = await service.prepare(principal, CreateRun(goal=f"Explain {word} to me"))
    assert run_input.versions is not None and run_input.versions.skill == "picked_answer"
    assert run_input.versions.prompts["system"] == content_hash(text)
    assert run_input.versions.model == "fast"
