"""`aios schedule`: run a goal or a skill on a schedule (Temporal Schedules): create, list,
pause, resume, trigger or delete one."""

from __future__ import annotations

import argparse
from typing import Any

from aios.client import ApiClient
from cli.common import parse_inputs, print_json


async def cmd_schedule(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.goal or (args.cron is None) == (args.every is None):
            raise SystemExit("aios: schedule create needs --goal and one of --cron or --every")
        body: dict[str, Any] = {"goal": args.goal, "timezone": args.timezone}
        body.update({"cron": args.cron} if args.cron else {"interval_s": args.every})
        if args.skill:
            body["skill"] = args.skill
        if args.input:
            body["inputs"] = parse_inputs(args.input)
        schedule = await api.request("POST", "/v1/schedules", json=body)
    elif args.action == "list":
        listing = await api.request("GET", "/v1/schedules")
        if args.json:
            print_json(listing)
            return 0
        for s in listing["schedules"]:
            when = s["cron"] or f"every {s['interval_s']}s"
            state = (
                "paused" if s["paused"] else f"next {s['next_runs'][0] if s['next_runs'] else '-'}"
            )
            print(f"{s['schedule_id']}  {when} ({s['timezone']})  {state}  {s['goal'][:60]}")
        return 0
    else:
        if not args.schedule_id:
            raise SystemExit(
                f"aios: schedule {args.action} needs the schedule id (aios schedule list)"
            )
        path = f"/v1/schedules/{args.schedule_id}"
        if args.action == "delete":
            await api.request("DELETE", path)
            print(f"deleted {args.schedule_id}")
            return 0
        schedule = await api.request("POST", f"{path}/{args.action}")
    if args.json:
        print_json(schedule)
    else:
        print(f"{schedule['schedule_id']}: {'paused' if schedule['paused'] else 'active'}")
        if schedule["next_runs"]:
            print(f"  next runs: {', '.join(schedule['next_runs'][:3])}")
        print(f"  its runs: aios runs --schedule {schedule['schedule_id']}")
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios schedule` with the parser's `client_verb` helper."""
    schedule = verb("schedule", cmd_schedule, "run a goal on a schedule (Temporal Schedules)")
    schedule.add_argument(
        "action",
        choices=["create", "list", "pause", "resume", "trigger", "delete"],
        help="what to do",
    )
    schedule.add_argument("schedule_id", nargs="?", help="for pause/resume/trigger/delete")
    schedule.add_argument("--goal", help="what each run should achieve (create)")
    schedule.add_argument("--cron", help='a cron expression, e.g. "0 7 * * 1-5" (create)')
    schedule.add_argument("--every", type=int, metavar="SECONDS", help="an interval (create)")
    schedule.add_argument("--timezone", default="UTC", help="an IANA time zone (default UTC)")
    schedule.add_argument("--skill", help="run this skill (create)")
    schedule.add_argument(
        "--input", action="append", default=[], metavar="KEY=VALUE", help="a skill input"
    )
