"""Built-in tools every worker registers."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, Field, field_validator

from activities.tools.registry import Tool, ToolContext, ToolRegistry
from aios.stores import PublishedReport, ReportStore

MAX_TITLE_CHARS = 300


class PublishReportArgs(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    body: str = Field(min_length=1, max_length=1_000_000)

    @field_validator("title", mode="before")
    @classmethod
    def _shorten(cls, value: object) -> object:
        """A title taken from a long goal is cut at a word boundary rather than refused."""
        if isinstance(value, str) and len(value) > MAX_TITLE_CHARS:
            return value[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip() + "…"
        return value


async def publish_report(args: PublishReportArgs, ctx: ToolContext) -> dict[str, Any]:
    """Store the report where readers find it; once per step, however often it is retried."""

    async def effect(conn: asyncpg.Connection) -> dict[str, Any]:
        report_id = "rpt-" + ctx.idempotency_key.replace("/", "-")
        await ReportStore.insert(
            conn,
            PublishedReport(
                id=report_id,
                tenant=ctx.tenant,
                run_id=ctx.run_id,
                title=args.title,
                body=args.body,
                idempotency_key=ctx.idempotency_key,
            ),
        )
        return {"report_id": report_id, "title": args.title, "chars": len(args.body)}

    return await ctx.once("publish_report", effect)


class WordCountArgs(BaseModel):
    text: str


async def word_count(args: WordCountArgs, ctx: ToolContext) -> dict[str, Any]:
    words = args.text.split()
    return {"words": len(words), "characters": len(args.text)}


def register_builtin_tools(registry: ToolRegistry) -> None:
    registry.register(
        Tool(
            name="publish_report",
            description="Publish a finished report (title and markdown body) for readers.",
            args_model=PublishReportArgs,
            fn=publish_report,
            side_effects=True,
            requires_approval=True,
        )
    )
    registry.register(
        Tool(
            name="word_count",
            description="Count the words and characters of a text.",
            args_model=WordCountArgs,
            fn=word_count,
        )
    )
