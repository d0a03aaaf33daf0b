"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import DbDep, MaybePrincipalDep, TemporalDep, VectorsDep
from api.examples import example

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", responses=example({"status": "ok"}))
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        **example(
            {
                "status": "ready",
                "checks": {"temporal": "ok", "postgres": "ok", "qdrant": "ok"},
            }
        ),
        503: {
            "description": "a dependency does not answer (`details` only for a valid API key)",
            "content": {
                "application/json": {
                    "example": {
                        "status": "not ready",
                        "checks": {"temporal": "unavailable", "postgres": "ok", "qdrant": "ok"},
                        "details": {"temporal": "RPCError: connection refused"},
                    }
                }
            },
        },
    },
)
async def readyz(
    temporal: TemporalDep, pool: DbDep, vectors: VectorsDep, caller: MaybePrincipalDep
) -> JSONResponse:
    """Ready when Temporal, PostgreSQL and Qdrant all answer; 503 names what does not. Anyone
    sees `ok` / `unavailable` per dependency; the error text goes to the log and to callers with
    a valid API key (it can name hosts and paths)."""

    async def check_temporal() -> None:
        await temporal.service_client.check_health()

    async def check_postgres() -> None:
        await pool.fetchval("SELECT 1")

    async def check_qdrant() -> None:
        if vectors is None:
            raise RuntimeError(
                "the embedded Qdrant (Edge) is held by the worker process; run the API and the "
                "workers against a Qdrant server (AIOS_QDRANT_URL), or both in `aios dev`"
            )
        await vectors.ping()

    checks: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, check in (
        ("temporal", check_temporal),
        ("postgres", check_postgres),
        ("qdrant", check_qdrant),
    ):
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as e:  # any failure means not ready; say which, log why
            checks[name] = "unavailable"
            details[name] = f"{type(e).__name__}: {e}"[:300]
            log.warning("readiness: %s unavailable: %s", name, details[name])
    ready = not details
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    if details and caller is not None:
        body["details"] = details
    headers = {} if ready else {"Retry-After": "5"}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)
