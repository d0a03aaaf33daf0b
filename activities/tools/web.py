"""Tools that reach the web: `http_fetch`, `web_search`, `webhook`.

Every URL goes through the SSRF-safe client (`activities/net.py`): a model or a user cannot make
AIOS reach loopback, private, link-local or metadata addresses, whatever the spelling and however
many redirects, unless an operator allow-listed them (`AIOS_FETCH_ALLOW`). What comes back is
untrusted content (scanned, and what derives from it needs approval before a side effect).

`http_fetch` reads a page as a person would, politely (robots.txt, per-host limits) and down to
its readable text, title, date and links: `activities/web_pages.py`, which knowledge ingestion by
URL shares. `web_search` asks the tenant's provider
(`search_providers.py`); with none configured it says so and answers nothing: the knowledge base
has its own tool, `rag_search`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, HttpUrl

from activities.net import FetchPolicy, safe_request
from activities.tools.registry import ToolContext, tool
from activities.tools.search_providers import (
    QUERY_USD,
    SearchConfig,
    deduplicated,
    search_provider,
)
from activities.web_pages import Fetched, polite_fetch, read_page
from aios.config import Settings
from aios.errors import ConfigurationError


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy.from_allow_list(
        settings.fetch_allow, max_bytes=settings.fetch_max_bytes, timeout_s=settings.fetch_timeout_s
    )


# --- http_fetch ---------------------------------------------------------------------------------


class HttpFetchArgs(BaseModel):
    url: HttpUrl = Field(description="an http(s) URL on the public internet")


def _page_host(args: HttpFetchArgs, ctx: ToolContext) -> list[str]:
    return [args.url.host or ""]


@tool(side_effects="reads", timeout_s=60, egress=_page_host)
async def http_fetch(args: HttpFetchArgs, ctx: ToolContext) -> Fetched:
    """Fetch a web page or document and return its readable text, title, date and links (HTML,
    PDF, JSON, CSV, text). Honours robots.txt; refuses private addresses and non-text content."""
    answer = await polite_fetch(str(args.url), fetch_policy(ctx.settings), ctx.settings.tools)
    return await asyncio.to_thread(read_page, answer.content, answer.url, answer.content_type)


# --- web_search ---------------------------------------------------------------------------------


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


def search_config(settings: Settings, tenant: str) -> SearchConfig:
    """The tenant's provider (`AIOS_WEB_SEARCH_TENANTS`), else the default one; a clear error when
    there is none."""
    tools = settings.tools
    override = tools.web_search_tenants.get(tenant)
    if override is not None:
        return SearchConfig(override.provider, override.url, override.api_key)
    provider = tools.web_search_provider or ("searxng" if tools.web_search_url else None)
    if provider is None:
        raise ConfigurationError(
            "web search is unavailable: no provider is configured (set AIOS_WEB_SEARCH_PROVIDER "
            "to searxng, brave, tavily or serper, with AIOS_WEB_SEARCH_URL or "
            "AIOS_WEB_SEARCH_API_KEY); the knowledge base is searched with rag_search"
        )
    return SearchConfig(provider, tools.web_search_url, tools.web_search_api_key)


def no_search_provider(settings: Settings, tenant: str) -> str | None:
    """Why web search cannot run for `tenant` (no provider configured), or None."""
    try:
        search_config(settings, tenant)
    except ConfigurationError as e:
        return e.message
    return None


def _provider_host(args: WebSearchArgs, ctx: ToolContext) -> list[str]:
    """The query goes to the tenant's search provider."""
    try:
        return [urlsplit(search_config(ctx.settings, ctx.tenant).endpoint).hostname or ""]
    except ConfigurationError:
        return []  # the tool says it is unavailable when it runs


@tool(
    side_effects="reads",
    timeout_s=30,
    unavailable=no_search_provider,
    egress=_provider_host,
)
async def web_search(args: WebSearchArgs, ctx: ToolContext) -> WebSearchAnswer:
    """Search the web through the configured provider (SearXNG, Brave, Tavily or Serper): titles,
    URLs and snippets. Unavailable when no provider is configured."""
    provider = search_provider(search_config(ctx.settings, ctx.tenant))
    # A paid query is spend like a model call's: reserved against the caps before it is sent.
    async with ctx.charged(f"web_search:{provider.name}", QUERY_USD.get(provider.name, 0.0)):
        hits = deduplicated(await provider.search(args.query, args.k))
    return WebSearchAnswer(
        provider=provider.name,
        results=[WebResult(title=h.title, url=h.url, snippet=h.snippet) for h in hits[: args.k]],
    )


# --- webhook ------------------------------------------------------------------------------------


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
