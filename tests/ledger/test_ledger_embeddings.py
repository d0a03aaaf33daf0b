"""A paid embedding model (`openai:<model>`) is reserved in the spend ledger like a model call:
ingestion is charged to the tenant, a `retrieve` step to the run's user and tenant; a request over
a cap is refused with the named reason before it is sent, and an unpriced one under a USD cap is
refused naming the model and AIOS_MODEL_PRICES. The scripted OpenAI server bills a token a word.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.knowledge import DocumentChunks, KnowledgeIndex, chunk_document, open_embedder
from activities.llm.pricing import PriceTable
from activities.memory import MemoryService, SemanticMemory
from activities.rag import IngestLimits, RagActivities
from activities.research import ResearchActivities
from aios.models import IngestBatchInput, IngestItem, StepInput
from aios.research import ResearchNotesInput, ResearchPage
from aios.stores import DocumentStore
from aios.stores.ledger import LedgerStore
from aios.stores.ledger.deferred import flush_deferred_settles
from aios.stores.run_files import RunFileStore
from aios.stores.vectors import EdgeVectorStore
from tests.conftest import Stack, api_client, app_for
from tests.support.fake_openai import FakeOpenAI

MODEL = "openai:text-embedding-3-small"
TEXT = b"# Pumps\n\nThe pump needs new seals every year."


def _index(tmp_path: Path, fake_openai: FakeOpenAI, model: str) -> KnowledgeIndex:
    embedder = open_embedder(
        model,
        openai_api_key="k",
        openai_base_url=fake_openai.base_url,
        # $0.001 a token: a request's worst case is its UTF-8 bytes at that price.
        prices=PriceTable({MODEL: (1000.0, 0.0)}),
    )
    return KnowledgeIndex(EdgeVectorStore(tmp_path / model.replace(":", "-")), embedder)


def _rag(tmp_path: Path, pool: asyncpg.Pool, fake_openai: FakeOpenAI, model: str) -> RagActivities:
    index = _index(tmp_path, fake_openai, model)
    return RagActivities(index, DocumentStore(pool), IngestLimits(), pool)


def _env(activity_id: str, run: str = "run-embed") -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=run, activity_id=activity_id)
    return env


def _retrieve(tenant: str, user: str) -> StepInput:
    return StepInput(
        run_id="run-embed",
        step_id=f"find-{user}",
        tenant=tenant,
        user_id=user,
        args={"query": "pump seals", "k": 2, "quotes": 0},
        idempotency_key=f"run-embed/find-{user}",
    )


async def test_paid_embeddings_are_reserved_and_refused_over_a_cap(
    tmp_path: Path, pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> None:
    tenant = "embed-ledger"
    ledger = LedgerStore(pool)
    await ledger.set_cap(tenant, "tenant", tenant, "month", usd=1.0, tokens=None, created_by="t")
    # "pump seals" is 10 bytes: a worst case of $0.010, over ada's $0.005.
    await ledger.set_cap(tenant, "user", "ada", "day", usd=0.005, tokens=None, created_by="t")
    rag = _rag(tmp_path, pool, fake_openai, MODEL)
    sha = hashlib.sha256(TEXT).hexdigest()
    await DocumentStore(pool).put_uploads(tenant, {sha: TEXT})
    batch = IngestBatchInput(
        tenant=tenant,
        job_id="job-1",
        items=[IngestItem(document_id="d1", source="pumps.md", name="pumps.md", upload_sha256=sha)],
    )
    ingested = await _env("1").run(rag.ingest_batch, batch)
    assert ingested.documents[0].chunks == 1
    sent = len(fake_openai.embedding_requests)
    assert sent >= 1

    with pytest.raises(ApplicationError) as refused:
        await _env("2").run(rag.retrieve, _retrieve(tenant, "ada"))
    assert refused.value.non_retryable
    assert refused.value.message.startswith("budget_exhausted: user ada, day ")
    assert len(fake_openai.embedding_requests) == sent, "the refused request was never sent"

    found = await _env("3").run(rag.retrieve, _retrieve(tenant, "bob"))
    assert found.output["chunks"][0]["document_id"] == "d1"

    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await pool.fetch(
        "SELECT user_id, model, status, usd, input_tokens FROM ledger_entries WHERE tenant = $1",
        tenant,
    )
    billed = sum(len(t.split()) for req in fake_openai.embedding_requests for t in req)
    assert {(e["model"], e["status"]) for e in entries} == {(MODEL, "settled")}
    assert len(entries) == len(fake_openai.embedding_requests)
    assert sum(e["input_tokens"] for e in entries) == billed
    assert sum(e["usd"] for e in entries) == Decimal(billed) / 1000
    assert {e["user_id"] for e in entries} == {"", "bob"}  # ingestion is the tenant's
    # The tenant's counter holds what its entries cost.
    assert await ledger.unbalanced() == []


async def test_an_unpriced_embedding_model_is_refused_under_a_usd_cap(
    tmp_path: Path, pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> None:
    tenant = "embed-unpriced"
    await LedgerStore(pool).set_cap(
        tenant, "tenant", tenant, "month", usd=1.0, tokens=None, created_by="t"
    )
    rag = _rag(tmp_path, pool, fake_openai, "openai:embed-9")
    sha = hashlib.sha256(TEXT).hexdigest()
    await DocumentStore(pool).put_uploads(tenant, {sha: TEXT})
    batch = IngestBatchInput(
        tenant=tenant,
        job_id="job-2",
        items=[IngestItem(document_id="d1", source="pumps.md", name="pumps.md", upload_sha256=sha)],
    )
    with pytest.raises(ApplicationError) as refused:
        await _env("1", "run-unpriced").run(rag.ingest_batch, batch)
    assert refused.value.non_retryable
    assert refused.value.message.startswith("model_unpriced: openai:embed-9 has no price")
    assert "AIOS_MODEL_PRICES" in refused.value.message
    assert fake_openai.embedding_requests == []


async def test_the_apis_own_search_and_memory_writes_are_charged_to_the_caller(
    tmp_path: Path, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    index = _index(tmp_path, fake_openai, MODEL)
    text = "The pump needs new seals every year."
    await index.index([DocumentChunks("default", "d1", "pumps.md", "Pumps", chunk_document(text))])
    kept = stack.resources.memory
    semantic = SemanticMemory(index.vectors, index.embedder, "embed_memory")
    memory = MemoryService(kept.facts, kept.conversations, semantic)
    async with api_client(app_for(stack, knowledge=index, memory=memory)) as api:
        found = await api.get("/v1/search", params={"q": "pump seals"})
        assert found.status_code == 200, found.text
        await flush_deferred_settles()  # settles wait to be carried (decision 0055)
        entries = await stack.pool.fetch(
            "SELECT user_id, model, status, usd FROM ledger_entries WHERE tenant = 'default'"
        )
        assert [(e["user_id"], e["model"], e["status"], e["usd"]) for e in entries] == [
            ("dev", MODEL, "settled", Decimal("0.002"))  # two words at $0.001
        ]
        # "pump seals" could be 10 tokens ($0.010): over what is left of the caller's $0.005.
        cap = {"scope": "user", "subject": "dev", "period": "day", "usd": 0.005}
        assert (await api.post("/v1/budgets", json=cap)).status_code == 201
        sent = len(fake_openai.embedding_requests)
        refused = await api.get("/v1/search", params={"q": "pump seals"})
        assert refused.status_code == 402, refused.text
        assert refused.json()["detail"].startswith("budget_exhausted: user dev, day ")
        write = await api.put(
            "/v1/users/dev/memory", json={"memories": [{"text": "Likes pumps quiet."}]}
        )
        assert write.status_code == 402, write.text
        assert len(fake_openai.embedding_requests) == sent, "nothing refused was sent"


async def test_a_research_steps_quoting_is_charged_to_the_run_user_and_tenant(
    tmp_path: Path, pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> None:
    tenant = "embed-research"
    ledger = LedgerStore(pool)
    # A page's chunks and the question are one request: far over ada's $0.005 at a byte a token.
    await ledger.set_cap(tenant, "user", "ada", "day", usd=0.005, tokens=None, created_by="t")
    research = ResearchActivities(
        _index(tmp_path, fake_openai, MODEL).embedder, RunFileStore(pool), ledger
    )
    page = ResearchPage(url="https://example.org/pumps", title="Pumps", text=TEXT.decode())

    def notes(user: str) -> ResearchNotesInput:
        return ResearchNotesInput(
            run_id="run-research",
            step_id="research",
            tenant=tenant,
            question="pump seals",
            pages=[page],
            user_id=user,
        )

    with pytest.raises(ApplicationError) as refused:
        await _env("1", "run-research").run(research.research_notes, notes("ada"))
    assert refused.value.message.startswith("budget_exhausted: user ada, day ")
    assert fake_openai.embedding_requests == [], "the refused request was never sent"

    kept = await _env("2", "run-research").run(research.research_notes, notes("bob"))
    assert kept.sources and kept.sources[0].quotes
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await pool.fetch(
        "SELECT user_id, run_id, status FROM ledger_entries WHERE tenant = $1", tenant
    )
    assert {(e["user_id"], e["run_id"], e["status"]) for e in entries} == {
        ("bob", "run-research", "settled")
    }
    assert await ledger.unbalanced() == []
