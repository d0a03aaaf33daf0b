"""Built-in tools every worker registers."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, Field, field_validator

from activities.knowledge import SearchMode
from activities.rag import RetrieveArgs, retrieve
from activities.tools import code_exec, data, files, mail, report_delivery, web
from activities.tools.registry import Tool, ToolContext, ToolRegistry
from aios.errors import UserError
from aios.stores import Report, ReportStore, report_id_for
from aios.stores.reports import DeliveryStore

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
    """Publish the run's report (in `GET /v1/reports`, marked published) and deliver it to the
    tenant's destinations (webhook, S3 bucket, email); once per step, however often it is
    retried. The deliveries happen inside the effect's transaction: a failed one publishes
    nothing and is retried, and the destinations that already took the report are not sent it
    again (activities/tools/report_delivery.py)."""

    async def effect(conn: asyncpg.Connection) -> dict[str, Any]:
        report_id = report_id_for(ctx.run_id)
        await ReportStore.publish(
            conn,
            Report(
                id=report_id,
                tenant=ctx.tenant,
                run_id=ctx.run_id,
                user_id=ctx.user_id,
                title=args.title,
                markdown=args.body,
            ),
        )
        published = report_delivery.Published(
            report_id=report_id,
            run_id=ctx.run_id,
            tenant=ctx.tenant,
            user_id=ctx.user_id,
            title=args.title,
            markdown=args.body,
        )
        deliveries = await report_delivery.deliver_all(
            ctx.settings, DeliveryStore(ctx.pool), published, ctx.idempotency_key
        )
        return {
            "report_id": report_id,
            "title": args.title,
            "chars": len(args.body),
            "delivered_to": [d["destination"] for d in deliveries],
            "deliveries": deliveries,
        }

    return await ctx.once("publish_report", effect)


class WordCountArgs(BaseModel):
    text: str


async def word_count(args: WordCountArgs, ctx: ToolContext) -> dict[str, Any]:
    words = args.text.split()
    return {"words": len(words), "characters": len(args.text)}


def register_builtin_tools(registry: ToolRegistry) -> None:
    registry.register(
        web.http_fetch,
        web.web_search,
        web.webhook,
        files.file_read,
        files.file_write,
        files.file_list,
        data.calculator,
        data.sql_query,
        mail.send_email,
        code_exec.code_exec,
        code_exec.shell_exec,
        code_exec.report_figures,
    )
    registry.register(
        Tool(
            name="rag_search",
            description="Search the knowledge base: passages for a query, with the sentences "
            "that best support it, verbatim.",
            args_model=RagSearchArgs,
            fn=rag_search,
            timeout_s=60.0,
        )
    )
    registry.register(
        Tool(
            name="memory_read",
            description="Recall what is known about the user: facts, preferences and memories "
            "related to a query.",
            args_model=MemoryReadArgs,
            fn=memory_read,
        )
    )
    registry.register(
        Tool(
            name="memory_write",
            description="Remember something for the user (a text, or a fact/preference as "
            "key and value).",
            args_model=MemoryWriteArgs,
            fn=memory_write,
            trusted_output=True,
            side_effects="writes",
        )
    )
    registry.register(
        Tool(
            name="publish_report",
            description="Publish a finished report (title and markdown body) for readers: in the "
            "reports list and to the tenant's configured destinations (webhook, bucket, email).",
            args_model=PublishReportArgs,
            fn=publish_report,
            trusted_output=True,
            side_effects="writes",
            requires_approval=True,
        )
    )
    registry.register(
        Tool(
            name="word_count",
            description="Count the words and characters of a text.",
            args_model=WordCountArgs,
            fn=word_count,
            trusted_output=True,
        )
    )


class RagSearchArgs(BaseModel):
    query: str = Field(min_length=1, max_length=4000, description="what to look for")
    k: int = Field(default=5, ge=1, le=50, description="how many passages")
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"


async def rag_search(args: RagSearchArgs, ctx: ToolContext) -> dict[str, Any]:
    """The knowledge base's passages for a query (the same path as `retrieve` steps), with the
    sentences that best support it, verbatim."""
    output = await retrieve(
        ctx.knowledge,
        ctx.tenant,
        RetrieveArgs(query=args.query, k=args.k, max_sources=args.k, mode=SearchMode(args.mode)),
    )
    return {
        "results": [
            {
                "document_id": source.document_id,
                "source": source.source,
                "title": source.title,
                "chunk_id": source.chunks[0].chunk_id,
                "text": source.chunks[0].text,
                "quotes": [q.text for q in source.quotes],
            }
            for source in output.sources
        ]
    }


class MemoryReadArgs(BaseModel):
    query: str | None = Field(
        default=None, max_length=4000, description="what to recall (omit for the latest)"
    )
    k: int = Field(default=5, ge=1, le=50)


async def memory_read(args: MemoryReadArgs, ctx: ToolContext) -> dict[str, Any]:
    """The user's facts and preferences, and their memories closest to `query`."""
    read = await ctx.memory.read(ctx.tenant, ctx.user_id, args.query, args.k)
    return read.model_dump(mode="json")


class MemoryWriteArgs(BaseModel):
    text: str | None = Field(
        default=None, min_length=1, max_length=20_000, description="something to remember"
    )
    key: str | None = Field(
        default=None, max_length=200, description="with `value`: a fact or preference to store"
    )
    value: str | None = Field(default=None, max_length=4000)
    kind: Literal["fact", "preference"] = "fact"


async def memory_write(args: MemoryWriteArgs, ctx: ToolContext) -> dict[str, Any]:
    """Remember a text (semantic memory) and/or a fact or preference about the user. Keyed on the
    step, so a retried call never stores twice."""
    from activities.memory import FactIn  # here: activities.memory imports the tool layer

    if not args.text and not (args.key and args.value):
        raise UserError("memory_write needs `text`, or `key` and `value`")
    provenance = {"run_id": ctx.run_id, "step_id": ctx.step_id, "tool": "memory_write"}
    output: dict[str, Any] = {}
    if args.key and args.value:
        fact = FactIn(key=args.key, value=args.value, kind=args.kind)
        await ctx.memory.write_facts(ctx.tenant, ctx.user_id, [fact], provenance)
        output["fact"] = args.key
    if args.text:
        output["memory_id"] = await ctx.memory.remember(
            ctx.tenant, ctx.user_id, args.text, ctx.idempotency_key, provenance
        )
    return output
