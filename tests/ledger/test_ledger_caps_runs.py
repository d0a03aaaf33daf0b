"""The issue's cap tests through real runs (real Temporal and PostgreSQL, the scripted OpenAI
server): ten parallel model steps under a run budget that fits three, and a user's daily cap that
stops their fifth run and not their colleague's.

Only answer tokens are priced and each step may use exactly the 20 the scripted server reports, so
a call's worst case is what it costs ($0.002): how many calls fit a cap does not depend on which
settled before the others reserved.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aios.config import Settings
from tests.conftest import Stack
from tests.support.fake_openai import FakeOpenAI

MODEL = "openai:gpt-4o-mini"
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
    return {"id": f"say-{i}", "kind": "llm", "args": {"instruction": f"Say {i}.", "max_tokens": 20}}


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
    entries = await stack.pool.fetch(
        "SELECT status, usd, reserved_usd FROM ledger_entries WHERE root_run_id = $1",
        run["run_id"],
    )
    # Exactly three reservations passed; the seven refused left no entry and sent nothing.
    assert len(entries) == 3, entries
    settled = [e for e in entries if e["status"] == "settled"]
    assert len(fake_openai.requests) == len(settled)
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
