"""What a durable chat turn adds to the model's own time.

    .venv/bin/python bench/chat_latency.py               # 20 turns, scripted model at 200 ms
    .venv/bin/python bench/chat_latency.py --turns 40 --latency-ms 200

The same scripted OpenAI-protocol model (it answers after the latency the prompt asks for, then
streams its words) is called two ways, turn by turn in alternation so machine noise hits both alike:

- direct: one streamed chat completion through the `openai` client (the floor);
- AIOS: `POST /v1/chat` with `Accept: text/event-stream` in one session, read to its `reply` event.

Reported, as medians over the turns: the time to the first text (the first content chunk directly,
the first `delta` event, or the `reply` when no delta came first, through AIOS) and to the whole
reply, and what AIOS adds to each. The knowledge base is empty (a deployment's first minutes; the
target in issue 28 is stated for it). Each piece runs as its own process, as an operator runs it
(bench/overhead.py's deployment).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from openai import AsyncOpenAI

from bench.minimal_workflow import MODEL
from bench.overhead import start_aios


def message(latency_ms: int, turn: int) -> str:
    return f"What keeps a run alive when a worker dies? (turn {turn}) [latency_ms={latency_ms}]"


async def direct(model: AsyncOpenAI, text: str) -> tuple[float, float]:
    """(first text, whole reply) in seconds for one streamed completion."""
    started = time.perf_counter()
    first: float | None = None
    stream = await model.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        max_tokens=500,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    whole = time.perf_counter() - started
    return (first if first is not None else whole), whole


async def through_aios(http: httpx.AsyncClient, session_id: str, text: str) -> tuple[float, float]:
    """(first text, whole reply) in seconds for one `POST /v1/chat` read as server-sent events."""
    started = time.perf_counter()
    first: float | None = None
    event = ""
    async with http.stream(
        "POST",
        "/v1/chat",
        json={"message": text, "session_id": session_id},
        headers={"Accept": "text/event-stream"},
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                if event in ("delta", "reply") and first is None:
                    first = time.perf_counter() - started
                if event == "error":
                    raise RuntimeError(f"the turn failed: {line}")
                if event == "reply":
                    json.loads(line.removeprefix("data: "))
                    break
    whole = time.perf_counter() - started
    assert first is not None, "no reply event"
    return first, whole


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="aios-chat-latency-"))
    print(f"starting the deployment under {root} ...", flush=True)
    deployment = start_aios(root)
    try:
        model = AsyncOpenAI(base_url=deployment.model_url, api_key="sk-scripted", max_retries=0)
        async with httpx.AsyncClient(
            base_url=deployment.api_url,
            headers={"Authorization": f"Bearer {deployment.api_key}"},
            timeout=120,
        ) as http:
            session = f"bench-{int(time.time())}"
            # Warm both paths (connections, the session's workflow, the worker's caches).
            for turn in range(3):
                await direct(model, message(args.latency_ms, turn))
                await through_aios(http, session, message(args.latency_ms, turn))
            firsts: dict[str, list[float]] = {"direct": [], "aios": []}
            wholes: dict[str, list[float]] = {"direct": [], "aios": []}
            for turn in range(args.turns):
                order = ("direct", "aios") if turn % 2 == 0 else ("aios", "direct")
                for variant in order:
                    text = message(args.latency_ms, 100 + turn)
                    first, whole = (
                        await direct(model, text)
                        if variant == "direct"
                        else await through_aios(http, session, text)
                    )
                    firsts[variant].append(first)
                    wholes[variant].append(whole)

        def ms(values: list[float]) -> float:
            return statistics.median(values) * 1000

        print(f"\n{args.turns} turns, scripted model at {args.latency_ms} ms (medians, ms)\n")
        print(f"{'':>12} {'direct':>8} {'aios':>8} {'added':>8} {'ratio':>7}")
        for label, series in (("first text", firsts), ("reply", wholes)):
            d, a = ms(series["direct"]), ms(series["aios"])
            print(f"{label:>12} {d:>8.1f} {a:>8.1f} {a - d:>+8.1f} {a / d:>6.2f}x")
    finally:
        deployment.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
