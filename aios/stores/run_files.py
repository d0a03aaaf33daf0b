"""Files a run's tools wrote (`file_write`), by tenant, run and path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

import asyncpg

from aios.db import transient_on_connection_loss
from aios.errors import UserError

MAX_FILES_LISTED = 1000


def normalize(relative: str) -> str:
    """The canonical form of a file path (`./notes//a.md` is `notes/a.md`); refuses escapes."""
    if not relative.strip() or "\0" in relative or "\\" in relative:
        raise UserError(f"{relative!r}: give a path relative to the run's files, with `/`")
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        raise UserError(f"{relative!r}: give a path relative to the run's files")
    if any(part == ".." for part in pure.parts):
        raise UserError(f"{relative!r}: `..` is not allowed; paths stay inside the run's files")
    parts = [part for part in pure.parts if part != "."]
    if not parts:
        raise UserError(f"{relative!r}: name a file")
    return "/".join(parts)


@dataclass(frozen=True)
class RunFile:
    path: str
    size_bytes: int
    updated_at: datetime


class RunFileStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def put(self, tenant: str, run_id: str, path: str, content: bytes) -> None:
        """Write (or replace) the file: writing the same content again changes nothing."""
        await self._pool.execute(
            "INSERT INTO run_files (tenant, run_id, path, size_bytes, content)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, run_id, path) DO UPDATE"
            " SET size_bytes = EXCLUDED.size_bytes, content = EXCLUDED.content, updated_at = now()"
            " WHERE run_files.content IS DISTINCT FROM EXCLUDED.content",
            tenant,
            run_id,
            path,
            len(content),
            content,
        )

    @transient_on_connection_loss
    async def get(self, tenant: str, run_id: str, path: str) -> bytes | None:
        content = await self._pool.fetchval(
            "SELECT content FROM run_files WHERE tenant = $1 AND run_id = $2 AND path = $3",
            tenant,
            run_id,
            path,
        )
        return bytes(content) if content is not None else None

    @transient_on_connection_loss
    async def list(self, tenant: str, run_id: str, prefix: str = "") -> list[RunFile]:
        """The run's files under `prefix` (a folder, `a/b/`), by path."""
        rows = await self._pool.fetch(
            "SELECT path, size_bytes, updated_at FROM run_files"
            " WHERE tenant = $1 AND run_id = $2 AND starts_with(path, $3)"
            " ORDER BY path LIMIT $4",
            tenant,
            run_id,
            prefix,
            MAX_FILES_LISTED,
        )
        return [RunFile(r["path"], r["size_bytes"], r["updated_at"]) for r in rows]
