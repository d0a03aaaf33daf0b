"""`aios budgets` (list, set and remove spend caps) and `aios usage` (what model calls cost,
summed from the spend ledger)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from aios.client import ApiClient
from aios.errors import UserError

SCOPES = ("tenant", "user", "key", "schedule")
PERIODS = ("day", "month")
GROUPS = ("tenant", "user", "model", "skill", "schedule")


async def cmd_budgets(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "set":
        if args.usd is None and args.tokens is None:
            raise UserError("a budget needs --usd, --tokens or both")
        if args.scope != "tenant" and not args.subject:
            raise UserError(f"a {args.scope} budget names the {args.scope}: --subject ID")
        cap = await api.set_budget(
            args.scope, args.period, subject=args.subject, usd=args.usd, tokens=args.tokens
        )
        print(json.dumps(cap.model_dump(mode="json"), indent=2) if args.json else _line(cap))
        return 0
    if args.action == "delete":
        if not args.budget_id:
            raise UserError("which budget? aios budgets delete cap_… (aios budgets lists them)")
        await api.delete_budget(args.budget_id)
        print(f"deleted {args.budget_id}")
        return 0
    caps = (await api.budgets()).budgets
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in caps], indent=2))
    elif not caps:
        print("no budgets: aios budgets set --scope tenant --period month --usd 50")
    for cap in caps if not args.json else []:
        print(_line(cap))
    return 0


def _line(cap: Any) -> str:
    amounts = [
        f"${cap.usd:g}" if cap.usd is not None else "",
        f"{cap.tokens} tokens" if cap.tokens is not None else "",
    ]
    amount = " and ".join(a for a in amounts if a)
    return (
        f"{cap.id}  {cap.scope} {cap.subject}: {amount} a {cap.period}  (set by {cap.created_by})"
    )


async def cmd_usage(api: ApiClient, args: argparse.Namespace) -> int:
    report = await api.usage(args.group_by, start=args.start, end=args.end)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return 0
    whose = f" (user {report.user_id})" if report.user_id else ""
    print(
        f"usage by {report.group_by}, {report.start:%Y-%m-%d %H:%M} to "
        f"{report.end:%Y-%m-%d %H:%M} UTC{whose}"
    )
    for g in report.groups:
        held = f"  (+${g.reserved_usd:.4f} in flight)" if g.reserved_usd else ""
        print(
            f"  {g.group or '(none)':30}  ${g.usd:>10.4f}  {g.calls:>6} calls  "
            f"{g.input_tokens:>9} in  {g.output_tokens:>9} out{held}"
        )
    print(f"  {'total':30}  ${report.total_usd:>10.4f}")
    return 0


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {text!r} (e.g. 2026-12-01)"
        ) from None


def add_verbs(verb: Any) -> None:
    """Register `aios budgets` and `aios usage` with the parser's `client_verb` helper."""
    p = verb("budgets", cmd_budgets, "list spend caps, or set or delete one (the admin role)")
    p.add_argument("action", nargs="?", choices=("list", "set", "delete"), default="list")
    p.add_argument("budget_id", nargs="?", help="delete: the budget (cap_…)")
    p.add_argument("--scope", choices=SCOPES, default="tenant", help="whose spend (default tenant)")
    p.add_argument("--subject", help="the user, key or schedule id (not for --scope tenant)")
    p.add_argument("--period", choices=PERIODS, default="month", help="day or month (default)")
    p.add_argument("--usd", type=float, help="the cap in US dollars")
    p.add_argument("--tokens", type=int, help="the cap in tokens (prompt and answer)")
    u = verb("usage", cmd_usage, "what model calls cost, from the spend ledger (this month)")
    u.add_argument("--group-by", choices=GROUPS, default="user", help="default: user")
    u.add_argument("--from", dest="start", type=_moment, help="from (ISO date or time, UTC)")
    u.add_argument("--to", dest="end", type=_moment, help="until (ISO date or time, UTC)")
