"""`aios tools` (list the tools a caller may use, or invoke one) and `aios skills` (list the
skills, the named workflows, with their inputs): what the API offers to use."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aios.client import ApiClient
from cli.common import print_json


async def cmd_skills(api: ApiClient, args: argparse.Namespace) -> int:
    listing = await api.skills()
    if args.json:
        print_json(listing)
        return 0
    for skill in listing.skills:
        inputs = ", ".join(
            name + ("*" if name in skill.input_schema.get("required", []) else "")
            for name in skill.input_schema.get("properties", {})
        )
        print(f"{skill.name:<22} v{skill.version}  {skill.description}")
        usage = f"aios run --skill {skill.name} --input KEY=VALUE"
        print(f"{'':<22}     inputs: {inputs or 'none'}   ({usage})")
    return 0


async def cmd_tools(api: ApiClient, args: argparse.Namespace) -> int:
    if args.name:
        try:
            tool_args = json.loads(args.args)
        except ValueError:
            raise SystemExit(f"aios: --args must be JSON, got {args.args!r}") from None
        invoked = await api.invoke_tool(args.name, tool_args)
        print_json(invoked if args.json else invoked.output)
        return 0
    listing = await api.tools()
    if args.json:
        print_json(listing)
        return 0
    for spec in listing.tools:
        flags: list[str] = [spec.side_effects]
        if spec.requires_approval:
            flags.append("needs approval")
        if spec.roles:
            flags.append("roles: " + ",".join(spec.roles))
        print(f"{spec.name:<16} {spec.description}  [{'; '.join(flags)}]")
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios skills` and `aios tools` with the parser's `client_verb` helper."""
    verb("skills", cmd_skills, "list the skills (named workflows) and their inputs")
    tools = verb("tools", cmd_tools, "list the tools you may use, or invoke one")
    tools.add_argument("name", nargs="?", help="a tool to invoke")
    tools.add_argument("--args", default="{}", help="the tool's arguments as JSON")
