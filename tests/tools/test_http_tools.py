"""HTTP tools declared in YAML: loaded into the registry, validated, called with their secret from
the environment, and never called twice by a retried step."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.tools import build_registry
from aios.errors import ConfigurationError
from tests.conftest import Stack
from tests.helpers import finish, start_plan
from tests.tools.test_builtin_tools import call, context

TOOLS_YAML = """
tools:
  - name: create_ticket
    description: Open a ticket in the helpdesk.
    endpoint: {base}/tickets
    method: POST
    input_schema:
      type: object
      properties:
        title: {{type: string, description: What is wrong}}
        priority: {{type: string, enum: [low, high], default: low}}
      required: [title]
    auth: {{header: Authorization, env: HELPDESK_TOKEN, prefix: "Bearer "}}
    side_effects: writes
  - name: lookup_user
    description: Find a user in the directory.
    endpoint: {base}/users
    method: GET
    input_schema:
      type: object
      properties:
        email: {{type: string}}
      required: [email]
"""


@pytest.fixture
def helpdesk() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            self._answer({"ticket": len(calls)}, 201)

        def do_GET(self) -> None:
            calls.append({"path": self.path, "headers": dict(self.headers)})
            self._answer(
                {"user": "ada"} if "ada" in self.path else {"error": "no"},
                200 if "ada" in self.path else 404,
            )

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()


async def test_yaml_tools_are_registered_validated_and_called_once(
    stack: Stack,
    helpdesk: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, calls = helpdesk
    path = tmp_path / "tools.yaml"
    path.write_text(TOOLS_YAML.format(base=base))
    registry = build_registry(tool_files=[path])
    ticket = registry.get("create_ticket")
    spec = ticket.spec()
    assert spec.side_effects == "writes" and spec.input_schema["required"] == ["title"]
    assert spec.input_schema["properties"]["priority"]["enum"] == ["low", "high"]
    with pytest.raises(Exception, match="priority"):
        ticket.args_model.model_validate({"title": "x", "priority": "urgent"})

    monkeypatch.setenv("HELPDESK_TOKEN", "s3cret")
    ctx = context(stack.settings, stack.pool, key="run-h/ticket")
    first = await call(ticket, ctx, title="Printer on fire")
    again = await call(ticket, ctx, title="Printer on fire")  # a retried step
    assert first == {"ticket": 1} and again == {"ticket": 1}
    assert len(calls) == 1
    assert calls[0]["body"] == {"title": "Printer on fire", "priority": "low"}
    assert calls[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert calls[0]["headers"]["Idempotency-Key"] == "run-h/ticket"

    lookup = registry.get("lookup_user")
    assert await call(lookup, ctx, email="ada@example.com") == {"user": "ada"}
    assert calls[-1]["path"] == "/users?email=ada%40example.com"
    with pytest.raises(Exception, match="HTTP 404"):
        await call(lookup, ctx, email="bob@example.com")

    monkeypatch.delenv("HELPDESK_TOKEN")
    with pytest.raises(ConfigurationError, match="HELPDESK_TOKEN"):
        await call(ticket, context(stack.settings, stack.pool, key="run-h/2"), title="x")


async def test_yaml_tools_run_in_plans(
    stack: Stack, helpdesk: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    base, calls = helpdesk
    path = tmp_path / "tools.yaml"
    path.write_text(TOOLS_YAML.format(base=base))
    for new in build_registry(tool_files=[path]).specs():
        if new.name == "lookup_user":
            stack.resources.registry.register(build_registry(tool_files=[path]).get("lookup_user"))
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "who", "kind": "tool", "tool": "lookup_user", "args": {"email": "ada@x.org"}}],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    assert calls[-1]["path"] == "/users?email=ada%40x.org"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tools: 3", "expected a top-level `tools:` list"),
        (
            "tools:\n  - name: Bad Name\n    description: d\n    endpoint: http://x",
            "tool 'Bad Name': name",
        ),
        ("tools:\n  - name: t\n    description: d\n    endpoint: ftp://x", "tool 't': endpoint"),
        (
            "tools:\n  - name: t\n    description: d\n    endpoint: http://x\n"
            "    input_schema: {type: object, properties: {a: {type: string, pattern: x}}}",
            "keywords not supported: pattern",
        ),
        ("tools: [", "cannot be read"),
    ],
)
def test_bad_tool_files_are_refused_naming_file_and_tool(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as error:
        build_registry(tool_files=[path])
    assert str(path) in error.value.message and words in error.value.message
