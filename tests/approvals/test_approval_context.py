"""An approval shows what it is about: the outputs of the steps it depends on (the draft), in the
run state, the inbox, the Temporal UI's details and the CLI; its args_hash covers them, so an
answer naming the arguments alone (a stale draft) is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from aios.approvals import CONTEXT_CHARS, approval_hash
from aios.models import RunState
from aios.plan import args_hash
from cli.runs import print_run
from tests.conftest import Stack
from tests.helpers import current_details

# Hostile on purpose: markup and a terminal escape must reach the reviewer as text.
DRAFT = '<img src=x onerror="window.pwned=1"> Dear readers,\x1b[2J ' + "quarterly numbers. " * 300
PLAN = {
    "steps": [
        {
            "id": "draft",
            "kind": "tool",
            "tool": "echo",
            "title": "Draft the note",
            "args": {"value": DRAFT},
        },
        {
            "id": "review",
            "kind": "approval",
            "depends_on": ["draft"],
            "approval": {"reason": "check the draft"},
        },
        {
            "id": "send",
            "kind": "tool",
            "tool": "echo",
            "depends_on": ["review"],
            "args": {"value": "sent"},
        },
    ]
}


async def awaiting(api: httpx.AsyncClient, plan: dict[str, Any]) -> dict[str, Any]:
    run_id = (await api.post("/v1/runs", json={"goal": "send the note", "plan": plan})).json()[
        "run_id"
    ]
    for _ in range(300):
        state: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if state["status"] == "awaiting_approval":
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never waited for approval: {state}")


async def test_an_approval_shows_and_hashes_the_draft_it_is_about(
    api: httpx.AsyncClient, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    state = await awaiting(api, PLAN)
    [pending] = state["pending_approvals"]
    [about] = pending["about"]
    assert about["step_id"] == "draft" and about["title"] == "Draft the note"
    assert about["truncated"] and about["chars"] == len(DRAFT)
    assert len(about["text"]) == CONTEXT_CHARS and about["text"].startswith("<img src=x")
    # The hash covers the whole draft, not the (empty) arguments alone.
    assert pending["args_hash"] == approval_hash({}, {"draft": DRAFT}) != args_hash({})

    inbox = (await api.get("/v1/approvals")).json()["approvals"]
    [item] = [i for i in inbox if i["run_id"] == state["run_id"]]
    assert item["about"] == pending["about"]

    handle = stack.client.get_workflow_handle(state["run_id"])
    assert "output of `draft`: <img src=x" in await current_details(handle)

    print_run(RunState.model_validate(state))
    printed = capsys.readouterr().out
    assert "output of draft (Draft the note, first 4000 of" in printed
    assert "  | <img src=x" in printed and "\x1b" not in printed

    url = f"/v1/runs/{state['run_id']}/approvals/{pending['approval_id']}"
    stale = await api.post(url, json={"decision": "approve", "args_hash": args_hash({})})
    assert stale.status_code == 409 and "args_hash does not match" in stale.json()["detail"]
    ok = await api.post(url, json={"decision": "approve", "args_hash": pending["args_hash"]})
    assert ok.status_code == 200, ok.text
    done = (await api.get(f"/v1/runs/{state['run_id']}?wait_s=20")).json()
    assert done["status"] == "completed", done


async def test_an_approval_without_dependencies_hashes_its_arguments_as_before(
    api: httpx.AsyncClient,
) -> None:
    plan = {
        "steps": [
            {"id": "send", "kind": "tool", "tool": "guarded_echo", "args": {"value": "to all"}}
        ]
    }
    state = await awaiting(api, plan)
    [pending] = state["pending_approvals"]
    assert pending["about"] == [] and pending["args_hash"] == args_hash({"value": "to all"})
    cancelled = await api.post(f"/v1/runs/{state['run_id']}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
