"""Reports on the wire: the reports runs wrote, listed (`GET /v1/reports`) and read
(`GET /v1/reports/{id}`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReportLinks(BaseModel):
    self: str
    markdown: str
    html: str
    pdf: str = ""
    run: str


class ReportSummary(BaseModel):
    """One report in `GET /v1/reports`."""

    report_id: str
    run_id: str
    user_id: str
    title: str
    created_at: datetime
    # Set when `publish_report` published it (after its approval); None: the run's own report.
    published_at: datetime | None = None
    links: ReportLinks


class ReportList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reports": [
                        {
                            "report_id": "rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "user_id": "ada",
                            "title": "How are our pumps maintained?",
                            "created_at": "2026-11-22T09:00:12Z",
                            "published_at": None,
                            "links": {
                                "self": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                                "markdown": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.md",
                                "html": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.html",
                                "run": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            },
                        }
                    ],
                    "next_page_token": None,
                }
            ]
        }
    )

    reports: list[ReportSummary]
    next_page_token: str | None = None


class ReportOut(ReportSummary):
    """`GET /v1/reports/{id}`: the report as Markdown, as sanitized HTML rendered from it, and the
    sources it cites."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_id": "rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "user_id": "ada",
                    "title": "How are our pumps maintained?",
                    "created_at": "2026-11-22T09:00:12Z",
                    "published_at": "2026-11-22T09:05:40Z",
                    "links": {
                        "self": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                        "markdown": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.md",
                        "html": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.html",
                        "run": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    },
                    "markdown": "Seals are replaced every 4,000 hours [1].",
                    "html": "<p>Seals are replaced every 4,000 hours [1].</p>\n",
                    "citations": [
                        {"n": 1, "source": "pumps.md", "title": "Pumps", "chunk_id": "doc-1#0"}
                    ],
                }
            ]
        }
    )

    markdown: str
    html: str
    citations: list[dict[str, Any]] = Field(default_factory=list)
