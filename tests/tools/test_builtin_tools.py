"""The built-in tools against real peers: an HTTP server, an SMTP server (aiosmtpd), PostgreSQL,
the knowledge base, and the run's files (escapes refused)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from activities.tools.data import evaluate
from activities.tools.registry import Tool, ToolContext, ToolServices
from aios.config import Settings
from aios.errors import AiosError, ConfigurationError, NotFound, UserError
from tests.conftest import Stack
from tests.knowledge.test_parts import http_server


def context(
    settings: Settings, pool: asyncpg.Pool, key: str = "run-t/step", **services: Any
) -> ToolContext:
    return ToolContext(
        tenant="default",
        user_id="ada",
        run_id=key.split("/")[0],
        step_id="step",
        idempotency_key=key,
        pool=pool,
        services=ToolServices(settings=settings, **services),
    )


async def call(tool: Tool, ctx: ToolContext, **args: Any) -> Any:
    output = await tool.fn(tool.args_model.model_validate(args), ctx)
    return output.model_dump(mode="json") if hasattr(output, "model_dump") else output


# --- calculator ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(17.5 * 4) / 2", 35.0),
        ("2 ** 10", 1024),
        ("-3 % 5", 2),
        ("sqrt(16) + max(1, 2)", 6.0),
        ("round(pi, 3)", 3.142),
    ],
)
def test_calculator_computes(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("__import__('os').system('id')", "not allowed"),
        ("().__class__", "not allowed"),
        ("'a' * 3", "not allowed"),
        ("9 ** 9 ** 9", "exponents"),
        ("1 / 0", "division by zero"),
        ("x + 1", "not allowed"),
        ("1 +", "not an arithmetic"),
        ("sqrt(-1)", "cannot compute"),
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str, words: str) -> None:
    with pytest.raises(UserError, match=words):
        evaluate(expression)


# --- files --------------------------------------------------------------------------------------


async def test_files_are_the_runs_own_and_stay_in_the_store(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    from activities.tools.files import file_list, file_read, file_write

    ctx = context(settings, pool)
    written = await call(file_write, ctx, path="notes/plan.md", text="# Plan\nship it")
    assert written == {"path": "notes/plan.md", "bytes": 14}
    assert (await call(file_read, ctx, path="./notes//plan.md"))["text"] == "# Plan\nship it"
    listing = await call(file_list, ctx)
    assert [f["path"] for f in listing["files"]] == ["notes", "notes/plan.md"]
    assert [f["path"] for f in (await call(file_list, ctx, path="notes"))["files"]] == [
        "notes/plan.md"
    ]
    other_run = context(settings, pool, key="run-u/step")
    with pytest.raises(NotFound):
        await call(file_read, other_run, path="notes/plan.md")
    # Nothing on the worker's disk, and no path leads out of the run's files.
    assert not (settings.resolved_data_dir / "workspaces").exists()
    for path in ["../secret.txt", "/etc/passwd", "notes/../../x", "a\\..\\b", "."]:
        with pytest.raises(UserError):
            await call(file_read, ctx, path=path)
        with pytest.raises(UserError):
            await call(file_write, ctx, path=path, text="x")


# --- web ----------------------------------------------------------------------------------------


async def test_http_fetch_reads_pages_only_where_allowed(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    from activities.tools.web import http_fetch

    routes = {
        "/page": (
            200,
            {"Content-Type": "text/html"},
            b"<title>T</title><h1>Hi</h1><p>Body text.</p>",
        )
    }
    with http_server(routes) as base:
        with pytest.raises(UserError, match="not a public address"):
            await call(http_fetch, context(settings, pool), url=f"{base}/page")
        allowed = settings.model_copy(update={"fetch_allow": ["127.0.0.1"]})
        page = await call(http_fetch, context(allowed, pool), url=f"{base}/page")
    # The readable title: the page's one heading rather than its <title> (trafilatura's choice).
    assert page["title"] == "Hi" and "Body text." in page["text"] and not page["truncated"]


async def test_web_search_without_a_provider_does_not_answer_from_the_knowledge_base(
    stack: Stack,
) -> None:
    """No provider: the tool says web search is unavailable (providers: test_web_search.py),
    and the knowledge base stays reachable through its own tool."""
    from activities.tools import build_registry
    from activities.tools.web import web_search
    from tests.helpers import docs_files, ingest_files

    await ingest_files(stack.client, stack.settings.task_queue, stack.pool, docs_files())
    ctx = context(stack.settings, stack.pool, knowledge=stack.resources.index)
    with pytest.raises(ConfigurationError, match="web search is unavailable"):
        await call(web_search, ctx, query="how do approvals work", k=2)
    found = await call(build_registry().get("rag_search"), ctx, query="how do approvals work")
    assert "approvals.md" in json.dumps(found)


async def test_webhook_posts_once_per_step(settings: Settings, pool: asyncpg.Pool) -> None:
    import http.server
    import threading

    received: list[tuple[str, bytes]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Idempotency-Key"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from activities.tools.web import webhook

    allowed = settings.model_copy(update={"fetch_allow": ["127.0.0.1"]})
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        first = await call(
            webhook, context(allowed, pool, key="run-w/hook"), url=url, payload={"a": 1}
        )
        again = await call(
            webhook, context(allowed, pool, key="run-w/hook"), url=url, payload={"a": 1}
        )
    finally:
        server.shutdown()
    assert first["status"] == "delivered" and again["replayed"] is True
    assert received == [("run-w/hook", b'{"a":1}')]
    with pytest.raises(UserError, match="not a public address"):
        await call(webhook, context(settings, pool, key="run-w/2"), url=url, payload={})


# --- email --------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    from aiosmtpd.controller import Controller

    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, messages
    controller.stop()


async def test_send_email_sends_once_with_a_stable_message_id(
    settings: Settings, pool: asyncpg.Pool, smtp_server: tuple[int, list[Any]]
) -> None:
    from activities.tools.mail import send_email

    port, messages = smtp_server
    configured = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "aios@example.com"}
    )
    args = {"to": ["ada@example.com"], "subject": "Report", "body": "It is done."}
    sent = await call(send_email, context(configured, pool, key="run-m/mail"), **args)
    again = await call(send_email, context(configured, pool, key="run-m/mail"), **args)
    assert again["replayed"] is True and again["message_id"] == sent["message_id"]
    assert len(messages) == 1
    assert messages[0].rcpt_tos == ["ada@example.com"]
    assert b"Subject: Report" in messages[0].content and b"It is done." in messages[0].content
    with pytest.raises(AiosError, match="AIOS_SMTP_HOST"):
        await call(send_email, context(settings, pool, key="run-m/2"), **args)
    assert send_email.requires_approval and send_email.side_effects == "writes"


# --- SQL ----------------------------------------------------------------------------------------


async def test_sql_query_reads_and_never_writes(
    settings: Settings, pool: asyncpg.Pool, pg_url: str
) -> None:
    from activities.tools.data import sql_query

    await pool.execute(
        "DROP TABLE IF EXISTS tool_orders; CREATE TABLE tool_orders (id int, total numeric);"
        "INSERT INTO tool_orders SELECT g, g * 10 FROM generate_series(1, 5) g"
    )
    configured = settings.model_copy(update={"sql_sources": {"shop": SecretStr(pg_url)}})
    ctx = context(configured, pool)
    answer = await call(
        sql_query,
        ctx,
        database="shop",
        query="SELECT id, total FROM tool_orders ORDER BY id",
        max_rows=3,
    )
    assert answer["columns"] == ["id", "total"] and answer["truncated"] is True
    assert answer["rows"] == [
        {"id": 1, "total": "10"},
        {"id": 2, "total": "20"},
        {"id": 3, "total": "30"},
    ]
    with pytest.raises(UserError, match="read-only"):
        await call(sql_query, ctx, database="shop", query="DELETE FROM tool_orders")
    with pytest.raises(UserError, match="no SQL source named 'nope'"):
        await call(sql_query, ctx, database="nope", query="SELECT 1")
    assert await pool.fetchval("SELECT count(*) FROM tool_orders") == 5


def test_the_registry_lists_every_builtin() -> None:
    from activities.tools import build_registry

    names = build_registry().names()
    assert {
        "http_fetch",
        "web_search",
        "file_read",
        "file_write",
        "file_list",
        "sql_query",
        "rag_search",
        "memory_read",
        "memory_write",
        "calculator",
        "send_email",
        "webhook",
        "publish_report",
    } <= names
    registry = build_registry()
    assert (
        registry.get("send_email").requires_approval and registry.get("webhook").requires_approval
    )
    assert registry.get("calculator").side_effects == "none"
    assert registry.get("http_fetch").side_effects == "reads"
