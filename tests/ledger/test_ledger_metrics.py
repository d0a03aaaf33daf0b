"""Prometheus keeps agreeing with the spend ledger (issue 24): after a run of parallel model steps,
the /metrics token and cost counters grew by what `GET /v1/usage` sums."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from aios.config import Settings
from tests.conftest import Stack
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
            "model_prices": {MODEL: (30.0, 5.0)},
        }
    )


async def _series(api: httpx.AsyncClient, tenant: str) -> dict[str, float]:
    """This tenant's model token and cost counters, by model and what they count."""
    out: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families((await api.get("/metrics")).text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("tenant") != tenant or not sample.name.endswith("_total"):
                continue
            if sample.name == "aios_llm_tokens_total":
                out[f"{labels['model']} {labels['direction']}_tokens"] += sample.value
            elif sample.name == "aios_llm_cost_usd_total":
                out[f"{labels['model']} usd"] += sample.value
    return out


async def test_metrics_counters_agree_with_the_usage_report(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    before = await _series(api, "default")
    steps = [
        {"id": f"say-{i}", "kind": "llm", "args": {"instruction": f"Say {i}.", "max_tokens": 200}}
        for i in range(3)
    ]
    started = await api.post(
        "/v1/runs", json={"goal": "say three things", "plan": {"steps": steps}}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    for _ in range(300):
        run = (await api.get(f"/v1/runs/{run_id}")).json()
        if run["status"] in {"completed", "failed"}:
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "completed", run.get("error")
    after = await _series(api, "default")

    report = (await api.get("/v1/usage", params={"group_by": "model"})).json()
    (group,) = report["groups"]
    assert group["group"] == MODEL and group["calls"] >= 3 and group["reserved_usd"] == 0
    grew = {k: after[k] - before.get(k, 0.0) for k in after}
    assert grew[f"{MODEL} input_tokens"] == group["input_tokens"]
    assert grew[f"{MODEL} output_tokens"] == group["output_tokens"]
    assert grew[f"{MODEL} usd"] == pytest.approx(group["usd"], abs=1e-6)
