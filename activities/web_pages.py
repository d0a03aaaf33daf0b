"""Reading the web politely: robots.txt, per-host limits, and a page's readable text.

Both ways AIOS reads a page share this: the `http_fetch` tool (a step or an agent reading a page)
and knowledge ingestion by URL (`POST /v1/documents {"urls": ...}`, `aios ingest <url>`). Every
request goes through the SSRF-safe client (`activities/net.py`). Before a page, and before each
redirect hop, the site's robots.txt is asked (protego, user agent `AIOS`); each worker process
keeps to a few requests at a time per host with a least delay between them (`Politeness`).
trafilatura keeps the main text of HTML (navigation, footers and boilerplate dropped) with its
title, date and links; PDFs, JSON, CSV and plain text go through the knowledge loaders.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from protego import Protego
from pydantic import BaseModel, Field

from activities import net
from activities.knowledge.loaders import load_text
from activities.net import FetchPolicy, FetchRefused, safe_fetch
from aios.config import ToolSettings
from aios.errors import TransientError, UserError

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


# --- fetching a page politely ------------------------------------------------------------------


async def polite_fetch(url: str, policy: FetchPolicy, settings: ToolSettings) -> net.Fetched:
    """Fetch `url` as a well-behaved crawler: robots.txt asked before the page and each redirect
    hop (when AIOS_FETCH_ROBOTS_TXT is on), the host's slot and delay (a robots.txt Crawl-delay
    up to MAX_CRAWL_DELAY_S wins). Raises UserError naming the robots.txt that forbids it."""
    first = httpx.URL(url)
    polite = politeness()

    async def allowed(hop: httpx.URL) -> Protego | None:
        origin = f"{hop.scheme}://{hop.netloc.decode('ascii')}"
        rules = await polite.robots(origin, policy)
        if rules is not None and not rules.can_fetch(str(hop), USER_AGENT):
            via = "" if hop == first else f" (redirected from {first})"
            raise UserError(
                f"{hop}{via} is disallowed by {origin}/robots.txt for crawlers like AIOS; "
                "the page is not fetched"
            )
        return rules

    delay_s = settings.fetch_domain_delay_s
    check_hop = None
    if settings.fetch_robots_txt:
        rules = await allowed(first)
        crawl_delay = rules.crawl_delay(USER_AGENT) if rules is not None else None
        if crawl_delay:
            delay_s = max(delay_s, min(float(crawl_delay), MAX_CRAWL_DELAY_S))

        async def check_hop(hop: httpx.URL) -> None:
            if hop != first:  # the first URL was checked above
                await allowed(hop)

    async with polite.slot(
        first.host.lower(), delay_s=delay_s, concurrency=settings.fetch_domain_concurrency
    ):
        return await safe_fetch(str(first), policy, check_hop=check_hop)


# --- a page's readable content ------------------------------------------------------------------


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


def _readable_html(content: bytes, url: str, max_chars: int = MAX_TEXT_CHARS) -> Fetched | None:
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
        text=text[:max_chars],
        links=list(links.values())[:MAX_LINKS],
        content_type=None,
        truncated=len(text) > max_chars,
    )


def is_html(url: str, content_type: str | None) -> bool:
    name = url.split("?", 1)[0].lower()
    return _media(content_type) in ("text/html", "application/xhtml+xml") or name.endswith(
        (".html", ".htm")
    )


def page_text(content: bytes, url: str, content_type: str | None) -> tuple[str | None, str] | None:
    """(title, whole main text) of an HTML page, as knowledge ingestion keeps it; None when the
    content is not HTML or trafilatura finds no main text (the knowledge loaders read it then)."""
    if not is_html(url, content_type):
        return None
    readable = _readable_html(content, url, max_chars=len(content))
    return None if readable is None else (readable.title, readable.text)


def read_page(content: bytes, url: str, content_type: str | None) -> Fetched:
    """The readable content of a fetched document (CPU-bound: run it in a thread)."""
    _refuse_non_text(url, content_type, content)
    name = url.split("?", 1)[0]
    if is_html(url, content_type):
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
