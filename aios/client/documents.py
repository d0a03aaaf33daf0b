"""The client's calls on the knowledge base: ingest documents (bodies, uploads, URLs, SQL) and
follow the jobs, search, list and delete documents; and which local files `aios ingest PATH...`
uploads, in how many requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aios.client.base import ApiBase
from aios.vocabulary import INGESTIBLE_SUFFIXES


class DocumentsApi(ApiBase):
    """The knowledge base: `/v1/documents`, `/v1/search`."""

    async def ingest(self, body: dict[str, Any]) -> dict[str, Any]:
        """`{"documents": [...]}`, `{"urls": [...]}` or `{"sql": [...]}`; answers the job."""
        result: dict[str, Any] = await self.request("POST", "/v1/documents", json=body)
        return result

    async def upload(self, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        """Upload files as (name, content); the name is the document's source."""
        parts = [("files", (name, data)) for name, data in files]
        result: dict[str, Any] = await self.request("POST", "/v1/documents", files=parts)
        return result

    async def ingest_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/v1/documents/jobs/{job_id}")
        return result

    async def wait_for_jobs(
        self,
        job_ids: list[str],
        on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
        poll_s: float = 0.5,
    ) -> list[dict[str, Any]]:
        """Poll ingestion jobs until all have finished; `on_progress` sees each poll."""
        import asyncio

        while True:
            jobs = [await self.ingest_job(job_id) for job_id in job_ids]
            if on_progress is not None:
                on_progress(jobs)
            if all(job["status"] in ("completed", "failed") for job in jobs):
                return jobs
            await asyncio.sleep(poll_s)

    async def search(
        self, query: str, *, k: int = 10, mode: str = "hybrid", quotes: int = 0
    ) -> dict[str, Any]:
        params = {"q": query, "k": k, "mode": mode, "quotes": quotes}
        result: dict[str, Any] = await self.request("GET", "/v1/search", params=params)
        return result

    async def documents(
        self, page_size: int = 100, page_token: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page_size": page_size}
        if page_token:
            params["page_token"] = page_token
        result: dict[str, Any] = await self.request("GET", "/v1/documents", params=params)
        return result

    async def delete_document(self, document_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("DELETE", f"/v1/documents/{document_id}")
        return result


def collect_files(paths: list[str]) -> tuple[list[tuple[str, Path]], list[str]]:
    """The files to upload for `aios ingest PATH...`, as (source name, path), and what was left
    out and why. A directory contributes every ingestible file below it, named relative to the
    directory's parent (`my-docs/guide/intro.md`), so sources stay stable between machines."""
    files: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            base = path.resolve().parent
            for child in sorted(path.resolve().rglob("*")):
                if not child.is_file() or any(
                    p.startswith(".") for p in child.relative_to(base).parts
                ):
                    continue
                if child.suffix.lower() in INGESTIBLE_SUFFIXES:
                    files.append((child.relative_to(base).as_posix(), child))
        elif path.is_file():
            if path.suffix.lower() in INGESTIBLE_SUFFIXES:
                files.append((path.name, path))
            else:
                kinds = ", ".join(sorted(INGESTIBLE_SUFFIXES))
                skipped.append(f"{raw}: unsupported file type {path.suffix or '(none)'} ({kinds})")
        else:
            skipped.append(f"{raw}: no such file or directory")
    return files, skipped


def upload_batches(
    files: list[tuple[str, Path]], *, max_files: int = 200, max_bytes: int = 32 * 1024 * 1024
) -> list[list[tuple[str, Path]]]:
    """Group files into requests under the API's per-request limits."""
    batches: list[list[tuple[str, Path]]] = [[]]
    size = 0
    for name, path in files:
        file_size = path.stat().st_size
        if batches[-1] and (len(batches[-1]) >= max_files or size + file_size > max_bytes):
            batches.append([])
            size = 0
        batches[-1].append((name, path))
        size += file_size
    return [b for b in batches if b]
