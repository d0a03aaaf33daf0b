"""An approval inside a skill's child workflow is like any other: it is in its approver's inbox,
the approver answers it through the API (four eyes hold), the parent run shows
`awaiting_approval` meanwhile, and it finishes once the child is answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import Settings
from tests.conftest import api_client, app_for, running_stack
from tests.helpers import keys_by_role

SKILL = """name: guarded
version: 1
description: Publish a note, after approval.
steps:
  - id: send
    kind: tool
    tool: publish_report
    args: {title: Note, body: To all.}
"""


async def test_an_approval_in_a_skills_child_run_is_in_the_inbox_and_answerable(
    settings: Settings,
    tmp_path: Path,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
) -> None:
    skills = tmp_path / "skills"
    skills.mkdir()
    (skills / "guarded.yaml").write_text(SKILL)
    settings = settings.model_copy(update={"skills_dir": skills})
    async with (
        running_stack(settings, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        keys = await keys_by_role(api)
        plan = {"steps": [{"id": "report", "kind": "skill", "args": {"name": "guarded"}}]}
        created = await api.post(
            "/v1/runs", json={"goal": "tell everyone", "plan": plan}, headers=keys["ada"]
        )
        assert created.status_code in (200, 201, 202), created.text
        parent = created.json()["run_id"]
        child = f"{parent}-report"

        for _ in range(200):
            inbox = (await api.get("/v1/approvals", headers=keys["carol"])).json()["approvals"]
            if inbox:
                break
            await asyncio.sleep(0.1)
        [item] = inbox
        assert (item["run_id"], item["requester"], item["args"]) == (
            child,
            "ada",
            {"title": "Note", "body": "To all."},
        )
        # The parent shows that it waits for a person (its child does), to its owner and to
        # the approver, and in the run list filtered on it.
        for user in ("ada", "carol"):
            for _ in range(100):
                shown = (await api.get(f"/v1/runs/{parent}", headers=keys[user])).json()
                if shown.get("status") == "awaiting_approval":
                    break
                await asyncio.sleep(0.1)
            assert shown["status"] == "awaiting_approval", (user, shown)
        listed = await api.get("/v1/runs?status=awaiting_approval", headers=keys["ada"])
        assert [r["run_id"] for r in listed.json()["runs"]] == [parent]
        path = f"/v1/runs/{child}/approvals/{item['approval_id']}"
        body = {"decision": "approve", "args_hash": item["args_hash"]}
        # The requester's own answer is refused, in a child run as in any other.
        assert (await api.post(path, json=body, headers=keys["ada"])).status_code == 403
        answered = await api.post(path, json=body, headers=keys["carol"])
        assert answered.status_code == 200, answered.text

        done = (await api.get(f"/v1/runs/{parent}?wait_s=20", headers=keys["ada"])).json()
        assert done["status"] == "completed", done
