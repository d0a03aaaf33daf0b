"""Memory on a real stack: user facts with TTL and provenance, semantic memories in Qdrant,
conversations with summaries, forgetting a user everywhere, tenant isolation, and retried writes
that never duplicate."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.testing import ActivityEnvironment

from activities.llm.activities import LlmActivities
from activities.llm.caller import ModelCaller
from activities.memory import MemoryActivities
from aios.models import StepInput
from tests.conftest import Stack
from tests.helpers import finish, start_plan
from tests.support.fake_openai import FakeOpenAI, ScriptedReply


def _llm(stack: Stack) -> LlmActivities:
    return LlmActivities(stack.resources.router, stack.resources.registry, stack.pool)


async def test_user_memory_round_trip_and_forget_everything(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    memory = stack.resources.memory
    put = await api.put(
        "/v1/users/ada/memory",
        json={
            "facts": [
                {"key": "timezone", "value": "Europe/Berlin", "kind": "preference"},
                {"key": "team", "value": "payments"},
                {"key": "temp-badge", "value": "B-17", "ttl_s": 0.5},
            ],
            "memories": [
                {"text": "Ada prefers reports that start with an executive summary."},
                {"text": "Ada is allergic to peanuts.", "key": "allergy"},
            ],
        },
    )
    assert put.status_code == 200, put.text
    assert len(put.json()["memories"]) == 2
    await memory.append_message(
        "default", "s-1", role="user", content="Plan my trip", message_id="m1", user_id="ada"
    )
    await memory.append_message(
        "default", "s-1", role="assistant", content="Where to?", message_id="m2", user_id="ada"
    )

    import asyncio

    await asyncio.sleep(0.6)  # the badge expires
    read = (await api.get("/v1/users/ada/memory", params={"q": "how should reports look"})).json()
    facts = {f["key"]: f for f in read["facts"]}
    assert set(facts) == {"timezone", "team"}, "expired facts are gone"
    assert facts["timezone"]["kind"] == "preference"
    assert facts["team"]["provenance"] == {"source": "api", "by": "dev"}
    assert "executive summary" in read["memories"][0]["text"]

    # Writing the same keyed memory again replaces it.
    await api.put(
        "/v1/users/ada/memory",
        json={
            "memories": [{"text": "Ada is allergic to peanuts and shellfish.", "key": "allergy"}]
        },
    )
    texts = [m["text"] for m in (await api.get("/v1/users/ada/memory")).json()["memories"]]
    assert len(texts) == 2 and "Ada is allergic to peanuts and shellfish." in texts

    # Another user of the same tenant is untouched by forgetting Ada.
    await api.put("/v1/users/bob/memory", json={"facts": [{"key": "team", "value": "risk"}]})
    forgotten = await api.delete("/v1/users/ada/memory")
    assert forgotten.status_code == 200
    assert forgotten.json() == {
        "user_id": "ada",
        "facts": 2,
        "memories": 2,
        "messages": 2,
        "summaries": 0,
    }
    after = (await api.get("/v1/users/ada/memory")).json()
    assert after["facts"] == [] and after["memories"] == []
    assert await memory.conversations.messages("default", "s-1") == []
    collection = memory.semantic.collection
    assert await stack.resources.vectors.count_where(collection, {"user_id": "ada"}) == 0
    assert (await api.get("/v1/users/bob/memory")).json()["facts"][0]["value"] == "risk"


async def test_memory_is_tenant_scoped(api: httpx.AsyncClient, stack: Stack) -> None:
    memory = stack.resources.memory
    await memory.remember("other", "ada", "Ada's salary is confidential.", "k1", {})
    from activities.memory import FactIn

    await memory.write_facts("other", "ada", [FactIn(key="salary", value="secret")], {})
    read = (await api.get("/v1/users/ada/memory", params={"q": "salary"})).json()
    assert read["facts"] == [] and read["memories"] == []
    forgotten = (await api.delete("/v1/users/ada/memory")).json()
    assert forgotten["facts"] == 0 and forgotten["memories"] == 0
    assert len((await memory.read("other", "ada", "salary", 5)).memories) == 1


async def test_bad_memory_requests_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/users/ada/memory", json={})).status_code == 422
    bad_kind = {"facts": [{"key": "k", "value": "v", "kind": "rumour"}]}
    assert (await api.put("/v1/users/ada/memory", json=bad_kind)).status_code == 422
    assert (await api.get("/v1/users/a%00b/memory")).status_code == 422


async def test_a_retried_memory_write_does_not_duplicate(stack: Stack) -> None:
    activities = MemoryActivities(stack.resources.memory, _llm(stack))
    step = StepInput(
        run_id="run-1",
        step_id="remember",
        tenant="default",
        user_id="ada",
        args={"op": "write", "text": "Ada owns the billing runbook."},
        idempotency_key="run-1/remember",
    )
    env = ActivityEnvironment()
    first = await env.run(activities.memory, step)
    second = await env.run(activities.memory, step)  # a retry of the same step
    assert first.output["memory_id"] == second.output["memory_id"]
    read = await stack.resources.memory.read("default", "ada", None, 10)
    assert [m.text for m in read.memories] == ["Ada owns the billing runbook."]
    assert read.memories[0].provenance == {"run_id": "run-1", "step_id": "remember"}


async def test_memory_steps_and_tools_in_a_run(stack: Stack) -> None:
    steps: list[dict[str, Any]] = [
        {
            "id": "remember",
            "kind": "memory",
            "args": {
                "op": "write",
                "text": "The customer Initech renews in March.",
                "facts": [{"key": "region", "value": "EMEA"}],
            },
        },
        {
            "id": "tool-write",
            "kind": "tool",
            "tool": "memory_write",
            "args": {"key": "tier", "value": "gold", "kind": "preference"},
        },
        {
            "id": "recall",
            "kind": "memory",
            "depends_on": ["remember", "tool-write"],
            "args": {"op": "read", "query": "when does Initech renew"},
        },
        {
            "id": "tool-read",
            "kind": "tool",
            "tool": "memory_read",
            "depends_on": ["recall"],
            "args": {"query": "renewal"},
        },
    ]
    handle = await start_plan(stack.client, stack.settings.task_queue, steps)
    state = await finish(handle)
    assert state.status == "completed", state.error
    recall = await stack.resources.memory.read("default", "anonymous", None, 10)
    assert {f.key: f.value for f in recall.facts} == {"region": "EMEA", "tier": "gold"}
    assert [m.text for m in recall.memories] == ["The customer Initech renews in March."]


async def test_long_conversations_are_summarised_into_the_context(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    """Folding is done after a reply (`fold`); a reader folds first only when the summary lags
    more than FOLD_SLACK messages behind the RECENT_MESSAGES kept verbatim."""
    memory = stack.resources.memory
    for i in range(24):
        await memory.append_message(
            "default",
            "s-long",
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i}",
            message_id=f"m{i}",
            user_id="ada",
        )
    # A retried append is the same message.
    await memory.append_message(
        "default", "s-long", role="user", content="message 0", message_id="m0", user_id="ada"
    )
    fake_openai.queue(ScriptedReply(content="Ada asked about messages 0 to 11."))
    activities = MemoryActivities(memory, _llm(stack))
    step = StepInput(
        run_id="run-2",
        step_id="context",
        tenant="default",
        user_id="ada",
        args={"op": "read", "session_id": "s-long", "conversation": True},
        idempotency_key="run-2/context",
    )
    result = await ActivityEnvironment().run(activities.memory, step)
    conversation = result.output["conversation"]
    assert conversation[0]["role"] == "system"
    assert "messages 0 to 11" in conversation[0]["content"]
    assert [m["content"] for m in conversation[1:]] == [f"message {i}" for i in range(12, 24)]
    assert await memory.conversations.summary("default", "s-long") == (
        "Ada asked about messages 0 to 11.",
        12,
    )

    # Six more messages: within the slack, read verbatim without a model call ...
    for i in range(24, 30):
        await memory.append_message(
            "default",
            "s-long",
            role="user",
            content=f"message {i}",
            message_id=f"m{i}",
            user_id="ada",
        )
    calls = len(fake_openai.requests)
    read = await memory.conversation("default", "s-long", caller=None)
    assert [m.content for m in read[1:]] == [f"message {i}" for i in range(12, 30)]
    assert len(fake_openai.requests) == calls
    # ... and folded after a reply, leaving the last RECENT_MESSAGES verbatim.
    fake_openai.queue(ScriptedReply(content="Ada asked about messages 0 to 17."))
    caller = ModelCaller(stack.resources.router, budget=None, attempt=1, max_attempts=1)
    await memory.fold("default", "s-long", caller=caller, user_id="ada")
    assert await memory.conversations.summary("default", "s-long") == (
        "Ada asked about messages 0 to 17.",
        18,
    )


async def test_a_run_in_a_conversation_sees_it_and_leaves_its_answer_there(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    """`session_id` on a run: its answering step is shown the session and the user's facts (and
    says so in its output); its goal and answer join the session; a colleague's session is 404."""
    memory = stack.resources.memory
    await api.put("/v1/users/ada/memory", json={"facts": [{"key": "team", "value": "payments"}]})
    for role, content, message_id in (
        ("user", "We compare vector stores for the payments search.", "m1"),
        ("assistant", "Qdrant and pgvector are the candidates.", "m1/reply"),
    ):
        await memory.append_message(
            "default", "s-run", role=role, content=content, message_id=message_id, user_id="ada"
        )
    fake_openai.queue(ScriptedReply(content="Pick Qdrant for the payments search."))
    plan = {"steps": [{"id": "answer", "kind": "llm", "args": {"instruction": "Which one?"}}]}
    body = {"goal": "Which one should we pick?", "plan": plan, "user_id": "ada"}
    created = await api.post("/v1/runs", json={**body, "session_id": "s-run"})
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    handle = stack.client.get_workflow_handle(run_id)
    assert (await finish(handle)).status == "completed"

    system = fake_openai.requests[-1]["messages"][0]["content"]
    assert "Qdrant and pgvector are the candidates." in system and "team: payments" in system
    output = (await api.get(f"/v1/runs/{run_id}/steps/answer/output")).json()["output"]
    assert output["conversation"] == {
        "session_id": "s-run",
        "messages": [1, 2],
        "summary": False,
        "facts": ["team"],
    }
    session = await memory.conversations.messages("default", "s-run")
    assert [(m.role, m.content) for m in session[2:]] == [
        ("user", "Which one should we pick?"),
        ("assistant", "Pick Qdrant for the payments search."),
    ]
    # bob may not run in ada's conversation, whoever starts the run for him.
    foreign = await api.post("/v1/runs", json={**body, "user_id": "bob", "session_id": "s-run"})
    assert foreign.status_code == 404, foreign.text
