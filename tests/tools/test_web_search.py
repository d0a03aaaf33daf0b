"""web_search against local servers that speak each provider's real protocol: the request each
provider receives, de-duplication, per-tenant providers, and classified failures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from pydantic import SecretStr

from activities.tools import build_registry
from activities.tools.registry import ToolContext, ToolServices
from activities.tools.search_providers import canonical_url
from activities.tools.web import web_search
from aios.config import Settings, WebSearchOverride
from aios.errors import (
    AiosError,
    ConfigurationError,
    RateLimited,
    TransientError,
    UserError,
    to_application_error,
)
from tests.tools.scripted_http import Request, json_answer, scripted_server

KEY = "sk-test-123"
# Every provider answers the same three pages, the second a spelling of the first.
PAGES = [
    (
        "Durable runs",
        "https://www.example.org/durable/?utm_source=feed",
        "Runs <strong>survive</strong> crashes &amp; restarts.",
    ),
    ("Durable runs (copy)", "http://example.org/durable#top", "The same page."),
    ("Temporal", "https://temporal.io/", "Workflows as code."),
]


def answer_for(provider: str) -> dict[str, Any]:
    if provider == "searxng":
        return {"results": [{"title": t, "url": u, "content": s} for t, u, s in PAGES]}
    if provider == "brave":
        return {"web": {"results": [{"title": t, "url": u, "description": s} for t, u, s in PAGES]}}
    if provider == "tavily":
        return {"results": [{"title": t, "url": u, "content": s, "score": 1} for t, u, s in PAGES]}
    return {"organic": [{"title": t, "link": u, "snippet": s, "position": 1} for t, u, s in PAGES]}


def check_request(provider: str, request: Request) -> None:
    """What each provider's API documents: method, path, where the query and the key go."""
    if provider == "searxng":
        assert (request.method, request.path) == ("GET", "/search")
        assert request.query == {"q": ["durable agents"], "format": ["json"]}
    elif provider == "brave":
        assert (request.method, request.path) == ("GET", "/res/v1/web/search")
        assert request.query == {"q": ["durable agents"], "count": ["2"]}
        assert request.headers["x-subscription-token"] == KEY
        assert request.headers["accept"] == "application/json"
    elif provider == "tavily":
        assert (request.method, request.path) == ("POST", "/search")
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.json() == {
            "query": "durable agents",
            "max_results": 2,
            "search_depth": "basic",
        }
    else:
        assert (request.method, request.path) == ("POST", "/search")
        assert request.headers["x-api-key"] == KEY
        assert request.json() == {"q": "durable agents", "num": 2}


def ctx(settings: Settings, tenant: str = "default") -> ToolContext:
    return ToolContext(
        tenant=tenant,
        user_id="ada",
        run_id="run-w",
        step_id="search",
        idempotency_key="run-w/search",
        pool=cast(asyncpg.Pool, None),  # web_search keeps no rows
        services=ToolServices(settings=settings),
    )


def configured(tmp_path: Path, provider: str | None, base: str | None, **more: Any) -> Settings:
    url = f"{base}/search" if base and provider == "searxng" else base
    return Settings(
        environment="test",
        data_dir=tmp_path,
        web_search_provider=provider,
        web_search_url=url,
        web_search_api_key=SecretStr(KEY),
        **more,
    )


async def search(settings: Settings, tenant: str = "default", **args: Any) -> dict[str, Any]:
    arguments = web_search.args_model.model_validate({"query": "durable agents", "k": 2, **args})
    answer = await web_search.fn(arguments, ctx(settings, tenant))
    return cast(dict[str, Any], answer.model_dump(mode="json"))


@pytest.mark.parametrize("provider", ["searxng", "brave", "tavily", "serper"])
async def test_each_provider_is_asked_in_its_own_protocol_and_duplicates_are_dropped(
    provider: str, tmp_path: Path
) -> None:
    with scripted_server(lambda _: json_answer(answer_for(provider))) as (base, requests):
        answer = await search(configured(tmp_path, provider, base))
    [request] = requests
    check_request(provider, request)
    assert answer["provider"] == provider and answer["note"] is None
    assert [r["url"] for r in answer["results"]] == [PAGES[0][1], PAGES[2][1]]
    assert answer["results"][0] == {
        "title": "Durable runs",
        "url": PAGES[0][1],
        "snippet": "Runs survive crashes & restarts.",
    }


def test_urls_are_compared_without_their_decorations() -> None:
    assert canonical_url("HTTPS://WWW.Example.org:443/a/?b=1&utm_medium=x&a=2#f") == (
        "https://example.org/a?a=2&b=1"
    )
    assert canonical_url("http://example.org:8080/") != canonical_url("http://example.org/")


async def test_without_a_provider_web_search_says_it_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"web search is unavailable.*rag_search"):
        await search(configured(tmp_path, None, None))


async def test_a_tenant_may_have_its_own_provider(tmp_path: Path) -> None:
    with scripted_server(lambda _: json_answer(answer_for("serper"))) as (base, requests):
        override = WebSearchOverride(provider="serper", url=base, api_key=SecretStr(KEY))
        settings = configured(tmp_path, None, None, web_search_tenants={"acme": override})
        answer = await search(settings, tenant="acme")
        with pytest.raises(ConfigurationError, match="unavailable"):
            await search(settings, tenant="other")
    assert answer["provider"] == "serper" and len(requests) == 1
    check_request("serper", requests[0])


async def test_a_searxng_url_alone_still_selects_searxng(tmp_path: Path) -> None:
    with scripted_server(lambda _: json_answer(answer_for("searxng"))) as (base, requests):
        settings = Settings(environment="test", data_dir=tmp_path, web_search_url=f"{base}/search")
        answer = await search(settings)
    assert answer["provider"] == "searxng" and len(answer["results"]) == 2
    check_request("searxng", requests[0])


async def test_a_hosted_provider_without_a_key_says_which_setting_is_missing(
    tmp_path: Path,
) -> None:
    settings = configured(tmp_path, "brave", "http://127.0.0.1:9").model_copy(
        update={"web_search_api_key": None}
    )
    with pytest.raises(ConfigurationError, match="AIOS_WEB_SEARCH_API_KEY"):
        await search(settings)


@pytest.mark.parametrize(
    ("status", "headers", "error", "retryable", "words"),
    [
        (401, {}, ConfigurationError, False, "refused the credentials"),
        (429, {"Retry-After": "7"}, RateLimited, True, "retrying after 7s"),
        (500, {}, TransientError, True, "HTTP 500"),
        (400, {}, UserError, False, "refused the query"),
    ],
)
async def test_provider_failures_are_classified(
    tmp_path: Path,
    status: int,
    headers: dict[str, str],
    error: type[AiosError],
    retryable: bool,
    words: str,
) -> None:
    failing = json_answer({"error": "no"}, status, **headers)
    with (
        scripted_server(lambda _: failing) as (base, _requests),
        pytest.raises(error, match=words) as caught,
    ):
        await search(configured(tmp_path, "tavily", base))
    failure = to_application_error(caught.value)
    assert failure.non_retryable is not retryable
    if status == 429:
        assert failure.next_retry_delay == timedelta(seconds=7)


def test_web_search_is_offered_only_to_tenants_with_a_provider(tmp_path: Path) -> None:
    """A planner or a chat turn is not offered a tool that would only answer 'unavailable'."""
    override = WebSearchOverride(provider="serper", url="http://search.test", api_key=None)
    settings = configured(tmp_path, None, None, web_search_tenants={"acme": override})
    registry = build_registry(settings=settings)

    def offered(tenant: str) -> set[str]:
        return {s.name for s in registry.specs(tenant=tenant)}

    assert "web_search" in offered("acme") and "web_search" not in offered("other")
    assert "web_search" not in registry.without_side_effects(tenant="other")
    assert "web_search" in {s.name for s in registry.specs()}, "the API still lists it"
    reason = registry.why_unavailable("web_search", "other")
    assert reason is not None and "AIOS_WEB_SEARCH_PROVIDER" in reason
