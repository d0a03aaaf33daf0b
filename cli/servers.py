"""The verbs that run or check a part of the system rather than call the API as a client:
`aios dev` (the embedded stack), `aios demo`, `aios worker`, `aios api`, `aios mcp` (an MCP
server over stdio) and `aios upgrade check` (replay open workflows against this code). Each
imports what it runs only when it runs, so client verbs stay quick to start."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.common import api_client, load_settings, print_json


async def cmd_dev(_: argparse.Namespace) -> int:
    from cli.devstack import serve_forever

    await serve_forever(load_settings())
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return await run_demo(args)


async def cmd_mcp(_: argparse.Namespace) -> int:
    """`aios mcp`: AIOS as an MCP server over stdio, calling the API as the configured key."""
    from aios.mcp_server import build_mcp_server

    settings = load_settings()
    await build_mcp_server(lambda: api_client(settings)).run_stdio_async()
    return 0


async def cmd_worker(_: argparse.Namespace) -> int:
    from workers.main import run_worker

    await run_worker(load_settings())
    return 0


async def cmd_upgrade(args: argparse.Namespace) -> int:
    """`aios upgrade check`: replay every open workflow's history against this code (talks to
    Temporal, and to PostgreSQL for offloaded payloads when AIOS_DATABASE_URL is set)."""
    from aios import db
    from aios.temporal import connect
    from workers.upgrade import check

    settings = load_settings()
    if args.namespace:
        settings = settings.model_copy(update={"temporal_namespace": args.namespace})
    pool = await db.connect(settings.require_database_url()) if settings.database_url else None
    try:
        client = await connect(settings, pool)
        verdicts = await check(
            client,
            settings,
            task_queue=args.task_queue,
            workflow_type=args.type,
            limit=args.limit,
        )
    finally:
        if pool is not None:
            await db.close(pool)
    breaking = [v for v in verdicts if v.breaks]
    if args.json:
        print_json(
            {
                "checked": len(verdicts),
                "breaking": [vars(v) for v in breaking],
                "runs": [vars(v) for v in verdicts],
            }
        )
        return 1 if breaking else 0
    for v in verdicts:
        if v.failure is None:
            state = "ok"
        elif v.pinned_to:
            state = f"pinned to build {v.pinned_to} (stays there; would break if moved)"
        else:
            state = "WOULD BREAK"
        print(f"{state:<10} {v.workflow_type:<22} {v.workflow_id}  ({v.task_queue})")
        if v.failure:
            print(f"           {v.failure}")
    print(
        f"{len(verdicts)} open workflow(s) in {settings.temporal_namespace} replayed against "
        f"this code: {len(breaking)} would break"
    )
    return 1 if breaking else 0


async def cmd_api(_: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port)
    )
    await server.serve()
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios dev`, `demo`, `worker`, `api`, `upgrade` and `mcp` with the parser's
    `verb` helper."""
    verb("dev", cmd_dev, "start the embedded stack in the foreground (Ctrl-C stops it)")
    demo = verb("demo", cmd_demo, "start the stack, index the sample corpus, run a research report")
    demo.add_argument("--goal", help="the research question (default: one about AIOS itself)")
    demo.add_argument(
        "--corpus",
        type=lambda p: str(Path(p).resolve()),
        help="folder of documents to index (default: examples/corpus/, about AIOS itself)",
    )
    demo.add_argument("--keep-running", action="store_true", help="keep the stack up afterwards")
    demo.add_argument("--exit", action="store_true", help="stop the stack afterwards")
    verb("worker", cmd_worker, "run one worker against configured Temporal/PostgreSQL/Qdrant")
    verb("api", cmd_api, "run the API against configured Temporal/PostgreSQL")
    upgrade = verb(
        "upgrade",
        cmd_upgrade,
        "before rolling workers: replay every open run against this code, name those that break",
    )
    upgrade.add_argument("action", choices=["check"], help="check (the only action)")
    upgrade.add_argument("--namespace", help="default: AIOS_TEMPORAL_NAMESPACE")
    upgrade.add_argument("--task-queue", help="only workflows on this task queue")
    upgrade.add_argument("--type", help="only this workflow type (e.g. AgentRunWorkflow)")
    upgrade.add_argument("--limit", type=int, help="check at most this many")
    verb("mcp", cmd_mcp, "serve AIOS to MCP clients over stdio (uses AIOS_API_URL / AIOS_API_KEY)")
