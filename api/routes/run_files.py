"""A run's files: what its tools wrote (`file_write`), listed and downloaded by whoever may read
the run (its user, operators and admins; an approver while it waits for a decision); anyone
else gets 404, as for the run itself."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from aios.errors import NotFound
from aios.stores.run_files import RunFileStore, normalize
from aios.wire import RunFileList, RunFileOut
from api.deps import DbDep, PrincipalDep
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.get("/{run_id}/files", response_model=RunFileList)
async def list_run_files(
    run_id: str, principal: PrincipalDep, runs: RunsDep, pool: DbDep
) -> RunFileList:
    """The files the run's tools wrote, by path, with where to download each."""
    await runs.state(principal, run_id)  # 404 unless the caller may read the run
    files = await RunFileStore(pool).list(principal.tenant, run_id)
    return RunFileList(
        files=[
            RunFileOut(
                path=f.path,
                bytes=f.size_bytes,
                updated_at=f.updated_at,
                download=f"/v1/runs/{run_id}/files/{quote(f.path)}",
            )
            for f in files
        ]
    )


@router.get(
    "/{run_id}/files/{path:path}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"example": "# Plan\nship it"}},
            "description": "the file, as an attachment",
        }
    },
)
async def download_run_file(
    run_id: str, path: str, principal: PrincipalDep, runs: RunsDep, pool: DbDep
) -> Response:
    """One file of the run, as an attachment (never rendered by the browser)."""
    await runs.state(principal, run_id)
    data = await RunFileStore(pool).get(principal.tenant, run_id, normalize(path))
    if data is None:
        raise NotFound(f"run {run_id!r} has no file {path!r}")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", path.rsplit("/", 1)[-1])[:200] or "file"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
