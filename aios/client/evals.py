"""The client's calls on evals: start one, read, list, export and resume them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aios.client.base import ApiBase
from aios.evals import CreateEval, EvalCreated, EvalList, EvalOut, EvalSummary


class EvalsApi(ApiBase):
    """Evals: `/v1/evals`."""

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
