"""Replay safety: every history recorded in tests/histories replays without non-determinism
against the current workflow code. Changing workflow behaviour needs `workflow.patched()`.

Record new histories (after adding behaviour worth protecting) with
`AIOS_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py`; the Slack app's
(`SlackEventWorkflow` following a run with approval buttons, and a chat turn) with
`AIOS_RECORD_HISTORIES=1 pytest tests/gateway/test_slack.py`, which needs its scripted Slack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer

from aios.artifacts import AIOS_DATA_CONVERTER
from aios.models import AgentRunInput, ApprovalDecision, ChatSessionInput, ChatTurn
from aios.plan import Plan
from tests.conftest import Stack, run_id
from tests.helpers import (
    AGENT_PLAN,
    AGENT_SCRIPT,
    APPROVAL_STEPS,
    docs_files,
    finish,
    ingest_files,
    start_plan,
    wait_for,
)
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workers.main import WORKFLOWS
from workflows.agent_run import CURRENT_PATCHES, AgentRunWorkflow
from workflows.chat import ChatSessionWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
# A chat session that calls a tool (chat_session_before_tools.json: one from before chat turns
# could call tools, answered in one activity).
CHAT_HISTORY = "chat_session_with_tools"


# An approval step about the output of the step before it.
DRAFT_PLAN: list[dict[str, Any]] = [
    {"id": "draft", "kind": "tool", "tool": "echo", "args": {"value": "Dear readers, ..."}},
    {"id": "review", "kind": "approval", "depends_on": ["draft"]},
    {"id": "send", "kind": "tool", "tool": "echo", "depends_on": ["review"], "args": {"value": 1}},
]


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert recorded(), "tests/histories holds no recorded history"


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=AIOS_DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def approve_when_asked(handle: WorkflowHandle[Any, Any]) -> None:
    state = await wait_for(handle, lambda s: bool(s.pending_approvals))
    pending = state.pending_approvals[0]
    await handle.execute_update(
        AgentRunWorkflow.approve,
        ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
    )


@pytest.mark.skipif(not os.environ.get("AIOS_RECORD_HISTORIES"), reason="records on request")
async def test_record_histories(stack: Stack, fake_openai: FakeOpenAI) -> None:
    """Records the histories not recorded yet. Existing ones stay: they protect the code paths
    of the version that recorded them."""
    HISTORIES.mkdir(exist_ok=True)

    async def save(name: str, handle) -> None:  # type: ignore[no-untyped-def]
        target = HISTORIES / f"{name}.json"
        if target.exists():
            return
        history = await handle.fetch_history()
        target.write_text(json.dumps(json.loads(history.to_json()), indent=1))

    fake_openai.queue(*AGENT_SCRIPT)
    agent = await start_plan(stack.client, stack.settings.task_queue, AGENT_PLAN)
    await approve_when_asked(agent)
    assert (await finish(agent)).status == "completed"
    await save("agent_step_with_approval", agent)

    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    research = await stack.client.start_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(goal="How do approvals work?", inputs={"max_sources": 2}),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    await research.result()
    await save("research_report", research)

    approval = await start_plan(stack.client, stack.settings.task_queue, APPROVAL_STEPS)
    await approve_when_asked(approval)
    await finish(approval)
    await save("approval_then_tool", approval)

    # As the API starts runs: the patches named in the input, no patch marker.
    lean = await stack.client.start_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(
            goal="test run",
            plan=Plan.model_validate({"steps": APPROVAL_STEPS}),
            patches=CURRENT_PATCHES,
        ),
        id=run_id(),
        task_queue=stack.settings.task_queue,
    )
    await approve_when_asked(lean)
    assert (await finish(lean)).status == "completed"
    await save("approval_then_tool_patches_in_input", lean)

    # An approval about a draft: it shows the output of the step it depends on and its args_hash
    # covers it (APPROVAL_CONTEXT_PATCH).
    draft = await start_plan(stack.client, stack.settings.task_queue, DRAFT_PLAN)
    await approve_when_asked(draft)
    assert (await finish(draft)).status == "completed"
    await save("approval_of_a_draft", draft)

    fake_openai.queue(
        ScriptedReply(tool_calls=[{"name": "calculator", "arguments": {"expression": "6 * 7"}}]),
        ScriptedReply(content="It is 42."),
    )
    chat = await stack.client.start_workflow(
        ChatSessionWorkflow.run,
        ChatSessionInput(session_id="s-recorded", tenant="default", user_id="ada"),
        id=f"chat-{run_id()}",
        task_queue=stack.settings.task_queue,
    )
    reply = await chat.execute_update(
        ChatSessionWorkflow.send, ChatTurn(message="What is 6 times 7?", message_id="m1")
    )
    assert reply.reply == "It is 42."
    await save(CHAT_HISTORY, chat)
