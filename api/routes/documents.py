"""Documents: ingest (JSON, file uploads, URLs, SQL sources), follow ingestion jobs, list, read,
delete. Search is `api/routes/search.py`.

The API never reads a path on its own disk: files arrive as uploads (`aios ingest` reads them on
the client side). Bodies are stored by content hash and ingested by an `IngestWorkflow` on the
workers; the answer (202) names the job and the ids the documents will have.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from starlette.datastructures import UploadFile
from temporalio.client import WorkflowExecutionStatus
from ulid import ULID

from activities.sql import tenant_sql_source
from aios import search_attributes as sa
from aios.errors import (
    NotFound,
    PolicyDenied,
    UnsupportedMediaType,
    ValidationFailed,
    describe_field_errors,
)
from aios.models import IngestInput, IngestItem, IngestProgress, SqlIngestSource
from aios.stores import DocumentRecord, DocumentStore
from aios.stores.documents import document_id_for
from aios.wire import SAFE_VALUE
from api import page_tokens
from api.deps import DbDep, KnowledgeDep, PrincipalDep, SettingsDep, TemporalDep
from api.examples import example
from api.temporal_reads import UNREACHABLE, owned_workflow, unavailable
from workflows.ingest import PROGRESS_MEMO, IngestWorkflow

router = APIRouter(prefix="/v1/documents", tags=["documents"])

MAX_DOCUMENTS_PER_REQUEST = 1000
MAX_METADATA_BYTES = 8 * 1024
JOB_ID_PREFIX = "ingest-"


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="the document's text (Markdown is understood)")
    title: str | None = Field(default=None, max_length=500)
    source: str | None = Field(
        default=None,
        max_length=2000,
        pattern=SAFE_VALUE.pattern.replace("200", "2000"),
        description="your stable id for the document; sending it again replaces the document "
        "(default: a hash of the text)",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class IngestRequest(BaseModel):
    """Exactly one of `documents`, `urls` or `sql`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {"text": "# Leave policy\n\nStaff get 30 days.", "source": "hr/leave"}
                    ]
                },
                {"urls": ["https://example.com/handbook.html"]},
            ]
        },
    )

    documents: list[DocumentIn] | None = Field(
        default=None, min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST
    )
    urls: list[HttpUrl] | None = Field(
        default=None, min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST
    )
    sql: list[SqlIngestSource] | None = Field(default=None, min_length=1, max_length=20)


class JobLinks(BaseModel):
    self: str
    documents: str


class JobAccepted(BaseModel):
    job_id: str
    status: str = "queued"
    documents: list[str] = Field(description="ids the documents will have (none for SQL sources)")
    links: JobLinks


class JobStatus(IngestProgress):
    job_id: str
    created_at: datetime | None = None
    closed_at: datetime | None = None


class DocumentOut(BaseModel):
    id: str
    source: str
    title: str
    chunks: int
    sha256: str
    size_bytes: int
    content_type: str | None
    metadata: dict[str, Any]
    job_id: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentOut:
        return cls(
            id=record.id,
            source=record.source,
            title=record.title,
            chunks=record.chunk_count,
            sha256=record.sha256,
            size_bytes=record.size_bytes,
            content_type=record.content_type,
            metadata=record.metadata,
            job_id=record.job_id,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_page_token: str | None


class Deleted(BaseModel):
    document_id: str
    deleted_chunks: int


# --- ingest ---------------------------------------------------------------------------------


def _check_metadata(metadata: dict[str, Any], where: str) -> None:
    if len(json.dumps(metadata, default=str)) > MAX_METADATA_BYTES:
        raise ValidationFailed(f"{where}: metadata is larger than {MAX_METADATA_BYTES} bytes")


async def _from_json(
    request: Request, tenant: str, max_document_bytes: int
) -> tuple[list[IngestItem], dict[str, bytes], list[SqlIngestSource]]:
    try:
        body = IngestRequest.model_validate_json(await request.body())
    except ValidationError as e:
        raise ValidationFailed(describe_field_errors(e.errors())) from None
    given = [x for x in (body.documents, body.urls, body.sql) if x is not None]
    if len(given) != 1:
        raise ValidationFailed("send exactly one of `documents`, `urls` or `sql`")
    items: list[IngestItem] = []
    bodies: dict[str, bytes] = {}
    for n, doc in enumerate(body.documents or []):
        data = doc.text.encode()
        if len(data) > max_document_bytes:
            raise ValidationFailed(f"documents.{n}: larger than {max_document_bytes} bytes")
        _check_metadata(doc.metadata, f"documents.{n}")
        sha = hashlib.sha256(data).hexdigest()
        source = doc.source or f"sha256:{sha}"
        bodies[sha] = data
        items.append(
            IngestItem(
                document_id=document_id_for(tenant, source),
                source=source,
                title=doc.title,
                metadata=doc.metadata,
                name=source if "." in source.rsplit("/", 1)[-1] else f"{source}.md",
                content_type="text/markdown",
                upload_sha256=sha,
            )
        )
    for url in body.urls or []:
        items.append(
            IngestItem(document_id=document_id_for(tenant, str(url)), source=str(url), url=str(url))
        )
    return items, bodies, list(body.sql or [])


async def _from_multipart(
    request: Request, tenant: str, max_document_bytes: int
) -> tuple[list[IngestItem], dict[str, bytes]]:
    form = await request.form(max_files=MAX_DOCUMENTS_PER_REQUEST, max_fields=10)
    uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not uploads:
        raise ValidationFailed("the multipart body has no files: send them as `files` parts")
    metadata: dict[str, Any] = {}
    if isinstance(raw := form.get("metadata"), str):
        try:
            metadata = json.loads(raw)
        except json.JSONDecodeError:
            raise ValidationFailed("the `metadata` part is not JSON") from None
        if not isinstance(metadata, dict):
            raise ValidationFailed("the `metadata` part must be a JSON object")
        _check_metadata(metadata, "metadata")
    items: list[IngestItem] = []
    bodies: dict[str, bytes] = {}
    for upload in uploads:
        name = (upload.filename or "").strip()
        if not name or not SAFE_VALUE.match(name[:200]):
            raise ValidationFailed("every uploaded file needs a file name")
        data = await upload.read()
        if len(data) > max_document_bytes:
            raise ValidationFailed(f"{name}: larger than {max_document_bytes} bytes")
        if not data.strip():
            raise ValidationFailed(f"{name}: the file is empty")
        sha = hashlib.sha256(data).hexdigest()
        bodies[sha] = data
        items.append(
            IngestItem(
                document_id=document_id_for(tenant, name),
                source=name,
                metadata=metadata,
                name=name,
                content_type=upload.content_type,
                upload_sha256=sha,
            )
        )
    return items, bodies


DOC_ID = "doc-3f9a1c2e8b7d4a6f0e5c1b2a"
JOB_ID = "ingest-01JD2X7K9Q3M5N8P4R6S0T2V4W"
DOCUMENT_EXAMPLE = {
    "id": DOC_ID,
    "source": "handbook/pumps.md",
    "title": "Pump maintenance",
    "chunks": 12,
    "sha256": "9b74c9897bac770ffc029102a200c5de3f9a1c2e8b7d4a6f0e5c1b2a3d4e5f60",
    "size_bytes": 18342,
    "content_type": "text/markdown",
    "metadata": {"team": "plant"},
    "job_id": JOB_ID,
    "created_at": "2026-11-22T08:55:00Z",
    "updated_at": "2026-11-22T08:55:04Z",
}


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    responses=example(
        {
            "job_id": JOB_ID,
            "status": "queued",
            "documents": [DOC_ID],
            "links": {"self": f"/v1/documents/jobs/{JOB_ID}", "documents": "/v1/documents"},
        },
        status=202,
    ),
)
async def ingest(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    pool: DbDep,
) -> JobAccepted:
    """Add or replace documents: JSON `{"documents": [...]}` (up to 1,000), `{"urls": [...]}`
    (fetched by the workers, public addresses only), `{"sql": [...]}` (configured sources), or
    `multipart/form-data` with one `files` part per file (txt, md, html, pdf, json, csv). Answers
    at once with the job to follow; the same content sent again is not indexed twice."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    sql: list[SqlIngestSource] = []
    if media == "application/json":
        items, bodies, sql = await _from_json(
            request, principal.tenant, settings.max_document_bytes
        )
    elif media == "multipart/form-data":
        items, bodies = await _from_multipart(
            request, principal.tenant, settings.max_document_bytes
        )
    else:
        raise UnsupportedMediaType(
            "send application/json ({documents|urls|sql: [...]}) or multipart/form-data files"
        )
    for source in sql:
        # Only the tenant's own sources, and those its roles may query (activities/sql.py).
        try:
            await tenant_sql_source(
                pool, settings, principal.tenant, source.database, roles=principal.roles
            )
        except PolicyDenied:  # a source the caller's roles may not query does not exist for it
            raise NotFound(f"no SQL source named {source.database!r}") from None
    sources = [item.source for item in items]
    if len(set(sources)) != len(sources):
        twice = next(s for s in sources if sources.count(s) > 1)
        raise ValidationFailed(f"the source {twice!r} appears twice in one request")

    await DocumentStore(pool).put_uploads(principal.tenant, bodies)
    job_id = f"{JOB_ID_PREFIX}{ULID()}"
    try:
        await temporal.start_workflow(
            IngestWorkflow.run,
            IngestInput(tenant=principal.tenant, items=items, sql=sql),
            id=job_id,
            task_queue=settings.task_queue,
            search_attributes=sa.owned_by(principal.tenant, principal.user_id),
            memo={PROGRESS_MEMO: IngestProgress(total=len(items)).model_dump(mode="json")},
            static_summary=f"ingest {len(items) or len(sql)} "
            + ("documents" if items else "SQL sources"),
            rpc_timeout=timedelta(seconds=settings.read_timeout_s * 3),
        )
    except UNREACHABLE as e:
        raise unavailable(settings, "the ingestion job", e) from e
    links = JobLinks(self=f"/v1/documents/jobs/{job_id}", documents="/v1/documents")
    response.headers["Location"] = links.self
    return JobAccepted(job_id=job_id, documents=[i.document_id for i in items], links=links)


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses=example(
        {
            "job_id": JOB_ID,
            "status": "completed",
            "total": 3,
            "done": 2,
            "failed": 1,
            "unchanged": 0,
            "chunks": 31,
            "errors": ["scan.pdf: the PDF has no text layer (a scanned image?)"],
            "created_at": "2026-11-22T08:55:00Z",
            "closed_at": "2026-11-22T08:55:06Z",
        }
    ),
)
async def get_job(
    job_id: str, principal: PrincipalDep, settings: SettingsDep, temporal: TemporalDep
) -> JobStatus:
    """Progress of an ingestion job; readable with no worker running (it is kept in the job's
    memo)."""
    _, description = await owned_workflow(
        temporal, settings, job_id, principal.tenant, JOB_ID_PREFIX, "ingestion job"
    )
    memo = await description.memo()
    progress = IngestProgress.model_validate(memo.get(PROGRESS_MEMO) or {})
    if description.status not in (
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
    ):
        progress.status = "failed"
        ended = description.status.name.lower() if description.status else "unknown"
        progress.errors.append(f"the job ended {ended}")
    return JobStatus(
        job_id=job_id,
        created_at=description.start_time,
        closed_at=description.close_time,
        **progress.model_dump(),
    )


# --- documents ------------------------------------------------------------------------------


@router.get(
    "",
    response_model=DocumentList,
    responses=example({"documents": [DOCUMENT_EXAMPLE], "next_page_token": "ZG9jLTNmOWE"}),
)
async def list_documents(
    principal: PrincipalDep,
    pool: DbDep,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> DocumentList:
    listing = f"documents of {principal.tenant}"
    after = page_tokens.unseal(page_token, listing).decode() if page_token else None
    records = await DocumentStore(pool).page(principal.tenant, limit=page_size + 1, after=after)
    more = len(records) > page_size
    records = records[:page_size]
    return DocumentList(
        documents=[DocumentOut.of(r) for r in records],
        next_page_token=(
            page_tokens.seal(records[-1].id.encode(), listing) if more and records else None
        ),
    )


async def _owned(pool: DbDep, tenant: str, document_id: str) -> DocumentRecord:
    record = await DocumentStore(pool).get(tenant, document_id)
    if record is None:
        raise NotFound(f"no document {document_id!r}")
    return record


@router.get("/{document_id}", response_model=DocumentOut, responses=example(DOCUMENT_EXAMPLE))
async def get_document(document_id: str, principal: PrincipalDep, pool: DbDep) -> DocumentOut:
    return DocumentOut.of(await _owned(pool, principal.tenant, document_id))


@router.delete(
    "/{document_id}",
    response_model=Deleted,
    responses=example({"document_id": DOC_ID, "deleted_chunks": 12}),
)
async def delete_document(
    document_id: str, principal: PrincipalDep, pool: DbDep, knowledge: KnowledgeDep
) -> Deleted:
    """Remove the document and every chunk of it from the index."""
    await _owned(pool, principal.tenant, document_id)
    chunks = await knowledge.delete_document(principal.tenant, document_id)
    await DocumentStore(pool).delete(principal.tenant, document_id)
    return Deleted(document_id=document_id, deleted_chunks=chunks)
