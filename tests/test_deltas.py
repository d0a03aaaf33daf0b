"""Streamed model text on PostgreSQL's notification channel (aios/stores/deltas.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from aios.stores.deltas import CHANNEL, FLUSH_EVERY_S, DeltaPublisher


async def _published(pool: asyncpg.Pool, write: Any) -> list[dict[str, Any]]:
    """What `write(publisher)` published, as a listener saw it."""
    received: list[dict[str, Any]] = []

    def listen(*args: Any) -> None:
        received.append(json.loads(args[-1]))

    conn = await pool.acquire()
    try:
        await conn.add_listener(CHANNEL, listen)
        await write(DeltaPublisher(pool, "run-deltas", "s1"))
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


async def test_a_slow_answer_streams_in_pieces_and_all_of_it(pool: asyncpg.Pool) -> None:
    words = [f"w{i} " for i in range(8)]

    async def slow(publisher: DeltaPublisher) -> None:
        for word in words:
            await publisher(word)
            await asyncio.sleep(FLUSH_EVERY_S / 2)
        await publisher.finish()

    pieces = await _published(pool, slow)
    assert len(pieces) >= 2, "the text went out while it was written"
    assert "".join(p["text"] for p in pieces) == "".join(words), "and none of it was lost"
