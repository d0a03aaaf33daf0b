"""The client's calls on reports: list them, read one as a model, or as the Markdown, HTML or PDF
file the API serves."""

from __future__ import annotations

from typing import Any

from aios.client.base import ApiBase
from aios.wire import ReportList, ReportOut


class ReportsApi(ApiBase):
    """Reports: `/v1/reports`."""

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

    async def report(self, report_id: str) -> ReportOut:
        return ReportOut.model_validate(await self.request("GET", f"/v1/reports/{report_id}"))

    async def report_file(self, report_id: str, fmt: str) -> str:
        """The report as a file's text: `md` (Markdown) or `html` (a sanitized page)."""
        return (await self._send("GET", f"/v1/reports/{report_id}.{fmt}")).text

    async def report_bytes(self, report_id: str, fmt: str) -> bytes:
        """The report as a file: `md`, `html` or `pdf`, as the bytes the API sent."""
        return (await self._send("GET", f"/v1/reports/{report_id}.{fmt}")).content
