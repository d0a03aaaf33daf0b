"""Reports as artifacts: a report run's answer is kept as a report, listed by GET /v1/reports and
downloadable as Markdown, sanitized HTML and PDF, readable only by whoever may read its run;
publish_report delivers it once to the configured webhook (signed); `aios reports` lists it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pypdf import PdfReader

from aios.config import Settings
from aios.stores.reports import Report, ReportStore
from tests.conftest import AUTH, Stack, app_for, serving
from tests.helpers import aios, as_key, assert_problem, make_key

SECRET = "webhook-secret"


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver speaking plain HTTP on a loopback port."""
    posts: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/reports", posts)
    server.shutdown()


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={"report_webhook_url": receiver.url, "report_webhook_secret": SecretStr(SECRET)}
    )


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The API on a real port (the CLI runs as a separate process against it)."""
    async with (
        serving(app_for(stack)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client,
    ):
        yield url, client


async def _finished(api: httpx.AsyncClient, run_id: str, *statuses: str) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if body["status"] in statuses:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {statuses}: {body['status']}")


async def _report_of(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The run's entry in GET /v1/reports (kept by the run's last activity, just after it is
    seen completed)."""
    for _ in range(100):
        listed = (await api.get("/v1/reports")).json()["reports"]
        mine: list[dict[str, Any]] = [r for r in listed if r["run_id"] == run_id]
        if mine:
            return mine[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no report for {run_id}")


async def test_a_report_run_is_a_report_readable_by_who_reads_the_run(
    http: tuple[str, httpx.AsyncClient], stack: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    url, api = http
    # An empty knowledge base: the report has no sources and, before, ended in an empty
    # "## Key points by source".
    created = (await api.post("/v1/runs", json={"goal": "What is AIOS?"})).json()
    run = await _finished(api, created["run_id"], "completed", "failed")
    assert run["status"] == "completed", run.get("error")
    assert "Key points by source" not in run["result"]["answer"]
    assert not run["result"]["answer"].rstrip().endswith("#")

    listed = await _report_of(api, run["run_id"])
    assert listed["title"] == "What is AIOS?" and listed["published_at"] is None
    report_id = listed["report_id"]
    one = (await api.get(f"/v1/reports/{report_id}")).json()
    assert one["markdown"].strip() == run["result"]["answer"].strip()
    assert one["html"].startswith("<") and "<script" not in one["html"]

    md = await api.get(f"/v1/reports/{report_id}.md")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "attachment" in md.headers["content-disposition"] and md.text == one["markdown"]
    page = await api.get(f"/v1/reports/{report_id}.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>What is AIOS?</h1>" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    answer = await api.get(f"/v1/runs/{run['run_id']}/answer.html")
    assert answer.status_code == 200 and answer.text == one["html"]
    for fmt in ("docx", "txt"):
        assert_problem(await api.get(f"/v1/reports/{report_id}.{fmt}"), 406, f".{fmt}")
    assert not receiver.posts, "a report that was not published goes nowhere"

    # Who may read it: the run's user (the development key's), an operator of the tenant; not
    # another user of the tenant, nor anyone of another tenant (404, as if it did not exist).
    tenant, owner = run["tenant"], run["user_id"]
    other = f"other-{uuid.uuid4().hex[:8]}"
    keys = {
        "bob": as_key((await make_key(api, tenant, "bob"))["key"]),
        "olga": as_key((await make_key(api, tenant, "olga", roles=["operator"]))["key"]),
        "stranger": as_key((await make_key(api, other, owner, roles=["admin"]))["key"]),
    }
    reads = {
        who: [
            (await api.get(path, headers=key)).status_code
            for path in (
                f"/v1/reports/{report_id}",
                f"/v1/reports/{report_id}.md",
                f"/v1/reports/{report_id}.html",
            )
        ]
        for who, key in keys.items()
    }
    assert reads == {"bob": [404] * 3, "olga": [200] * 3, "stranger": [404] * 3}
    for who, key in keys.items():
        page = (await api.get("/v1/reports", headers=key)).json()
        ids = [r["report_id"] for r in page["reports"]]
        assert (report_id in ids) == (who == "olga"), who
    assert (await api.get(f"/v1/reports?user_id={owner}", headers=keys["bob"])).status_code == 404

    # The CLI lists it and downloads it.
    code, out, err = await aios(url, "reports")
    assert code == 0, err
    assert report_id in out and "What is AIOS?" in out
    code, out, err = await aios(url, "reports", report_id, "--download", "md", "-o", "-")
    assert code == 0 and out.strip() == one["markdown"].strip(), err
    saved = tmp_path / "report.pdf"
    code, out, err = await aios(url, "reports", report_id, "--download", "pdf", "-o", str(saved))
    assert code == 0 and f"wrote {saved}" in out, err
    pdf = PdfReader(io.BytesIO(saved.read_bytes()))
    assert "What is AIOS?" in pdf.pages[0].extract_text()


def _markup(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """The elements of `html` as a browser's parser sees them: (tag, attributes)."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(html)
    return found


async def test_a_hostile_report_is_sanitized(api: httpx.AsyncClient, stack: Stack) -> None:
    """Model-written text may carry markup meant for a reader's browser: it is shown, never run."""
    run_id = f"run-hostile-{uuid.uuid4().hex[:8]}"
    await ReportStore(stack.pool).save_run_report(
        Report(
            id=f"rpt-hostile-{uuid.uuid4().hex[:8]}",
            tenant="default",
            run_id=run_id,
            user_id="dev",  # the development key's user
            title='<script>alert("title")</script>',
            markdown=(
                "# Findings\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
                '<a href="javascript:alert(3)" onclick="alert(4)">raw</a> '
                "[click](javascript:alert(5)) [fine](https://example.com/a)\n\n## Empty\n"
            ),
        )
    )
    listed = (await api.get("/v1/reports")).json()["reports"]
    [report] = [r for r in listed if r["run_id"] == run_id]
    for path in (f"/v1/reports/{report['report_id']}.html", f"/v1/reports/{report['report_id']}"):
        text = (await api.get(path)).text
        body = text if path.endswith(".html") else json.loads(text)["html"]
        tags = _markup(body)
        assert not {"script", "img"} & {tag for tag, _ in tags}, tags
        attributes = {name: value for _, attrs in tags for name, value in attrs}
        assert not {"onerror", "onclick", "style"} & set(attributes), attributes
        assert not any("javascript" in (v or "") for _, a in tags for _, v in a), tags
        assert "&lt;script&gt;" in body, "the markup is shown as text"
        assert '<a href="https://example.com/a" rel="noopener noreferrer nofollow">fine</a>' in body
        assert "Empty" not in body, "a heading with nothing under it is dropped"

    # The PDF is drawn from the same sanitized HTML: its title and text are there, and its only
    # link goes where the safe one went (no javascript: action).
    pdf = await api.get(f"/v1/reports/{report['report_id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "".join(page.extract_text() for page in reader.pages)
    assert '<script>alert("title")</script>' in text and "Findings" in text
    links = [
        str(annot.get_object()["/A"].get("/URI"))
        for page in reader.pages
        for annot in page.get("/Annots", [])
        if "/A" in annot.get_object()
    ]
    assert links == ["https://example.com/a"], links

    # Any Markdown (a chat reply) is rendered the same way; too long a text is 422.
    rendered = await api.post("/v1/render/markdown", json={"markdown": "**hi** <script>x</script>"})
    assert rendered.json()["html"] == "<p><strong>hi</strong> &lt;script&gt;x&lt;/script&gt;</p>\n"
    too_long = await api.post("/v1/render/markdown", json={"markdown": "x" * 200_001})
    assert too_long.status_code == 422


async def test_publish_report_delivers_once_to_the_webhook(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.posts.clear()
    created = await api.post(
        "/v1/skills/research_report/runs",
        json={"inputs": {"topic": "How are pumps maintained?", "publish": True}},
    )
    assert created.status_code == 202, created.text
    run = await _finished(api, created.json()["run_id"], "awaiting_approval", "failed")
    [pending] = run["pending_approvals"]
    assert not receiver.posts, "nothing is delivered before the approval"
    answered = await api.post(
        f"/v1/runs/{run['run_id']}/approvals/{pending['approval_id']}",
        json={"decision": "approve", "args_hash": pending["args_hash"]},
    )
    assert answered.status_code == 200, answered.text
    run = await _finished(api, run["run_id"], "completed", "failed")
    assert run["status"] == "completed", run.get("error")

    [(headers, body)] = receiver.posts
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-aios-signature"] == expected and headers["idempotency-key"]
    delivered = json.loads(body)
    assert delivered["run_id"] == run["run_id"] and delivered["title"] == run["goal"]
    listed = await _report_of(api, run["run_id"])
    assert listed["published_at"] is not None and listed["report_id"] == delivered["report_id"]
    one = (await api.get(f"/v1/reports/{listed['report_id']}")).json()
    assert one["markdown"] == delivered["markdown"]
    # The run's completion keeps the approved text and adds nothing to the list.
    reports = (await api.get("/v1/reports")).json()["reports"]
    assert [r["run_id"] for r in reports].count(run["run_id"]) == 1
    assert len(receiver.posts) == 1
