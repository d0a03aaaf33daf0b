"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import DbDep, QdrantDep, SettingsDep, TemporalDep

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(
    temporal: TemporalDep, pool: DbDep, qdrant: QdrantDep, settings: SettingsDep
) -> JSONResponse:
    """Ready when Temporal, PostgreSQL and Qdrant all answer; 503 names what does not."""

    async def check_temporal() -> None:
        await temporal.service_client.check_health()

    async def check_postgres() -> None:
        await pool.fetchval("SELECT 1")

    async def check_qdrant() -> None:
        if qdrant is None:
            raise RuntimeError("no Qdrant client in this process")
        await qdrant.get_collections()

    checks: dict[str, Any] = {}
    for name, check in (
        ("temporal", check_temporal),
        ("postgres", check_postgres),
        ("qdrant", check_qdrant),
    ):
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as e:  # any failure means not ready; say which and why
            checks[name] = f"error: {type(e).__name__}: {e}"[:300]
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
