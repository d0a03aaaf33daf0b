"""The Slack app against a scripted Slack (tests/support/fake_slack.py) with real Temporal and
PostgreSQL: only signed requests count, an event is taken once however often Slack resends it,
an unmapped user is told so and nothing runs, `run <goal>` starts a run as the mapped user and
follows it in the thread (through a 429 from Slack), and an approval button answers under four
eyes: the requester's own click is refused, a colleague's approves."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aios.config import Settings, SlackTeam
from aios.slack import APPROVE_ACTION, escape, event_workflow_id, parse_mention
from tests.conftest import Stack, api_client, app_for
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from tests.support.fake_slack import FakeSlack, click, mention, signed

TEAM, SECRET = "T0ACME", "8f742231b10e8888abcd99yyyzzz85a5"
ADA, BOB, EVE = "U0ADA", "U0BOB", "U0EVE"  # EVE is mapped to nobody
EVENTS, INTERACTIONS = "/v1/channels/slack/events", "/v1/channels/slack/interactions"
HISTORIES = Path(__file__).resolve().parents[1] / "histories"

PLAN = {
    "steps": [
        {
            "id": "draft",
            "kind": "llm",
            "title": "Draft the note",
            "args": {"instruction": "Draft a note to the team"},
        },
        {
            "id": "send",
            "kind": "tool",
            "tool": "guarded_echo",
            "title": "Send the note",
            "args": {"value": "the note"},
            "depends_on": ["draft"],
        },
    ],
    "result_step": "draft",
}


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, fake_slack: FakeSlack) -> Settings:
    fake_slack.reset()
    team = SlackTeam(
        tenant="default",
        signing_secret=SecretStr(SECRET),
        bot_token=SecretStr(fake_slack.token),
    )
    return settings.model_copy(
        update={"slack_teams": {TEAM: team}, "slack_api_url": fake_slack.base_url}
    )


@pytest.fixture
async def slack_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    await stack.pool.execute("TRUNCATE slack_events, slack_users")
    async with api_client(app_for(stack)) as client:
        for slack_user, user_id, roles in ((ADA, "ada", ["approver"]), (BOB, "bob", ["approver"])):
            mapped = await client.post(
                "/v1/channels/slack/users",
                json={
                    "team_id": TEAM,
                    "slack_user_id": slack_user,
                    "user_id": user_id,
                    "roles": roles,
                },
            )
            assert mapped.status_code == 201, mapped.text
        yield client


async def send(api: httpx.AsyncClient, path: str, body: bytes, **sign: Any) -> httpx.Response:
    kind = "application/json" if path == EVENTS else "application/x-www-form-urlencoded"
    headers = {**signed(SECRET, body, **sign), "Content-Type": kind}
    # Slack sends no API key: the signature is the only credential.
    return await api.post(path, content=body, headers={**headers, "Authorization": ""})


async def until(found: Callable[[], Any], what: str) -> Any:
    """Poll the scripted Slack until `found()` is truthy (workflows post in the background)."""
    for _ in range(600):
        value = found()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {what}")


async def keep_history(stack: Stack, event_id: str, name: str) -> None:
    """With AIOS_RECORD_HISTORIES=1, keep this event's SlackEventWorkflow history in
    tests/histories (replayed by tests/workflows/test_replay.py); an existing one stays."""
    target = HISTORIES / f"{name}.json"
    if not os.environ.get("AIOS_RECORD_HISTORIES") or target.exists():
        return
    handle = stack.client.get_workflow_handle(event_workflow_id(TEAM, event_id))
    await handle.result()
    history = await handle.fetch_history()
    target.write_text(json.dumps(json.loads(history.to_json()), indent=1))


async def test_only_signed_fresh_requests_count_and_an_event_is_taken_once(
    slack_api: httpx.AsyncClient, stack: Stack, fake_slack: FakeSlack
) -> None:
    handshake = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
    answered = await send(slack_api, EVENTS, handshake)
    assert answered.status_code == 200 and answered.json()["challenge"] == "c-123"

    body = mention(TEAM, "Ev0FORGED", EVE, "hello", ts="1765000001.000100")
    forged = await slack_api.post(
        EVENTS, content=body, headers=signed("not-the-secret", body) | {"Authorization": ""}
    )
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    replayed = await send(slack_api, EVENTS, body, at=time.time() - 6 * 60)
    assert replayed.status_code == 401 and "replayed" in replayed.json()["detail"]
    unsigned = await slack_api.post(EVENTS, content=body, headers={"Authorization": ""})
    assert unsigned.status_code == 401
    # Nothing happened for any of them: no event recorded, no workflow, nothing posted.
    assert await stack.pool.fetchval("SELECT count(*) FROM slack_events") == 0

    # An unmapped user, and Slack resending the event: told once that they are not mapped.
    thread = "1765000002.000100"
    body = mention(TEAM, "Ev0UNMAPPED", EVE, "run delete everything", ts=thread)
    first, again = await send(slack_api, EVENTS, body), await send(slack_api, EVENTS, body)
    assert first.json() == {"ok": True, "duplicate": False}
    assert again.json() == {"ok": True, "duplicate": True}
    handle = stack.client.get_workflow_handle(event_workflow_id(TEAM, "Ev0UNMAPPED"))
    await handle.result()
    [told] = fake_slack.in_thread(thread)
    assert "not mapped to an AIOS user" in told["text"] and f"<@{EVE}>" in told["text"]
    runs = (await slack_api.get("/v1/runs")).json()["runs"]
    assert not [r for r in runs if "delete everything" in r.get("goal", "")]


async def test_a_run_from_a_thread_is_approved_with_a_colleagues_button(
    slack_api: httpx.AsyncClient, stack: Stack, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(content=json.dumps(PLAN)))  # the LLM planner's plan
    fake_slack.rate_limit_next = 1  # Slack's first answer: 429, Retry-After: 1
    thread = "1765000003.000100"
    body = mention(TEAM, "Ev0RUN", ADA, "run send the team a note", ts=thread)
    assert (await send(slack_api, EVENTS, body)).status_code == 200

    def approval() -> dict[str, Any] | None:
        return next((m for m in fake_slack.in_thread(thread) if m.get("blocks")), None)

    message = await until(approval, "the approval message with buttons")
    assert fake_slack.rate_limited == 1  # retried after the 429
    assert "guarded_echo" in message["blocks"][0]["text"]["text"]
    run_id = json.loads(message["blocks"][1]["elements"][0]["value"])["run_id"]
    state = (await slack_api.get(f"/v1/runs/{run_id}")).json()
    assert state["user_id"] == "ada" and state["status"] == "awaiting_approval"

    # Ada clicks Approve on her own run: refused (four eyes) and told so; the run still waits.
    own = await send(slack_api, INTERACTIONS, click(TEAM, ADA, message, APPROVE_ACTION, "tr-1"))
    assert own.status_code == 200
    refusal = await until(
        lambda: [m for m in fake_slack.in_thread(thread) if "did not count" in m["text"]],
        "the refusal",
    )
    assert "four eyes" in refusal[0]["text"] and f"<@{ADA}>" in refusal[0]["text"]
    assert (await slack_api.get(f"/v1/runs/{run_id}")).json()["status"] == "awaiting_approval"

    # A click forged in Bob's name (not signed with the workspace's secret) is 401 and does
    # nothing; Eve, whom no admin mapped, is told so; the run still waits for both.
    forged_click = click(TEAM, BOB, message, APPROVE_ACTION, "tr-forged")
    forged = await slack_api.post(
        INTERACTIONS,
        content=forged_click,
        headers=signed("not-the-secret", forged_click)
        | {"Authorization": "", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert forged.status_code == 401
    eve = await send(slack_api, INTERACTIONS, click(TEAM, EVE, message, APPROVE_ACTION, "tr-eve"))
    assert eve.status_code == 200
    await until(
        lambda: [
            m for m in fake_slack.in_thread(thread) if f"<@{EVE}> you are not mapped" in m["text"]
        ],
        "Eve told she is not mapped",
    )
    assert (await slack_api.get(f"/v1/runs/{run_id}")).json()["status"] == "awaiting_approval"

    # Bob (an approver) clicks Approve: the run goes on, the button message shows who approved.
    bob = await send(slack_api, INTERACTIONS, click(TEAM, BOB, message, APPROVE_ACTION, "tr-2"))
    assert bob.status_code == 200
    done = (await slack_api.get(f"/v1/runs/{run_id}", params={"wait_s": 30})).json()
    assert done["status"] == "completed", done
    updated = await until(
        lambda: "Approved by" in fake_slack.messages[message["ts"]]["text"], "the outcome"
    )
    assert updated
    outcome = fake_slack.messages[message["ts"]]
    assert "(bob)" in outcome["text"]
    assert not [b for b in outcome["blocks"] if b["type"] == "actions"]  # no buttons left
    report = await until(
        lambda: [m for m in fake_slack.in_thread(thread) if m["text"].startswith("*Report")],
        "the report",
    )
    assert "Temporal workflows" in report[0]["text"]
    status = await until(
        lambda: [m for m in fake_slack.in_thread(thread) if "*completed*" in m["text"]],
        "the status message updated to completed",
    )
    assert run_id in status[0]["text"]
    await keep_history(stack, "Ev0RUN", "slack_run_followed_in_a_thread")


async def test_a_mention_is_a_chat_turn_in_the_thread(
    slack_api: httpx.AsyncClient, stack: Stack, fake_slack: FakeSlack
) -> None:
    thread = "1765000004.000100"
    body = mention(TEAM, "Ev0CHAT", BOB, "how do approvals work?", ts=thread)
    assert (await send(slack_api, EVENTS, body)).status_code == 200
    [reply] = await until(lambda: fake_slack.in_thread(thread), "the chat reply")
    assert "Temporal workflows" in reply["text"]
    sessions = (await slack_api.get("/v1/chat/sessions", params={"user_id": "bob"})).json()
    assert any(s["session_id"].startswith(f"slack-{TEAM}-") for s in sessions["sessions"])
    await keep_history(stack, "Ev0CHAT", "slack_chat_turn_in_a_thread")


def test_what_a_mention_asks_and_text_that_cannot_ping_or_forge_links() -> None:
    assert parse_mention("<@U0BOT> run <!channel> deploy") == ("run", "<!channel> deploy")
    assert parse_mention("<@U0BOT> running late?") == ("chat", "running late?")
    assert escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
