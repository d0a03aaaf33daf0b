"""Streamed model output (`llm.delta`), carried on a PostgreSQL notification channel so that it
never enters a workflow history: model-calling activities publish, the API relays to the run's
event stream. Deltas are ephemeral: a client that reconnects gets the step-level events it missed,
and the finished step's output holds the whole text. What goes out is cleaned as the answer is
(`aios.guardrails`: secrets always, personal data when the deployment redacts it), so a follower
of the stream sees nothing the finished answer would not show, and no line of the prompt's markup
that the finished answer drops (`aios.text.is_echoed_markup`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from aios.db import CONNECTION_LOSS, transient_on_connection_loss
from aios.guardrails import check_policy, guard_answer, releasable
from aios.text import is_echoed_markup, may_become_markup

CHANNEL = "aios_llm_deltas"
# NOTIFY payloads are limited to 8000 bytes; text is sent in pieces well below that.
MAX_PIECE_CHARS = 2000
FLUSH_EVERY_S = 0.1


@dataclass(frozen=True)
class Delta:
    run_id: str
    step_id: str
    text: str
    # A retried call streams again from the start: a client seeing a new attempt starts over.
    attempt: int = 1


class DeltaPublisher:
    """Collects the text of one model call and publishes it in batches, one at most every
    FLUSH_EVERY_S. A call answered within FLUSH_EVERY_S of its first words publishes nothing:
    its step's own event follows at once with the output, and a notification for every quick
    call cost the worker a database round trip for text no one had time to watch. The newest
    text is held back until it can be cleaned whole (`aios.guardrails.releasable`), and with the
    call's `fence` a line that may be the prompt's markup is held until its end shows whether it
    is (then dropped, as the finished answer drops it).

    `eager` (chat, where a person waits for the first words): the first cleaned text goes out as
    soon as there is any, and a quick answer is published too, ahead of the reply that follows
    it through the workflow."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        run_id: str,
        step_id: str,
        *,
        attempt: int = 1,
        redact_pii: bool = False,
        fence: str | None = None,
        eager: bool = False,
        policy: dict[str, str] | None = None,
    ) -> None:
        self._pool = pool
        # The content policy (AIOS_CONTENT_POLICY): once the text written so far matches it,
        # nothing more is published (the finished answer is withheld).
        self._policy = policy or {}
        self._withheld = False
        self._written: list[str] = []  # everything the model wrote (a match may span a flush)
        self._run_id = run_id
        self._step_id = step_id
        self._attempt = attempt
        self._redact_pii = redact_pii
        # Text not yet published: held back, then what came since the last flush.
        self._buffer: list[str] = []
        self._new_chars = 0
        # When the oldest text since the last flush came; None: nothing new since.
        self._buffered_since: float | None = None
        self._published = False
        self._fence = fence
        self._eager = eager
        # Whether the buffer starts a line: markup is only ever a whole line.
        self._at_line_start = True

    async def __call__(self, text: str) -> None:
        now = time.monotonic()
        if self._buffered_since is None:
            self._buffered_since = now
        self._buffer.append(text)
        if self._policy:
            self._written.append(text)
        self._new_chars += len(text)
        if (
            self._new_chars >= MAX_PIECE_CHARS
            or now - self._buffered_since >= FLUSH_EVERY_S
            or (self._eager and not self._published)
        ):
            await self._flush()

    async def finish(self) -> None:
        """The call is over: the rest of a streamed answer goes out."""
        if self._breaks_policy():
            return
        if (self._published or self._eager) and self._buffer:
            text, self._buffer = "".join(self._buffer), []
            ready, _ = self._without_markup(
                guard_answer(text, redact_pii=self._redact_pii)[0], final=True
            )
            if ready:
                await self._publish(ready)

    def _breaks_policy(self) -> bool:
        """Whether the text so far matches the content policy (from then on nothing is sent)."""
        if self._policy and not self._withheld:
            self._withheld = bool(check_policy("".join(self._written), self._policy))
            if self._withheld:
                self._buffer = []
        return self._withheld

    async def _flush(self) -> None:
        if self._breaks_policy():
            self._new_chars, self._buffered_since = 0, None
            return
        cleaned, held = releasable("".join(self._buffer), redact_pii=self._redact_pii)
        ready, unfinished = self._without_markup(cleaned, final=False)
        held = unfinished + held
        self._buffer = [held] if held else []
        self._new_chars, self._buffered_since = 0, None
        if ready:
            await self._publish(ready)

    def _without_markup(self, text: str, *, final: bool) -> tuple[str, str]:
        """`text` without the lines that echo the prompt's markup, and the unfinished last line
        when it may still become markup (held: it starts the next buffer)."""
        if self._fence is None or not text:
            return text, ""
        *lines, tail = text.split("\n")
        kept: list[str] = []
        for i, line in enumerate(lines):
            if (i > 0 or self._at_line_start) and is_echoed_markup(line, self._fence):
                continue
            kept.append(line + "\n")
        held = ""
        tail_starts_line = bool(lines) or self._at_line_start
        if tail and tail_starts_line:
            if final and is_echoed_markup(tail, self._fence):
                tail = ""
            elif not final and may_become_markup(tail, self._fence):
                tail, held = "", tail
        if tail:
            kept.append(tail)
        ready = "".join(kept)
        self._at_line_start = bool(held) or (ready.endswith("\n") if ready else self._at_line_start)
        return ready, held

    async def _publish(self, text: str) -> None:
        self._published = True
        for start in range(0, len(text), MAX_PIECE_CHARS):
            await self._notify(text[start : start + MAX_PIECE_CHARS])

    @transient_on_connection_loss
    async def _notify(self, text: str) -> None:
        payload = json.dumps(
            {
                "run_id": self._run_id,
                "step_id": self._step_id,
                "attempt": self._attempt,
                "text": text,
            }
        )
        await self._pool.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)


class DeltaHub:
    """One listening connection per process, fanning deltas out to the streams that follow each
    run (a connection per stream would drain the pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._subscribers: dict[str, set[asyncio.Queue[Delta]]] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: str) -> AsyncIterator[asyncio.Queue[Delta]]:
        """The run's deltas as they are published. With the database unreachable the queue
        stays empty: the stream still carries every step-level event."""
        queue: asyncio.Queue[Delta] = asyncio.Queue(maxsize=1000)
        self._subscribers.setdefault(run_id, set()).add(queue)
        try:
            with contextlib.suppress(*CONNECTION_LOSS):
                await self._listen()
            yield queue
        finally:
            subscribers = self._subscribers.get(run_id, set())
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(run_id, None)

    async def _listen(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            self._conn = await self._pool.acquire()
            await self._conn.add_listener(CHANNEL, self._received)

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        data = json.loads(payload)
        delta = Delta(
            str(data.get("run_id", "")),
            str(data.get("step_id", "")),
            str(data.get("text", "")),
            int(data.get("attempt", 1)),
        )
        for queue in self._subscribers.get(delta.run_id, ()):
            if not queue.full():
                queue.put_nowait(delta)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANNEL, self._received)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
