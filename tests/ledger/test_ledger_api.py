"""Caps as data and the usage report through the API, and a chat turn over the user's cap."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from aios.client import ApiClient
from aios.errors import UserError
from cli.budgets import cmd_budgets, cmd_usage
from cli.main import build_parser
from tests.conftest import Stack
from tests.support.fake_openai import FakeOpenAI


async def test_caps_stop_a_users_chat_and_usage_sums_the_ledger(
    api: httpx.AsyncClient,
    stack: Stack,
    fake_openai: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await stack.pool.execute("TRUNCATE ledger_entries, ledger_counters, budget_caps")
    refused = await api.post("/v1/budgets", json={"scope": "user", "period": "day", "usd": 1})
    assert refused.status_code == 422 and "subject" in refused.json()["detail"]
    empty = await api.post("/v1/budgets", json={"scope": "tenant", "period": "month"})
    assert empty.status_code == 422
    other = await api.post(
        "/v1/budgets", json={"scope": "tenant", "subject": "acme", "period": "day", "usd": 1}
    )
    assert other.status_code == 422  # a cap on another tenant
    created = await api.post(
        "/v1/budgets", json={"scope": "user", "subject": "lea", "period": "day", "tokens": 10}
    )
    assert created.status_code == 201, created.text
    cap = created.json()
    assert (cap["scope"], cap["subject"], cap["tokens"]) == ("user", "lea", 10)
    listed = (await api.get("/v1/budgets")).json()["budgets"]
    assert [b["id"] for b in listed] == [cap["id"]]

    over = await api.post("/v1/chat", json={"message": "Hello?", "user_id": "lea"})
    assert over.status_code == 402, over.text
    assert over.json()["detail"].startswith("budget_exhausted: user lea, day ")
    assert fake_openai.requests == []
    fine = await api.post("/v1/chat", json={"message": "Hello?", "user_id": "leo"})
    assert fine.status_code == 200, fine.text

    report = (await api.get("/v1/usage", params={"group_by": "user"})).json()
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["leo"]["calls"] >= 1 and groups["leo"]["input_tokens"] > 0
    assert "lea" not in groups
    by_model = (await api.get("/v1/usage", params={"group_by": "model"})).json()
    assert {g["group"] for g in by_model["groups"]} == {"local:fake-strong"}
    backwards = await api.get(
        "/v1/usage", params={"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    )
    assert backwards.status_code == 422
    assert (await api.get("/v1/usage", params={"group_by": "colour"})).status_code == 422

    # A user key: no caps set, its own usage only.
    key = await api.post(
        "/v1/keys", json={"tenant": "default", "user_id": "carl", "roles": ["user"]}
    )
    carl = {"Authorization": f"Bearer {key.json()['key']}"}
    forbidden = await api.post(
        "/v1/budgets",
        headers=carl,
        json={"scope": "user", "subject": "carl", "period": "day", "usd": 100},
    )
    assert forbidden.status_code == 403
    assert (await api.get("/v1/budgets", headers=carl)).json()["budgets"] == []
    own = (await api.get("/v1/usage", headers=carl)).json()
    assert own["user_id"] == "carl" and own["groups"] == []
    # A cap on carl's key stops the runs started with it.
    key_id = key.json()["id"]
    capped = await api.post(
        "/v1/budgets", json={"scope": "key", "subject": key_id, "period": "day", "tokens": 5}
    )
    assert capped.status_code == 201, capped.text
    plan = {"steps": [{"id": "a", "kind": "llm", "args": {"instruction": "Hi."}}]}
    started = await api.post("/v1/runs", headers=carl, json={"goal": "say hi", "plan": plan})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run = (await api.get(f"/v1/runs/{run_id}", headers=carl, params={"wait_s": 30})).json()
    assert run["status"] == "failed"
    assert run["error"].startswith(f"budget_exhausted: key {key_id}, day "), run["error"]

    # A schedule's cap stops the runs it starts.
    schedule = await api.post("/v1/schedules", json={"goal": "What is a plan?", "interval_s": 3600})
    assert schedule.status_code == 201, schedule.text
    schedule_id = schedule.json()["schedule_id"]
    capped = await api.post(
        "/v1/budgets",
        json={"scope": "schedule", "subject": schedule_id, "period": "month", "tokens": 5},
    )
    assert capped.status_code == 201, capped.text
    assert (await api.post(f"/v1/schedules/{schedule_id}/trigger")).status_code == 200
    runs: list[dict[str, Any]] = []
    for _ in range(100):  # the run list is eventually consistent
        runs = (await api.get("/v1/runs", params={"schedule_id": schedule_id})).json()["runs"]
        if runs:
            break
        await asyncio.sleep(0.1)
    scheduled = runs[0]["run_id"]
    run = (await api.get(f"/v1/runs/{scheduled}", params={"wait_s": 30})).json()
    assert run["status"] == "failed"
    assert run["error"].startswith(f"budget_exhausted: schedule {schedule_id}, month ")
    assert (await api.delete(f"/v1/schedules/{schedule_id}")).status_code == 204

    assert (await api.delete(f"/v1/budgets/{cap['id']}")).status_code == 204
    assert (await api.delete(f"/v1/budgets/{cap['id']}")).status_code == 404
    again = await api.post("/v1/chat", json={"message": "Hello again?", "user_id": "lea"})
    assert again.status_code == 200, again.text

    # The same from the terminal (the verbs in-process, over the same app).
    terminal = ApiClient("http://aios.test", "test-key", transport=api._transport)
    parse = build_parser().parse_args
    set_cap = ["budgets", "set", "--scope", "user", "--subject", "lea", "--period", "day"]
    assert await cmd_budgets(terminal, parse([*set_cap, "--usd", "5"])) == 0
    assert "user lea: $5 a day" in capsys.readouterr().out
    assert await cmd_usage(terminal, parse(["usage", "--group-by", "model"])) == 0
    out = capsys.readouterr().out
    assert "local:fake-strong" in out and "total" in out
    with pytest.raises(UserError, match="--subject ID"):
        await cmd_budgets(terminal, parse(["budgets", "set", "--scope", "user", "--usd", "5"]))
