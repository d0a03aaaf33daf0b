"""An approval to raise a cap (issue 24: "or pauses for an approval to raise the cap, if the
policy says so"): a tenant's `budget` approval policy turns a run refused by a cap into a run that
waits for an approver, who raises the cap and approves; the refused call is then tried again. A
rejection fails the run with the refusal and the answer; without a policy nothing changes (the
run fails, tests/ledger/test_ledger_caps_runs.py). Real Temporal and PostgreSQL, the scripted
OpenAI server; a call costs exactly its worst case ($0.002), as in test_ledger_caps_runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aios.approval_policies import PolicyRequest, StoredPolicy, crossed_cap_scope, resolve
from aios.config import Settings
from tests.helpers import as_key, make_key
from tests.support.fake_openai import FakeOpenAI

MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def settings(settings: Settings, fake_openai: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "model_fast": MODEL,
            "model_strong": MODEL,
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": fake_openai.base_url,
            "model_prices": {MODEL: (0.0, 100.0)},  # 20 answer tokens: $0.002 a call
        }
    )


def test_which_refusals_a_budget_policy_is_about() -> None:
    assert crossed_cap_scope("budget_exhausted: user ada, day 2026-12-06, 0.0020 of 0.0030 USD")
    assert crossed_cap_scope("budget_exhausted: tenant acme, month 2026-12, 1 of 2 USD") == (
        "tenant"
    )
    # A run's own budget is its requester's choice, and no cap raises a price: never asked.
    assert crossed_cap_scope("budget_exhausted: run abc, 0.0060 of 0.0070 USD") is None
    assert crossed_cap_scope("cost budget reached: the next call ...") is None
    assert crossed_cap_scope("model_unpriced: openai:x has no price ...") is None

    def policy(name: str) -> StoredPolicy:
        return StoredPolicy(id=f"p-{name}", source="tenant", subject="budget", name=name)

    tool = StoredPolicy(id="t", source="tenant", subject="tool", name="publish_report")
    ask = PolicyRequest(tenant="acme", budget="user", tool="publish_report")
    # The crossed scope's own policy before the one for any cap; never a tool's or skill's.
    assert resolve(ask, [tool, policy("*"), policy("user")], []) == policy("user")
    assert resolve(ask, [tool, policy("*")], []) == policy("*")
    assert resolve(ask, [tool, policy("tenant")], []) is None


def _say(i: int, after: list[str]) -> dict[str, Any]:
    return {
        "id": f"say-{i}",
        "kind": "llm",
        "depends_on": after,
        "args": {"instruction": f"Say {i}.", "model": "fast", "max_tokens": 20},
    }


async def _waiting(api: httpx.AsyncClient, run: str, key: dict[str, str]) -> dict[str, Any]:
    for _ in range(300):
        state: dict[str, Any] = (await api.get(run, headers=key)).json()
        if state["pending_approvals"] or state["status"] in {"completed", "failed"}:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run} never waited for approval: {state}")


async def test_an_approver_raises_a_users_cap_and_the_refused_call_goes_on(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {"adam": ["admin"], "ada": ["user"], "carol": ["approver"]}
    keys = {u: as_key((await make_key(api, tenant, u, roles=r))["key"]) for u, r in roles.items()}
    admin = keys["adam"]
    cap = {"scope": "user", "subject": "ada", "period": "day", "usd": 0.003}  # one call fits
    assert (await api.post("/v1/budgets", json=cap, headers=admin)).status_code == 201

    # A budget policy names a cap's scope, or * for any; anything else is a 422.
    url = "/v1/policies"
    refused = await api.post(url, json={"subject": "budget", "name": "month"}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert "tenant, user, key, schedule or *" in refused.json()["detail"]
    made = await api.post(
        url, json={"subject": "budget", "name": "user", "approvers": ["adam"]}, headers=admin
    )
    assert made.status_code == 201, made.text
    policy_id = made.json()["id"]

    async def start() -> str:
        plan = {"steps": [_say(1, []), _say(2, ["say-1"])]}
        started = await api.post(
            "/v1/runs", json={"goal": "say two things", "plan": plan}, headers=keys["ada"]
        )
        assert started.status_code == 202, started.text
        return f"/v1/runs/{started.json()['run_id']}"

    # The second call crosses ada's cap: the run waits for adam instead of failing.
    run = await start()
    state = await _waiting(api, run, keys["ada"])
    assert state["status"] == "awaiting_approval", state
    [pending] = state["pending_approvals"]
    assert pending["step_id"] == "say-2" and pending["approvers"] == ["adam"]
    assert pending["reason"].startswith("budget_exhausted: user ada, day "), pending
    assert "Raise the cap" in pending["reason"]
    assert pending["policy"] == f"tenant policy {policy_id} (budget user)"
    assert len(fake_openai.requests) == 1  # the refused call was not sent
    answer = {"decision": "approve", "args_hash": pending["args_hash"]}
    answer_url = f"{run}/approvals/{pending['approval_id']}"
    # Four eyes: ada does not raise her own cap; carol is not the policy's approver.
    assert (await api.post(answer_url, json=answer, headers=keys["ada"])).status_code == 403
    assert (await api.post(answer_url, json=answer, headers=keys["carol"])).status_code == 403

    # adam raises the cap and approves: the call is reserved afresh and the run completes.
    raised = cap | {"usd": 0.005}
    assert (await api.post("/v1/budgets", json=raised, headers=admin)).status_code == 201
    approved = await api.post(answer_url, json=answer, headers=admin)
    assert approved.status_code == 200, approved.text
    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
    assert len(fake_openai.requests) == 2
    trace = (await api.get(f"{run}/trace", headers=keys["ada"])).json()
    # The auditor's view: why the run waited, under which policy, and who raised the cap.
    assert f"approval {pending['approval_id']} requested: budget_exhausted" in str(trace)
    assert f"approval {pending['approval_id']}: approve by adam" in str(trace), trace

    # The next run is refused at its first call ($0.004 spent, $0.002 more would cross $0.005)
    # and adam rejects: the run fails with the refusal and the answer; nothing more was sent.
    run = await start()
    state = await _waiting(api, run, keys["ada"])
    [pending] = state["pending_approvals"]
    assert pending["step_id"] == "say-1", pending
    reject = {"decision": "reject", "args_hash": pending["args_hash"], "comment": "not today"}
    rejected = await api.post(
        f"{run}/approvals/{pending['approval_id']}", json=reject, headers=admin
    )
    assert rejected.status_code == 200, rejected.text
    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "failed", done
    assert done["error"].startswith("budget_exhausted: user ada, day "), done["error"]
    assert "the cap was not raised: rejected by adam: not today" in done["error"]
    assert len(fake_openai.requests) == 2
