"""The LLM response cache on real Temporal and PostgreSQL with the scripted OpenAI server: the
second identical temperature-0 call is answered from the cache and costs nothing in the spend
ledger (its hit counted in the run's usage, the trace, the usage report and /metrics), another
tenant's identical call is a miss, and a run with `cache: off` bypasses it, its planning calls
included (which go to the model the run is pinned to)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import Settings
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import api_client, app_for, running_stack
from tests.helpers import as_key, make_key
from tests.support.fake_openai import FakeOpenAI, ScriptedReply


async def _finished(api: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    started = await api.post("/v1/runs", json=body, **kw)
    assert started.status_code == 202, started.text
    run = f"/v1/runs/{started.json()['run_id']}"
    state: dict[str, Any] = (await api.get(f"{run}?wait_s=30", **kw)).json()
    assert state["status"] == "completed", state
    return state


async def test_an_identical_temperature_0_call_is_answered_from_the_tenants_cache(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    fake_openai: FakeOpenAI,
) -> None:
    settings = settings.model_copy(
        update={
            "llm_cache_ttl_s": 3600,
            "model_fast": "openai:gpt-4o-mini",
            "model_strong": "openai:gpt-4o-mini",
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": fake_openai.base_url,
            "model_prices": {"openai:gpt-4o-mini": (30.0, 5.0)},
        }
    )
    say = f"Say hello to {uuid.uuid4().hex}."
    plan = {
        "steps": [
            {
                "id": "say",
                "kind": "llm",
                "args": {"instruction": say, "temperature": 0, "max_tokens": 50},
            }
        ]
    }
    body = {"goal": "greet", "plan": plan}
    async with (
        running_stack(settings, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        first = await _finished(api, body)
        assert first["usage"]["cost_usd"] > 0 and first["usage"]["cache_hits"] == 0
        second = await _finished(api, body)
        assert len(fake_openai.requests) == 1  # the second run's call reached no provider
        assert second["result"]["answer"] == first["result"]["answer"]
        usage = second["usage"]
        assert (usage["cost_usd"], usage["input_tokens"], usage["cache_hits"]) == (0, 0, 1)
        assert usage["saved_usd"] == first["usage"]["cost_usd"]
        # Nothing reserved or charged for the hit: one ledger entry, the first run's.
        await flush_deferred_settles()  # settles wait to be carried (decision 0055)
        entries = await pool.fetch("SELECT run_id, usd FROM ledger_entries")
        assert [e["run_id"] for e in entries] == [first["run_id"]]
        output = (await api.get(f"/v1/runs/{second['run_id']}/steps/say/output")).json()
        assert output["output"]["cache"]["hits"] == 1
        trace = (await api.get(f"/v1/runs/{second['run_id']}/trace")).json()
        assert trace["steps"][0]["usage"]["cache_hits"] == 1

        report = (await api.get("/v1/usage", params={"group_by": "model"})).json()
        [group] = report["groups"]
        assert (group["group"], group["calls"], group["cache_hits"]) == (
            "openai:gpt-4o-mini",
            1,
            1,
        )
        assert group["saved_usd"] == report["saved_usd"] > 0
        metrics = (await api.get("/metrics")).text
        assert 'aios_llm_cache_lookups_total{model="openai:gpt-4o-mini",outcome="hit"' in metrics

        # Another tenant's identical call is its own: a miss, paid.
        other = as_key((await make_key(api, f"acme-{uuid.uuid4().hex[:6]}", "ada"))["key"])
        theirs = await _finished(api, body, headers=other)
        assert theirs["usage"]["cache_hits"] == 0 and len(fake_openai.requests) == 2
        # A run that bypasses the cache calls the model again.
        bypass = await _finished(api, {**body, "cache": "off"})
        assert bypass["usage"]["cache_hits"] == 0 and len(fake_openai.requests) == 3

        # The planner follows the run too: with `cache: off` the same goal is planned by the
        # model again (not answered from the cache), by the model the run is pinned to.
        planned = {
            "goal": f"greet {uuid.uuid4().hex}",
            "planner": "llm",
            "cache": "off",
            "versions": {"model": "openai:gpt-4o"},
        }
        for _ in range(2):
            fake_openai.queue(ScriptedReply(content=json.dumps(plan)))
            run = await _finished(api, planned)
            assert run["usage"]["cache_hits"] == 0
        planning = [r for r in fake_openai.requests if "response_format" in r]
        assert [r["model"] for r in planning] == ["gpt-4o", "gpt-4o"]
