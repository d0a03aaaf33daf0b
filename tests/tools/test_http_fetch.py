"""http_fetch against a local web site: readable main text with title, date and links, PDF text,
robots.txt, refusals (a redirect into the network, non-text, too large) and per-host politeness.

The site is reached as `localhost`, the one host allow-listed (AIOS_FETCH_ALLOW); its own address,
127.0.0.1, is not, so a redirect there is refused as any private address would be."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest

from activities.tools.registry import ToolContext, ToolServices
from activities.tools.web import http_fetch
from activities.web_pages import Politeness
from aios.config import Settings
from aios.errors import UserError
from tests.tools.scripted_http import Answer, Request, scripted_server

ARTICLE = b"""<!doctype html><html><head><title>Durable runs | Example Blog</title>
<meta property="article:published_time" content="2024-03-05T10:00:00Z"></head><body>
<nav><a href="/home">Home</a> <a href="/about">About us</a> <a href="/shop">Shop</a></nav>
<article><h1>How durable runs work</h1>
<p>AIOS keeps agent runs durable with Temporal workflows. Every step is an activity that is
retried under a policy, and a history is replayed after a crash, so nothing done is lost.</p>
<p>The <a href="https://docs.example.org/durability">durability guide</a> says more, and so does
the <a href="/faq">FAQ</a>, for readers who want the details of retries and timeouts.</p>
</article>
<footer>Copyright 2024 Example Blog. Cookie settings. <a href="/privacy">Privacy</a></footer>
</body></html>"""


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def site(port: list[int]) -> Any:
    def answer(request: Request) -> Answer:
        html = {"Content-Type": "text/html; charset=utf-8"}
        return {
            "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /x/\n"),
            "/post": (200, html, ARTICLE),
            "/paper.pdf": (200, {"Content-Type": "application/pdf"}, tiny_pdf("Quarterly results")),
            "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n\x00\x00"),
            "/huge": (200, {"Content-Type": "text/plain"}, b"a" * 5000),
            "/x/secret": (200, html, b"<p>crawlers keep out</p>"),
            "/away": (302, {"Location": f"http://127.0.0.1:{port[0]}/post"}, b""),
            "/moved": (301, {"Location": "/x/secret"}, b""),
        }.get(request.path, (404, {}, b"no"))

    return answer


def ctx(tmp_path: Path, **settings: Any) -> ToolContext:
    configured = Settings(
        environment="test",
        data_dir=tmp_path,
        fetch_allow=["localhost"],
        fetch_domain_delay_s=0,
        **settings,
    )
    return ToolContext(
        tenant="default",
        user_id="ada",
        run_id="run-f",
        step_id="read",
        idempotency_key="run-f/read",
        pool=cast(asyncpg.Pool, None),  # http_fetch keeps no rows
        services=ToolServices(settings=configured),
    )


async def fetch(context: ToolContext, url: str) -> dict[str, Any]:
    output = await http_fetch.fn(http_fetch.args_model.model_validate({"url": url}), context)
    return cast(dict[str, Any], output.model_dump(mode="json"))


async def test_a_page_reads_as_its_main_text_with_title_date_and_links(tmp_path: Path) -> None:
    port: list[int] = []
    with scripted_server(site(port), host="localhost") as (base, requests):
        port.append(int(base.rsplit(":", 1)[1]))
        context = ctx(tmp_path, fetch_max_bytes=4096)
        page = await fetch(context, f"{base}/post")
        pdf = await fetch(context, f"{base}/paper.pdf")
        refusals = {}
        for path in ("/x/secret", "/moved", "/away", "/logo.png", "/huge"):
            with pytest.raises(UserError) as caught:
                await fetch(context, f"{base}{path}")
            refusals[path] = caught.value.message
    assert page["title"] == "How durable runs work" and page["date"] == "2024-03-05"
    assert "replayed after a crash" in page["text"] and "durability guide" in page["text"]
    for boilerplate in ("About us", "Cookie settings", "Privacy", "[", "]("):
        assert boilerplate not in page["text"]
    assert page["links"] == [
        {"url": "https://docs.example.org/durability", "text": "durability guide"},
        {"url": f"{base}/faq", "text": "FAQ"},
    ]
    assert page["content_type"].startswith("text/html") and not page["truncated"]
    assert "Quarterly results" in pdf["text"]
    assert "disallowed by" in refusals["/x/secret"] and "robots.txt" in refusals["/x/secret"]
    assert "redirected from" in refusals["/moved"] and "robots.txt" in refusals["/moved"]
    assert "127.0.0.1" in refusals["/away"] and "not a public address" in refusals["/away"]
    assert "not a text document (image/png)" in refusals["/logo.png"]
    assert "larger than 4096 bytes" in refusals["/huge"]
    # robots.txt was read once for the host; the refused page and the redirect target never were.
    paths = [r.path for r in requests]
    assert paths.count("/robots.txt") == 1 and "/x/secret" not in paths
    assert all(r.headers["host"].startswith("localhost") for r in requests)


async def test_robots_txt_is_not_asked_when_an_operator_turns_it_off(tmp_path: Path) -> None:
    with scripted_server(site([0]), host="localhost") as (base, requests):
        page = await fetch(ctx(tmp_path, fetch_robots_txt=False), f"{base}/x/secret")
    assert "crawlers keep out" in page["text"] and [r.path for r in requests] == ["/x/secret"]


async def test_one_host_gets_a_few_requests_at_a_time_spaced_by_the_delay() -> None:
    slept: list[float] = []
    now = [100.0]

    async def sleep(seconds: float) -> None:  # a clock that moves only when slept on
        slept.append(seconds)
        now[0] += seconds

    polite = Politeness(clock=lambda: now[0], sleep=sleep)
    inside: list[str] = []
    release = asyncio.Event()

    async def visit(name: str, host: str) -> None:
        async with polite.slot(host, delay_s=2.0, concurrency=1):
            inside.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(visit("first", "a.example"))
    second = asyncio.create_task(visit("second", "a.example"))
    other = asyncio.create_task(visit("other", "b.example"))
    await asyncio.wait({other})
    assert inside == ["first", "other"]  # the second waits for the first; another host does not
    release.set()
    await asyncio.gather(first, second)
    assert inside == ["first", "other", "second"] and slept == [2.0]
