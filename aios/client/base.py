"""What every resource group of the client shares: the HTTP connection to the API, one request
(a JSON answer, or the API's problem raised as `ApiError`), and how request bodies are written.

The resource groups (`runs`, `approvals`, `documents`, ...) are mixins over `ApiBase`; `ApiClient`
(in `clients`) is all of them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel

from aios.errors import AiosError, ConfigurationError


class ApiError(AiosError):
    """The API answered with a problem; `status` and `problem` say what."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(str(detail), details=problem)
        self.status = status
        self.problem = problem


class ApiBase:
    """The connection and the one way to call the API, which every resource group's methods go
    through."""

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
