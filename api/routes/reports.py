"""Reports: what report runs wrote (and `publish_report` published), as Markdown or sanitized
HTML. A report is readable by whoever may read its run: the user the run belongs to, and the
tenant's operators and admins; to anyone else it does not exist (404), as another tenant's."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aios import rendering as render
from aios.errors import NotAcceptable, NotFound
from aios.stores.reports import Report, ReportStore
from aios.wire import ReportLinks, ReportList, ReportOut, ReportSummary
from api import page_tokens
from api.authz import may_read_run, require_user, sees_all_users
from api.deps import DbDep, Principal, PrincipalDep
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/reports", tags=["reports"])
# A run's answer rendered like a report (the console shows it so), beside the run's own routes.
answers = APIRouter(prefix="/v1/runs", tags=["runs"])
# Any Markdown (a chat reply) rendered the same way, for clients that show HTML.
rendering = APIRouter(prefix="/v1/render", tags=["reports"])

MAX_RENDER_CHARS = 200_000


class RenderRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"markdown": "## Findings\n\n**Yes** [1]."}]},
    )

    markdown: str = Field(max_length=MAX_RENDER_CHARS)


class Rendered(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"html": "<h2>Findings</h2>\n<p><strong>Yes</strong> [1].</p>\n"}]
        }
    )

    html: str


FORMATS = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
# The report page runs nothing and loads nothing: it is model-written text.
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def _filename(report_id: str) -> str:
    """The id as a file name safe in a header (ids come from run ids, schedules' among them)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", report_id)[:200]


def _links(report: Report) -> ReportLinks:
    base = f"/v1/reports/{report.id}"
    return ReportLinks(
        self=base,
        markdown=base + ".md",
        html=base + ".html",
        pdf=base + ".pdf",
        run=f"/v1/runs/{report.run_id}",
    )


def _summary(report: Report) -> ReportSummary:
    return ReportSummary(
        report_id=report.id,
        run_id=report.run_id,
        user_id=report.user_id,
        title=report.title,
        created_at=report.created_at or datetime.min,
        published_at=report.published_at,
        links=_links(report),
    )


@router.get("", response_model=ReportList)
async def list_reports(
    principal: PrincipalDep,
    pool: DbDep,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> ReportList:
    """The tenant's reports, newest first: the caller's own, or (operators and admins) every
    user's, or one user's with `user_id`."""
    if user_id is not None:
        require_user(principal, user_id, "reports")
    elif not sees_all_users(principal):
        user_id = principal.user_id
    listing = f"reports of {principal.tenant} for {user_id}"
    before = None
    if page_token:
        at, _, last_id = page_tokens.unseal(page_token, listing).decode().partition(" ")
        before = (datetime.fromisoformat(at), last_id)
    reports = await ReportStore(pool).list(
        principal.tenant, user_id=user_id, limit=page_size + 1, before=before
    )
    more = len(reports) > page_size
    reports = reports[:page_size]
    last = reports[-1] if reports else None
    token = None
    if more and last is not None and last.created_at is not None:
        token = page_tokens.seal(f"{last.created_at.isoformat()} {last.id}".encode(), listing)
    return ReportList(reports=[_summary(r) for r in reports], next_page_token=token)


async def _readable(pool: DbDep, principal: Principal, report_id: str) -> Report:
    report = await ReportStore(pool).get(principal.tenant, report_id)
    if report is None or not may_read_run(principal, report.user_id, awaiting_approval=False):
        raise NotFound(f"no report {report_id!r}")
    return report


@router.get(
    "/{report_ref}",
    response_model=ReportOut,
    responses={
        200: {
            "content": {
                "text/markdown": {"example": "Seals are replaced every 4,000 hours [1].\n"},
                "text/html": {
                    "example": '<!doctype html>\n<html lang="en"><head>…</head><body><h1>How '
                    "are our pumps maintained?</h1><p>Seals are replaced every 4,000 hours "
                    "[1].</p>…</body></html>"
                },
                "application/pdf": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "%PDF-1.3 … (the report drawn as A4 pages)",
                },
            },
            "description": "JSON; `{id}.md`: the Markdown; `{id}.html`: a sanitized HTML page; "
            "`{id}.pdf`: the same as a PDF",
        },
        406: {"description": "a format other than .md, .html and .pdf"},
    },
)
async def get_report(report_ref: str, principal: PrincipalDep, pool: DbDep) -> ReportOut | Response:
    """One report: JSON (Markdown, sanitized HTML, citations), or `{id}.md` / `{id}.html` /
    `{id}.pdf` to download it. Any other extension (`.docx`) is 406."""
    report_id, dot, fmt = report_ref.rpartition(".")
    if not dot:
        report_id, fmt = report_ref, ""
    if fmt and fmt not in FORMATS:
        raise NotAcceptable(
            f"reports are served as JSON, .md, .html and .pdf; not .{fmt[:20]}",
            details={"formats": ["json", *FORMATS]},
        )
    report = await _readable(pool, principal, report_id)
    if fmt == "md":
        return Response(
            report.markdown,
            media_type=FORMATS["md"],
            headers={"Content-Disposition": f'attachment; filename="{_filename(report.id)}.md"'},
        )
    sources = [(str(c.get("title", "")), str(c.get("source", ""))) for c in report.citations]
    if fmt == "html":
        page = render.html_document(report.title, report.markdown, sources)
        return Response(page, media_type=FORMATS["html"], headers=HTML_HEADERS)
    if fmt == "pdf":
        # Laying out a PDF takes a CPU second or so: off the event loop.
        pdf = await asyncio.to_thread(render.pdf_document, report.title, report.markdown, sources)
        return Response(
            pdf,
            media_type=FORMATS["pdf"],
            headers={
                "Content-Disposition": f'attachment; filename="{_filename(report.id)}.pdf"',
                "X-Content-Type-Options": "nosniff",
            },
        )
    summary = _summary(report)
    return ReportOut(
        **summary.model_dump(),
        markdown=report.markdown,
        html=render.markdown_to_html(report.markdown),
        citations=report.citations,
    )


@answers.get(
    "/{run_id}/answer.html",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {"example": "<h2>Findings</h2>\n<p>Runs are durable.</p>"}},
            "description": "a sanitized HTML fragment",
        }
    },
)
async def run_answer_html(run_id: str, principal: PrincipalDep, runs: RunsDep) -> Response:
    """The run's answer as a sanitized HTML fragment (Markdown rendered, scripts, event
    handlers, styles and `javascript:` links removed, empty sections dropped); readable by whoever
    may read the run. 404 until the run has an answer."""
    state = await runs.state(principal, run_id)
    if state.result is None:
        raise NotFound(f"run {run_id!r} has no answer yet")
    return Response(
        render.markdown_to_html(state.result.answer),
        media_type=FORMATS["html"],
        headers=HTML_HEADERS,
    )


@rendering.post("/markdown", response_model=Rendered)
async def render_markdown(body: RenderRequest, principal: PrincipalDep) -> Rendered:
    """Markdown as the sanitized HTML fragment answers and reports are shown as (the console
    renders chat replies with it). Any key may call it; it reads nothing and stores nothing."""
    return Rendered(html=render.markdown_to_html(body.markdown))
