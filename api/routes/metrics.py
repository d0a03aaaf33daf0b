"""`GET /metrics`: Prometheus text for operators (the `aios_*` series and the Temporal SDK's).

It needs an operator's principal (admin or operator role): the series name tenants and models.
Prometheus sends the key as a bearer token (`authorization.credentials_file` in its scrape
config; see deploy/). The approval gauges are read from Temporal's visibility at scrape time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from temporalio.client import Client

from aios import search_attributes as sa
from aios import telemetry
from aios.config import Settings
from aios.errors import Forbidden
from aios.vocabulary import RunStatus
from api.deps import PrincipalDep, SettingsDep, TemporalDep
from api.temporal_reads import read_within

router = APIRouter(tags=["operations"])

# Scrapes come every 15-60 s; listing waiting runs more often than this buys nothing.
APPROVALS_TTL_S = 10.0
MAX_WAITING_LISTED = 10_000
_approvals_read_at = 0.0


async def _refresh_approval_gauges(temporal: Client, settings: Settings) -> None:
    """How many runs wait for a person, and since when the longest-waiting one has."""
    global _approvals_read_at
    if time.monotonic() - _approvals_read_at < APPROVALS_TTL_S:
        return
    query = (
        f"ExecutionStatus = 'Running' AND {sa.STATUS.name} = '{RunStatus.AWAITING_APPROVAL.value}'"
    )
    counted = await read_within(settings, temporal.count_workflows(query), "the waiting runs")
    oldest: datetime | None = None
    async for execution in temporal.list_workflows(query, limit=MAX_WAITING_LISTED, page_size=1000):
        since = execution.typed_search_attributes.get(sa.WAITING_SINCE)
        if since is not None and (oldest is None or since < oldest):
            oldest = since
    telemetry.APPROVALS_WAITING.set(counted.count)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    telemetry.OLDEST_APPROVAL_AGE.set(max(age, 0.0))
    _approvals_read_at = time.monotonic()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": "aios_runs_started_total{...} 3.0"}}}},
)
async def metrics(
    principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    """Runs started and finished, step latency by kind, tool calls, tokens and cost by model and
    tenant, approvals waiting and the oldest's age, rate-limit refusals, and the Temporal SDK's
    worker metrics (`aios_temporal_*`)."""
    if not principal.roles & {"admin", "operator"}:
        raise Forbidden("metrics need the admin or operator role")
    await _refresh_approval_gauges(temporal, settings)
    # The SDK's series are read over loopback HTTP: off the event loop.
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
