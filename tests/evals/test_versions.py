"""Versions of prompts and skills: listed with their labels and hashes, pinned per run (the pinned
text is what the model is sent, and the run records what it used) or by a skill (its runs use
them unless they pin their own), unknown pins refused with 422 before anything starts."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pydantic import ValidationError

from aios.errors import ValidationFailed
from aios.skills import Skill, SkillCatalog, SkillSpec
from aios.versions import content_hash
from api.versions import VersionService
from tests.conftest import Stack
from tests.helpers import assert_problem
from tests.support.fake_openai import FakeOpenAI

CANDIDATE = "You are a terse assistant. Answer in one sentence. " + uuid.uuid4().hex


async def test_versions_are_listed_pinned_and_recorded(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    listed = (await api.get("/v1/versions")).json()["versions"]
    names = {(v["kind"], v["name"]) for v in listed if v["latest"]}
    assert {("prompt", "system"), ("prompt", "planner"), ("prompt", "agent")} <= names
    assert ("skill", "answer_with_citations") in names
    skill = next(v for v in listed if v["name"] == "research_report" and v["latest"])
    assert skill["label"].startswith("v2")  # the YAML's own `version: 2`

    label = f"cand-{uuid.uuid4().hex[:6]}"
    made = await api.post(
        "/v1/versions", json={"name": "system", "label": label, "text": CANDIDATE}
    )
    assert made.status_code == 201, made.text
    assert made.json()["hash"] == content_hash(CANDIDATE)
    again = await api.post(
        "/v1/versions", json={"name": "system", "label": label, "text": CANDIDATE + "!"}
    )
    assert_problem(again, 409)

    started = await api.post(
        "/v1/runs",
        json={
            "goal": "What is a durable run?",
            "skill": "answer_with_citations",
            "versions": {"system": label},
        },
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    state = (await api.get(f"/v1/runs/{run_id}", params={"wait_s": 30})).json()
    assert state["status"] == "completed", state
    assert state["versions"]["prompts"]["system"] == content_hash(CANDIDATE)
    assert state["versions"]["pinned"] == ["system"]
    systems = [r["messages"][0]["content"] for r in fake_openai.requests]
    assert any(s.startswith(CANDIDATE) for s in systems)

    # Unpinned: the latest (the code's) text, recorded too.
    fake_openai.reset()
    started = await api.post(
        "/v1/runs", json={"goal": "What is a worker?", "skill": "answer_with_citations"}
    )
    state = (await api.get(f"/v1/runs/{started.json()['run_id']}", params={"wait_s": 30})).json()
    latest = next(v for v in listed if v["name"] == "system" and v["latest"])
    assert state["versions"]["prompts"]["system"] == latest["hash"]
    assert not any(r["messages"][0]["content"].startswith(CANDIDATE) for r in fake_openai.requests)
    trace = (await api.get(f"/v1/runs/{started.json()['run_id']}/trace")).json()
    assert trace["versions"]["skill"] == "answer_with_citations"


async def test_unknown_versions_are_422_before_anything_runs(api: httpx.AsyncClient) -> None:
    for pins in ({"system": "no-such-label"}, {"colour": "v1"}, {"model": "gpt"}, {"skill": "v1"}):
        response = await api.post("/v1/runs", json={"goal": "What is AIOS?", "versions": pins})
        assert_problem(response, 422)


async def test_a_skill_pins_versions_its_runs_use_unless_the_run_pins_its_own(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    label = f"skill-pin-{uuid.uuid4().hex[:6]}"
    text = f"You answer as the pinned skill asks. {uuid.uuid4().hex}"
    made = await api.post("/v1/versions", json={"name": "system", "label": label, "text": text})
    assert made.status_code == 201, made.text
    base = stack.resources.skills.get("answer_with_citations").spec.model_dump()

    def catalog_with(pins: dict[str, str]) -> SkillCatalog:
        spec = SkillSpec.model_validate({**base, "name": "pinned_answer", "versions": pins})
        return SkillCatalog([*stack.resources.skills.all(), Skill(spec)])

    service = VersionService(stack.pool, catalog_with({"system": label, "model": "fast"}))
    versions, _ = await service.resolve("default", None, "pinned_answer")
    assert versions.prompts["system"] == content_hash(text)
    assert versions.model == "fast" and versions.pinned == ["model", "system"]
    # The run's own pin wins over the skill's.
    versions, _ = await service.resolve("default", {"system": "latest"}, "pinned_answer")
    assert versions.prompts["system"] != content_hash(text) and versions.model == "fast"
    # A skill pinning what does not exist is refused before any run, naming the skill.
    broken = VersionService(stack.pool, catalog_with({"system": "no-such-label"}))
    with pytest.raises(ValidationFailed, match="skill 'pinned_answer' pins a version"):
        await broken.resolve("default", None, "pinned_answer")
    # A skill pins prompts and the model only (not another skill's version).
    with pytest.raises(ValidationError, match="a skill cannot pin skill"):
        SkillSpec.model_validate({**base, "versions": {"skill": "v1"}})
