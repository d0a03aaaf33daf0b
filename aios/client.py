"""The Python client of the AIOS REST API: `ApiClient` (async) and `Client` (sync, the same
methods), shared by the CLI, the demo, the console's tests and users' programs.

    from aios.client import Client

    with Client("http://127.0.0.1:8000", api_key) as aios:
        run = aios.create_run({"goal": "Summarise our pump maintenance rules"})
        state = aios.wait(run.run_id)             # a RunState: status, plan, result, usage
        print(state.result.answer if state.result else state.error)

`wait()` returns when the run has ended (or, with `until_approval=True`, when it waits for a
person too), like LangGraph's `runs.join`; `follow()` prints progress as it goes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from aios.errors import AiosError, ConfigurationError, UserError
from aios.evals import CreateEval, EvalCreated, EvalList, EvalOut, EvalSummary
from aios.models import ApprovalAck, RunState, StepOutput
from aios.sources import Egress, McpServer, McpServerIn, SqlSource, SqlSourceIn
from aios.trace import RunTrace
from aios.versions import VersionList
from aios.vocabulary import INGESTIBLE_SUFFIXES, TERMINAL_STATUSES, RunEventType, RunStatus
from aios.wire import (
    BudgetList,
    BudgetOut,
    CancelAccepted,
    ChatSession,
    ChatSessionList,
    CreateRun,
    Inbox,
    Invoked,
    ReportList,
    ReportOut,
    RunCreated,
    RunFileList,
    RunList,
    SkillList,
    StartSkill,
    ToolList,
    Transcript,
    UsageReport,
)

T = TypeVar("T")


# How long one `wait()` request is held by the API (its limit is 60 s).
LONG_POLL_S = 30.0


class ApiError(AiosError):
    """The API answered with a problem; `status` and `problem` say what."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(str(detail), details=problem)
        self.status = status
        self.problem = problem


class ApiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A JSON answer (None when empty), or ApiError with the problem."""
        response = await self._send(method, path, **kwargs)
        return response.json() if response.content else None

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response of a call the API answered without a problem; ApiError otherwise, and a
        clear ConfigurationError when the API cannot be reached."""
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ConfigurationError(
                f"cannot reach the AIOS API at {self._http.base_url} ({e}); start it with "
                "`aios dev` or set AIOS_API_URL"
            ) from e
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response

    async def create_run(self, body: CreateRun | dict[str, Any]) -> RunCreated:
        """Start a run (`POST /v1/runs`); `Idempotency-Key` with `idempotency_key`."""
        created = await self.request("POST", "/v1/runs", json=_wire(body))
        return RunCreated.model_validate(created)

    # --- voice ----------------------------------------------------------------------------------

    async def transcribe(
        self, audio: bytes, *, filename: str = "audio", language: str | None = None
    ) -> Transcript:
        """Speech to text (`POST /v1/transcriptions`): wav, mp3, m4a, webm or ogg."""
        data = {"language": language} if language else {}
        answer = await self.request(
            "POST", "/v1/transcriptions", files={"audio": (filename, audio)}, data=data
        )
        return Transcript.model_validate(answer)

    async def create_run_spoken(
        self, audio: bytes, fields: dict[str, Any] | None = None, *, filename: str = "audio"
    ) -> RunCreated:
        """Start a run whose goal is what the recording says; `fields` are the other fields of
        `POST /v1/runs` (the answer's `transcript` shows what was heard)."""
        created = await self.request(
            "POST", "/v1/runs", files={"audio": (filename, audio)}, data=_form(fields or {})
        )
        return RunCreated.model_validate(created)

    async def chat_spoken(
        self, audio: bytes, *, session_id: str | None = None, filename: str = "audio"
    ) -> dict[str, Any]:
        """Send a spoken chat message; the reply carries the `transcript`."""
        data = {"session_id": session_id} if session_id else {}
        reply: dict[str, Any] = await self.request(
            "POST", "/v1/chat", files={"audio": (filename, audio)}, data=data
        )
        return reply

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

    async def approve(
        self, run_id: str, approval_id: str, args_hash: str, **answer: Any
    ) -> ApprovalAck:
        """Answer an approval with the `args_hash` the run showed (`decision="reject"` and a
        `comment` to reject)."""
        body = {"decision": "approve", "args_hash": args_hash, **answer}
        ack = await self.request("POST", f"/v1/runs/{run_id}/approvals/{approval_id}", json=body)
        return ApprovalAck.model_validate(ack)

    async def approvals(self, *, limit: int = 50) -> Inbox:
        """The approvals waiting for the caller's decision, oldest first."""
        inbox = await self.request("GET", "/v1/approvals", params={"limit": limit})
        return Inbox.model_validate(inbox)

    async def chat_sessions(
        self, *, user_id: str | None = None, limit: int = 50, page_token: str | None = None
    ) -> ChatSessionList:
        """The caller's chat sessions (another user's: operator and admin keys), latest first."""
        params = {"user_id": user_id, "limit": limit, "page_token": page_token}
        listed = await self.request(
            "GET", "/v1/chat/sessions", params={k: v for k, v in params.items() if v is not None}
        )
        return ChatSessionList.model_validate(listed)

    async def chat_session(self, session_id: str) -> ChatSession:
        """A session's messages in order, with its summary."""
        return ChatSession.model_validate(
            await self.request("GET", f"/v1/chat/sessions/{session_id}")
        )

    async def skills(self) -> SkillList:
        return SkillList.model_validate(await self.request("GET", "/v1/skills"))

    async def start_skill(self, name: str, body: StartSkill | dict[str, Any]) -> RunCreated:
        created = await self.request("POST", f"/v1/skills/{name}/runs", json=_wire(body))
        return RunCreated.model_validate(created)

    async def tools(self) -> ToolList:
        return ToolList.model_validate(await self.request("GET", "/v1/tools"))

    async def invoke_tool(self, name: str, args: dict[str, Any]) -> Invoked:
        invoked = await self.request("POST", f"/v1/tools/{name}/invoke", json={"args": args})
        return Invoked.model_validate(invoked)

    # --- reports --------------------------------------------------------------------------------

    async def reports(
        self, *, user_id: str | None = None, page_size: int = 50, page_token: str | None = None
    ) -> ReportList:
        """Reports of the caller's runs (an operator's: the tenant's), newest first."""
        params: dict[str, Any] = {"page_size": page_size}
        if user_id:
            params["user_id"] = user_id
        if page_token:
            params["page_token"] = page_token
        return ReportList.model_validate(await self.request("GET", "/v1/reports", params=params))

    async def budgets(self) -> BudgetList:
        """The tenant's spend caps (an operator's or admin's view), or those that apply to the
        caller."""
        return BudgetList.model_validate(await self.request("GET", "/v1/budgets"))

    async def set_budget(
        self,
        scope: str,
        period: str,
        *,
        subject: str | None = None,
        usd: float | None = None,
        tokens: int | None = None,
    ) -> BudgetOut:
        """Cap a scope of the caller's tenant (`tenant`, `user`, `key`, `schedule`) per `day` or
        `month`, in USD and/or tokens (the admin role)."""
        body = {"scope": scope, "period": period, "subject": subject, "usd": usd, "tokens": tokens}
        given = {k: v for k, v in body.items() if v is not None}
        return BudgetOut.model_validate(await self.request("POST", "/v1/budgets", json=given))

    async def delete_budget(self, budget_id: str) -> None:
        await self.request("DELETE", f"/v1/budgets/{budget_id}")

    # --- a tenant's sources, MCP servers and egress allow-list (aios/sources.py) -------------

    async def sources(self) -> list[SqlSource]:
        """The tenant's SQL sources the caller may query (no DSNs)."""
        found = await self.request("GET", "/v1/sources")
        return [SqlSource.model_validate(s) for s in found["sources"]]

    async def put_source(self, name: str, source: SqlSourceIn) -> SqlSource:
        """Register or replace a SQL source (the admin role)."""
        body = {**source.model_dump(mode="json"), "dsn": source.dsn.get_secret_value()}
        return SqlSource.model_validate(
            await self.request("PUT", f"/v1/sources/{quote(name)}", json=body)
        )

    async def delete_source(self, name: str) -> None:
        await self.request("DELETE", f"/v1/sources/{quote(name)}")

    async def mcp_servers(self) -> list[McpServer]:
        """The tenant's MCP servers the caller may use, with their tools (no header values)."""
        found = await self.request("GET", "/v1/mcp-servers")
        return [McpServer.model_validate(s) for s in found["mcp_servers"]]

    async def put_mcp_server(self, name: str, server: McpServerIn) -> McpServer:
        """Register or replace an MCP server (the admin role); the server must answer."""
        body = {
            **server.model_dump(mode="json"),
            "headers": {k: v.get_secret_value() for k, v in server.headers.items()},
        }
        return McpServer.model_validate(
            await self.request("PUT", f"/v1/mcp-servers/{quote(name)}", json=body)
        )

    async def delete_mcp_server(self, name: str) -> None:
        await self.request("DELETE", f"/v1/mcp-servers/{quote(name)}")

    async def egress(self) -> Egress:
        """The domains the tenant's runs may reach after untrusted content."""
        return Egress.model_validate(await self.request("GET", "/v1/egress"))

    async def set_egress(self, domains: list[str]) -> Egress:
        """Replace the tenant's allowed domains (the admin role)."""
        return Egress.model_validate(
            await self.request("PUT", "/v1/egress", json={"domains": domains})
        )

    async def usage(
        self, group_by: str = "user", *, start: datetime | None = None, end: datetime | None = None
    ) -> UsageReport:
        """What model calls cost, summed from the spend ledger (this month by default); a caller
        without the operator role gets their own calls only."""
        params: dict[str, Any] = {"group_by": group_by}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        return UsageReport.model_validate(await self.request("GET", "/v1/usage", params=params))

    async def report(self, report_id: str) -> ReportOut:
        return ReportOut.model_validate(await self.request("GET", f"/v1/reports/{report_id}"))

    async def report_file(self, report_id: str, fmt: str) -> str:
        """The report as a file's text: `md` (Markdown) or `html` (a sanitized page)."""
        return (await self._send("GET", f"/v1/reports/{report_id}.{fmt}")).text

    async def report_bytes(self, report_id: str, fmt: str) -> bytes:
        """The report as a file: `md`, `html` or `pdf`, as the bytes the API sent."""
        return (await self._send("GET", f"/v1/reports/{report_id}.{fmt}")).content

    async def versions(self, kind: str | None = None) -> VersionList:
        """The versions of prompts and skills a run can pin."""
        params = {"kind": kind} if kind else {}
        return VersionList.model_validate(await self.request("GET", "/v1/versions", params=params))

    async def create_eval(self, body: CreateEval) -> EvalCreated:
        """Start an eval (a dataset run as one run per row and variant)."""
        payload = body.model_dump(mode="json", exclude_none=True)
        return EvalCreated.model_validate(await self.request("POST", "/v1/evals", json=payload))

    async def eval(self, eval_id: str) -> EvalOut:
        """An eval with its summary, comparison and rows."""
        return EvalOut.model_validate(await self.request("GET", f"/v1/evals/{quote(eval_id)}"))

    async def evals(self, *, user_id: str | None = None, page_size: int = 50) -> EvalList:
        params: dict[str, Any] = {"page_size": page_size}
        if user_id:
            params["user_id"] = user_id
        return EvalList.model_validate(await self.request("GET", "/v1/evals", params=params))

    async def eval_export(self, eval_id: str, fmt: str) -> str:
        """Every row's result as JSON Lines (`jsonl`) or CSV (`csv`)."""
        path = f"/v1/evals/{quote(eval_id)}/export"
        return (await self._send("GET", path, params={"format": fmt})).text

    async def resume_eval(self, eval_id: str) -> EvalSummary:
        """Start a stopped eval again; its scored rows are kept."""
        path = f"/v1/evals/{quote(eval_id)}/resume"
        return EvalSummary.model_validate(await self.request("POST", path))

    async def run_files(self, run_id: str) -> RunFileList:
        """The files the run's tools wrote."""
        return RunFileList.model_validate(await self.request("GET", f"/v1/runs/{run_id}/files"))

    async def run_file(self, run_id: str, path: str) -> bytes:
        """One of the run's files, as written."""
        return (await self._send("GET", f"/v1/runs/{run_id}/files/{quote(path)}")).content

    # --- knowledge ------------------------------------------------------------------------------

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


class Client:
    """The synchronous client: `ApiClient`'s methods, each run to completion on a private event
    loop (so there is one implementation of each call). For scripts and notebooks outside an
    event loop; inside one, use `ApiClient`."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout_s: float = 30.0) -> None:
        self._runner = asyncio.Runner()
        self._api = ApiClient(base_url, api_key, timeout_s=timeout_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._api.__aexit__())
        self._runner.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._run(self._api.request(method, path, **kwargs))

    def create_run(self, body: CreateRun | dict[str, Any]) -> RunCreated:
        return self._run(self._api.create_run(body))

    def get_run(self, run_id: str) -> RunState:
        return self._run(self._api.get_run(run_id))

    def list_runs(self, **filters: Any) -> RunList:
        return self._run(self._api.list_runs(**filters))

    def cancel(self, run_id: str) -> CancelAccepted:
        return self._run(self._api.cancel(run_id))

    def wait(
        self, run_id: str, *, timeout_s: float | None = None, until_approval: bool = False
    ) -> RunState:
        return self._run(self._api.wait(run_id, timeout_s=timeout_s, until_approval=until_approval))

    def approve(self, run_id: str, approval_id: str, args_hash: str, **answer: Any) -> ApprovalAck:
        return self._run(self._api.approve(run_id, approval_id, args_hash, **answer))

    def start_skill(self, name: str, body: StartSkill | dict[str, Any]) -> RunCreated:
        return self._run(self._api.start_skill(name, body))

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid") -> dict[str, Any]:
        return self._run(self._api.search(query, k=k, mode=mode))

    def ingest(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._run(self._api.ingest(body))


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


def describe_event(event: dict[str, Any]) -> str | None:
    """One line of progress for a run event, or None for events not worth a line."""
    kind = event.get("type", "")
    data = event.get("data") or {}
    step = data.get("step_id")
    inner = data.get("data") or {}
    match kind:
        case RunEventType.RUN_STARTED:
            return "run started"
        case RunEventType.PLAN_READY:
            return f"plan ready ({inner.get('planner')}): {' -> '.join(inner.get('steps', []))}"
        case RunEventType.STEP_STARTED:
            return f"  step {step}: running — {inner.get('title', '')}"
        case RunEventType.STEP_FINISHED:
            return f"  step {step}: completed (attempts: {inner.get('attempts', 1)})"
        case RunEventType.STEP_FAILED:
            return f"  step {step}: FAILED — {inner.get('error')}"
        case RunEventType.STEP_SKIPPED:
            return f"  step {step}: skipped — {inner.get('reason')}"
        case RunEventType.APPROVAL_REQUESTED:
            arguments = json.dumps(inner.get("args"), default=str)
            if len(arguments) > 300:
                arguments = arguments[:300] + "…"
            return (
                f"  step {step}: awaiting approval {inner.get('approval_id')} — "
                f"{inner.get('reason')}\n    arguments: {arguments}\n"
                f"    expires: {inner.get('expires_at')}\n"
                f"    answer with: aios approve {{run_id}} "
                f"{inner.get('approval_id')}   (or --reject --reason TEXT)"
            )
        case RunEventType.APPROVAL_ANSWERED:
            return f"  approval {inner.get('approval_id')}: {inner.get('decision')}"
        case RunEventType.APPROVAL_EXPIRED:
            return f"  approval {inner.get('approval_id')}: expired"
        case RunEventType.RESEARCH_PROGRESS:
            return _research_line(step, inner)
        case RunEventType.CONTEXT_TRIMMED:
            return f"  step {step}: {inner.get('note')}"
        case RunEventType.RUN_FINISHED:
            status = inner.get("status") or data.get("status")
            error = inner.get("error") or inner.get("reason")
            return f"run {status}" + (f": {error}" if error else "")
    return None


def _research_line(step: str | None, inner: dict[str, Any]) -> str | None:
    """A research step's progress (workflows/run/research_step.py) in a line."""
    phase, round_ = inner.get("phase"), inner.get("round")
    head = f"  step {step}: round {round_}"
    match phase:
        case "questions":
            return f"{head}: " + "; ".join(str(q) for q in inner.get("questions", []))
        case "read":
            return f"{head}: read {inner.get('url')}"
        case "skipped":
            return f"{head}: skipped {inner.get('url')} — {inner.get('reason')}"
        case "notes":
            return f"{head}: {len(inner.get('sources', []))} new sources noted"
        case "web_unavailable":
            return f"{head}: web not searched — {inner.get('reason')}"
        case "done":
            stopped, sources = inner.get("stopped"), inner.get("sources")
            return f"  step {step}: research done ({stopped}, {sources} sources)"
    return None


def write_inline(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def follow(
    api: ApiClient,
    run_id: str,
    printer: Callable[[str], None] = print,
    on_delta: Callable[[str], None] | None = write_inline,
    *,
    stop_at_approval: bool = False,
) -> RunState:
    """Print progress until the run ends (or, with `stop_at_approval`, until it waits for a
    person), and the model's text as it writes it (`on_delta`; None to leave it out); returns
    the run's state."""
    streaming = False
    async for event in api.events(run_id):
        if event.get("type") == RunEventType.LLM_DELTA:
            if on_delta is not None:
                if not streaming:
                    on_delta("    ")
                on_delta(str((event.get("data") or {}).get("text", "")).replace("\n", "\n    "))
                streaming = True
            continue
        line = describe_event(event)
        if line:
            if streaming and on_delta is not None:
                on_delta("\n")
            streaming = False
            printer(line.replace("{run_id}", run_id))
        if stop_at_approval and event.get("type") == RunEventType.APPROVAL_REQUESTED:
            break
    return await api.get_run(run_id)


def format_report(run: RunState) -> str:
    result = run.result
    lines = [(result.answer.strip() if result else "") or "(no answer)"]
    citations = result.citations if result else []
    if citations:
        lines += ["", "Sources:"]
        for i, c in enumerate(citations, 1):
            number = c.n or i  # the number the answer cites it by
            lines.append(f"  [{number}] {c.title or c.source} — {c.source} ({c.chunk_id})")
    usage = run.usage
    lines += [
        "",
        f"Tokens: {usage.input_tokens} in, {usage.output_tokens} out; cost ${usage.cost_usd:.4f}",
    ]
    return "\n".join(lines)


def format_trace(trace: RunTrace) -> str:
    """A decision trace for a terminal: the run, its steps with durations, then the timeline
    (offsets from the start), then usage."""

    def offset(at: datetime) -> str:
        return f"+{(at - trace.created_at).total_seconds():7.2f}s"

    def took(ms: float | None) -> str:
        return f"{ms / 1000:.2f}s" if ms is not None else "-"

    lines = [
        f"run {trace.run_id}  {trace.status}  {took(trace.duration_ms)}  "
        f"({trace.tenant}/{trace.user_id})",
        f"goal: {' '.join(trace.goal.split())[:200]}",
    ]
    if trace.error:
        lines.append(f"error: {trace.error}")
    lines += ["", "steps:"]
    for step in trace.steps:
        tokens = step.usage.input_tokens + step.usage.output_tokens
        lines.append(
            f"  {step.id:<16} {step.status:<18} {took(step.duration_ms):>8}  "
            f"attempts {step.attempts}  tokens {tokens}"
            + (f"  error: {step.error}" if step.error else "")
        )
    lines += ["", "timeline:"]
    for entry in trace.entries:
        where = f" [{entry.step_id}]" if entry.step_id else ""
        lines.append(f"  {offset(entry.at)}  {entry.kind:<9}{where} {entry.summary}")
    if trace.truncated:
        lines.append("  (earlier events were not kept: the run's log is capped)")
    usage = trace.usage
    lines += [
        "",
        f"usage: {usage.input_tokens} tokens in, {usage.output_tokens} out, ${usage.cost_usd:.4f}",
    ]
    return "\n".join(lines)


def _wire(body: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """A request body as JSON: a wire model with only the fields set (the API fills in its own
    defaults), or a dict as given (the API validates it and answers 422 naming the field)."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", exclude_unset=True)
    return body


def _form(fields: dict[str, Any]) -> dict[str, str]:
    """Form fields for a multipart request: objects and arrays as JSON text."""
    return {
        k: json.dumps(v) if isinstance(v, dict | list) else str(v)
        for k, v in fields.items()
        if v is not None
    }
