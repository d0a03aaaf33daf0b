"""An unanswered approval escalates to the next group, then applies its timeout action; each step
is in the run's events and trace. On the time-skipping test server (hours pass in milliseconds),
as tests/approvals/test_approval_timeout.py does."""

from __future__ import annotations

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder as Embedder
from aios.config import Settings
from aios.models import EventsQuery
from aios.trace import build_trace
from tests.helpers import finish, start_plan, step
from tests.support import tools as test_tools
from workers.main import Resources, build_worker
from workflows.agent_run import AgentRunWorkflow

PLAN: list[dict[str, object]] = [
    {
        "id": "review",
        "kind": "approval",
        "approval": {
            "approvers": ["carol"],
            "timeout_s": 3600,
            "escalate": [{"approvers": ["role:operator"], "timeout_s": 7200}],
            "on_timeout": "reject",
        },
        "on_failure": "continue",
    },
    {"id": "after", "kind": "tool", "tool": "echo", "args": {"value": "went ahead"}},
]


async def test_an_unanswered_approval_escalates_then_counts_as_rejected(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    pool: asyncpg.Pool,
    embedder: Embedder,
) -> None:
    resources = await Resources.open(settings, pool=pool, embedder=embedder)
    test_tools.register(resources.registry)
    async with build_worker(skipping_env.client, resources):
        handle = await start_plan(skipping_env.client, settings.task_queue, PLAN)
        state = await finish(handle)
        events = await handle.query(AgentRunWorkflow.events, EventsQuery(after_seq=0))
    await resources.aclose()
    assert state.status == "completed"
    assert "not answered within 10800s" in (step(state, "review").error or "")
    kinds = [e.type for e in events if e.type.startswith("approval.")]
    assert kinds == ["approval.requested", "approval.escalated", "approval.expired"]
    [escalated] = [e for e in events if e.type == "approval.escalated"]
    assert escalated.data["approvers"] == ["role:operator"] and escalated.data["level"] == 1
    summaries = [e.summary for e in build_trace(state, events).entries]
    assert any("escalated (step 1) to role:operator" in s for s in summaries), summaries
