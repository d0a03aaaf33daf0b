"""Streamed model text on PostgreSQL's notification channel (aios/stores/deltas.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from aios.guardrails import guard_answer
from aios.stores.deltas import CHANNEL, FLUSH_EVERY_S, DeltaPublisher


async def _published(
    pool: asyncpg.Pool,
    write: Any,
    *,
    redact_pii: bool = False,
    fence: str | None = None,
    eager: bool = False,
    policy: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What `write(publisher)` published, as a listener saw it."""
    received: list[dict[str, Any]] = []

    def listen(*args: Any) -> None:
        received.append(json.loads(args[-1]))

    conn = await pool.acquire()
    try:
        await conn.add_listener(CHANNEL, listen)
        await write(
            DeltaPublisher(
                pool,
                "run-deltas",
                "s1",
                redact_pii=redact_pii,
                fence=fence,
                eager=eager,
                policy=policy,
            )
        )
        await asyncio.sleep(0.2)  # notifications arrive after the publishing transaction
        await conn.remove_listener(CHANNEL, listen)
    finally:
        await pool.release(conn)
    return [r for r in received if r["run_id"] == "run-deltas"]


async def test_a_quick_answer_publishes_nothing(pool: asyncpg.Pool) -> None:
    async def quick(publisher: DeltaPublisher) -> None:
        for word in ("Done", "."):
            await publisher(word)
        await publisher.finish()

    assert await _published(pool, quick) == []
    # Chat's publisher is eager: a person waits for the first words, even of a quick answer.
    assert [p["text"] for p in await _published(pool, quick, eager=True)] == ["Done."]


async def test_a_slow_answer_streams_in_pieces_and_all_of_it(pool: asyncpg.Pool) -> None:
    words = [f"word{i} " * 4 for i in range(12)]  # 30-odd characters a write

    async def slow(publisher: DeltaPublisher) -> None:
        for word in words:
            await publisher(word)
            await asyncio.sleep(FLUSH_EVERY_S / 2)
        await publisher.finish()

    pieces = await _published(pool, slow)
    assert len(pieces) >= 2, "the text went out while it was written"
    assert "".join(p["text"] for p in pieces) == "".join(words), "and none of it was lost"


async def test_what_streams_out_is_cleaned_as_the_answer_is(pool: asyncpg.Pool) -> None:
    """A secret (and, where the deployment redacts it, personal data) written in pieces over
    several flushes never reaches a follower of the stream, not even in part."""
    answer = (
        "The service account is configured as follows, in the vault notes for production. "
        "Its key is sk-proj-abcdefghijklmnopqrstuvwx and the owner is ada@example.com, "
        "who rotates it every quarter; ask her before changing anything in the deployment."
    )
    writes = [answer[i : i + 5] for i in range(0, len(answer), 5)]

    async def slow(publisher: DeltaPublisher) -> None:
        for text in writes:
            await publisher(text)
            await asyncio.sleep(FLUSH_EVERY_S / 4)
        await publisher.finish()

    pieces = [p["text"] for p in await _published(pool, slow, redact_pii=True)]
    assert len(pieces) >= 2, "it still streams"
    assert "".join(pieces) == guard_answer(answer, redact_pii=True)[0]
    for fragment in ("sk-proj", "abcdefghij", "ada@", "example.com"):
        assert not any(fragment in piece for piece in pieces), fragment


async def test_the_prompts_markup_never_streams_out(pool: asyncpg.Pool) -> None:
    """The bundled model copies the prompt's fence lines into its answer; the finished answer drops
    them, and so does the stream, even when a line arrives in pieces over several flushes."""
    fence = "fence-0123abcd"
    pieces = [
        "Runs are dur",
        "able [1].\nBEG",
        "IN DOCUMENT [5] fen",
        "ce-garbled\nApprovals pause runs [2]",
        ".\n- END TOOL RESULT ",
        f"{fence}\nBEGIN is a word.",
    ]

    async def echoing(publisher: DeltaPublisher) -> None:
        for piece in pieces:
            await publisher(piece)
            await asyncio.sleep(FLUSH_EVERY_S * 1.2)
        await publisher.finish()

    streamed = "".join(p["text"] for p in await _published(pool, echoing, fence=fence))
    assert streamed == "Runs are durable [1].\nApprovals pause runs [2].\nBEGIN is a word."


async def test_a_stream_stops_before_what_the_content_policy_forbids(pool: asyncpg.Pool) -> None:
    """Once the text written matches the content policy nothing more goes out, and what went
    out before holds no part of the match (the newest text is always held back)."""
    answer = (
        "Sure, I can explain the chemistry of the reaction in general terms first. "
        "Then here is exactly how to build a bomb from parts you can buy, step by step, "
        "with the quantities and the order of assembly spelled out below for you."
    )
    writes = [answer[i : i + 5] for i in range(0, len(answer), 5)]

    async def eager(publisher: DeltaPublisher) -> None:
        for text in writes:
            await publisher(text)
        await publisher.finish()

    sent = "".join(
        p["text"] for p in await _published(pool, eager, eager=True, policy={"w": r"\bbomb"})
    )
    assert answer.startswith(sent) and len(sent) <= answer.index("bomb")
