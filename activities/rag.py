"""Knowledge activities: ingesting documents (uploads, URLs, SQL rows) and `retrieve` steps.

Ingestion is idempotent by content hash per tenant: a document whose source was already indexed
with the same bytes is skipped; a changed one replaces its chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity

from activities.common import classified, heartbeating, parse_args
from activities.knowledge import (
    DocumentChunks,
    KnowledgeIndex,
    SearchMode,
    attach_quotes,
    chunk_document,
)
from activities.knowledge.loaders import LoadedText, load_text
from activities.net import FetchPolicy
from activities.sql import read_only_query, tenant_sql_source
from activities.web_pages import page_text, polite_fetch
from aios import telemetry
from aios.config import Settings, ToolSettings
from aios.errors import ConfigurationError, TransientError, UserError
from aios.guardrails import scan_untrusted
from aios.models import (
    Budget,
    IngestBatchInput,
    IngestBatchResult,
    IngestedDocument,
    IngestItem,
    Passage,
    RetrieveOutput,
    SourcePassages,
    SqlLoadInput,
    StepInput,
    StepResult,
)
from aios.stores import DocumentRecord, DocumentStore
from aios.stores.documents import document_id_for
from aios.stores.ledger import LedgerStore
from aios.vocabulary import Activity


class RetrieveArgs(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=8, ge=1, le=200)
    max_sources: int = Field(default=4, ge=1, le=200)
    mode: SearchMode = SearchMode.HYBRID
    # The sentences of each source that best support the query, verbatim with offsets.
    quotes: int = Field(default=3, ge=0, le=10, description="quotes per source (0: none)")


def group_by_source(hits: list[Passage], max_sources: int) -> list[SourcePassages]:
    """Chunks grouped per document, best document first, so later steps can work per source."""
    groups: dict[str, SourcePassages] = {}
    for hit in hits:
        key = hit.document_id or hit.source
        group = groups.setdefault(
            key, SourcePassages(source=hit.source, title=hit.title, document_id=hit.document_id)
        )
        group.chunks.append(hit)
    return list(groups.values())[:max_sources]


async def retrieve(index: KnowledgeIndex, tenant: str, args: RetrieveArgs) -> RetrieveOutput:
    """The one retrieval path of `retrieve` steps and the `rag_search` tool."""
    with telemetry.span(
        "retrieve", **{"aios.retrieval.k": args.k, "aios.retrieval.mode": str(args.mode)}
    ) as current:
        started = time.perf_counter()
        try:
            hits = await index.search(tenant, args.query, args.k, args.mode)
        except (OSError, RuntimeError) as e:
            raise TransientError(f"knowledge search failed: {e}") from e
        current.set_attribute("aios.retrieval.hits", len(hits))
        current.set_attribute("aios.retrieval.latency_ms", (time.perf_counter() - started) * 1000)
    sources = group_by_source(hits, args.max_sources)
    if args.quotes:
        await attach_quotes(index.embedder, args.query, sources, per_source=args.quotes)
    return RetrieveOutput(query=args.query, chunks=hits, sources=sources)


@dataclass(frozen=True)
class IngestLimits:
    chunk_chars: int = 1200
    overlap_chars: int = 150
    max_document_bytes: int = 20 * 1024 * 1024
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    # Robots.txt and per-host politeness for documents ingested by URL.
    web: ToolSettings = field(default_factory=ToolSettings)
    # The deployment's settings: SQL ingestion finds the tenant's sources through them.
    settings: Settings | None = None


@dataclass
class _Loaded:
    item: IngestItem
    sha256: str
    size: int
    title: str
    text: str
    content_type: str | None


class RagActivities:
    def __init__(
        self,
        index: KnowledgeIndex,
        documents: DocumentStore,
        limits: IngestLimits,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self._index = index
        self._documents = documents
        self._limits = limits
        self._pool = pool  # the tenants' SQL sources are registered there

    @activity.defn(name=Activity.RETRIEVE)
    @classified
    async def retrieve(self, step: StepInput) -> StepResult:
        args: RetrieveArgs = parse_args(RetrieveArgs, step.args, "a retrieve step")
        self._charge_to(step.tenant, step.user_id, step.budget)
        output = await retrieve(self._index, step.tenant, args)
        findings = scan_untrusted((f"document {c.source}", c.text) for c in output.chunks)
        return StepResult(
            output=output.model_dump(),
            untrusted=True,
            findings=findings,
            attempt=activity.info().attempt,
        )

    def _charge_to(self, tenant: str, user_id: str, budget: Budget | None) -> None:
        """Open the activity attempt's spend account: a paid embedding model's requests
        (`openai:<model>`) are reserved in the ledger against it, as model calls are."""
        if self._pool is None:
            return
        from activities.llm.caller import activity_account  # the worker's side only

        activity_account(LedgerStore(self._pool), budget, tenant=tenant, user_id=user_id)

    # --- ingestion ------------------------------------------------------------------------------

    @activity.defn(name=Activity.INGEST_BATCH)
    @classified
    async def ingest_batch(self, batch: IngestBatchInput) -> IngestBatchResult:
        # An ingestion job has no user: a paid embedding model's requests are the tenant's.
        self._charge_to(batch.tenant, "", None)
        async with heartbeating():
            return await self._ingest(batch)

    async def _ingest(self, batch: IngestBatchInput) -> IngestBatchResult:
        results: dict[str, IngestedDocument] = {}
        existing = await self._documents.get_many(
            batch.tenant, [i.document_id for i in batch.items]
        )
        wanted = [i.upload_sha256 for i in batch.items if i.upload_sha256]
        uploads = await self._documents.get_uploads(batch.tenant, wanted)
        loaded: list[_Loaded] = []
        for item in batch.items:
            try:
                doc = await self._load(item, uploads)
            except UserError as e:  # this document's fault: report it, ingest the others
                results[item.document_id] = IngestedDocument(
                    document_id=item.document_id, source=item.source, error=e.message
                )
                continue
            before = existing.get(item.document_id)
            if (
                before is not None
                and before.sha256 == doc.sha256
                # The index agrees (it may have been reset while PostgreSQL kept the record).
                and await self._index.chunk_count(batch.tenant, item.document_id)
                == before.chunk_count
            ):
                results[item.document_id] = IngestedDocument(
                    document_id=item.document_id,
                    source=item.source,
                    title=before.title,
                    chunks=before.chunk_count,
                    unchanged=True,
                )
                continue
            loaded.append(doc)

        chunked: list[DocumentChunks] = []
        for doc in loaded:
            before = existing.get(doc.item.document_id)
            chunked.append(
                DocumentChunks(
                    tenant=batch.tenant,
                    document_id=doc.item.document_id,
                    source=doc.item.source,
                    title=doc.title,
                    chunks=chunk_document(
                        doc.text,
                        max_chars=self._limits.chunk_chars,
                        overlap_chars=self._limits.overlap_chars,
                    ),
                    previous_chunk_count=before.chunk_count if before else 0,
                )
            )
        await self._index.index(chunked)
        # The batch's records in one transaction (not a round trip and a commit each).
        await self._documents.upsert_many(
            [
                DocumentRecord(
                    id=doc.item.document_id,
                    tenant=batch.tenant,
                    source=doc.item.source,
                    title=doc.title,
                    sha256=doc.sha256,
                    chunk_count=len(chunks.chunks),
                    metadata=doc.item.metadata,
                    content_type=doc.content_type,
                    size_bytes=doc.size,
                    job_id=batch.job_id,
                )
                for doc, chunks in zip(loaded, chunked, strict=True)
            ]
        )
        for doc, chunks in zip(loaded, chunked, strict=True):
            results[doc.item.document_id] = IngestedDocument(
                document_id=doc.item.document_id,
                source=doc.item.source,
                title=doc.title,
                chunks=len(chunks.chunks),
            )
        # Indexed (or refused for good): their uploaded bodies are no longer needed.
        await self._documents.drop_uploads(batch.tenant, wanted)
        return IngestBatchResult(documents=[results[i.document_id] for i in batch.items])

    async def _load(self, item: IngestItem, uploads: dict[str, bytes]) -> _Loaded:
        content_type = item.content_type
        readable: tuple[str | None, str] | None = None
        if item.url is not None:
            # As http_fetch reads a page: robots.txt, per-host limits, the main text of HTML.
            fetched = await polite_fetch(item.url, self._limits.fetch, self._limits.web)
            data, content_type = fetched.content, fetched.content_type or content_type
            name = item.name or fetched.url.split("?", 1)[0]
            readable = await asyncio.to_thread(page_text, data, fetched.url, content_type)
        elif item.upload_sha256 is not None:
            if item.upload_sha256 not in uploads:
                raise UserError("the uploaded body is gone (was the job started twice?)")
            data, name = uploads[item.upload_sha256], item.name or item.source
        else:
            raise UserError("the document has neither an upload nor a URL")
        if len(data) > self._limits.max_document_bytes:
            raise UserError(f"larger than {self._limits.max_document_bytes} bytes")
        if readable is not None:
            loaded = LoadedText(title=readable[0], text=readable[1])
        else:
            loaded = await asyncio.to_thread(load_text, data, name=name, content_type=content_type)
        title = item.title or loaded.title or _title_from_name(name)
        return _Loaded(
            item=item,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            title=title,
            text=loaded.text,
            content_type=content_type,
        )

    @activity.defn(name=Activity.LOAD_SQL_SOURCE)
    @classified
    async def load_sql_source(self, request: SqlLoadInput) -> list[IngestItem]:
        """Run the query read-only (statement timeout, row limit); each row becomes an uploaded
        body and an item for the ingestion batches."""
        source = request.source
        if self._pool is None or self._limits.settings is None:
            raise ConfigurationError("this worker was given no database for SQL sources")
        # Only the tenant's own sources; their roles were checked when the API took the job.
        sources = await tenant_sql_source(
            self._pool,
            self._limits.settings,
            request.tenant,
            source.database,
            roles=None,
            roles_checked=True,
        )
        rows, _more = await read_only_query(sources, source.database, source.query)
        bodies: dict[str, bytes] = {}
        items: list[IngestItem] = []
        for row in rows:
            text_columns = source.text_columns or list(row)
            missing = [
                c
                for c in [*text_columns, source.id_column, source.title_column]
                if c and c not in row
            ]
            if missing:
                raise UserError(f"the query returns no column {missing[0]!r}")
            body = "\n".join(f"{c}: {row[c]}" for c in text_columns if row[c] is not None)
            data = body.encode()
            sha = hashlib.sha256(data).hexdigest()
            row_id = str(row[source.id_column]) if source.id_column else sha[:16]
            src = f"sql:{source.database}:{row_id}"
            bodies[sha] = data
            items.append(
                IngestItem(
                    document_id=document_id_for(request.tenant, src),
                    source=src,
                    title=str(row[source.title_column]) if source.title_column else None,
                    metadata={"database": source.database, "row_id": row_id},
                    name=f"{src}.txt",
                    upload_sha256=sha,
                )
            )
        await self._documents.put_uploads(request.tenant, bodies)
        return items


def _title_from_name(name: str) -> str:
    stem = name.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip() or name


def ingest_limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        chunk_chars=settings.chunk_chars,
        overlap_chars=settings.chunk_overlap_chars,
        max_document_bytes=settings.max_document_bytes,
        fetch=FetchPolicy.from_allow_list(
            settings.fetch_allow,
            max_bytes=settings.fetch_max_bytes,
            timeout_s=settings.fetch_timeout_s,
        ),
        web=settings.tools,
        settings=settings,
    )
