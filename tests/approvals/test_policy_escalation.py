"""Approval policies decide a run's timeouts and escalation, on the time-skipping test server
(hours pass in milliseconds), as tests/approvals/test_escalation.py does for a plan's own terms:
a repository default escalates an unanswered approval to a second group, then counts silence as a
rejection; a tenant's policy for the run's skill comes before the repository's for the tool."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder as Embedder
from aios.approval_policies import PolicyIn, PolicySubject
from aios.config import Settings
from aios.models import AgentRunInput, EventsQuery
from aios.plan import Plan
from aios.stores.approval_policies import PolicyStore
from aios.trace import build_trace
from tests.helpers import finish, step
from tests.support import tools as test_tools
from workers.main import Resources, build_worker
from workflows.agent_run import AgentRunWorkflow

REPO_DEFAULTS = """
policies:
  - subject: tool
    name: guarded_echo
    approvers: [role:approver]
    timeout_s: 3600
    escalate: [{approvers: [group:oncall], timeout_s: 7200}]
    on_timeout: reject
"""
LABEL = "repository default repo:tool:guarded_echo (tool guarded_echo)"
PLAN = Plan.model_validate(
    {
        "steps": [
            {
                "id": "send",
                "kind": "tool",
                "tool": "guarded_echo",
                "args": {"value": "to all"},
                # The plan's own terms, which the policies replace.
                "approval": {"approvers": ["dave"], "timeout_s": 5, "on_timeout": "fail"},
                "on_failure": "continue",
            },
            {"id": "after", "kind": "tool", "tool": "echo", "args": {"value": "went ahead"}},
        ]
    }
)


async def test_policies_set_the_timeout_and_the_escalation_chain(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    pool: asyncpg.Pool,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    (tmp_path / "approvals.yaml").write_text(REPO_DEFAULTS)
    settings.approval_policies_file = tmp_path / "approvals.yaml"
    await PolicyStore(pool).create(
        tenant,
        PolicyIn(subject=PolicySubject.SKILL, name="weekly", timeout_s=60, on_timeout="fail"),
        "adam",
    )
    resources = await Resources.open(settings, pool=pool, embedder=embedder)
    test_tools.register(resources.registry)

    def run(skill: str | None) -> AgentRunInput:
        return AgentRunInput(goal="send", tenant=tenant, user_id="ada", skill=skill, plan=PLAN)

    async with build_worker(skipping_env.client, resources):
        client, queue = skipping_env.client, settings.task_queue
        # The repository's default for the tool: an hour, then on-call for two, then a no.
        handle = await client.start_workflow(
            AgentRunWorkflow.run, run(None), id=f"run-{uuid.uuid4().hex}", task_queue=queue
        )
        state = await finish(handle)
        events = await handle.query(AgentRunWorkflow.events, EventsQuery(after_seq=0))
        # The tenant's policy for the run's skill comes first: a minute, then the run fails.
        skilled = await client.start_workflow(
            AgentRunWorkflow.run, run("weekly"), id=f"run-{uuid.uuid4().hex}", task_queue=queue
        )
        timed_out = await finish(skilled)
    await resources.aclose()

    assert state.status == "completed"
    assert "not answered within 10800s" in (step(state, "send").error or "")
    assert step(state, "after").status == "completed"
    kinds = [e.type for e in events if e.type.startswith("approval.")]
    assert kinds == ["approval.requested", "approval.escalated", "approval.expired"]
    requested = next(e for e in events if e.type == "approval.requested")
    assert requested.data["approvers"] == ["role:approver"]
    assert (
        requested.data["policy"] == "repository default repo:tool:guarded_echo (tool guarded_echo)"
    )
    escalated = next(e for e in events if e.type == "approval.escalated")
    assert escalated.data["approvers"] == ["group:oncall"]
    summaries = [e.summary for e in build_trace(state, events).entries]
    assert any(f"under {LABEL}: 1 of role:approver" in s for s in summaries), summaries
    assert any("escalated (step 1) to group:oncall" in s for s in summaries), summaries

    assert timed_out.status == "timed_out", timed_out
    assert "not answered within 60s" in (timed_out.error or ""), timed_out.error
