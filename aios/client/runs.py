"""The client's calls on runs: start, read, list, wait for, cancel and follow a run (its event
stream), read a step's output, its decision trace and the files its tools wrote."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from aios.client.base import ApiBase, ApiError, _wire
from aios.errors import ConfigurationError, UserError
from aios.models import RunState, StepOutput
from aios.trace import RunTrace
from aios.vocabulary import TERMINAL_STATUSES, RunEventType, RunStatus
from aios.wire import CancelAccepted, CreateRun, RunCreated, RunFileList, RunList

# How long one `wait()` request is held by the API (its limit is 60 s).
LONG_POLL_S = 30.0


class RunsApi(ApiBase):
    """Runs: `/v1/runs` and what hangs off a run."""

    async def create_run(self, body: CreateRun | dict[str, Any]) -> RunCreated:
        """Start a run (`POST /v1/runs`); `Idempotency-Key` with `idempotency_key`."""
        created = await self.request("POST", "/v1/runs", json=_wire(body))
        return RunCreated.model_validate(created)

    async def get_run(self, run_id: str, *, wait_s: float = 0) -> RunState:
        """The run's state; with `wait_s`, once it has ended or after `wait_s` seconds,
        whichever comes first (a long poll)."""
        if not run_id.strip():
            raise UserError("a run id is needed (aios runs lists them)")
        if not wait_s:
            return RunState.model_validate(await self.request("GET", f"/v1/runs/{run_id}"))
        params = {"wait_s": wait_s}
        state = await self.request("GET", f"/v1/runs/{run_id}", params=params, timeout=wait_s + 30)
        return RunState.model_validate(state)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        schedule_id: str | None = None,
        user_id: str | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> RunList:
        """The tenant's runs, running first (newest first), then finished ones."""
        given = {
            "status": status,
            "schedule_id": schedule_id,
            "user_id": user_id,
            "page_size": page_size,
            "page_token": page_token,
        }
        params = {name: value for name, value in given.items() if value is not None}
        return RunList.model_validate(await self.request("GET", "/v1/runs", params=params))

    async def cancel(self, run_id: str) -> CancelAccepted:
        cancelled = await self.request("POST", f"/v1/runs/{run_id}/cancel")
        return CancelAccepted.model_validate(cancelled)

    async def step_output(self, run_id: str, step_id: str) -> StepOutput:
        output = await self.request("GET", f"/v1/runs/{run_id}/steps/{step_id}/output")
        return StepOutput.model_validate(output)

    async def trace(self, run_id: str) -> RunTrace:
        return RunTrace.model_validate(await self.request("GET", f"/v1/runs/{run_id}/trace"))

    async def wait(
        self,
        run_id: str,
        *,
        timeout_s: float | None = None,
        until_approval: bool = False,
        poll_s: float = 1.0,
    ) -> RunState:
        """The run's state once it has ended (or waits for an approval, with `until_approval`).
        Until the end it long-polls the run (`?wait_s=`: Temporal tells the API when the run
        closes, and no worker is asked anything meanwhile); for an approval it follows the event
        stream. It checks the state between reconnects, so a dropped connection or a restarted
        API costs a retry, not the wait. TimeoutError after `timeout_s`."""

        def done(state: RunState) -> bool:
            waiting = until_approval and state.status == RunStatus.AWAITING_APPROVAL
            return state.status in TERMINAL_STATUSES or waiting

        async def long_poll() -> RunState:
            while True:
                try:
                    state = await self.get_run(run_id, wait_s=LONG_POLL_S)
                except ConfigurationError:  # the API is unreachable (restarting, say)
                    await asyncio.sleep(poll_s)
                    continue
                except ApiError as e:
                    if e.status < 500 and e.status != 429:
                        raise
                    await asyncio.sleep(poll_s)
                    continue
                if done(state):
                    return state

        async def watch() -> RunState:
            while True:
                state = await self.get_run(run_id)
                if done(state):
                    return state
                try:
                    async for event in self.events(run_id, after=state.last_event_seq):
                        kind = event.get("type")
                        if kind == RunEventType.RUN_FINISHED or (
                            until_approval and kind == RunEventType.APPROVAL_REQUESTED
                        ):
                            break
                except (httpx.TransportError, ApiError):
                    await asyncio.sleep(poll_s)

        async with asyncio.timeout(timeout_s):
            return await (watch() if until_approval else long_poll())

    async def events(self, run_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of a run until it finishes."""
        async with self._http.stream(
            "GET", f"/v1/runs/{run_id}/events", params={"after": after}, timeout=None
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError(response.status_code, response.json())
            event: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event["type"] = line[6:].strip()
                elif line.startswith("data:"):
                    event["data"] = json.loads(line[5:].strip())
                elif line == "" and event:
                    yield event
                    if event.get("type") == RunEventType.RUN_FINISHED:
                        return
                    event = {}

    async def run_files(self, run_id: str) -> RunFileList:
        """The files the run's tools wrote."""
        return RunFileList.model_validate(await self.request("GET", f"/v1/runs/{run_id}/files"))

    async def run_file(self, run_id: str, path: str) -> bytes:
        """One of the run's files, as written."""
        return (await self._send("GET", f"/v1/runs/{run_id}/files/{quote(path)}")).content
