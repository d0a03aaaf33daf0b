"""Ingestion: the documents and SQL rows an ingestion job loads, its batches and what each
document became, and the job's progress (also the `IngestWorkflow`'s result).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class IngestItem(BaseModel):
    """One document of an ingestion job: an uploaded body (by its sha256) or a URL to fetch."""

    document_id: str
    source: str
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    name: str = ""  # a file name: its suffix chooses the loader
    content_type: str | None = None
    upload_sha256: str | None = None
    url: str | None = None


class SqlIngestSource(BaseModel):
    """Rows of a read-only query on a configured database (`AIOS_SQL_SOURCES`), one document
    each."""

    database: str = Field(min_length=1, max_length=100, description="a configured source name")
    query: str = Field(min_length=1, max_length=20_000)
    id_column: str | None = Field(default=None, description="the row's stable id (default: hash)")
    title_column: str | None = None
    text_columns: list[str] | None = Field(default=None, description="default: every column")


class IngestInput(BaseModel):
    tenant: str = "default"
    items: list[IngestItem] = Field(default_factory=list)
    sql: list[SqlIngestSource] = Field(default_factory=list)


class IngestBatchInput(BaseModel):
    tenant: str
    job_id: str
    items: list[IngestItem]


class SqlLoadInput(BaseModel):
    tenant: str
    source: SqlIngestSource


class IngestedDocument(BaseModel):
    document_id: str
    source: str
    title: str = ""
    chunks: int = 0
    unchanged: bool = False
    error: str | None = None


class IngestBatchResult(BaseModel):
    documents: list[IngestedDocument] = Field(default_factory=list)


IngestStatus = Literal["queued", "running", "completed", "failed"]


MAX_REPORTED_ERRORS = 100


class IngestProgress(BaseModel):
    """An ingestion job as `GET /v1/documents/jobs/{id}` shows it (also the workflow's result)."""

    status: IngestStatus = "queued"
    total: int = 0
    done: int = 0
    failed: int = 0
    unchanged: int = 0
    chunks: int = 0
    errors: list[str] = Field(default_factory=list)
