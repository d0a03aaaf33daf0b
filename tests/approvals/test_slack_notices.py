"""Approvers told through a Slack incoming webhook: a local HTTP server speaking Slack's protocol
(a JSON `{"text", "blocks"}` POST answered `ok`, a refusal answered with its reason) gets the
notice once per approval, with a button that opens it in the console; text from the run cannot
ping a channel or make a link of its own."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from aios.config import Settings
from aios.models import ApprovalContext
from aios.notices import ApprovalNotice

PUBLIC = "https://aios.acme.example"


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class IncomingWebhook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.headers["Content-Type"].startswith("application/json")
            status, answer = (404, b"no_service") if "gone" in self.path else (200, b"ok")
            if status == 200:
                received.append(body)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IncomingWebhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/", received
    server.shutdown()


def _notice(tenant: str) -> ApprovalNotice:
    now = datetime.now(UTC)
    return ApprovalNotice(
        tenant=tenant,
        run_id=f"run-{uuid.uuid4().hex[:12]}",
        goal="Tell <!channel> about <https://evil.example|the offer>",
        requester="ada",
        approval_id="publish-approval",
        step_id="publish",
        reason="publishing makes the report visible",
        args={"title": "Q3"},
        about=[ApprovalContext(step_id="report", text="x" * 2000)],
        requested_at=now,
        expires_at=now,
    )


async def test_approvers_are_told_once_in_slack_with_a_link_to_the_console(
    settings: Settings, pool: asyncpg.Pool, slack: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = slack
    settings = settings.model_copy(
        update={
            "public_url": PUBLIC,
            "notify_slack_webhook_urls": {
                "acme": SecretStr(url + "secret"),
                "gone": SecretStr(url + "gone"),
            },
        }
    )
    activities = ApprovalActivities(pool, settings)
    notice = _notice("acme")
    sent = await ActivityEnvironment().run(activities.notify_approval, notice)
    assert sent.sent == ["slack"]
    [message] = received
    link = f"{PUBLIC}/#/runs/{notice.run_id}"
    assert message["text"].startswith("Approval waiting: publishing makes the report visible")
    assert f"<{link}|Open it>" in message["text"]
    [button] = message["blocks"][-1]["elements"]
    assert button["url"] == link
    facts = message["blocks"][0]["text"]["text"]
    assert "ada asks for an approval" in facts and "*Arguments:* {'title': 'Q3'}" in facts
    # The goal is shown, not obeyed: no channel ping, no link of its own.
    assert "<!channel>" not in json.dumps(message) and "&lt;!channel&gt;" in facts
    assert "(cut; the console shows more)" in message["blocks"][1]["text"]["text"]

    # A retry of the same approval sends nothing twice.
    again = await ActivityEnvironment().run(activities.notify_approval, notice)
    assert again.sent == [] and again.already == ["slack"] and len(received) == 1

    # A webhook Slack no longer knows is the operator's to fix: not retried, and it says why.
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.notify_approval, _notice("gone"))
    assert refused.value.non_retryable and "404 no_service" in str(refused.value)
    assert "/services/" not in str(refused.value)  # the URL is the credential
    # A tenant without a Slack webhook is told nothing there.
    none = await ActivityEnvironment().run(activities.notify_approval, _notice("other"))
    assert none.sent == [] and none.already == []
