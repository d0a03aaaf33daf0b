"""A scripted Slack: the Web API methods AIOS calls (`chat.postMessage`, `chat.update`) over the
real protocol (JSON or form bodies, `Authorization: Bearer xoxb-…`, `{"ok": …}` answers, 429
with `Retry-After`), so the real `slack_sdk` client is exercised; and helpers that sign Events
API and interactivity requests as Slack does."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode

import uvicorn
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port


@dataclass
class Posted:
    method: str
    token: str
    body: dict[str, Any]
    ts: str = ""


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    calls: list[Posted] = field(default_factory=list)
    # Messages by ts, as last posted or updated.
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The next this many calls are answered 429 with Retry-After: 1.
    rate_limit_next: int = 0
    rate_limited: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self.port = free_port()
        app = Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post, methods=["POST"]),
                Route("/api/chat.update", self._update, methods=["POST"]),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("FakeSlack did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.rate_limit_next = self.rate_limited = 0

    def in_thread(self, thread_ts: str) -> list[dict[str, Any]]:
        """The thread's messages as they read now, in the order they were posted."""
        with self._lock:
            return [m for m in self.messages.values() if m.get("thread_ts") == thread_ts]

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            data: dict[str, Any] = json.loads(raw)
        else:
            data = dict(parse_qsl(raw.decode()))
        if isinstance(data.get("blocks"), str):
            data["blocks"] = json.loads(data["blocks"])
        return data

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        with self._lock:
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                self.rate_limited += 1
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": "1"},
                )
        return None

    async def _post(self, request: Request) -> Response:
        body = await self._body(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not body.get("channel") or not (body.get("text") or body.get("blocks")):
            return JSONResponse({"ok": False, "error": "no_text"})
        with self._lock:
            self._seq += 1
            ts = f"1765000000.{self._seq:06d}"
            self.calls.append(Posted("chat.postMessage", self.token, body, ts))
            self.messages[ts] = {**body, "ts": ts}
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts})

    async def _update(self, request: Request) -> Response:
        body = await self._body(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        with self._lock:
            ts = str(body.get("ts", ""))
            if ts not in self.messages:
                return JSONResponse({"ok": False, "error": "message_not_found"})
            self.calls.append(Posted("chat.update", self.token, body, ts))
            self.messages[ts] = {**self.messages[ts], **body}
        return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts})


def signed(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`, signed with the app's signing secret at `at`."""
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or ""}


def mention(
    team: str, event_id: str, user: str, text: str, *, channel: str = "C0CHAN", ts: str
) -> bytes:
    """An `app_mention` event callback as Slack sends it."""
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": team,
            "api_app_id": "A0APP",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": user,
                "text": f"<@U0BOT> {text}",
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
            },
        }
    ).encode()


def click(team: str, user: str, message: dict[str, Any], action_id: str, trigger: str) -> bytes:
    """A `block_actions` interaction: `user` clicked the button `action_id` of `message`."""
    [button] = [
        e
        for b in message["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "trigger_id": trigger,
        "channel": {"id": message["channel"]},
        "container": {"type": "message", "message_ts": message["ts"]},
        "message": {
            "ts": message["ts"],
            "thread_ts": message.get("thread_ts"),
            "blocks": message["blocks"],
        },
        "actions": [{**button, "action_ts": str(time.time())}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
