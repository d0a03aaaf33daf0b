"""Tools that reach the web: `http_fetch`, `web_search`, `webhook`.

Every URL goes through the SSRF-safe client (`activities/net.py`): a model or a user cannot make
AIOS reach loopback, private, link-local or metadata addresses, whatever the spelling and however
many redirects, unless an operator allow-listed them (`AIOS_FETCH_ALLOW`). What comes back is
untrusted content (scanned, and what derives from it needs approval before a side effect).

`http_fetch` reads a page as a person would: trafilatura keeps the main text of HTML (navigation,
footers and boilerplate dropped) with its title, date and links; PDFs, JSON, CSV and plain text go
through the knowledge loaders. Before a page, and before each redirect hop, it asks the site's
robots.txt (protego, user agent `AIOS`), and each worker process keeps to a few requests at a time
per host with a least delay between them (`Politeness`). `web_search` asks the tenant's provider
(`search_providers.py`); with none configured it says so and answers nothing: the knowledge base
has its own tool, `rag_search`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from protego import Protego
from pydantic import BaseModel, Field, HttpUrl

from activities.knowledge.loaders import load_text
from activities.net import FetchPolicy, FetchRefused, safe_fetch, safe_request
from activities.tools.registry import ToolContext, tool
from activities.tools.search_providers import (
    SearchConfig,
    deduplicated,
    search_provider,
)
from aios.config import Settings
from aios.errors import ConfigurationError, TransientError, UserError

MAX_TEXT_CHARS = 50_000
MAX_LINKS = 100
USER_AGENT = "AIOS"
ROBOTS_MAX_BYTES = 512 * 1024  # what Google reads of a robots.txt
ROBOTS_TTL_S = 3600.0
MAX_CRAWL_DELAY_S = 10.0
# Media types read as text; anything else (images, archives, executables) is refused.
TEXT_MEDIA = {
    "application/pdf",
    "application/json",
    "application/xhtml+xml",
    "application/xml",
    "application/ld+json",
}


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy.from_allow_list(
        settings.fetch_allow, max_bytes=settings.fetch_max_bytes, timeout_s=settings.fetch_timeout_s
    )


# --- politeness and robots.txt, per worker process ----------------------------------------------


@dataclass
class Politeness:
    """Per host: at most `concurrency` requests in flight and `delay_s` between two starts, within
    one event loop (one worker process). Also caches each host's robots.txt for an hour."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _next_start: dict[str, float] = field(default_factory=dict)
    _robots: dict[str, tuple[float, Protego | None]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def slot(self, host: str, *, delay_s: float, concurrency: int) -> AsyncIterator[None]:
        if len(self._slots) > 10_000:  # forget idle hosts rather than grow without bound
            now = self.clock()
            for idle in [h for h, t in self._next_start.items() if t < now]:
                if not self._slots[idle].locked():
                    del self._slots[idle], self._next_start[idle]
        gate = self._slots.setdefault(host, asyncio.Semaphore(concurrency))
        async with gate:
            now = self.clock()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + delay_s
            if start > now:
                await self.sleep(start - now)
            yield

    async def robots(self, origin: str, policy: FetchPolicy) -> Protego | None:
        """The parsed robots.txt of `origin` (scheme://host:port), None when it has none."""
        cached = self._robots.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        small = FetchPolicy(
            allow_hosts=policy.allow_hosts,
            allow_networks=policy.allow_networks,
            max_bytes=ROBOTS_MAX_BYTES,
            timeout_s=policy.timeout_s,
        )
        try:
            answer = await safe_fetch(f"{origin}/robots.txt", small)
            rules: Protego | None = Protego.parse(answer.content.decode("utf-8", "replace"))
        except FetchRefused:
            raise
        except TransientError as e:
            # RFC 9309: a robots.txt that cannot be reached means "crawl nothing" for now.
            raise TransientError(
                f"{origin}/robots.txt could not be read ({e.message}); the page is not fetched "
                "until it can be"
            ) from None
        except UserError:
            rules = None  # 4xx (none there) or unreadable: no rules (RFC 9309)
        if len(self._robots) > 10_000:
            self._robots.clear()
        self._robots[origin] = (time.monotonic() + ROBOTS_TTL_S, rules)
        return rules


_POLITENESS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Politeness] = (
    weakref.WeakKeyDictionary()
)


def politeness() -> Politeness:
    """This event loop's politeness state (a worker process runs one loop)."""
    loop = asyncio.get_running_loop()
    found = _POLITENESS.get(loop)
    if found is None:
        found = _POLITENESS[loop] = Politeness()
    return found


# --- http_fetch ---------------------------------------------------------------------------------


class HttpFetchArgs(BaseModel):
    url: HttpUrl = Field(description="an http(s) URL on the public internet")


class Link(BaseModel):
    url: str
    text: str


class Fetched(BaseModel):
    url: str
    title: str | None
    date: str | None = Field(default=None, description="the publication date, YYYY-MM-DD")
    text: str
    links: list[Link] = Field(default_factory=list, description="links in the main text")
    content_type: str | None
    truncated: bool


_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _refuse_non_text(url: str, content_type: str | None, content: bytes) -> None:
    media = _media(content_type)
    if media.startswith("text/") or media in TEXT_MEDIA or media.endswith(("+json", "+xml")):
        return
    if not media and b"\x00" not in content[:4096]:
        return  # no type given, and it looks like text
    raise UserError(
        f"{url} is not a text document ({media or 'binary content'}): http_fetch reads HTML, "
        "PDF, JSON, CSV and plain text"
    )


def _readable_html(content: bytes, url: str) -> Fetched | None:
    """Main text, title, date and links by trafilatura; None when it finds no main text."""
    import trafilatura
    from trafilatura.settings import Document

    document = trafilatura.bare_extraction(
        content,
        url=url,
        with_metadata=True,
        include_links=True,
        include_tables=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if not isinstance(document, Document) or not (document.text or "").strip():
        return None
    links: dict[str, Link] = {}
    if document.body is not None:
        for ref in document.body.iter("ref"):
            target = ref.get("target") or ""
            if target.startswith(("http://", "https://")) and target not in links:
                links[target] = Link(url=target, text=" ".join("".join(ref.itertext()).split()))
    text = _MARKDOWN_LINK.sub(r"\1", document.text or "")
    return Fetched(
        url=url,
        title=document.title or None,
        date=document.date or None,
        text=text[:MAX_TEXT_CHARS],
        links=list(links.values())[:MAX_LINKS],
        content_type=None,
        truncated=len(text) > MAX_TEXT_CHARS,
    )


def read_page(content: bytes, url: str, content_type: str | None) -> Fetched:
    """The readable content of a fetched document (CPU-bound: run it in a thread)."""
    _refuse_non_text(url, content_type, content)
    media = _media(content_type)
    name = url.split("?", 1)[0]
    if media in ("text/html", "application/xhtml+xml") or name.lower().endswith((".html", ".htm")):
        readable = _readable_html(content, url)
        if readable is not None:
            return readable.model_copy(update={"content_type": content_type})
    loaded = load_text(content, name=name, content_type=content_type)
    return Fetched(
        url=url,
        title=loaded.title,
        text=loaded.text[:MAX_TEXT_CHARS],
        content_type=content_type,
        truncated=len(loaded.text) > MAX_TEXT_CHARS,
    )


@tool(side_effects="reads", timeout_s=60)
async def http_fetch(args: HttpFetchArgs, ctx: ToolContext) -> Fetched:
    """Fetch a web page or document and return its readable text, title, date and links (HTML,
    PDF, JSON, CSV, text). Honours robots.txt; refuses private addresses and non-text content."""
    settings = ctx.settings.tools
    policy = fetch_policy(ctx.settings)
    url = httpx.URL(str(args.url))
    polite = politeness()

    async def allowed(hop: httpx.URL) -> Protego | None:
        origin = f"{hop.scheme}://{hop.netloc.decode('ascii')}"
        rules = await polite.robots(origin, policy)
        if rules is not None and not rules.can_fetch(str(hop), USER_AGENT):
            via = "" if hop == url else f" (redirected from {url})"
            raise UserError(
                f"{hop}{via} is disallowed by {origin}/robots.txt for crawlers like AIOS; "
                "the page is not fetched"
            )
        return rules

    delay_s = settings.fetch_domain_delay_s
    check_hop = None
    if settings.fetch_robots_txt:
        rules = await allowed(url)
        crawl_delay = rules.crawl_delay(USER_AGENT) if rules is not None else None
        if crawl_delay:
            delay_s = max(delay_s, min(float(crawl_delay), MAX_CRAWL_DELAY_S))

        async def check_hop(hop: httpx.URL) -> None:
            if hop != url:  # the first URL was checked above
                await allowed(hop)

    async with polite.slot(
        url.host.lower(), delay_s=delay_s, concurrency=settings.fetch_domain_concurrency
    ):
        answer = await safe_fetch(str(url), policy, check_hop=check_hop)
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


@tool(side_effects="reads", timeout_s=30, unavailable=no_search_provider)
async def web_search(args: WebSearchArgs, ctx: ToolContext) -> WebSearchAnswer:
    """Search the web through the configured provider (SearXNG, Brave, Tavily or Serper): titles,
    URLs and snippets. Unavailable when no provider is configured."""
    provider = search_provider(search_config(ctx.settings, ctx.tenant))
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
