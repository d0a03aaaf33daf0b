"""The `aios` command line.

Server verbs (`dev`, `demo`, `worker`, `api`) run parts of the system; client verbs (`run`,
`status`, `runs`, `approve`, `cancel`, `ingest`, `search`, `documents`) talk to the API at
AIOS_API_URL with AIOS_API_KEY — or, when those are unset, to the stack `aios dev` is running
from this directory.

This module is the entry point: it assembles the parser from the verb modules beside it (each
registers its verbs with `add_verbs`), sets up logging and turns errors into exit codes. The
verbs themselves live in `cli/servers.py`, `cli/runs.py`, `cli/knowledge.py`, `cli/chat.py`,
`cli/schedules.py`, `cli/tenants.py`, `cli/tools.py` and the other modules of this package;
what they share is in `cli/common.py`.

This package is the composition root: it may import every layer, and nothing imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pydantic

from aios import logs
from aios.client import ApiClient, ApiError
from aios.config import Settings
from aios.errors import AiosError
from cli import (
    budgets,
    chat,
    contacts,
    evals,
    knowledge,
    policies,
    reports,
    runs,
    schedules,
    servers,
    sources,
    tenants,
    tools,
)
from cli.common import api_client, load_settings
from cli.runtime import log_path

# Verbs that run a part of the system (and log what it does), as opposed to client verbs.
SERVER_VERBS = frozenset({"dev", "demo", "worker", "api"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aios", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def verb(name: str, fn: Callable[[argparse.Namespace], Awaitable[int]], help: str) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(fn=fn)
        return p

    def client_verb(
        name: str, fn: Callable[[ApiClient, argparse.Namespace], Awaitable[int]], help: str
    ) -> Any:
        async def with_api(args: argparse.Namespace) -> int:
            async with api_client(load_settings()) as api:
                return await fn(api, args)

        return verb(name, with_api, help)

    # The order of these calls is the order `aios --help` lists the verbs in.
    servers.add_verbs(verb)
    runs.add_verbs(verb)
    knowledge.add_verbs(client_verb)
    reports.add_verbs(client_verb)
    budgets.add_verbs(client_verb)
    policies.add_verbs(client_verb)
    contacts.add_verbs(client_verb)
    sources.add_verbs(client_verb)
    evals.add_verbs(client_verb)
    runs.add_inspection_verbs(client_verb)
    chat.add_verbs(client_verb)
    schedules.add_verbs(client_verb)
    tenants.add_verbs(client_verb)
    tools.add_verbs(client_verb)
    return parser


def _log_format() -> logs.LogFormat:
    try:
        return Settings().log_format
    except pydantic.ValidationError:
        return "text"  # the verb itself reports the configuration error


# Verbs whose terminal shows their own progress lines: the servers' log goes to
# `<data dir>/logs/<verb>.log` (`-v` shows it in the terminal as well).
LOG_TO_FILE_VERBS = frozenset({"demo"})


def _log_file(command: str) -> Path | None:
    if command not in LOG_TO_FILE_VERBS:
        return None
    try:
        return log_path(Settings(), command)
    except pydantic.ValidationError:
        return None


def _fail(args: argparse.Namespace, message: str, *, status: int | None = None) -> None:
    """An error for a person (stderr, `aios: …`) or, with `--json`, for a program (stdout)."""
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "status": status}))
    else:
        suffix = f" (HTTP {status})" if status is not None else ""
        print(f"aios: {message}{suffix}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    server = args.command in SERVER_VERBS
    logs.configure(
        server=server,
        verbose=args.verbose,
        log_format=_log_format(),
        log_file=_log_file(args.command),
    )
    try:
        code = asyncio.run(args.fn(args))
    except ApiError as e:
        _fail(args, e.message, status=e.status)
        code = 1
    except AiosError as e:
        _fail(args, e.message)
        code = 1
    except pydantic.ValidationError as e:
        _fail(args, f"invalid configuration: {e}")
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
