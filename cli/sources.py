"""`aios sources`, `aios mcp-servers` and `aios egress`: a tenant's SQL sources, MCP servers and
the domains its runs may reach after untrusted content (aios/sources.py). Listing needs any key
of the tenant; changing needs the admin role. Secrets are read from environment variables, never
from the command line (where shell history and `ps` would keep them)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from aios.client import ApiClient
from aios.errors import UserError
from aios.sources import McpServerIn, SqlSourceIn


def _secret(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise UserError(f"{what}: set the environment variable {variable} (it is empty or unset)")
    return value


async def cmd_sources(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "set":
        if not args.name or not args.dsn_env:
            raise UserError("aios sources set NAME --dsn-env VARIABLE [--role R] [--description]")
        source = SqlSourceIn.model_validate(
            {
                "dsn": _secret(args.dsn_env, "the DSN"),
                "roles": args.role or [],
                "description": args.description or "",
            }
        )
        saved = await api.put_source(args.name, source)
        print(saved.model_dump_json(indent=2) if args.json else f"saved SQL source {saved.name}")
        return 0
    if args.action == "delete":
        if not args.name:
            raise UserError("which source? aios sources delete NAME (aios sources lists them)")
        await api.delete_source(args.name)
        print(f"deleted SQL source {args.name}")
        return 0
    found = await api.sources()
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
    elif not found:
        print("no SQL sources: aios sources set NAME --dsn-env VARIABLE (the admin role)")
    for s in found if not args.json else []:
        roles = f"  roles: {', '.join(s.roles)}" if s.roles else ""
        print(f"{s.name:20}  {s.origin:11}  {s.description}{roles}")
    return 0


async def cmd_mcp_servers(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "set":
        if not args.name or not args.url:
            raise UserError("aios mcp-servers set NAME --url URL [--header NAME=VARIABLE] ...")
        headers = {}
        for given in args.header or []:
            header, sep, variable = given.partition("=")
            if not sep or not header or not variable:
                raise UserError(f"--header {given!r}: write it as NAME=VARIABLE")
            headers[header] = _secret(variable, f"header {header}")
        server = McpServerIn.model_validate(
            {
                "url": args.url,
                "headers": headers,
                "roles": args.role or [],
                "side_effects": args.side_effects,
                "requires_approval": args.requires_approval,
                "price_usd": args.price_usd,
            }
        )
        saved = await api.put_mcp_server(args.name, server)
        if args.json:
            print(saved.model_dump_json(indent=2))
        else:
            tools = ", ".join(f"{saved.name}.{t.name}" for t in saved.tools) or "none"
            print(f"saved MCP server {saved.name}; its tools: {tools}")
        return 0
    if args.action == "delete":
        if not args.name:
            raise UserError("which server? aios mcp-servers delete NAME")
        await api.delete_mcp_server(args.name)
        print(f"deleted MCP server {args.name}")
        return 0
    found = await api.mcp_servers()
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
    elif not found:
        print("no MCP servers of this tenant: aios mcp-servers set NAME --url URL (admin)")
    for s in found if not args.json else []:
        print(f"{s.name:20}  {s.url}  ({s.side_effects}; {len(s.tools)} tools)")
    return 0


async def cmd_egress(api: ApiClient, args: argparse.Namespace) -> int:
    egress = await api.set_egress(args.domains) if args.action == "set" else await api.egress()
    if args.json:
        print(egress.model_dump_json(indent=2))
    else:
        print(
            "allowed after untrusted content: " + (", ".join(egress.domains) or "nothing")
            if egress.domains or args.action == "set"
            else "no allowed domains: after untrusted content every outside call waits for a "
            "person (aios egress set DOMAIN ...)"
        )
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios sources`, `aios mcp-servers` and `aios egress`."""
    s = verb("sources", cmd_sources, "list the tenant's SQL sources, or set or delete one")
    s.add_argument("action", nargs="?", choices=("list", "set", "delete"), default="list")
    s.add_argument("name", nargs="?", help="set/delete: the source's name")
    s.add_argument("--dsn-env", help="set: the environment variable holding postgresql://…")
    s.add_argument("--role", action="append", help="set: a role that may query it (repeat)")
    s.add_argument("--description", help="set: what it holds")
    m = verb("mcp-servers", cmd_mcp_servers, "list the tenant's MCP servers, or set or delete one")
    m.add_argument("action", nargs="?", choices=("list", "set", "delete"), default="list")
    m.add_argument("name", nargs="?", help="set/delete: the server's name (tools: NAME.tool)")
    m.add_argument("--url", help="set: its streamable HTTP endpoint")
    m.add_argument(
        "--header", action="append", help="set: NAME=VARIABLE, the value read from VARIABLE"
    )
    m.add_argument("--role", action="append", help="set: a role that may use it (repeat)")
    m.add_argument("--side-effects", choices=("none", "reads", "writes"), default="writes")
    m.add_argument("--requires-approval", action="store_true", help="set: every call waits")
    m.add_argument(
        "--price-usd",
        type=float,
        default=0.0,
        help="set: what one call costs at its provider, reserved in the spend ledger (default 0)",
    )
    e = verb("egress", cmd_egress, "show or set the domains reachable after untrusted content")
    e.add_argument("action", nargs="?", choices=("show", "set"), default="show")
    e.add_argument("domains", nargs="*", help="set: the allowed domains (replaces the list)")
