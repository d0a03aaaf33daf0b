"""Web search providers behind one small interface: SearXNG, Brave, Tavily and Serper, each with
its real HTTP protocol.

    provider = search_provider(config)          # from settings, per tenant (`search_config`)
    hits = await provider.search("durable agents", k=5)

| provider | request                                                        | results            |
|----------|----------------------------------------------------------------|--------------------|
| searxng  | GET  {url}?q=…&format=json (the instance must enable JSON)      | `results[]`        |
| brave    | GET  {url}/res/v1/web/search?q=…&count=k, X-Subscription-Token  | `web.results[]`    |
| tavily   | POST {url}/search {"query", "max_results"}, Bearer token        | `results[]`        |
| serper   | POST {url}/search {"q", "num"}, X-API-KEY                       | `organic[]`        |

Endpoints are the operator's (a SearXNG instance is often internal), so they are not subject to the
SSRF policy that guards `http_fetch`. Answers are classified once (`_raise_for_status`): 401/403
is the operator's to fix (a missing or wrong key), 429 is retried after the provider's
Retry-After, 5xx and network trouble are retried, any other 4xx is the query's fault.
"""

from __future__ import annotations

import email.utils
import html
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, SecretStr

from aios.errors import ConfigurationError, RateLimited, TransientError, UserError

ProviderName = Literal["searxng", "brave", "tavily", "serper"]

# Where the hosted APIs live; AIOS_WEB_SEARCH_URL overrides (a proxy, or a test server).
DEFAULT_URLS: dict[str, str] = {
    "brave": "https://api.search.brave.com",
    "tavily": "https://api.tavily.com",
    "serper": "https://google.serper.dev",
}
NEEDS_KEY = {"brave", "tavily", "serper"}
# What one query costs at each provider, in USD (list prices of December 2026: Brave's Data for
# AI plan $5 per 1,000 queries, Tavily $0.008 a basic-search credit, Serper $50 per 50,000; a
# SearXNG instance is the operator's own). Reserved and settled in the spend ledger per query.
QUERY_USD: dict[str, float] = {"searxng": 0.0, "brave": 0.005, "tavily": 0.008, "serper": 0.001}
TIMEOUT_S = 20.0
SNIPPET_CHARS = 500


class SearchHit(BaseModel):
    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class SearchConfig:
    provider: ProviderName
    url: str | None = None
    api_key: SecretStr | None = None

    @property
    def endpoint(self) -> str:
        url = self.url or DEFAULT_URLS.get(self.provider)
        if not url:
            raise ConfigurationError(
                f"web search provider {self.provider!r} needs AIOS_WEB_SEARCH_URL (the "
                "instance's /search endpoint)"
            )
        return url.rstrip("/")

    def key(self) -> str:
        if self.api_key is None or not self.api_key.get_secret_value():
            raise ConfigurationError(
                f"web search provider {self.provider!r} needs an API key: set "
                "AIOS_WEB_SEARCH_API_KEY on the worker"
            )
        return self.api_key.get_secret_value()


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, k: int) -> list[SearchHit]: ...


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date), else Brave's
    X-RateLimit-Reset (seconds until the window resets, the first of its comma-separated list)."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset.split(",", 1)[0]))
        except ValueError:
            return None
    return None


def _raise_for_status(provider: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = response.text[:200].strip()
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        raise ConfigurationError(
            f"web search provider {provider} refused the credentials (HTTP {status}){said}; "
            "check AIOS_WEB_SEARCH_API_KEY"
        )
    if status == 429:
        wait = _retry_after(response)
        raise RateLimited(
            f"web search provider {provider} is rate limiting (HTTP 429)"
            + (f"; retrying after {wait:g}s" if wait is not None else ""),
            retry_after=wait,
        )
    if status >= 500 or status == 408:
        raise TransientError(f"web search provider {provider} answered HTTP {status}{said}")
    raise UserError(f"web search provider {provider} refused the query (HTTP {status}){said}")


class _HttpProvider:
    name: str = ""

    def __init__(self, config: SearchConfig) -> None:
        self.config = config

    async def search(self, query: str, k: int) -> list[SearchHit]:
        raise NotImplementedError

    async def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False) as client:
                response = await client.request(method, url, **kwargs)
        except httpx.TransportError as e:
            raise TransientError(f"web search provider {self.name} did not answer: {e}") from e
        _raise_for_status(self.name, response)
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"web search provider {self.name} answered something that is not JSON "
                f"({response.headers.get('content-type', 'no content type')})"
            ) from None


_TAG = re.compile(r"<[^>]{0,200}>")


def _plain(value: Any) -> str:
    """Providers mark matches up (Brave: `<strong>`) and escape entities; a snippet is text."""
    return " ".join(html.unescape(_TAG.sub("", str(value or ""))).split())


def _hits(items: Any, title: str, url: str, snippet: str) -> list[SearchHit]:
    if not isinstance(items, list):
        return []
    return [
        SearchHit(
            title=_plain(i.get(title)),
            url=str(i[url]),
            snippet=_plain(i.get(snippet))[:SNIPPET_CHARS],
        )
        for i in items
        if isinstance(i, dict) and i.get(url)
    ]


class SearxngProvider(_HttpProvider):
    name = "searxng"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        answer = await self._send(
            "GET", self.config.endpoint, params={"q": query, "format": "json"}
        )
        return _hits(answer.get("results"), "title", "url", "content")


class BraveProvider(_HttpProvider):
    name = "brave"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        answer = await self._send(
            "GET",
            f"{self.config.endpoint}/res/v1/web/search",
            params={"q": query, "count": k},
            headers={"Accept": "application/json", "X-Subscription-Token": self.config.key()},
        )
        web = answer.get("web") if isinstance(answer, dict) else None
        return _hits((web or {}).get("results"), "title", "url", "description")


class TavilyProvider(_HttpProvider):
    name = "tavily"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        answer = await self._send(
            "POST",
            f"{self.config.endpoint}/search",
            json={"query": query, "max_results": k, "search_depth": "basic"},
            headers={"Authorization": f"Bearer {self.config.key()}"},
        )
        return _hits(answer.get("results"), "title", "url", "content")


class SerperProvider(_HttpProvider):
    name = "serper"

    async def search(self, query: str, k: int) -> list[SearchHit]:
        answer = await self._send(
            "POST",
            f"{self.config.endpoint}/search",
            json={"q": query, "num": k},
            headers={"X-API-KEY": self.config.key()},
        )
        return _hits(answer.get("organic"), "title", "link", "snippet")


PROVIDERS: dict[str, type[_HttpProvider]] = {
    "searxng": SearxngProvider,
    "brave": BraveProvider,
    "tavily": TavilyProvider,
    "serper": SerperProvider,
}


def search_provider(config: SearchConfig) -> SearchProvider:
    return PROVIDERS[config.provider](config)


_TRACKING = ("utm_", "gclid", "fbclid", "mc_cid", "mc_eid")


def canonical_url(url: str) -> str:
    """The form two results are compared in: scheme and host lower-cased, `www.`, the fragment,
    a trailing slash, default ports and tracking parameters dropped, the query sorted."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and not (
        (parts.scheme == "http" and parts.port == 80)
        or (parts.scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING)
    )
    scheme = "https" if parts.scheme.lower() in ("http", "https") else parts.scheme.lower()
    return urlunsplit((scheme, host, parts.path.rstrip("/") or "/", urlencode(query), ""))


def deduplicated(hits: list[SearchHit]) -> list[SearchHit]:
    """The first hit for each canonical URL, in the provider's order."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        key = canonical_url(hit.url)
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept
