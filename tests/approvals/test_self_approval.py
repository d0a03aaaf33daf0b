"""Self-approval on the development stack is a policy, and says so: the dev key's own runs in the
default tenant are under `dev:self-approval` (the run state, the inbox, `aios show`, the Temporal
UI's details, the trace and the notice name it) and the dev key answers them; a user a key was
made for, in the default tenant or another, never answers their own run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError

from aios.approval_policies import (
    DEV_SELF_APPROVAL_ID,
    PolicyRequest,
    StoredPolicy,
    applying,
    dev_self_approval,
)
from aios.models import ApprovalDecision, RunState
from aios.notices import ApprovalNotice, email_body, slack_body
from cli.runs import print_run
from tests.conftest import Stack
from tests.helpers import as_key, current_details, make_key
from workflows.agent_run import AgentRunWorkflow

PLAN = {"steps": [{"id": "sign", "kind": "approval", "approval": {"reason": "sign it"}}]}


async def _waiting(api: httpx.AsyncClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    started = await api.post("/v1/runs", json={"goal": "sign it", "plan": PLAN}, headers=headers)
    assert started.status_code == 202, started.text
    run = f"/v1/runs/{started.json()['run_id']}"
    for _ in range(300):
        state: dict[str, Any] = (await api.get(run, headers=headers)).json()
        if state["pending_approvals"]:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run} never waited for approval")


def _answer(state: dict[str, Any]) -> tuple[str, dict[str, str]]:
    [pending] = state["pending_approvals"]
    url = f"/v1/runs/{state['run_id']}/approvals/{pending['approval_id']}"
    return url, {"decision": "approve", "args_hash": pending["args_hash"]}


async def test_the_dev_key_approves_its_own_runs_under_a_named_policy(
    api: httpx.AsyncClient, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    state = await _waiting(api)  # the dev key: tenant default, user dev
    [pending] = state["pending_approvals"]
    assert pending["self_approval"] and pending["self_approval_policy"] == DEV_SELF_APPROVAL_ID
    said = f"self-approval allowed by policy {DEV_SELF_APPROVAL_ID}"
    inbox = (await api.get("/v1/approvals")).json()["approvals"]
    [item] = [i for i in inbox if i["run_id"] == state["run_id"]]
    assert item["self_approval_policy"] == DEV_SELF_APPROVAL_ID
    details = await current_details(stack.client.get_workflow_handle(state["run_id"]))
    assert f"Self-approval allowed by policy `{DEV_SELF_APPROVAL_ID}`" in details
    print_run(RunState.model_validate(state))  # aios show
    assert said in capsys.readouterr().out
    url, body = _answer(state)
    answered = await api.post(url, json=body)
    assert answered.status_code == 200, answered.text
    done = (await api.get(f"/v1/runs/{state['run_id']}?wait_s=20")).json()
    assert done["status"] == "completed", done
    trace = (await api.get(f"/v1/runs/{state['run_id']}/trace")).json()["entries"]
    assert any(said in e["summary"] for e in trace), trace

    # Users a key was made for have four eyes: in the default tenant, and a `dev` elsewhere.
    ada = f"ada-{uuid.uuid4().hex[:6]}"  # the default tenant is the whole session's
    made = {
        ada: as_key((await make_key(api, "default", ada, roles=["approver"]))["key"]),
        "dev": as_key(
            (await make_key(api, f"acme-{uuid.uuid4().hex[:8]}", "dev", roles=["admin"]))["key"]
        ),
    }
    for user, key in made.items():
        state = await _waiting(api, key)
        [pending] = state["pending_approvals"]
        assert not pending["self_approval"] and pending["self_approval_policy"] is None, user
        url, body = _answer(state)
        own = await api.post(url, json=body, headers=key)
        assert own.status_code == 403 and "four eyes" in own.json()["detail"], (user, own.text)
        assert own.headers["content-type"].startswith("application/problem+json")
        # The run refuses it too, whatever the API saw (an answer racing the approval's opening).
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await stack.client.get_workflow_handle(state["run_id"]).execute_update(
                AgentRunWorkflow.approve,
                ApprovalDecision(
                    approval_id=pending["approval_id"],
                    decision="approve",
                    args_hash=pending["args_hash"],
                    reviewer=user,
                    reviewer_roles=["admin"],
                ),
            )
        assert "four eyes" in str(refused.value.cause), user
        await api.post(f"/v1/runs/{state['run_id']}/cancel", headers=key)


def test_which_policy_allows_self_approval() -> None:
    dev = dev_self_approval(True)
    assert dev_self_approval(False) is None
    asked = PolicyRequest(tenant="default", tool="send_email", requester="dev")
    applied = applying(asked, [], [], dev)
    assert applied is not None and applied.policy is None
    assert applied.self_approval_by == DEV_SELF_APPROVAL_ID
    # Another user, another tenant, or no development key: four eyes.
    for request, policy in [
        (asked.model_copy(update={"requester": "ada"}), dev),
        (asked.model_copy(update={"tenant": "acme"}), dev),
        (asked, None),
    ]:
        assert applying(request, [], [], policy) is None
    # A subject's own policy that allows it names itself; one that does not leaves it to dev.
    own = StoredPolicy(
        subject="tool", name="send_email", id="pol_1", source="tenant", allow_self_approval=True
    )
    assert applying(asked, [own], [], None).self_approval_by == "pol_1"  # type: ignore[union-attr]
    strict = own.model_copy(update={"allow_self_approval": False})
    found = applying(asked, [strict], [], dev)
    assert found is not None and found.policy == strict
    assert found.self_approval_by == DEV_SELF_APPROVAL_ID
    # A run from before the gate (no requester): the subject's policy alone, as before.
    legacy = applying(asked.model_copy(update={"requester": None}), [strict], [], dev)
    assert legacy is not None and legacy.self_approval_by is None
    assert applying(asked.model_copy(update={"requester": None}), [], [], dev) is None


def test_the_notice_says_the_requester_may_approve() -> None:
    now = datetime.now(UTC)
    notice = ApprovalNotice(
        tenant="default",
        run_id="run-x",
        goal="g",
        requester="dev",
        approval_id="sign-approval",
        step_id="sign",
        reason="sign it",
        requested_at=now,
        expires_at=now,
        self_approval_policy=DEV_SELF_APPROVAL_ID,
    )
    said = f"Self-approval allowed by policy {DEV_SELF_APPROVAL_ID}"
    assert said in email_body(notice, "http://x/#/runs/run-x")
    assert said in str(slack_body(notice, "http://x/#/runs/run-x")["blocks"])
