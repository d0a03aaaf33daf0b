"""Tools that reach the web: `http_fetch`, `web_search`, `webhook`.

Every URL goes through the SSRF-safe client (`activities/net.py`): a model or a user cannot make
AIOS reach loopback, private, link-local or metadata addresses, whatever the spelling and however
many redirects, unless an operator allow-listed them (`AIOS_FETCH_ALLOW`). What comes back is
untrusted content.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, Field, HttpUrl

from activities.knowledge import SearchMode
from activities.knowledge.loaders import load_text
from activities.net import FetchPolicy, safe_fetch, safe_request
from activities.rag import RetrieveArgs, retrieve
from activities.tools.registry import ToolContext, tool
from aios.config import Settings
from aios.errors import TransientError, UserError

MAX_TEXT_CHARS = 50_000


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy.from_allow_list(
        settings.fetch_allow, max_bytes=settings.fetch_max_bytes, timeout_s=settings.fetch_timeout_s
    )


class HttpFetchArgs(BaseModel):
    url: HttpUrl = Field(description="an http(s) URL on the public internet")


class Fetched(BaseModel):
    url: str
    title: str | None
    text: str
    content_type: str | None
    truncated: bool


@tool(side_effects="reads", timeout_s=60)
async def http_fetch(args: HttpFetchArgs, ctx: ToolContext) -> Fetched:
    """Fetch a web page or document and return its text (HTML, PDF, JSON, CSV, text)."""
    answer = await safe_fetch(str(args.url), fetch_policy(ctx.settings))
    loaded = load_text(
        answer.content, name=answer.url.split("?", 1)[0], content_type=answer.content_type
    )
    return Fetched(
        url=answer.url,
        title=loaded.title,
        text=loaded.text[:MAX_TEXT_CHARS],
        content_type=answer.content_type,
        truncated=len(loaded.text) > MAX_TEXT_CHARS,
    )


class WebSearchArgs(BaseModel):
    query: str = Field(min_length=1, max_length=500)
    k: int = Field(default=5, ge=1, le=20)


class WebResult(BaseModel):
    title: str
    url: str
    snippet: str


class WebSearchAnswer(BaseModel):
    provider: str
    note: str | None = None
    results: list[WebResult]


@tool(side_effects="reads", timeout_s=30)
async def web_search(args: WebSearchArgs, ctx: ToolContext) -> WebSearchAnswer:
    """Search the web (through the configured provider); without one, the knowledge base."""
    url = ctx.settings.web_search_url
    if not url:
        output = await retrieve(
            ctx.knowledge,
            ctx.tenant,
            RetrieveArgs(
                query=args.query, k=args.k, max_sources=args.k, mode=SearchMode.HYBRID, quotes=0
            ),
        )
        return WebSearchAnswer(
            provider="knowledge_base",
            note="no web search provider is configured (AIOS_WEB_SEARCH_URL): these results come "
            "from the knowledge base",
            results=[
                WebResult(title=s.title or s.source, url=s.source, snippet=s.chunks[0].snippet)
                for s in output.sources
            ],
        )
    # A SearXNG-compatible JSON API, the operator's own endpoint (not subject to the SSRF policy).
    try:
        async with httpx.AsyncClient(timeout=20, trust_env=False) as client:
            response = await client.get(url, params={"q": args.query, "format": "json"})
    except httpx.TransportError as e:
        raise TransientError(f"the web search provider did not answer: {e}") from e
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"the web search provider answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise UserError(f"the web search provider refused the query (HTTP {response.status_code})")
    items: list[dict[str, Any]] = response.json().get("results", [])
    return WebSearchAnswer(
        provider="searxng",
        results=[
            WebResult(
                title=str(i.get("title", "")),
                url=str(i.get("url", "")),
                snippet=str(i.get("content", ""))[:500],
            )
            for i in items[: args.k]
        ],
    )


class WebhookArgs(BaseModel):
    url: HttpUrl
    payload: dict[str, Any] = Field(default_factory=dict)


class WebhookSent(BaseModel):
    url: str
    status: str
    replayed: bool = False


@tool(side_effects="writes", requires_approval=True, timeout_s=30, trusted_output=True)
async def webhook(args: WebhookArgs, ctx: ToolContext) -> WebhookSent:
    """POST a JSON payload to a URL (once per step, with an Idempotency-Key header)."""
    policy = fetch_policy(ctx.settings)

    async def effect(_conn: Any) -> dict[str, Any]:
        answer = await safe_request(
            "POST",
            str(args.url),
            policy,
            json=args.payload,
            headers={"Idempotency-Key": ctx.idempotency_key},
        )
        return {"url": answer.url, "status": "delivered"}

    result = await ctx.once("webhook", effect)
    return WebhookSent(**result)
