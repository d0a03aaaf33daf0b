"""Confidence and review on low confidence, through the API on real Temporal and PostgreSQL with
the scripted model: a weakly grounded answer pauses the run at a review that shows the answer,
its confidence and why it is low; the requester may not review it; an edit cannot come with a
rejection; the reviewer's edited answer is what the run returns, with who edited it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from aios.models import RunState
from cli.runs import edited_answer, print_run
from tests.helpers import as_key, make_key
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

MANUAL = {
    "source": "manual.md",
    "title": "Pump manual",
    "text": "The maintenance team inspects every pump once a month and replaces worn seals.",
}


def _plan(goal: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "answer",
                "kind": "llm",
                "args": {"instruction": goal, "documents": [MANUAL], "cite": True},
            }
        ]
    }


async def test_a_weakly_grounded_answer_waits_for_a_reviewer_who_edits_it(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    keys = {
        user: as_key((await make_key(api, tenant, user, roles=roles))["key"])
        for user, roles in {"ada": ["approver"], "carol": ["approver"]}.items()
    }
    review = {"when": "low_confidence", "threshold": 0.6}
    # The model cites the manual for something the manual does not say.
    fake_openai.queue(ScriptedReply(content="Pumps are painted blue every winter by robots [1]."))
    goal = "How often are the pumps inspected?"
    started = await api.post(
        "/v1/runs", json={"goal": goal, "plan": _plan(goal), "review": review}, headers=keys["ada"]
    )
    assert started.status_code == 202, started.text
    run = f"/v1/runs/{started.json()['run_id']}"
    state: dict[str, Any] = {}
    for _ in range(100):
        state = (await api.get(f"{run}?wait_s=1", headers=keys["ada"])).json()
        if state["pending_approvals"] or state["status"] not in ("queued", "running"):
            break
    assert state["status"] == "awaiting_approval", state
    [pending] = state["pending_approvals"]
    assert pending["kind"] == "review" and pending["approval_id"] == "answer-review-approval"
    assert pending["args"]["answer"].startswith("Pumps are painted blue")
    confidence = pending["args"]["confidence"]
    assert confidence["grounding"] == 0 and confidence["score"] < 0.6
    assert "below the review threshold 0.60" in pending["reason"]
    assert "1 of 1 claims not supported" in pending["reason"]
    assert pending["args"]["evidence"][0]["title"] == "Pump manual"
    print_run(RunState.model_validate(state))  # `aios status`
    shown = capsys.readouterr().out
    assert "answer under review (confidence" in shown and "Pumps are painted blue" in shown
    assert edited_answer("-", rejecting=True) is None
    assert "drop --reject" in capsys.readouterr().err

    url = f"{run}/approvals/{pending['approval_id']}"
    edited = "The maintenance team inspects every pump once a month [1]."
    body = {"decision": "approve", "args_hash": pending["args_hash"], "answer": edited}
    own = await api.post(url, json=body, headers=keys["ada"])
    assert own.status_code == 403, own.text  # four eyes: never the run's requester
    rejected_edit = await api.post(url, json={**body, "decision": "reject"}, headers=keys["carol"])
    assert rejected_edit.status_code == 422, rejected_edit.text
    answered = await api.post(url, json=body, headers=keys["carol"])
    assert answered.status_code == 200, answered.text

    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
    result = done["result"]
    assert result["answer"] == edited
    assert result["review"]["reviewer"] == "carol" and result["review"]["outcome"] == "edited"
    assert result["review"]["original_answer"].startswith("Pumps are painted blue")
    assert result["confidence"]["score"] == confidence["score"]
    trace = (await api.get(f"{run}/trace", headers=keys["ada"])).json()
    said = [e["summary"] for e in trace["entries"]]
    assert any(s.startswith("answer confidence") for s in said), said
    assert any("approve by carol with an edited answer" in s for s in said), said
    metrics = (await api.get("/metrics")).text
    assert 'aios_answer_confidence_count{model="local:fake-fast",skill=""}' in metrics
