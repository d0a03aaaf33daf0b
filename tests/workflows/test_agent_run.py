"""AgentRunWorkflow on a real Temporal dev server with a real worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from aios import search_attributes as sa
from aios.models import (
    AgentRunInput,
    ApprovalDecision,
    CancelRequest,
    EventsQuery,
    StepOutputQuery,
)
from tests.conftest import Stack, run_id
from tests.helpers import (
    APPROVAL_STEPS,
    current_details,
    docs_files,
    finish,
    ingest_files,
    start_plan,
    step,
    wait_for,
)
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workflows.agent_run import AgentRunWorkflow


async def test_research_report_runs_end_to_end_with_citations(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    files = docs_files()
    ingest = await ingest_files(stack.client, stack.settings.task_queue, stack.pool, files)
    assert ingest.done == len(files) >= 3 and not ingest.errors and ingest.status == "completed"
    again = await ingest_files(stack.client, stack.settings.task_queue, stack.pool, files)
    assert again.unchanged == len(files), "re-ingesting unchanged files is a no-op"

    state = await stack.client.execute_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(goal="How do human approvals work?", inputs={"max_sources": 3}),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    assert state.status == "completed"
    assert [s.id for s in state.plan] == ["retrieve", "extract", "trends", "report"]
    assert [s.status for s in state.plan] == ["completed"] * 4
    assert state.result is not None
    assert "[1]" in state.result.answer and "Key points by source" in state.result.answer
    assert state.result.citations, "the report cites its sources"
    assert any("approvals.md" in c.source for c in state.result.citations)
    assert all(c.chunk_id and c.snippet for c in state.result.citations)
    # One extraction per source (in parallel), the trends, then the report with the retrieved
    # text and the trends in its instruction.
    extract_calls = [r for r in fake_openai.requests if "response_format" in r]
    trends_call, *report_calls = [r for r in fake_openai.requests if "response_format" not in r]
    assert 1 <= len(extract_calls) <= 3
    assert "trend" in trends_call["messages"][1]["content"]
    assert len(report_calls) == 1
    assert "Trends across the sources:" in report_calls[0]["messages"][1]["content"]
    assert "BEGIN DOCUMENT [1]" in report_calls[0]["messages"][1]["content"]
    assert "untrusted" in report_calls[0]["messages"][0]["content"]
    assert state.usage.input_tokens == 100 * len(fake_openai.requests)


async def test_research_report_quotes_its_sources_verbatim(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    """With `key_points="quotes"` (what the bundled model gets) the report lists each source's
    best sentences, cut verbatim from the indexed text; nothing is model-written but the
    paragraph. With model key points, a point no quote supports is flagged."""
    files = docs_files()
    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, files)
    corpus = " ".join(" ".join(f.read_text().split()) for f in files)
    state = await stack.client.execute_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(
            goal="How do human approvals work?",
            inputs={"max_sources": 2, "key_points": "quotes"},
        ),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    assert state.status == "completed" and [s.id for s in state.plan] == ["retrieve", "report"]
    assert state.result is not None
    answer = state.result.answer
    assert "## Evidence by source" in answer and "Key points" not in answer
    quotes = [line[3:-1] for line in answer.splitlines() if line.startswith('> "')]
    assert len(quotes) >= 2
    for quote in quotes:
        assert " ".join(quote.split()) in corpus, quote
    assert not [r for r in fake_openai.requests if "response_format" in r], "no extraction calls"

    # The same question finds the same top source and quotes: a key point made of the words of
    # its first quote is supported, an invented one is not.
    supported = " ".join(quotes[0].split()[:8])
    fake_openai.queue(
        ScriptedReply(
            content=json.dumps(
                {"key_points": [supported, "Approvals are answered by carrier pigeon."]}
            )
        ),
    )
    state = await stack.client.execute_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(
            goal="How do human approvals work?",
            inputs={"max_sources": 1, "key_points": "model"},
        ),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    assert state.result is not None
    flagged = [
        line for line in state.result.answer.splitlines() if "not supported by the quoted" in line
    ]
    assert flagged == [
        "- Approvals are answered by carrier pigeon. _(not supported by the quoted evidence)_"
    ]


async def test_independent_steps_run_in_parallel(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {"id": "a", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 1.5}},
            {"id": "b", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 1.5}},
            {
                "id": "join",
                "kind": "tool",
                "tool": "echo",
                "depends_on": ["a", "b"],
                "args": {"value": {"a": {"$ref": "steps.a.output"}, "b": "{{steps.b.output}}"}},
            },
        ],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    rows = await stack.pool.fetch(
        "SELECT step_id, event, at FROM test_tool_log WHERE run_id = $1", handle.id
    )
    times = {(r["step_id"], r["event"]): r["at"] for r in rows}
    # Each started before the other ended: the two steps overlapped.
    assert times[("a", "started")] < times[("b", "ended")]
    assert times[("b", "started")] < times[("a", "ended")]
    assert step(state, "join").started_at >= max(
        step(state, "a").ended_at, step(state, "b").ended_at
    )


def flaky_call(
    succeed_on_attempt: int, *, retry: dict[str, float], **args: object
) -> dict[str, Any]:
    """A step calling the `flaky` test tool, which fails until the given attempt."""
    return {
        "id": "call",
        "kind": "tool",
        "tool": "flaky",
        "args": {"succeed_on_attempt": succeed_on_attempt, **args},
        "retry": retry,
    }


async def test_failed_step_retries_per_policy_then_fails_the_run(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            flaky_call(
                99,
                message="inventory service down",
                retry={"max_attempts": 3, "initial_interval_s": 0.1, "backoff": 1.0},
            ),
            {"id": "after", "kind": "tool", "tool": "echo", "depends_on": ["call"]},
        ],
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, ApplicationError)
    assert "inventory service down" in failure.value.cause.message
    state = await finish(handle)
    assert state.status == "failed"
    assert "inventory service down" in (state.error or "")
    assert step(state, "call").attempts == 3
    assert step(state, "after").status == "pending"


async def test_a_transient_failure_is_retried_until_it_succeeds(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [flaky_call(2, retry={"max_attempts": 3, "initial_interval_s": 0.1})],
    )
    state = await finish(handle)
    assert state.status == "completed"
    assert step(state, "call").attempts == 2


async def test_bad_literal_arguments_are_refused_before_any_step_runs(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "s", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": "soon"}}],
    )
    state = await finish(handle)
    assert state.status == "failed"
    assert "step 's'" in (state.error or "") and "seconds" in (state.error or "")
    assert state.plan == [], "nothing ran"


async def test_bad_arguments_by_reference_fail_at_once_without_retries(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {"id": "when", "kind": "tool", "tool": "echo", "args": {"value": "soon"}},
            {
                "id": "s",
                "kind": "tool",
                "tool": "timed_sleep",
                "depends_on": ["when"],
                "args": {"seconds": {"$ref": "steps.when.output"}},
            },
        ],
    )
    state = await finish(handle)
    assert state.status == "failed"
    assert "seconds" in (state.error or "") and step(state, "s").attempts == 1


async def test_condition_skips_a_branch_and_what_depends_on_it(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {"id": "count", "kind": "tool", "tool": "echo", "args": {"value": {"n": 0}}},
            {
                "id": "when_some",
                "kind": "tool",
                "tool": "echo",
                "depends_on": ["count"],
                "condition": {"ref": "steps.count.output.n", "op": "gt", "value": 0},
                "args": {"value": "some"},
            },
            {"id": "follow_up", "kind": "tool", "tool": "echo", "depends_on": ["when_some"]},
            {
                "id": "when_none",
                "kind": "tool",
                "tool": "echo",
                "depends_on": ["count"],
                "condition": {"ref": "steps.count.output.n", "op": "eq", "value": 0},
                "args": {"value": "none"},
            },
        ],
        result_step="when_none",
    )
    state = await finish(handle)
    assert state.status == "completed"
    assert step(state, "when_some").status == "skipped"
    assert step(state, "follow_up").status == "skipped"
    assert step(state, "when_none").status == "completed"
    assert state.result is not None and state.result.answer == '"none"'


async def test_a_step_marked_continue_does_not_fail_the_run(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "optional",
                "kind": "tool",
                "tool": "flaky",
                "args": {"succeed_on_attempt": 9},
                "retry": {"max_attempts": 1},
                "on_failure": "continue",
            },
            {"id": "main", "kind": "tool", "tool": "echo", "args": {"value": 1}},
        ],
        result_step="main",
    )
    state = await finish(handle)
    assert state.status == "completed"
    assert step(state, "optional").status == "failed"


async def test_for_each_fans_out_over_a_list(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {"id": "items", "kind": "tool", "tool": "echo", "args": {"value": [1, 2, 3]}},
            {
                "id": "each",
                "kind": "tool",
                "tool": "echo",
                "depends_on": ["items"],
                "for_each": "steps.items.output",
                "args": {"value": {"doubled": {"$ref": "item"}}},
            },
        ],
    )
    state = await finish(handle)
    assert state.result is not None
    assert '"doubled": 3' in state.result.answer


# --- approvals ---------------------------------------------------------------------------


async def test_a_tool_requiring_approval_pauses_until_approved(stack: Stack) -> None:
    handle = await start_plan(stack.client, stack.settings.task_queue, APPROVAL_STEPS)
    state = await wait_for(handle, lambda s: s.status == "awaiting_approval")
    [pending] = state.pending_approvals
    assert pending.step_id == "send" and pending.args == {"value": "the draft"}
    assert step(state, "send").status == "awaiting_approval"
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.STATUS) == "awaiting_approval"
    details = await current_details(handle)
    assert pending.approval_id in details and "Send a Signal" in details
    assert pending.args_hash in details, "the UI shows exactly what to send"
    assert "- value: the draft" in details, "arguments read as a list, not escaped JSON"
    approval_block = details.split("| step |")[0]
    assert len(approval_block.splitlines()) <= 6, "short enough to read without scrolling"

    ack = await handle.execute_update(
        AgentRunWorkflow.approve,
        ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
    )
    assert ack.step_id == "send"
    state = await finish(handle)
    assert state.status == "completed"
    assert state.result is not None and state.result.answer == '"the draft"'


async def test_rejection_fails_the_step_with_the_reviewers_reason(stack: Stack) -> None:
    handle = await start_plan(stack.client, stack.settings.task_queue, APPROVAL_STEPS)
    state = await wait_for(handle, lambda s: bool(s.pending_approvals))
    pending = state.pending_approvals[0]
    await handle.execute_update(
        AgentRunWorkflow.approve,
        ApprovalDecision(
            approval_id=pending.approval_id,
            args_hash=pending.args_hash,
            decision="reject",
            comment="not to this customer",
            reviewer="alice",
        ),
    )
    state = await finish(handle)
    assert state.status == "failed"
    assert "rejected by alice: not to this customer" in (state.error or "")


async def test_the_validator_rejects_bad_approvals(stack: Stack) -> None:
    # A tail step keeps the run open after the approval, so the last update meets a live run.
    tail = {
        "id": "tail",
        "kind": "tool",
        "tool": "timed_sleep",
        "depends_on": ["send"],
        "args": {"seconds": 2},
    }
    handle = await start_plan(stack.client, stack.settings.task_queue, [*APPROVAL_STEPS, tail])
    state = await wait_for(handle, lambda s: bool(s.pending_approvals))
    pending = state.pending_approvals[0]

    async def answer(approval_id: str, args_hash: str) -> ApplicationError:
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await handle.execute_update(
                AgentRunWorkflow.approve,
                ApprovalDecision(approval_id=approval_id, args_hash=args_hash),
            )
        assert isinstance(e.value.cause, ApplicationError)
        return e.value.cause

    assert (await answer(pending.approval_id, "0" * 64)).type == "ArgsHashMismatch"
    assert (await answer("nope-approval", pending.args_hash)).type == "UnknownApproval"
    await handle.execute_update(
        AgentRunWorkflow.approve,
        ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
    )
    assert (await answer(pending.approval_id, pending.args_hash)).type == "ApprovalAlreadyAnswered"
    assert (await finish(handle)).status == "completed"


async def test_approval_by_signal_as_from_the_temporal_ui(stack: Stack) -> None:
    handle = await start_plan(stack.client, stack.settings.task_queue, APPROVAL_STEPS)
    state = await wait_for(handle, lambda s: bool(s.pending_approvals))
    pending = state.pending_approvals[0]
    # A wrong signal is ignored (and logged as an event); the right one approves.
    await handle.signal("approve", ApprovalDecision(approval_id=pending.approval_id, args_hash="x"))
    await handle.signal(
        "approve",
        ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
    )
    state = await finish(handle)
    assert state.status == "completed"
    events = await handle.query(AgentRunWorkflow.events, EventsQuery())
    assert any(e.type == "approval.signal_ignored" for e in events)


# --- cancellation ------------------------------------------------------------------------


async def test_cancel_stops_in_flight_activities(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "long",
                "kind": "tool",
                "tool": "timed_sleep",
                "args": {"seconds": 60},
                "heartbeat_timeout_s": 2,
            }
        ],
    )
    await wait_for(handle, lambda s: step(s, "long").status == "running")
    await _logged(stack, handle.id, "long", "started")
    await handle.cancel()
    state = await finish(handle)
    assert state.status == "cancelled"
    assert step(state, "long").status == "cancelled"
    await _logged(stack, handle.id, "long", "cancelled")  # the activity saw it via heartbeat


async def test_cancel_run_signal_ends_the_run_as_cancelled(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "long", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 60}}],
    )
    await wait_for(handle, lambda s: step(s, "long").status == "running")
    await handle.signal(AgentRunWorkflow.cancel_run, CancelRequest(reason="changed my mind"))
    state = await handle.result()
    assert state.status == "cancelled" and state.error == "changed my mind"


async def _logged(stack: Stack, run: str, step_id: str, event: str) -> None:
    import asyncio

    for _ in range(100):
        if await stack.pool.fetchval(
            "SELECT count(*) FROM test_tool_log WHERE run_id=$1 AND step_id=$2 AND event=$3",
            run,
            step_id,
            event,
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{step_id} never logged {event}")


# --- LLM errors and large payloads -------------------------------------------------------

LLM_STEP = {
    "id": "ask",
    "kind": "llm",
    "args": {"instruction": "Say hi"},
    "retry": {"max_attempts": 3, "initial_interval_s": 0.1},
}


async def test_rate_limited_llm_calls_are_retried(stack: Stack, fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ScriptedReply(status=429, headers={"retry-after": "0"}))
    state = await finish(await start_plan(stack.client, stack.settings.task_queue, [LLM_STEP]))
    assert state.status == "completed"
    assert step(state, "ask").attempts == 2
    assert len(fake_openai.requests) == 2


async def test_a_rejected_llm_request_is_not_retried(stack: Stack, fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ScriptedReply(status=400, content="unsupported parameter"))
    state = await finish(await start_plan(stack.client, stack.settings.task_queue, [LLM_STEP]))
    assert state.status == "failed"
    assert "400" in (state.error or "") and "unsupported parameter" in (state.error or "")
    assert len(fake_openai.requests) == 1


async def test_large_outputs_go_to_the_artifact_store(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {"id": "big", "kind": "tool", "tool": "blob", "args": {"size": 300_000}},
            {
                "id": "size",
                "kind": "tool",
                "tool": "echo",
                "depends_on": ["big"],
                "args": {"value": {"$ref": "steps.big.output.data"}},
                "condition": {"ref": "steps.big.output.data", "op": "nonempty"},
            },
        ],
        result_step="big",
    )
    state = await finish(handle)
    assert state.status == "completed"
    history = await handle.fetch_history()
    largest = max(len(event.SerializeToString()) for event in history.events)
    assert largest < 64 * 1024, f"a history event carries {largest} bytes"
    stored = await stack.pool.fetchval(
        "SELECT count(*) FROM artifacts WHERE size_bytes > 300000 AND workflow_id = $1", handle.id
    )
    assert stored >= 1


# --- activity plumbing -------------------------------------------------------------------


async def test_heartbeats_keep_pace_with_a_short_heartbeat_timeout(stack: Stack) -> None:
    """A step may set a heartbeat timeout below the default beat interval; the activity wrapper
    beats often enough that a healthy worker is never taken for a dead one."""
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "wait",
                "kind": "tool",
                "tool": "quiet_sleep",
                "args": {"seconds": 3},
                "heartbeat_timeout_s": 1,
                "retry": {"max_attempts": 1},
            }
        ],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    assert step(state, "wait").attempts == 1


async def test_a_tool_slower_than_its_timeout_fails_with_the_reason(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "slow",
                "kind": "tool",
                "tool": "hasty_sleep",
                "args": {"seconds": 5},
                "retry": {"max_attempts": 2, "initial_interval_s": 0.1},
            }
        ],
    )
    state = await finish(handle)
    assert state.status == "failed"
    assert "did not finish within its timeout of 0.5s" in (state.error or "")
    assert step(state, "slow").attempts == 2, "a timeout is worth a retry"


async def test_a_steps_full_output_is_readable_by_its_output_ref(stack: Stack) -> None:
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "make", "kind": "tool", "tool": "echo", "args": {"value": {"rows": [1, 2]}}}],
    )
    state = await finish(handle)
    assert step(state, "make").output_ref == "steps/make/output"
    found = await handle.query(AgentRunWorkflow.step_output, StepOutputQuery(step_id="make"))
    assert found.status == "completed" and found.output == {"rows": [1, 2]}
    missing = await handle.query(AgentRunWorkflow.step_output, StepOutputQuery(step_id="nope"))
    assert missing.status is None


async def test_an_empty_knowledge_base_is_said_not_hidden(stack: Stack) -> None:
    state = await stack.client.execute_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(goal="How do approvals work?", inputs={"key_points": "quotes"}),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    assert state.status == "completed" and state.result is not None
    assert state.result.grounded is False and not state.result.citations
    assert state.result.answer.startswith("_The knowledge base has no documents on this")


async def test_an_answer_that_cites_none_of_its_sources_says_so(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    documents = [{"text": "Runs are Temporal workflows.", "title": "Durability"}]
    step_def = {
        "id": "answer",
        "kind": "llm",
        "args": {"instruction": "How do runs survive?", "documents": documents, "cite": True},
    }
    answers = {}
    for reply in ("They survive because they are workflows.", "They are workflows [1]."):
        fake_openai.queue(ScriptedReply(content=reply))
        state = await finish(await start_plan(stack.client, stack.settings.task_queue, [step_def]))
        assert state.status == "completed" and state.result is not None, state.error
        answers[reply] = state.result
    uncited, cited = answers.values()
    assert uncited.answer.startswith("_This answer cites none of the numbered sources")
    assert uncited.citations, "its sources are still listed"
    assert cited.answer == "They are workflows [1]."


async def test_a_client_plan_is_checked_and_its_trace_recorded_beside_the_workflow(
    stack: Stack,
) -> None:
    """Issue 12: checking a given plan and recording the trace take milliseconds; as activities
    on the task queue each cost a round trip through the server. They run as local activities."""
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "s", "kind": "tool", "tool": "echo", "args": {"value": 1}}],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == ["aios.invoke_tool"], scheduled
    trace = await stack.pool.fetchval(
        "SELECT count(*) FROM run_traces WHERE run_id = $1", handle.id
    )
    assert trace == 1
