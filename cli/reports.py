"""`aios reports`: list reports, show one, download it as Markdown, HTML or PDF. `aios files`: the
files a run's tools wrote, listed or downloaded."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aios.client import ApiClient
from aios.text import one_line

FORMATS = ("md", "html", "pdf")


async def cmd_reports(api: ApiClient, args: argparse.Namespace) -> int:
    if args.report_id is None:
        return await _list(api, args)
    if args.download:
        data = await api.report_bytes(args.report_id, args.download)
        if args.output == "-" and args.download == "pdf":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        elif args.output == "-":
            text = data.decode("utf-8", errors="replace")
            print(text, end="" if text.endswith("\n") else "\n")
        else:
            path = Path(args.output or f"{args.report_id}.{args.download}")
            await asyncio.to_thread(path.write_bytes, data)
            print(f"wrote {path} ({len(data)} bytes)")
        return 0
    report = await api.report(args.report_id)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return 0
    published = (
        f", published {report.published_at:%Y-%m-%d %H:%M} UTC" if report.published_at else ""
    )
    print(f"# {report.title}")
    print(f"({report.report_id}, run {report.run_id}, by {report.user_id}{published})\n")
    print(report.markdown.rstrip())
    if report.citations:
        print("\nSources:")
        for c in report.citations:
            print(f"  [{c.get('n') or '-'}] {c.get('title') or c.get('source')}  {c.get('source')}")
    return 0


async def _list(api: ApiClient, args: argparse.Namespace) -> int:
    page = await api.reports(user_id=args.user, page_size=args.limit, page_token=args.page_token)
    if args.json:
        print(json.dumps(page.model_dump(mode="json"), indent=2))
        return 0
    if not page.reports:
        print('no reports yet: a report run writes one (aios run "..." --skill research_report)')
        return 0
    for r in page.reports:
        state = "published" if r.published_at else "draft"
        print(
            f"{r.report_id}  {r.created_at:%Y-%m-%d %H:%M}  {state:9}  {r.user_id:12}  "
            f"{one_line(r.title, 70)}"
        )
    if page.next_page_token:
        print(f"(more: aios reports --page-token {page.next_page_token})")
    return 0


async def cmd_files(api: ApiClient, args: argparse.Namespace) -> int:
    if args.path is None:
        listing = await api.run_files(args.run_id)
        if args.json:
            print(json.dumps(listing.model_dump(mode="json"), indent=2))
        elif not listing.files:
            print(f"run {args.run_id} wrote no files")
        for f in [] if args.json else listing.files:
            print(f"{f.bytes:>10}  {f.updated_at:%Y-%m-%d %H:%M}  {f.path}")
        return 0
    data = await api.run_file(args.run_id, args.path)
    target = args.output or args.path.rsplit("/", 1)[-1]
    if target == "-":
        print(data.decode("utf-8", errors="replace"), end="")
    else:
        await asyncio.to_thread(Path(target).write_bytes, data)
        print(f"wrote {target} ({len(data)} bytes)")
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios reports` with the parser's `client_verb` helper."""
    p = verb(
        "reports", cmd_reports, "list reports, show one, or download it (--download md|html|pdf)"
    )
    p.add_argument("report_id", nargs="?", help="show this report (rpt-…); omit to list them")
    p.add_argument(
        "--download", choices=FORMATS, help="save the report as a file (md, html or pdf)"
    )
    p.add_argument(
        "-o", "--output", help="with --download: the file (default: <id>.<format>; - for stdout)"
    )
    p.add_argument("--user", help="operators: only this user's reports")
    p.add_argument("--limit", type=int, default=20, help="reports per page (1-200; default 20)")
    p.add_argument("--page-token", help="the next page, as printed under the last one")
    f = verb("files", cmd_files, "list the files a run's tools wrote, or download one")
    f.add_argument("run_id", help="the run")
    f.add_argument("path", nargs="?", help="download this file (as `aios files RUN` lists it)")
    f.add_argument("-o", "--output", help="the file to write (default: its name; - for stdout)")
