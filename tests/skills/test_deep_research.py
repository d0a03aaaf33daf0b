"""deep_research end to end through Temporal and the API: the scripted model proposes questions,
a scripted SearXNG answers them with pages of a local site (boilerplate around the article, one
page robots.txt forbids), each page is read once, the notes keep verbatim quotes as run files, a
follow-up round runs, and the report cites the pages by URL with their quotes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import ReportDestinations, Settings
from aios.vocabulary import RunEventType
from tests.conftest import Stack, api_client, app_for, running_stack
from tests.helpers import assert_problem, wait_done
from tests.reports.test_reports import (  # noqa: F401  (receiver: a local webhook receiver)
    SECRET,
    Receiver,
    _finished,
    _report_of,
    receiver,
)
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from tests.tools.scripted_http import Answer, Request, scripted_server
from workers.main import build_worker

ARTICLES = {
    "/funding": (
        "AI funding in 2026",
        "AI startups raised 100 billion dollars in 2026. Most of it went to model builders.",
    ),
    "/sectors": (
        "Which sectors led",
        "Foundation models led the funding. Robotics came second with a quarter of the deals.",
    ),
    "/investors": (
        "The investors",
        "Three sovereign funds were the biggest investors. They wrote cheques above a billion.",
    ),
}
# Paths the site answers slowly (a read still under way when the worker stops).
slow: list[str] = []
BOILERPLATE = "<nav>Home | About | Subscribe to our newsletter</nav><footer>Cookie policy</footer>"


def _page(title: str, text: str) -> bytes:
    return (
        f"<html><head><title>{title}</title></head><body>{BOILERPLATE}"
        f"<article><h1>{title}</h1><p>{text}</p><p>{text}</p></article>{BOILERPLATE}</body></html>"
    ).encode()


@pytest.fixture
def site() -> Iterator[tuple[str, list[Request]]]:
    base: list[str] = []

    def answer(request: Request) -> Answer:
        html = {"Content-Type": "text/html; charset=utf-8"}
        if request.path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n"
        if request.path == "/search":  # SearXNG's JSON API
            query = request.query.get("q", [""])[0].lower()
            paths = ["/investors"] if "investor" in query else ["/funding", "/sectors"]
            if "sector" in query:
                paths.append("/private/leak")
            results = [
                {"title": ARTICLES.get(p, ("Private", ""))[0], "url": base[0] + p, "content": ""}
                for p in paths
            ]
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({"results": results}).encode(),
            )
        if request.path in ARTICLES:
            if request.path in slow:
                time.sleep(2)
            return 200, html, _page(*ARTICLES[request.path])
        return 404, html, b"not here"

    with scripted_server(answer) as (url, seen):
        base.append(url)
        yield url, seen
    slow.clear()


@pytest.fixture
async def research_api(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    site: tuple[str, list[Request]],
    receiver: Receiver,  # noqa: F811
) -> AsyncIterator[tuple[httpx.AsyncClient, Stack]]:
    configured = settings.model_copy(
        update={
            "fetch_allow": ["127.0.0.1"],
            "web_search_provider": "searxng",
            "web_search_url": f"{site[0]}/search",
            # The tenant's published reports go to a local webhook, signed.
            "report_destinations": {
                "default": ReportDestinations.model_validate(
                    {"webhook": {"url": receiver.url, "secret": SECRET}}
                )
            },
        }
    )
    async with (
        running_stack(configured, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        yield api, stack


async def test_deep_research_reads_each_page_once_and_cites_it_with_quotes(
    research_api: tuple[httpx.AsyncClient, Stack],
    site: tuple[str, list[Request]],
    fake_openai: FakeOpenAI,
) -> None:
    api, _stack = research_api
    base, seen = site
    fake_openai.queue(
        ScriptedReply(content=json.dumps({"questions": ["AI funding 2026", "Leading sectors"]})),
        ScriptedReply(content=json.dumps({"questions": ["Biggest investors"]})),
        ScriptedReply(content="1. Funding\n2. Sectors\n3. Investors"),
        ScriptedReply(
            content="AI startups raised 100 billion dollars [1]. Foundation models led [2]. "
            "Sovereign funds invested most [3]."
        ),
    )
    created = await api.post(
        "/v1/skills/deep_research/runs",
        json={"inputs": {"topic": "Analyze recent AI funding trends", "depth": 2}},
    )
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    run = await wait_done(api, run_id)
    assert run["status"] == "completed", run.get("error")
    assert [s["id"] for s in run["plan"]] == ["research", "outline", "report"]

    served = await api.get(f"/v1/runs/{run_id}/steps/research/output")
    research: dict[str, Any] = served.json()["output"]
    assert research["questions"] == ["AI funding 2026", "Leading sectors", "Biggest investors"]
    assert research["stopped"] == "depth" and research["rounds"] == 2
    assert sorted(research["read"]) == sorted(f"{base}{p}" for p in ARTICLES)
    [skipped] = research["skipped"]
    assert skipped["url"] == f"{base}/private/leak" and "robots" in skipped["reason"]
    # Every page was fetched once, though two questions found /funding and /sectors.
    fetched = Counter(r.path for r in seen if r.path in ARTICLES or r.path.startswith("/private"))
    assert fetched == {p: 1 for p in ARTICLES}

    # Notes: verbatim sentences of the pages (not their navigation), kept as the run's files.
    quotes = [q["text"] for s in research["sources"] for q in s["quotes"]]
    assert "AI startups raised 100 billion dollars in 2026." in quotes
    assert not any("newsletter" in q for q in quotes)
    files = {f["path"] for f in (await api.get(f"/v1/runs/{run_id}/files")).json()["files"]}
    assert files == {"research/notes-1.md", "research/notes-2.md"}
    notes = (await api.get(f"/v1/runs/{run_id}/files/research/notes-2.md")).text
    assert "> Three sovereign funds were the biggest investors." in notes

    # The report cites the pages by URL, with their quotes, and is a downloadable report.
    answer = run["result"]["answer"]
    cited = {c["source"] for c in run["result"]["citations"]}
    assert cited == {f"{base}{p}" for p in ARTICLES}
    assert "Foundation models led the funding." in answer
    report = await _report_of(api, run_id)
    markdown = await api.get(f"/v1/reports/{report['report_id']}.md")
    assert markdown.status_code == 200 and f"{base}/investors" in markdown.text

    # Progress was in the run's events while it ran.
    phases: list[str] = []
    async with api.stream("GET", f"/v1/runs/{run_id}/events") as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == RunEventType.RESEARCH_PROGRESS:
                phases.append(json.loads(line[5:])["data"]["phase"])
            elif line.startswith("data:") and kind == RunEventType.RUN_FINISHED:
                break
    assert phases.count("read") == 3 and "skipped" in phases and phases[-1] == "done"


async def test_a_worker_stopped_mid_research_does_not_read_a_page_again(
    research_api: tuple[httpx.AsyncClient, Stack],
    site: tuple[str, list[Request]],
    fake_openai: FakeOpenAI,
) -> None:
    """The worker goes away while the first round reads its pages (one read done, one slow one
    under way) and another takes over: what was read is not read again."""
    api, stack = research_api
    _base, seen = site
    slow.append("/sectors")
    fake_openai.queue(
        ScriptedReply(content=json.dumps({"questions": ["AI funding 2026"]})),
        ScriptedReply(content=json.dumps({"questions": []})),
        ScriptedReply(content="1. Funding"),
        ScriptedReply(content="AI startups raised 100 billion dollars [1]."),
    )
    created = await api.post(
        "/v1/skills/deep_research/runs", json={"inputs": {"topic": "AI funding", "depth": 2}}
    )
    run_id = created.json()["run_id"]
    for _ in range(300):
        paths = [r.path for r in seen]
        if "/funding" in paths and "/sectors" in paths:
            break
        await asyncio.sleep(0.05)
    await stack.worker.shutdown()
    async with build_worker(stack.client, stack.resources):
        run = await wait_done(api, run_id)
    assert run["status"] == "completed", run.get("error")
    fetched = Counter(r.path for r in seen if r.path in ARTICLES)
    assert fetched["/funding"] == 1, "a page read before the worker stopped is not read again"
    assert fetched["/sectors"] >= 1


async def test_analyze_recent_ai_funding_trends_is_researched_on_the_web_and_published(
    research_api: tuple[httpx.AsyncClient, Stack],
    site: tuple[str, list[Request]],
    fake_openai: FakeOpenAI,
    receiver: Receiver,  # noqa: F811
) -> None:
    """The issue's done-when: with a search provider configured, the plain goal (no skill named)
    is planned as deep research, says why, cites the outside pages with their quotes, can be
    downloaded, and reaches the webhook only after its approval."""
    api, _stack = research_api
    base, _seen = site
    receiver.posts.clear()
    fake_openai.queue(
        ScriptedReply(content=json.dumps({"questions": ["AI funding 2026", "Biggest investors"]})),
        ScriptedReply(content="1. Funding\n2. Sectors\n3. Investors"),
        ScriptedReply(
            content="AI startups raised 100 billion dollars [1]. Foundation models led [2]. "
            "Sovereign funds invested most [3]."
        ),
    )
    goal = "Analyze recent AI funding trends"
    created = await api.post(
        "/v1/runs", json={"goal": goal, "inputs": {"depth": 1, "publish": True}}
    )
    assert created.status_code == 202, created.text
    run = await _finished(api, created.json()["run_id"], "awaiting_approval", "failed")
    assert run["status"] == "awaiting_approval", run.get("error")
    assert [s["id"] for s in run["plan"]] == ["research", "outline", "report", "publish"]
    trace = (await api.get(f"/v1/runs/{run['run_id']}/trace")).json()
    rationale = json.dumps(trace)
    assert "deep_research" in rationale and "web search provider" in rationale
    listed = {s["name"]: s for s in (await api.get("/v1/skills")).json()["skills"]}
    assert listed["deep_research"]["web_triggers"], "the rule is there to read"
    [pending] = run["pending_approvals"]
    assert pending["step_id"] == "publish" and not receiver.posts

    answered = await api.post(
        f"/v1/runs/{run['run_id']}/approvals/{pending['approval_id']}",
        json={"decision": "approve", "args_hash": pending["args_hash"]},
    )
    assert answered.status_code == 200, answered.text
    run = await wait_done(api, run["run_id"])
    assert run["status"] == "completed", run.get("error")

    # Outside pages cited by URL, with verbatim quotes in the answer.
    cited = {c["source"] for c in run["result"]["citations"]}
    assert cited == {f"{base}{p}" for p in ARTICLES}
    answer = run["result"]["answer"]
    assert "AI startups raised 100 billion dollars in 2026." in answer
    assert "Three sovereign funds were the biggest investors." in answer

    # Downloadable: Markdown and a PDF holding the title and a cited URL.
    report = await _report_of(api, run["run_id"])
    assert report["published_at"] is not None
    markdown = (await api.get(f"/v1/reports/{report['report_id']}.md")).text
    assert f"{base}/funding" in markdown
    pdf = await api.get(report["links"]["pdf"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert goal in text and f"{base}/investors" in text.replace("\n", "")

    # Published to the webhook once, after the approval, signed.
    [(headers, body)] = receiver.posts
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-aios-signature"] == expected
    delivered = json.loads(body)
    assert delivered["run_id"] == run["run_id"] and delivered["title"] == goal
    assert f"{base}/funding" in delivered["markdown"]


async def test_a_research_step_with_bad_arguments_is_refused_before_it_runs(
    api: httpx.AsyncClient,
) -> None:
    """A client's research step, or deep_research's inputs, out of bounds: 422 naming them, and
    no run is started."""
    research: dict[str, Any] = {"id": "dig", "kind": "research", "args": {"question": "AI funding"}}
    for args, words in (
        ({"depth": 9}, ("dig", "depth")),
        ({"max_pages": -1}, ("dig", "max_pages")),
        ({"pages": 3}, ("dig", "pages")),
        ({"question": "x" * 4001}, ("dig", "question")),
    ):
        step = {**research, "args": {**research["args"], **args}}
        refused = await api.post("/v1/runs", json={"goal": "AI funding", "plan": {"steps": [step]}})
        assert_problem(refused, 422, *words)
    refused = await api.post(
        "/v1/skills/deep_research/runs", json={"inputs": {"topic": "AI funding", "breadth": 99}}
    )
    assert_problem(refused, 422, "breadth")


async def test_a_follow_up_search_that_would_carry_the_users_facts_is_withheld(
    research_api: tuple[httpx.AsyncClient, Stack],
    site: tuple[str, list[Request]],
    fake_openai: FakeOpenAI,
) -> None:
    """Follow-up questions are written from what the pages said (untrusted): a page that talks
    the model into searching for the user's salary gets no such search sent to the provider; it
    is withheld, said so in the run's progress, and the research goes on (issue 23: the research
    step was the one way out that was not checked)."""
    api, stack = research_api
    _, seen = site
    from aios.approval_policies import DEV_TENANT, DEV_USER
    from aios.stores.memory import UserFact, UserFactStore

    await UserFactStore(stack.pool).upsert(DEV_TENANT, DEV_USER, [UserFact("salary", "93217")])
    leak = "AI salary benchmark 93217"
    fake_openai.queue(
        ScriptedReply(content=json.dumps({"questions": ["AI funding 2026"]})),
        ScriptedReply(content=json.dumps({"questions": [leak, "Biggest investors"]})),
        ScriptedReply(content="1. Funding\n2. Investors"),
        ScriptedReply(content="AI startups raised 100 billion dollars [1]."),
    )
    created = await api.post(
        "/v1/skills/deep_research/runs",
        json={"inputs": {"topic": "AI funding in 2026", "depth": 2}},
    )
    assert created.status_code == 202, created.text
    run = await wait_done(api, created.json()["run_id"])
    assert run["status"] == "completed", run.get("error")

    searched = [r.query.get("q", [""])[0] for r in seen if r.path == "/search"]
    assert "Biggest investors" in searched and not any("93217" in q for q in searched), searched
    withheld: list[dict[str, Any]] = []
    async with api.stream("GET", f"/v1/runs/{run['run_id']}/events") as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == RunEventType.RESEARCH_PROGRESS:
                data = json.loads(line[5:])["data"]
                if data["phase"] == "withheld":
                    withheld.append(data)
            elif line.startswith("data:") and kind == RunEventType.RUN_FINISHED:
                break
    [event] = withheld
    assert event["question"] == leak and event["round"] == 2
    assert "the user's fact 'salary'" in event["reason"], event["reason"]
