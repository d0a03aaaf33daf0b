"""A prompt's documents cut to fit the model's window are never cut silently (issue 25): the
scripted model declares a small window (AIOS_MODEL_CONTEXT_WINDOWS), an llm step in a long
conversation is given a long document, and the step's output and the run's decision trace name
the source and what was cut, and how much of the conversation was left out; an agent step given
the same document says it once in the trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import Settings
from tests.conftest import Stack, api_client, app_for, running_stack
from tests.helpers import wait_done
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

WINDOW = 1024
LONG = "https://example.com/pumps-manual"


@pytest.fixture
async def small_window_api(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
) -> AsyncIterator[tuple[httpx.AsyncClient, Stack]]:
    windows = {"local:fake-fast": WINDOW, "local:fake-strong": WINDOW}
    configured = settings.model_copy(update={"model_context_windows": windows})
    async with (
        running_stack(configured, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        yield api, stack


async def test_documents_cut_to_fit_the_window_are_named_in_the_output_and_trace(
    small_window_api: tuple[httpx.AsyncClient, Stack], fake_openai: FakeOpenAI
) -> None:
    api, stack = small_window_api
    for i in range(6):  # more than the prompt's share of a conversation (1,200 characters)
        await stack.resources.memory.append_message(
            "default",
            "s-trim",
            role="user",
            content=f"Message {i}: " + "seals " * 60,
            message_id=f"m{i}",
            user_id="ada",
        )
    fake_openai.queue(
        ScriptedReply(content="Seals every 4,000 hours [1]."),
        ScriptedReply(content="Nothing else to look up."),
    )
    documents = [
        {"source": "notes/short.md", "title": "Short", "text": "The pump is P-7."},
        {"source": LONG, "title": "Pumps manual", "text": "Replace the seals often. " * 800},
    ]
    plan = {
        "steps": [
            {
                "id": "answer",
                "kind": "llm",
                "args": {
                    "instruction": "How often are the seals replaced?",
                    "documents": documents,
                    "max_tokens": 200,
                    "cite": True,
                },
            },
            {  # an agent step opens its turns with the same documents
                "id": "dig",
                "kind": "agent",
                "args": {"instruction": "Anything else?", "documents": documents, "max_turns": 2},
                "depends_on": ["answer"],
            },
        ]
    }
    body = {"goal": "Seal intervals", "plan": plan, "user_id": "ada", "session_id": "s-trim"}
    created = await api.post("/v1/runs", json=body)
    assert created.status_code == 202, created.text
    run = await wait_done(api, created.json()["run_id"])
    assert run["status"] == "completed", run.get("error")

    output = (await api.get(f"/v1/runs/{run['run_id']}/steps/answer/output")).json()["output"]
    trim = output["context_trim"]
    [cut] = trim["documents"]  # the short one fitted whole
    assert cut["source"] == LONG and cut["n"] == 2
    assert cut["cut_chars"] > 10_000 and cut["cut_tokens"] > 0 and cut["kept_chars"] > 0
    assert trim["window"] == WINDOW
    cut_conversation = output["conversation"]["cut_chars"]
    assert trim["conversation_cut_chars"] == cut_conversation > 1000

    trace = (await api.get(f"/v1/runs/{run['run_id']}/trace")).json()
    entry, agent = [e for e in trace["entries"] if e["kind"] == "context"]
    assert entry["step_id"] == "answer"
    assert agent["step_id"] == "dig" and LONG in agent["summary"]  # once, not every turn
    assert f"fit the model's {WINDOW}-token window" in entry["summary"]
    assert LONG in entry["summary"] and str(cut["cut_chars"]) in entry["summary"]
    assert "notes/short.md" not in entry["summary"]
    assert f"conversation history cut: its oldest {cut_conversation} characters" in entry["summary"]
