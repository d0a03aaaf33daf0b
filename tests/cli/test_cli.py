"""The `aios` CLI as a user runs it: real processes talking to a real API server."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Stack, app_for, serving
from tests.helpers import APPROVAL_PLAN, aios


@pytest.fixture
async def api_url(stack: Stack) -> AsyncIterator[str]:
    async with serving(app_for(stack)) as url:
        yield url


async def test_run_follow_shows_progress_and_the_report(api_url: str) -> None:
    code, out, err = await aios(api_url, "run", "What is a plan?", "--follow")
    assert code == 0, err
    assert "plan ready (hybrid: rule): retrieve -> extract -> trends -> report" in out
    assert "step report: completed" in out
    assert "run completed" in out and "Tokens:" in out


async def test_status_runs_approve_and_cancel(api_url: str, stack: Stack) -> None:
    import httpx

    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": "Bearer test-key"}
    ) as http:
        run_id = (
            await http.post("/v1/runs", json={"goal": "send it", "plan": APPROVAL_PLAN})
        ).json()["run_id"]
        for _ in range(100):
            if (await http.get(f"/v1/runs/{run_id}")).json()["status"] == "awaiting_approval":
                break
            await asyncio.sleep(0.1)

    code, out, _ = await aios(api_url, "status", run_id)
    assert code == 0 and "awaiting approval send-approval" in out
    assert f"aios approve {run_id} send-approval" in out
    code, out, _ = await aios(api_url, "runs", "--json")
    assert code == 0 and any(r["run_id"] == run_id for r in json.loads(out)["runs"])
    code, out, err = await aios(api_url, "approve", run_id)
    assert code == 0, err
    assert "approved send-approval" in out
    code, out, err = await aios(api_url, "approve", run_id, "send-approval")
    assert code == 1 and "already answered" in err and "HTTP 409" in err
    code, out, err = await aios(api_url, "approve", run_id, "send-approval", "--json")
    assert code == 1 and json.loads(out)["status"] == 409, "--json errors are JSON"
    code, out, err = await aios(api_url, "approve", run_id)
    assert code == 2 and "has no pending approval" in err

    code, out, err = await aios(api_url, "status", run_id, "--json")
    run: dict[str, Any] = json.loads(out)
    assert run["run_id"] == run_id
    first_step = run["plan"][0]["id"]
    code, out, err = await aios(api_url, "output", run_id, first_step)
    assert code == 0, err
    code, out, err = await aios(api_url, "cancel", "run-nope")
    assert code == 1 and "no run" in err and "HTTP 404" in err


async def test_ingest_a_folder_then_search_it(api_url: str, tmp_path: Any) -> None:
    folder = tmp_path / "my-docs"
    (folder / "ops").mkdir(parents=True)
    (folder / "ops" / "pumps.md").write_text(
        "# Pumps\n\nThe pump P-7 needs new seals every 4,000 hours of operation."
    )
    (folder / "leave.txt").write_text("Staff get thirty days of paid leave every year.")
    (folder / "image.png").write_bytes(b"\x89PNG")  # not ingestible: left out
    code, out, err = await aios(api_url, "ingest", str(folder))
    assert code == 0, err
    assert "ingested 2 documents" in out and "0 failed" in out
    assert "ingesting [" in err  # the progress bar (on stderr)
    code, out, err = await aios(api_url, "search", "how often are pump seals replaced")
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("[1] Pumps") and "my-docs/ops/pumps.md" in first
    assert '> "The pump P-7 needs new seals every 4,000 hours of operation."' in out
    code, out, _ = await aios(api_url, "ingest", str(folder))
    assert "2 unchanged" in out
    code, out, err = await aios(api_url, "ingest", str(tmp_path / "missing"))
    assert code == 1 and "no such file or directory" in out and "nothing to ingest" in err


async def test_a_wrong_key_gives_a_helpful_message(api_url: str) -> None:
    code, _, err = await aios(api_url, "runs", key="wrong")
    assert code == 1 and "not valid" in err


async def test_an_unreachable_api_says_what_to_do() -> None:
    code, _, err = await aios("http://127.0.0.1:9", "runs")
    assert code == 1 and "aios dev" in err


async def test_skills_tools_and_running_a_skill(api_url: str) -> None:
    code, out, err = await aios(api_url, "skills")
    assert code == 0, err
    assert "research_report" in out and "data_report" in out and "source*" in out
    code, out, err = await aios(api_url, "tools")
    assert code == 0, err
    assert "publish_report" in out and "needs approval" in out and "calculator" in out
    code, out, err = await aios(api_url, "tools", "calculator", "--args", '{"expression": "6*7"}')
    assert code == 0, err
    assert json.loads(out) == {"expression": "6*7", "value": 42}
    code, out, err = await aios(
        api_url, "run", "--skill", "research_report", "--input", "topic=What is a plan?", "--follow"
    )
    assert code == 0, err
    assert "plan ready (rule): retrieve -> extract -> trends -> report" in out
    assert "run completed" in out
    code, _, err = await aios(api_url, "run")
    assert code != 0 and "a goal" in err


async def test_follow_stops_at_an_approval_and_says_how_to_answer(api_url: str) -> None:
    code, out, err = await aios(
        api_url, "run", "What is a plan?", "--input", "publish=true", "--follow"
    )
    assert code == 0, err
    assert "awaiting approval publish-approval" in out
    assert "arguments: {" in out and "expires:" in out
    assert "aios approve run-" in out and "--wait-approval" in out
    run_id = out.split("run ", 1)[1].split(" ", 1)[0]
    # The inbox lists it (the development key answers its own: a single-user stack).
    code, out, err = await aios(api_url, "approvals")
    assert code == 0, err
    assert f"{run_id}  publish-approval  asked by dev" in out
    assert f"aios approve {run_id} publish-approval" in out
    code, out, err = await aios(api_url, "approve", run_id, "--reject", "--reason", "not now")
    assert code == 0 and "rejected publish-approval" in out
    code, _, err = await aios(api_url, "status", "")
    assert code == 1 and "a run id is needed" in err


async def test_keys_from_the_cli(api_url: str) -> None:
    code, out, err = await aios(api_url, "keys", "create", "--tenant", "acme", "--user", "ada")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("aios_live_") and "not shown again" in err
    key_id = err.split("(key ", 1)[1].split()[0]
    code, out, _ = await aios(api_url, "keys", "list", "--tenant", "acme")
    assert code == 0 and key_id in out and "live" in out
    code, out, err = await aios(api_url, "runs", key=key)
    assert code == 0, err
    code, out, _ = await aios(api_url, "keys", "revoke", key_id)
    assert code == 0 and f"revoked {key_id}" in out
    code, _, err = await aios(api_url, "runs", key=key)
    assert code == 1 and "revoked" in err


async def test_erasing_a_tenant_from_the_cli_asks_for_yes(api_url: str) -> None:
    code, out, err = await aios(api_url, "keys", "create", "--tenant", "cli-gone", "--user", "x")
    assert code == 0, err
    code, _, err = await aios(api_url, "tenants", "erase", "cli-gone")
    assert code == 1 and "cannot be undone" in err and "--yes" in err
    code, out, err = await aios(api_url, "tenants", "erase", "cli-gone", "--yes")
    assert code == 0, err
    assert "erased tenant cli-gone" in out and re.search(r"api_keys rows\s+1\n", out), out
    code, _, err = await aios(api_url, "tenants", "erase", "Not A Tenant", "--yes")
    assert code == 1 and "tenant" in err, err


async def test_schedules_from_the_cli(api_url: str) -> None:
    code, out, err = await aios(
        api_url, "schedule", "create", "--cron", "0 7 * * 1-5", "--goal", "What is a plan?"
    )
    assert code == 0, err
    schedule_id = out.split(":", 1)[0]
    assert schedule_id.startswith("sched-") and "next runs:" in out
    code, out, _ = await aios(api_url, "schedule", "list")
    assert schedule_id in out and "0 7 * * 1-5" in out
    code, out, err = await aios(api_url, "schedule", "trigger", schedule_id)
    assert code == 0, err
    for _ in range(50):
        code, out, _ = await aios(api_url, "runs", "--schedule", schedule_id, "--json")
        if json.loads(out)["runs"]:
            break
        await asyncio.sleep(0.2)
    assert json.loads(out)["runs"][0]["goal"] == "What is a plan?"
    code, out, _ = await aios(api_url, "schedule", "delete", schedule_id)
    assert code == 0 and f"deleted {schedule_id}" in out


async def test_chat_from_the_terminal(api_url: str) -> None:
    code, out, err = await aios(
        api_url, "chat", "--json", stdin=b"What is a plan?\nAnd an approval?\n\n"
    )
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["session_id"] == second["session_id"] and second["turn"] == 2


async def test_runs_lists_under_a_header_with_paging_and_goals_come_from_files(
    api_url: str, tmp_path: Any
) -> None:
    """Listed as Temporal orders them: running runs first (newest first), then finished ones
    (most recently finished first). A tenant of its own: no other test's runs in the page."""
    import httpx

    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": "Bearer test-key"}
    ) as http:
        created = await http.post(
            "/v1/keys", json={"tenant": "cli-paging", "user_id": "pat", "roles": ["user"]}
        )
    key = created.json()["key"]
    brief = tmp_path / "brief.txt"
    brief.write_text("Compare the three pump vendors " + "in detail " * 30)
    code, out, err = await aios(api_url, "run", "--file", str(brief), key=key)
    assert code == 0, err
    file_run = out.split()[1]
    code, out, err = await aios(api_url, "run", "-", stdin=b"A goal read from stdin", key=key)
    assert code == 0, err
    stdin_run = out.split()[1]
    code, out, err = await aios(api_url, "runs", "--limit", "1", key=key)
    assert code == 0, err
    header, first, more = out.splitlines()
    assert header.split() == ["RUN", "ID", "STATUS", "STARTED", "GOAL"]
    assert more.startswith("(more: aios runs --page-token ")
    code, out, err = await aios(
        api_url, "runs", "--limit", "1", "--page-token", more[30:-1], key=key
    )
    assert code == 0, err
    second = out.splitlines()[1]
    listed = {first.split()[0], second.split()[0]}
    assert listed == {file_run, stdin_run}, "two pages, each run once"
    long_line = first if first.startswith(file_run) else second
    assert long_line.endswith("…"), "long goals end in an ellipsis"
