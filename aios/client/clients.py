"""The two clients: `ApiClient` (async), every resource group's calls over one connection, and
`Client` (sync), the same calls each run to completion on a private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from aios.client.approvals import ApprovalsApi
from aios.client.budgets import BudgetsApi
from aios.client.catalog import CatalogApi
from aios.client.chat import ChatApi
from aios.client.documents import DocumentsApi
from aios.client.evals import EvalsApi
from aios.client.reports import ReportsApi
from aios.client.runs import RunsApi
from aios.client.sources import SourcesApi
from aios.models import ApprovalAck, RunState
from aios.wire import CancelAccepted, CreateRun, RunCreated, RunList, StartSkill

T = TypeVar("T")


class ApiClient(
    RunsApi,
    ApprovalsApi,
    ChatApi,
    CatalogApi,
    DocumentsApi,
    ReportsApi,
    BudgetsApi,
    SourcesApi,
    EvalsApi,
):
    """The asynchronous client: one method per API call, grouped by resource in this package's
    modules. `async with ApiClient(url, key) as api:` closes the connection at the end."""

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()


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
