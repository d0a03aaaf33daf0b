"""Skills: the shipped catalogue, refusals of bad skill files, each shipped skill end to end
against the scripted model, and a plan step that runs a skill as a child workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.plan_checks import load_skills
from activities.tools import build_registry
from aios.errors import ConfigurationError
from tests.conftest import REPO, Stack, api_client, app_for, running_stack
from tests.helpers import docs_files, finish, ingest_files, start_plan, wait_done
from tests.support.fake_openai import FakeOpenAI

SHIPPED = {
    "research_report",
    "summarize_documents",
    "answer_with_citations",
    "data_report",
    "deep_research",
}


async def test_the_catalogue_lists_every_shipped_skill(api: httpx.AsyncClient) -> None:
    skills = {s["name"]: s for s in (await api.get("/v1/skills")).json()["skills"]}
    assert set(skills) >= SHIPPED
    research = skills["research_report"]
    assert research["version"] == 2 and research["triggers"]
    assert research["input_schema"]["properties"]["key_points"]["enum"] == [
        "auto",
        "model",
        "quotes",
    ]
    assert skills["data_report"]["input_schema"]["required"] == ["source"]


async def test_research_report_runs_as_a_skill_with_its_inputs(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    created = await api.post(
        "/v1/skills/research_report/runs",
        json={"inputs": {"topic": "How do approvals work?", "max_sources": 2}},
    )
    assert created.status_code == 202, created.text
    run = await wait_done(api, created.json()["run_id"])
    assert run["status"] == "completed", run.get("error")
    assert run["goal"] == "How do approvals work?"
    assert [s["id"] for s in run["plan"]] == ["retrieve", "extract", "trends", "report"]
    assert run["result"]["citations"]
    bad = await api.post("/v1/skills/research_report/runs", json={"inputs": {"k": "many"}})
    assert bad.status_code == 422 and "k" in bad.json()["detail"]
    assert (await api.post("/v1/skills/nope/runs", json={})).status_code == 404


@pytest.mark.parametrize(
    ("skill", "inputs", "steps"),
    [
        ("answer_with_citations", {"question": "What is a plan?"}, ["find", "answer"]),
        (
            "summarize_documents",
            {"subject": "durability", "max_documents": 2},
            ["find", "summaries", "overview"],
        ),
    ],
)
async def test_knowledge_skills_complete(
    api: httpx.AsyncClient,
    stack: Stack,
    fake_openai: FakeOpenAI,
    skill: str,
    inputs: dict[str, Any],
    steps: list[str],
) -> None:
    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    created = await api.post(f"/v1/skills/{skill}/runs", json={"inputs": inputs})
    assert created.status_code == 202, created.text
    run = await wait_done(api, created.json()["run_id"])
    assert run["status"] == "completed", run.get("error")
    assert [s["id"] for s in run["plan"]] == steps
    assert run["result"]["answer"] and run["result"]["citations"]


async def test_data_report_queries_then_reports(
    stack: Stack, temporal_env: WorkflowEnvironment, pg_url: str, fake_openai: FakeOpenAI
) -> None:
    await stack.pool.execute(
        "DROP TABLE IF EXISTS skill_sales; CREATE TABLE skill_sales (region text, total int);"
        "INSERT INTO skill_sales VALUES ('north', 120), ('south', 80)"
    )
    settings = stack.settings.model_copy(
        update={
            "sql_sources": {"sales": SecretStr(pg_url)},
            "task_queue": f"{stack.settings.task_queue}-sql",
            "data_dir": stack.settings.data_dir / "sql",
        }
    )
    async with (
        running_stack(settings, stack.pool, temporal_env, stack.resources.embedder) as second,
        api_client(app_for(second)) as api,
    ):
        created = await api.post(
            "/v1/skills/data_report/runs",
            json={
                "inputs": {
                    "question": "Which region sells most?",
                    "source": "sql",
                    "database": "sales",
                    "query": "SELECT region, total FROM skill_sales ORDER BY total DESC",
                }
            },
        )
        assert created.status_code == 202, created.text
        run = await wait_done(api, created.json()["run_id"])
    assert run["status"] == "completed", run.get("error")
    assert [s["id"] for s in run["plan"]] == ["data", "stage", "analysis", "report"]
    # The rows reached the analysing model through data.csv's overview (code_exec's output).
    analysis_prompt = next(
        m["content"] for r in fake_openai.requests for m in r["messages"] if "data.csv" in str(m)
    )
    assert "north" in analysis_prompt and "120" in analysis_prompt


async def test_a_plan_step_runs_a_skill_as_a_child_workflow(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "ask",
                "kind": "skill",
                "args": {
                    "name": "answer_with_citations",
                    "inputs": {"question": "What is a plan?"},
                },
            },
            {
                "id": "count",
                "kind": "tool",
                "tool": "word_count",
                "depends_on": ["ask"],
                "args": {"text": {"$ref": "steps.ask.output.text"}},
            },
        ],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    child = stack.client.get_workflow_handle(f"{handle.id}-ask")
    description = await child.describe()
    assert description.workflow_type == "SkillWorkflow"
    assert description.parent_id == handle.id


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "skills").mkdir(exist_ok=True)
    path = tmp_path / "skills" / "bad.yaml"
    path.write_text(text)
    return tmp_path / "skills"


BASE = "name: bad\ndescription: d\nsteps:\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (BASE + "  - {id: a, kind: tool, tool: teleport}", "unknown tool 'teleport'"),
        (
            BASE + "  - {id: a, kind: llm, args: {instruction: '{{steps.zz.output}}'}}",
            "unknown step 'zz'",
        ),
        (
            BASE + "  - {id: a, kind: llm, depends_on: [b], args: {instruction: x}}\n"
            "  - {id: b, kind: llm, depends_on: [a], args: {instruction: x}}",
            "cycle",
        ),
        (BASE + "  - {id: a, kind: llm, args: {instruction: x}, when: {colour: red}}", "colour"),
        (BASE + "  - {id: a, kind: llm, args: {temperature: 9, instruction: x}}", "temperature"),
        ("name: Bad Name\ndescription: d\nsteps: [{id: a, kind: llm}]", "name"),
        (
            "name: bad\ndescription: d\ninputs: {type: object, properties: {x: {type: date}}}\n"
            "steps: [{id: a, kind: llm, args: {instruction: x}}]",
            "inputs",
        ),
        ("steps: [", "cannot be read"),
    ],
)
def test_bad_skill_files_are_refused_with_file_and_step(
    tmp_path: Path, text: str, words: str
) -> None:
    directory = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as error:
        load_skills(directory, build_registry())
    assert "bad.yaml" in error.value.message and words in error.value.message, error.value.message


def test_shipped_skills_load_against_the_registry() -> None:
    skills = load_skills(REPO / "skills", build_registry())
    assert {s.name for s in skills.all()} == SHIPPED
    pumps = skills.for_goal("Summarise the documents on pumps")
    approvals = skills.for_goal("How do approvals work?")
    assert pumps is not None and pumps.name == "summarize_documents"
    assert approvals is not None and approvals.name == "research_report"
    assert skills.for_goal("send the invoice to Bob") is None


def test_every_declared_skill_input_reaches_what_it_configures() -> None:
    """An input the schema accepts but nothing reads is silently ignored (research_report's
    `approval_timeout_s` was, after a refactor: a 1-second window waited 24 hours)."""
    registry = build_registry()
    for skill in load_skills(REPO / "skills", registry).all():
        ignored = set(skill.inputs_model.model_fields) - skill.inputs_used()
        assert not ignored, f"skill {skill.name}: inputs nothing reads: {sorted(ignored)}"


def test_research_reports_approval_window_is_its_input() -> None:
    skill = load_skills(REPO / "skills", build_registry()).get("research_report")
    for window, expected in ((1, 1.0), (None, 86400.0)):
        given = {"topic": "pumps", "publish": True}
        if window is not None:
            given["approval_timeout_s"] = window
        plan = skill.plan(skill.complete_inputs(given))
        [publish] = [step for step in plan.steps if step.id == "publish"]
        assert publish.approval is not None and publish.approval.timeout_s == expected
