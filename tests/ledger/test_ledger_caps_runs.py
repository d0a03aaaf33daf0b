"""The issue's cap tests through real runs (real Temporal and PostgreSQL, the scripted OpenAI
server): ten parallel model steps under a run budget that fits three, and a user's daily cap that
stops their fifth run and not their colleague's.

Only answer tokens are priced and each step may use exactly the 20 the scripted server reports, so
a call's worst case is what it costs ($0.002): how many calls fit a cap does not depend on which
settled before the others reserved.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from aios.config import Settings
from aios.stores.ledger import LedgerStore
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import Stack, api_client, app_for, running_stack
from tests.support.fake_openai import FakeOpenAI

MODEL = "openai:gpt-4o-mini"
STRONG = "openai:gpt-4o"
CALL_USD = 0.002  # 20 answer tokens at $100 a million


@pytest.fixture
def settings(settings: Settings, fake_openai: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "model_fast": MODEL,
            "model_strong": MODEL,
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": fake_openai.base_url,
            "model_prices": {MODEL: (0.0, 100.0)},
        }
    )


def _say(i: int) -> dict[str, Any]:
    return {
        "id": f"say-{i}",
        "kind": "llm",
        "args": {"instruction": f"Say {i}.", "model": "fast", "max_tokens": 20},
    }


async def _run(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Start a run and wait for it to end."""
    started = await api.post("/v1/runs", json=body)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    for _ in range(60):
        run = (await api.get(f"/v1/runs/{run_id}", params={"wait_s": 10})).json()
        if run["status"] in {"completed", "failed", "cancelled"}:
            return dict(run)
    raise AssertionError(f"run {run_id} did not end: {run['status']}")


async def test_ten_parallel_steps_of_which_three_fit_the_run_budget(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    run = await _run(
        api,
        {
            "goal": "say ten things at once",
            "plan": {"steps": [_say(i) for i in range(10)]},
            "budget_usd": 0.007,  # three calls ($0.006) fit, a fourth ($0.008) does not
        },
    )
    assert run["status"] == "failed"
    assert f"budget_exhausted: run {run['run_id']}, 0.0060 of 0.0070 USD" in run["error"]
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await stack.pool.fetch(
        "SELECT status, usd, reserved_usd FROM ledger_entries WHERE root_run_id = $1",
        run["run_id"],
    )
    # Exactly three reservations passed; the seven refused left no entry and sent nothing. The
    # first refusal fails the run: a call of the three still in flight then (a loaded machine) is
    # cut, and charged at its worst case, as the provider may bill it (or, until the cancelled
    # activity has done so, still reserved).
    assert len(entries) == 3, entries
    assert len(fake_openai.requests) == 3
    settled = [e for e in entries if e["status"] == "settled"]
    assert {e["status"] for e in entries} <= {"settled", "expired", "reserved"}, entries
    assert all(float(e["usd"]) == CALL_USD for e in settled)
    spent = await stack.pool.fetchval(
        "SELECT usd FROM ledger_counters WHERE scope = $1 AND period = 'run'",
        f"run:{run['run_id']}",
    )
    assert float(spent) <= 0.007


async def test_a_users_daily_cap_stops_their_fifth_run_and_not_their_colleagues(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    cap = await api.post(
        "/v1/budgets", json={"scope": "user", "subject": "ada", "period": "day", "usd": 0.009}
    )
    assert cap.status_code == 201, cap.text

    def body(user: str, i: int) -> dict[str, Any]:
        return {"goal": f"run {i}", "plan": {"steps": [_say(i)]}, "user_id": user}

    first = await asyncio.gather(
        *(_run(api, body(user, i)) for user in ("ada", "bob") for i in range(4))
    )
    assert [r["status"] for r in first] == ["completed"] * 8
    fifth = await _run(api, body("ada", 5))
    assert fifth["status"] == "failed"
    assert fifth["error"].startswith("budget_exhausted: user ada, day "), fifth["error"]
    assert "0.0080 of 0.0090 USD" in fifth["error"]
    assert (await _run(api, body("bob", 5)))["status"] == "completed"

    report = (await api.get("/v1/usage", params={"group_by": "user"})).json()
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["ada"]["calls"] == 4 and groups["ada"]["usd"] == pytest.approx(4 * CALL_USD)
    assert groups["bob"]["calls"] == 5 and groups["bob"]["usd"] == pytest.approx(5 * CALL_USD)
    assert len(fake_openai.requests) == 9


SKILL = """name: say
version: 1
description: Say one thing.
steps:
  - id: say
    kind: llm
    args: {instruction: "Say hello.", model: fast, max_tokens: 20}
"""


@pytest.fixture
def capped_settings(settings: Settings, tmp_path: Path) -> Settings:
    skills = tmp_path / "skills"
    skills.mkdir()
    (skills / "say.yaml").write_text(SKILL)
    return settings.model_copy(
        update={
            "skills_dir": skills,
            # Chat turns answer with the strong tier (max_tokens 500): a worst case of $0.005.
            "model_strong": STRONG,
            "model_prices": {MODEL: (0.0, 100.0), STRONG: (0.0, 10.0)},
        }
    )


async def test_a_tenants_month_and_a_users_day_hold_across_runs_skills_chats_and_schedules(
    capped_settings: Settings, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment, embedder: Any
) -> None:
    """The issue's done-when, small: the tenant may spend $0.0125 a month and ada $0.0085 a
    day; ada chats, runs an llm step, a skill step and a scheduled run, then runs until her cap
    refuses; bob runs until the tenant's cap refuses. No scope's counter passes its cap, and the
    usage report by user shows where it went."""
    async with (
        running_stack(capped_settings, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        for cap in (
            {"scope": "tenant", "period": "month", "usd": 0.0125},
            {"scope": "user", "subject": "ada", "period": "day", "usd": 0.0085},
        ):
            assert (await api.post("/v1/budgets", json=cap)).status_code == 201
        key = await api.post(
            "/v1/keys", json={"tenant": "default", "user_id": "ada", "roles": ["user"]}
        )
        ada = {"Authorization": f"Bearer {key.json()['key']}"}

        chat = await api.post("/v1/chat", headers=ada, json={"message": "Hello?"})
        assert chat.status_code == 200, chat.text
        llm = await _run(api, {"goal": "say", "plan": {"steps": [_say(1)]}, "user_id": "ada"})
        skill_step = {"id": "s", "kind": "skill", "args": {"name": "say"}}
        skill = await _run(
            api, {"goal": "skill", "plan": {"steps": [skill_step]}, "user_id": "ada"}
        )
        assert (llm["status"], skill["status"]) == ("completed", "completed")
        schedule = await api.post(
            "/v1/schedules",
            headers=ada,
            json={"goal": "say hello", "skill": "say", "interval_s": 3600},
        )
        assert schedule.status_code == 201, schedule.text
        schedule_id = schedule.json()["schedule_id"]
        trigger = await api.post(f"/v1/schedules/{schedule_id}/trigger", headers=ada)
        assert trigger.status_code == 200
        scheduled: list[dict[str, Any]] = []
        for _ in range(100):  # the run list is eventually consistent
            params = {"schedule_id": schedule_id}
            scheduled = (await api.get("/v1/runs", params=params)).json()["runs"]
            if scheduled:
                break
            await asyncio.sleep(0.1)
        wait = {"wait_s": 30}
        by_schedule = (await api.get(f"/v1/runs/{scheduled[0]['run_id']}", params=wait)).json()
        assert by_schedule["status"] == "completed", by_schedule.get("error")
        assert (await api.delete(f"/v1/schedules/{schedule_id}")).status_code == 204

        refusals: dict[str, str] = {}
        for user in ("ada", "bob"):
            for i in range(10):
                body = {"goal": "more", "plan": {"steps": [_say(i)]}, "user_id": user}
                run = await _run(api, body)
                if run["status"] == "failed":
                    refusals[user] = run["error"]
                    break
        assert refusals["ada"].startswith("budget_exhausted: user ada, day "), refusals
        assert refusals["bob"].startswith("budget_exhausted: tenant default, month "), refusals
        over = await api.post("/v1/chat", headers=ada, json={"message": "Hello again?"})
        assert over.status_code == 402, over.text
        assert over.json()["detail"].startswith("budget_exhausted: ")

        report = (await api.get("/v1/usage", params={"group_by": "user"})).json()
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == {"ada", "bob"}
    counters = {
        (r["scope"], len(r["period"])): r["usd"]
        for r in await pool.fetch("SELECT scope, period, usd FROM ledger_counters")
    }
    ada_day = counters[("user:default/ada", len("2026-12-06"))]
    tenant_month = counters[("tenant:default/default", len("2026-12"))]
    assert 0 < ada_day <= Decimal("0.0085") and 0 < tenant_month <= Decimal("0.0125")
    # Where it went: the report sums the same entries the counters hold.
    assert groups["ada"]["usd"] == pytest.approx(float(ada_day))
    assert groups["ada"]["usd"] + groups["bob"]["usd"] == pytest.approx(float(tenant_month))
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    models = await pool.fetch(
        "SELECT DISTINCT model, skill, schedule_id IS NOT NULL AS scheduled FROM ledger_entries"
        " WHERE user_id = 'ada' AND status = 'settled'"
    )
    kinds = {(m["model"], m["skill"], m["scheduled"]) for m in models}
    assert (STRONG, None, False) in kinds  # the chat turn
    assert (MODEL, "say", False) in kinds and (MODEL, "say", True) in kinds
    assert await LedgerStore(pool).unbalanced() == []
