"""Chat: a session is one workflow, each message an update; the conversation lives in
PostgreSQL and survives a continue-as-new; replies cite the knowledge base."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import pytest

from aios.models import ChatSessionInput, ChatTurn
from tests.conftest import AUTH, Stack, app_for, serving
from tests.helpers import as_key, docs_files, ingest_files, make_key
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workflows.chat import ChatSessionWorkflow


async def test_a_conversation_carries_its_history_and_cites(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    fake_openai.queue(
        ScriptedReply(content="Approvals wait for a person [1]."),
        ScriptedReply(content="As I said, a person answers them."),
    )
    first = await api.post("/v1/chat", json={"message": "How do approvals work?"})
    assert first.status_code == 200, first.text
    reply = first.json()
    session = reply["session_id"]
    assert reply["reply"] == "Approvals wait for a person [1]." and reply["turn"] == 1
    assert reply["citations"] and reply["grounded"] is True
    second = (
        await api.post("/v1/chat", json={"message": "Who answers?", "session_id": session})
    ).json()
    assert second["turn"] == 2 and second["session_id"] == session
    prompt = fake_openai.requests[-1]["messages"]
    assert [m["role"] for m in prompt[1:3]] == ["user", "assistant"]
    assert prompt[1]["content"] == "How do approvals work?"
    assert "Approvals wait for a person" in prompt[2]["content"]
    empty = await api.post("/v1/chat", json={"message": "   "})
    assert empty.status_code == 422


async def test_a_session_continues_as_new_and_keeps_its_conversation(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
    from temporalio.common import WorkflowIDConflictPolicy

    session = ChatSessionInput(session_id="s-can", tenant="default", user_id="ada", turns_per_run=2)
    workflow_id = "chat-test-can"
    replies = []
    for n in range(5):
        fake_openai.queue(ScriptedReply(content=f"reply {n}"))
        start = WithStartWorkflowOperation(
            ChatSessionWorkflow.run,
            session,
            id=workflow_id,
            task_queue=stack.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        for _ in range(20):  # a message sent while the session moves to its next run is retried
            try:
                replies.append(
                    await stack.client.execute_update_with_start_workflow(
                        ChatSessionWorkflow.send,
                        ChatTurn(message=f"message {n}", message_id=f"m{n}"),
                        start_workflow_operation=start,
                    )
                )
                break
            except WorkflowUpdateFailedError:
                await asyncio.sleep(0.2)
    assert [r.reply for r in replies] == [f"reply {n}" for n in range(5)]
    assert [r.turn for r in replies] == [1, 2, 3, 4, 5]
    handle = stack.client.get_workflow_handle(workflow_id)
    assert await handle.query(ChatSessionWorkflow.turns) == 5
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) >= 3, "two turns per run: the session continued as new at least twice"
    history = await stack.resources.memory.conversations.messages("default", "s-can")
    assert [m.content for m in history][-2:] == ["message 4", "reply 4"]
    assert len(history) == 10
    # The last prompt still saw the earlier turns (from PostgreSQL, not the workflow history).
    last_prompt = fake_openai.requests[-1]["messages"]
    assert any(m["content"] == "message 0" for m in last_prompt)


async def test_a_reply_streams_as_server_sent_events(stack: Stack, fake_openai: FakeOpenAI) -> None:
    """`Accept: text/event-stream`: the words as the model writes them, then the whole reply."""
    # Longer than the guardrails hold back while streaming (aios.guardrails.releasable).
    answer = (
        "Streams arrive word by word, as the model writes them, and the reply event closes "
        "the stream with the whole text and its citations."
    )
    fake_openai.queue(ScriptedReply(content=answer, chunk_delay_s=0.05))
    async with (
        serving(app_for(stack)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as http,
        http.stream(
            "POST",
            "/v1/chat",
            json={"message": "How do replies arrive?"},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events: list[tuple[str, dict[str, object]]] = []
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "reply" and kinds.count("delta") >= 2, kinds
    streamed = "".join(str(d["text"]) for k, d in events if k == "delta")
    assert streamed.strip() == answer
    assert events[-1][1]["reply"] == answer


async def test_a_turn_calls_tools_without_side_effects_and_answers_from_their_results(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    """The model asks for a calculation and a file write in one round: the calculator runs as an
    `aios.invoke_tool` activity, the write is refused (chat offers no tool with side effects),
    and the next round answers from the results."""
    fake_openai.queue(
        ScriptedReply(
            tool_calls=[
                {"name": "calculator", "arguments": {"expression": "17 * 23"}},
                {"name": "file_write", "arguments": {"path": "x.txt", "content": "no"}},
            ]
        ),
        ScriptedReply(content="17 times 23 is 391."),
    )
    response = await api.post("/v1/chat", json={"message": "What is 17 times 23?"})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["reply"] == "17 times 23 is 391."
    used = {u["tool"]: u for u in reply["tools_used"]}
    assert used["calculator"]["status"] == "ok"
    assert used["file_write"]["status"] == "refused"
    first, second = fake_openai.requests[-2:]
    offered = {t["function"]["name"] for t in first["tools"]}
    assert "calculator" in offered and "file_write" not in offered and "send_email" not in offered
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert any("391" in m["content"] and "BEGIN TOOL RESULT" in m["content"] for m in results)
    assert any("not available" in m["content"] for m in results)
    # The conversation keeps the question and the reply, not the tool exchange.
    stored = await stack.resources.memory.conversations.messages("default", reply["session_id"])
    assert [m.content for m in stored] == ["What is 17 times 23?", "17 times 23 is 391."]


async def test_a_turns_rounds_share_the_context_read_in_its_first(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The knowledge base is searched and the conversation read once per turn, not once per
    model round: every round of the turn shows the model the same passages and history."""
    import activities.chat
    from activities.rag import retrieve as search

    searches: list[str] = []

    async def counted(index: Any, tenant: str, args: Any) -> Any:
        searches.append(args.query)
        return await search(index, tenant, args)

    monkeypatch.setattr(activities.chat, "retrieve", counted)
    asking = ScriptedReply(tool_calls=[{"name": "calculator", "arguments": {"expression": "2*3"}}])
    fake_openai.queue(asking, asking, ScriptedReply(content="It is 6."))
    reply = (await api.post("/v1/chat", json={"message": "2*3, twice over"})).json()
    assert reply["reply"] == "It is 6." and len(reply["tools_used"]) == 2
    assert searches == ["2*3, twice over"], "one search for the turn's three rounds"
    first, second = fake_openai.requests[-3:-1]
    assert _opening(first) == _opening(second), "the same passages and question in each round"


def _opening(request: dict[str, Any]) -> str:
    """A round's first user message (passages and question), each call's fence token aside."""
    user = next(m for m in request["messages"] if m["role"] == "user")
    return re.sub(r"fence-[0-9a-f]+", "fence", user["content"])


async def test_a_turn_that_keeps_asking_for_tools_has_to_answer_in_its_last_round(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    from workflows.chat import MAX_ROUNDS

    asking = ScriptedReply(tool_calls=[{"name": "calculator", "arguments": {"expression": "1+1"}}])
    fake_openai.queue(*[asking] * (MAX_ROUNDS - 1), ScriptedReply(content="It is 2."))
    reply = (await api.post("/v1/chat", json={"message": "1+1, carefully"})).json()
    assert reply["reply"] == "It is 2."
    assert len(reply["tools_used"]) == MAX_ROUNDS - 1
    last = fake_openai.requests[-1]
    assert not last.get("tools"), "the last round offers no tools"
    question = last["messages"][-1]["content"]
    assert "calculator" in question and "answer now" in question


async def test_a_user_lists_and_reads_their_own_chat_sessions(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    tenant = f"sessions-{uuid.uuid4().hex[:8]}"
    ada = as_key((await make_key(api, tenant, "ada"))["key"])
    root = as_key((await make_key(api, tenant, "root", roles=["operator"]))["key"])
    conversations = stack.resources.memory.conversations
    for session, user in (("a-old", "ada"), ("a-new", "ada"), ("b-1", "bob")):
        await conversations.append(
            tenant,
            session,
            role="user",
            content=f"hello from {session}",
            message_id="m1",
            user_id=user,
        )
        await conversations.append(
            tenant, session, role="assistant", content="hi", message_id="m1/reply", user_id=user
        )

    first = (await api.get("/v1/chat/sessions", params={"limit": 1}, headers=ada)).json()
    assert [s["session_id"] for s in first["sessions"]] == ["a-new"]
    assert first["sessions"][0]["messages"] == 2
    assert first["sessions"][0]["first_message"] == "hello from a-new"
    token = first["next_page_token"]
    second = await api.get(
        "/v1/chat/sessions", params={"limit": 1, "page_token": token}, headers=ada
    )
    assert [s["session_id"] for s in second.json()["sessions"]] == ["a-old"]
    assert second.json()["next_page_token"] is None
    forged = await api.get(
        "/v1/chat/sessions", params={"limit": 2, "page_token": token}, headers=ada
    )
    assert forged.status_code == 422, "a token is for its own listing"

    read = (await api.get("/v1/chat/sessions/a-new", headers=ada)).json()
    assert [(m["role"], m["content"]) for m in read["messages"]] == [
        ("user", "hello from a-new"),
        ("assistant", "hi"),
    ]
    # Bob's session and Bob's list do not exist for ada; an operator reads them.
    assert (await api.get("/v1/chat/sessions/b-1", headers=ada)).status_code == 404
    listed = await api.get("/v1/chat/sessions", params={"user_id": "bob"}, headers=ada)
    assert listed.status_code == 404
    assert (await api.get("/v1/chat/sessions/b-1", headers=root)).json()["user_id"] == "bob"
    bobs = (await api.get("/v1/chat/sessions", params={"user_id": "bob"}, headers=root)).json()
    assert [s["session_id"] for s in bobs["sessions"]] == ["b-1"]
