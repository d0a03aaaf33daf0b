"""publish_report's destinations, against real peers: an S3 bucket on moto's server (the real S3
protocol, signed by boto3), a mail server (aiosmtpd) and a webhook receiver. Each destination takes
a report once, even when the publish is retried because another destination failed; secrets are
never in what the step reports."""

from __future__ import annotations

import email
import email.policy
import io
import json
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import boto3
import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from activities.tools import build_registry
from aios.config import ReportDestinations, Settings
from aios.errors import ConfigurationError, TransientError
from tests.tools.test_builtin_tools import call, context

BUCKET = "aios-reports"
KEY_ID, KEY_SECRET = "AKIAREPORTS", "s3-secret-never-echoed"
HOOK_SECRET = "hook-secret-never-echoed"
publish_report = build_registry().get("publish_report")
BODY = (
    "## Findings\n\nAI funding rose in 2026 [1].\n\n"
    "> “Investors poured $40B into AI start-ups” — https://news.example/funding\n"
)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """moto's S3 server on a loopback port, with a versioned bucket (each upload is a version,
    so uploading twice shows)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = _client(url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield url
    server.stop()


def _client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=KEY_SECRET,
    )


class Mailbox:
    """A mail server that answers 451 (try later) to the first `busy` messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.busy = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks?token=in-the-url", posts
    server.shutdown()


def _configured(settings: Settings, destinations: dict[str, Any], port: int) -> Settings:
    return settings.model_copy(
        update={
            "report_destinations": {
                tenant: ReportDestinations.model_validate(d) for tenant, d in destinations.items()
            },
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_from": "aios@acme.example",
        }
    )


def _versions(url: str, key: str) -> int:
    listed = _client(url).list_object_versions(Bucket=BUCKET, Prefix=key)
    return len(listed.get("Versions", []))


async def test_a_report_reaches_each_destination_once_through_a_retry(
    settings: Settings,
    pool: asyncpg.Pool,
    s3_url: str,
    mailbox: tuple[int, Mailbox],
    hooks: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    port, box = mailbox
    hook_url, posts = hooks
    configured = _configured(
        settings,
        {
            "default": {
                "webhook": {"url": hook_url, "secret": HOOK_SECRET},
                "s3": {
                    "bucket": BUCKET,
                    "prefix": "acme/",
                    "endpoint_url": s3_url,
                    "access_key_id": KEY_ID,
                    "secret_access_key": KEY_SECRET,
                },
                "email": {"to": ["board@acme.example", "cfo@acme.example"]},
            }
        },
        port,
    )
    ctx = context(configured, pool, key="run-dest1/publish")
    args = {"title": "AI funding trends", "body": BODY}

    # The mail server is busy: the webhook and the bucket took the report, the step is retried.
    box.busy = 1
    with pytest.raises(TransientError, match="did not take the report"):
        await call(publish_report, ctx, **args)
    assert len(posts) == 1 and _versions(s3_url, "acme/rpt-dest1.md") == 1 and not box.messages

    # The retry mails it and does not post or upload again; a repeat of the step is a replay.
    first = await call(publish_report, ctx, **args)
    again = await call(publish_report, ctx, **args)
    assert again["replayed"] is True
    assert len(posts) == 1 and len(box.messages) == 1
    assert all(_versions(s3_url, f"acme/rpt-dest1.{fmt}") == 1 for fmt in ("md", "html", "pdf"))
    assert first["delivered_to"] == ["webhook", "s3", "email"]
    by_kind = {d["destination"]: d for d in first["deliveries"]}
    assert by_kind["webhook"]["earlier"] and by_kind["s3"]["earlier"]
    assert by_kind["s3"]["keys"] == [
        "acme/rpt-dest1.md",
        "acme/rpt-dest1.html",
        "acme/rpt-dest1.pdf",
    ]
    assert by_kind["email"]["recipients"] == 2
    shown = json.dumps(first)
    for secret in (KEY_SECRET, HOOK_SECRET, "in-the-url"):
        assert secret not in shown

    # What each destination holds: the Markdown and a PDF with the title and the cited page.
    s3 = _client(s3_url)
    md = s3.get_object(Bucket=BUCKET, Key="acme/rpt-dest1.md")
    assert md["Body"].read().decode() == BODY and md["ContentType"].startswith("text/markdown")
    pdf = s3.get_object(Bucket=BUCKET, Key="acme/rpt-dest1.pdf")["Body"].read()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "AI funding trends" in text and "https://news.example/funding" in text
    [message] = box.messages
    assert message["Subject"] == "Report: AI funding trends"
    assert message["To"] == "board@acme.example, cfo@acme.example"
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(attached) == {"rpt-dest1.pdf", "rpt-dest1.md"}
    assert attached["rpt-dest1.pdf"].get_content_type() == "application/pdf"
    # (mail carries lines as CRLF)
    assert attached["rpt-dest1.md"].get_content().replace("\r\n", "\n") == BODY
    [(headers, body)] = posts
    assert json.loads(body)["links"]["pdf"] == "/v1/reports/rpt-dest1.pdf"
    assert headers["x-aios-signature"].startswith("sha256=")


async def test_destinations_are_the_tenants_own_and_a_bad_bucket_says_so(
    settings: Settings, pool: asyncpg.Pool, s3_url: str, mailbox: tuple[int, Mailbox]
) -> None:
    port, box = mailbox
    sent = len(box.messages)
    configured = _configured(
        settings,
        {
            "acme": {"email": {"to": ["board@acme.example"]}},
            "default": {
                "s3": {
                    "bucket": "no-such-bucket",
                    "endpoint_url": s3_url,
                    "access_key_id": KEY_ID,
                    "secret_access_key": KEY_SECRET,
                }
            },
        },
        port,
    )
    # Another tenant's destinations are not this tenant's; with none of its own, nothing goes.
    ctx = context(configured, pool, key="run-dest2/publish")
    ctx = type(ctx)(**{**ctx.__dict__, "tenant": "globex"})
    published = await call(publish_report, ctx, title="Q3", body="Quiet quarter.")
    assert published["delivered_to"] == [] and len(box.messages) == sent

    # A bucket that does not exist is the operator's to fix: not retried, and no secret shown.
    bad = context(configured, pool, key="run-dest3/publish")
    with pytest.raises(ConfigurationError, match="no-such-bucket") as failed:
        await call(publish_report, bad, title="Q", body="x")
    assert KEY_SECRET not in str(failed.value) and "NoSuchBucket" in str(failed.value)
