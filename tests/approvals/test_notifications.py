"""When an approval opens, its approvers are told: an email through a real (local) SMTP server
and a JSON webhook to a local HTTP server, each once per approval, with a link that opens the run
in the console; a retried delivery sends nothing twice."""

from __future__ import annotations

import asyncio
import email
import email.policy
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from aios.config import Settings
from aios.notices import ApprovalNotice
from aios.plan import args_hash
from tests.approvals.test_approval_context import PLAN, awaiting
from tests.conftest import Stack
from tests.tools.test_builtin_tools import smtp_server  # noqa: F401  (a local SMTP server)

PUBLIC = "https://aios.acme.example"


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, Any]]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Idempotency-Key"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/approvals", received
    server.shutdown()


@pytest.fixture
def settings(
    settings: Settings,
    smtp_server: tuple[int, list[Any]],  # noqa: F811
    hook: tuple[str, list[Any]],
) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server[0],
            "smtp_from": "aios@acme.example",
            "notify_email_to": {"*": ["approvers@acme.example"]},
            "notify_webhook_urls": {"default": hook[0]},
            "public_url": PUBLIC,
        }
    )


async def test_approvers_are_told_once_by_email_and_webhook(
    api: httpx.AsyncClient,
    stack: Stack,
    smtp_server: tuple[int, list[Any]],  # noqa: F811
    hook: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    _, messages = smtp_server
    _, received = hook
    state = await awaiting(api, PLAN)
    run_id = state["run_id"]
    [pending] = state["pending_approvals"]
    for _ in range(300):
        if messages and received:
            break
        await asyncio.sleep(0.05)
    link = f"{PUBLIC}/#/runs/{run_id}"
    [mail] = messages
    assert mail.rcpt_tos == ["approvers@acme.example"]
    parsed = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert str(parsed["Subject"]).strip() == "Approval waiting: check the draft"
    text = parsed.get_content()
    assert link in text and f"aios approve {run_id} review-approval" in text
    assert "Output of draft (cut; the console shows more):" in text
    [(key, notice)] = received
    assert key == f"{run_id}/review-approval"
    assert notice["type"] == "approval.requested" and notice["link"] == link
    assert notice["run_id"] == run_id and notice["requester"] == "dev"
    assert notice["about"][0]["step_id"] == "draft"

    # A retried delivery (the same approval again) sends nothing twice.
    activities = ApprovalActivities(stack.pool, stack.settings)
    again = ApprovalNotice(
        tenant="default",
        run_id=run_id,
        goal="send the note",
        requester="dev",
        **{k: pending[k] for k in ("approval_id", "step_id", "reason", "args", "about")},
        requested_at=pending["requested_at"],
        expires_at=pending["expires_at"],
    )
    sent = await ActivityEnvironment().run(activities.notify_approval, again)
    assert sent.sent == [] and sorted(sent.already) == ["email", "webhook"]
    assert len(messages) == 1 and len(received) == 1

    url = f"/v1/runs/{run_id}/approvals/{pending['approval_id']}"
    ok = await api.post(url, json={"decision": "approve", "args_hash": pending["args_hash"]})
    assert ok.status_code == 200, ok.text
    assert pending["args_hash"] != args_hash({})


def test_an_escalated_group_gets_its_own_notice() -> None:
    from datetime import UTC, datetime

    from aios.notices import email_body

    now = datetime.now(UTC)
    notice = ApprovalNotice(
        tenant="acme",
        run_id="run-1",
        goal="g",
        requester="ada",
        approval_id="review-approval",
        step_id="review",
        reason="legal review",
        requested_at=now,
        expires_at=now,
        approvers=["role:operator"],
        escalation=1,
    )
    first = notice.model_copy(update={"escalation": 0})
    assert first.key == "run-1/review-approval"
    assert notice.key == "run-1/review-approval/escalation-1"  # not deduplicated away
    assert "For: role:operator (escalated, step 1)" in email_body(notice, "https://x/#/runs/run-1")
