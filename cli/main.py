"""The `aios` command line.

Server verbs (`dev`, `demo`, `worker`, `api`) run parts of the system; client verbs (`run`,
`status`, `runs`, `approve`, `cancel`, `ingest`, `search`, `documents`) talk to the API at
AIOS_API_URL with AIOS_API_KEY — or, when those are unset, to the stack `aios dev` is running
from this directory.

This package is the composition root: it may import every layer, and nothing imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pydantic

from aios import logs
from aios.client import (
    ApiClient,
    ApiError,
    follow,
    format_report,
    format_trace,
    write_inline,
)
from aios.config import Settings
from aios.errors import AiosError
from aios.models import ApprovalContext, RunState
from aios.text import one_line
from aios.vocabulary import RunStatus
from cli import budgets, contacts, evals, knowledge, policies, reports, sources
from cli.runtime import log_path, read_runtime

# Verbs that run a part of the system (and log what it does), as opposed to client verbs.
SERVER_VERBS = frozenset({"dev", "demo", "worker", "api"})


def _settings() -> Settings:
    return Settings()  # a bad setting raises pydantic.ValidationError: see main()


def _api(settings: Settings) -> ApiClient:
    """The API named by AIOS_API_URL / AIOS_API_KEY, else the stack `aios dev` runs from here."""
    runtime = read_runtime(settings)
    url = settings.api_url or runtime.get("api_url") or settings.api_listen_url
    key = settings.api_key.get_secret_value() if settings.api_key else runtime.get("api_key")
    if key is None and settings.dev_api_key is not None:
        key = settings.dev_api_key.get_secret_value()
    return ApiClient(url, key)


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"aios: --input takes key=value, got {pair!r}")
        try:
            inputs[key] = json.loads(raw)  # numbers, booleans, JSON objects
        except ValueError:
            inputs[key] = raw
    return inputs


def _print_json(value: Any) -> None:
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2, default=str))


def _print_run(run: RunState) -> None:
    print(f"run {run.run_id}: {run.status}")
    print(f"goal: {run.goal}")
    for step in run.plan:
        extra = f" — {step.error}" if step.error else ""
        print(f"  {step.id:<12} {step.status:<18} attempts {step.attempts}  {step.title}{extra}")
    for approval in run.pending_approvals:
        print(
            f"  awaiting approval {approval.approval_id} (step {approval.step_id}): "
            f"{approval.reason}\n    aios approve {run.run_id} {approval.approval_id}"
        )
        if approval.approvers:
            print(f"    for: {', '.join(approval.approvers)}")
        if approval.policy:
            print(f"    under {approval.policy}")
        if approval.self_approval_policy:
            print(f"    self-approval allowed by policy {approval.self_approval_policy}")
        if approval.approvals_required > 1:
            so_far = ", ".join(approval.approved_by) or "nobody"
            print(f"    needs {approval.approvals_required} approvers; approved by: {so_far}")
        _print_about(approval.about, indent="    ")
        if approval.kind == "review" and isinstance(approval.args, dict):
            confidence = approval.args.get("confidence") or {}
            print(f"    answer under review (confidence {confidence.get('score', '?')}):")
            for line in str(approval.args.get("answer", "")).splitlines():
                print(f"      {line}")
            print("    edit it: aios approve ... --answer-file EDITED.md")
    if run.error:
        print(f"error: {run.error}")
    if run.result:
        print("\n" + format_report(run))


def _print_about(about: list[ApprovalContext], *, indent: str) -> None:
    """What an approval is about (the outputs of the steps it depends on), indented, as text."""
    for context in about:
        cut = f", first {len(context.text)} of {context.chars} characters"
        cut = cut if context.truncated else ""
        print(f"{indent}output of {context.step_id} ({context.title or 'step'}{cut}):")
        for line in context.text.splitlines() or [""]:
            # Model output is untrusted: no terminal escape sequences reach the reviewer's screen.
            shown = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)
            print(f"{indent}  | {shown}")


# --- client verbs -------------------------------------------------------------------------


def _read_goal(goal: str | None, path: str | None) -> str | None:
    """The goal as given, from stdin (`-`) or from a file (`--file`): long briefs read better in
    a file than on a command line."""
    if path is not None:
        if goal is not None:
            raise SystemExit("aios: give the goal as an argument or with --file, not both")
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SystemExit(f"aios: cannot read the goal from {path}: {e}") from None
    if goal == "-":
        return sys.stdin.read()
    return goal


async def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    inputs = _parse_inputs(args.input)
    args.goal = _read_goal(args.goal, args.file)
    spoken = _read_spoken_goal(args)
    if spoken is None and args.goal is None and not args.skill:
        raise SystemExit(
            "aios: say what the run should do (a goal, `-` to read it from stdin, or --file F), "
            "or name a --skill"
        )
    async with _api(settings) as api:
        if spoken is not None:
            created = await api.create_run_spoken(
                spoken, {"inputs": inputs}, filename=Path(args.audio).name
            )
            if not args.json:
                print(f"heard: {created.transcript.text if created.transcript else ''}")
        elif args.skill:
            skill_run: dict[str, Any] = {"inputs": inputs}
            if args.goal is not None:
                skill_run["goal"] = args.goal
            created = await api.start_skill(args.skill, skill_run)
        else:
            created = await api.create_run({"goal": args.goal, "inputs": inputs})
        run_id = created.run_id
        if args.json and not args.follow:
            _print_json(created)
            return 0
        if not args.json:
            print(f"run {run_id} started")
            print(f"  Temporal UI: {created.links.temporal_ui}")
        if not args.follow:
            return 0
        quiet = args.json
        run = await follow(
            api,
            run_id,
            printer=(lambda _l: None) if quiet else print,
            on_delta=None if quiet else write_inline,
            stop_at_approval=not args.wait_approval,
        )
        if args.json:
            _print_json(run)
        elif run.status == RunStatus.AWAITING_APPROVAL:
            print(f"\nThe run waits for approval; see it with: aios status {run_id}")
            print("(follow it to the end with --wait-approval)")
        else:
            print()
            _print_run(run)
        return 0 if run.status in (RunStatus.COMPLETED, RunStatus.AWAITING_APPROVAL) else 1


def _read_audio(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SystemExit(f"aios: cannot read the recording {path!r}: {e.strerror}") from None


def _read_spoken_goal(args: argparse.Namespace) -> bytes | None:
    """`aios run --audio FILE`: the recording whose transcript is the goal."""
    if args.audio is None:
        return None
    if args.goal is not None or args.skill:
        raise SystemExit("aios: --audio is the goal: give no other goal, --file or --skill")
    return _read_audio(args.audio)


async def cmd_status(args: argparse.Namespace) -> int:
    async with _api(_settings()) as api:
        run = await api.get_run(args.run_id)
    _print_json(run) if args.json else _print_run(run)
    return 0


async def cmd_runs(args: argparse.Namespace) -> int:
    async with _api(_settings()) as api:
        page = await api.list_runs(
            status=args.status or None,
            schedule_id=args.schedule or None,
            page_size=args.limit,
            page_token=args.page_token or None,
        )
    if args.json:
        _print_json(page)
        return 0
    if not page.runs:
        print("no runs")
        return 0
    # Temporal's order: running runs first (newest first), then finished ones (most recently
    # finished first). The goal takes what the terminal has left.
    id_width = max(len("RUN ID"), *(len(r.run_id) for r in page.runs))
    goal_width = max(shutil.get_terminal_size((120, 24)).columns - id_width - 40, 20)
    print(f"{'RUN ID':<{id_width}}  {'STATUS':<18} {'STARTED':<17} GOAL")
    for run in page.runs:
        started = f"{run.created_at:%Y-%m-%d %H:%M}" if run.created_at else ""
        goal = one_line(run.goal, goal_width)
        print(f"{run.run_id:<{id_width}}  {run.status:<18} {started:<17} {goal}")
    if page.next_page_token:
        print(f"(more: aios runs --page-token {page.next_page_token})")
    return 0


def _edited_answer(path: str, *, rejecting: bool) -> str | None:
    """The text of `--answer-file` (None, said on stderr, when it cannot be used)."""
    if rejecting:
        print("aios: --answer-file edits an answer you approve; drop --reject", file=sys.stderr)
        return None
    try:
        text = (sys.stdin.read() if path == "-" else Path(path).read_text()).strip()
    except (OSError, UnicodeDecodeError) as e:
        print(f"aios: cannot read {path}: {e}", file=sys.stderr)
        return None
    if not text:
        print(f"aios: {path} is empty; nothing to answer with", file=sys.stderr)
        return None
    return text


async def cmd_approve(args: argparse.Namespace) -> int:
    async with _api(_settings()) as api:
        run = await api.get_run(args.run_id)
        # (approval id, args hash) of each approval to consider.
        pending = [(p.approval_id, p.args_hash) for p in run.pending_approvals]
        if args.approval_id:
            match = [p for p in pending if p[0] == args.approval_id]
            if not match:
                # Not pending: the run itself says why (already answered: 409, unknown: 404),
                # the same answer the API gives any client.
                match = [(args.approval_id, "-")]
        else:
            match = pending
        if not match:
            print(
                f"aios: run {args.run_id} has no pending approval (it is {run.status})",
                file=sys.stderr,
            )
            return 2
        if len(match) > 1:
            names = ", ".join(approval_id for approval_id, _ in match)
            print(f"aios: several approvals are pending ({names}); name one", file=sys.stderr)
            return 2
        [(approval_id, args_hash)] = match
        edited = None
        if args.answer_file:
            edited = _edited_answer(args.answer_file, rejecting=args.reject)
            if edited is None:
                return 2
        ack = await api.approve(
            args.run_id,
            approval_id,
            args_hash,
            decision="reject" if args.reject else "approve",
            comment=args.reason,
            **({"answer": edited} if edited is not None else {}),
        )
    done = {"approve": "approved", "reject": "rejected"}.get(ack.decision, ack.decision)
    _print_json(ack) if args.json else print(f"{done} {ack.approval_id}")
    return 0


async def cmd_approvals(args: argparse.Namespace) -> int:
    """What waits for my decision, oldest first, with the command that answers each."""
    async with _api(_settings()) as api:
        inbox = await api.approvals(limit=args.limit)
    if args.json:
        _print_json(inbox)
        return 0
    if not inbox.approvals:
        print("nothing waits for your decision")
        return 0
    for item in inbox.approvals:
        arguments = one_line(json.dumps(item.args, default=str), 100)
        print(
            f"{item.run_id}  {item.approval_id}  asked by {item.requester}, waiting "
            f"{item.waiting_s / 60:.0f} min, expires {item.expires_at:%Y-%m-%d %H:%M} UTC\n"
            f"  goal: {one_line(item.goal, 100)}\n  {item.reason}: {arguments}\n"
            f"  aios approve {item.run_id} {item.approval_id}   (or --reject --reason TEXT)"
        )
        if item.policy:
            print(f"  for {', '.join(item.approvers) or 'any approver'}, under {item.policy}")
        if item.self_approval_policy:
            print(f"  self-approval allowed by policy {item.self_approval_policy}")
        _print_about(item.about, indent="  ")
    if inbox.more:
        print(f"(more wait: aios approvals --limit {args.limit * 2})")
    return 0


async def cmd_cancel(args: argparse.Namespace) -> int:
    async with _api(_settings()) as api:
        result = await api.cancel(args.run_id)
    _print_json(result) if args.json else print(f"run {args.run_id}: {result.status}")
    return 0


# --- server verbs -------------------------------------------------------------------------


async def cmd_output(api: ApiClient, args: argparse.Namespace) -> int:
    """A step's whole output (run states show a reference to it)."""
    output = await api.step_output(args.run_id, args.step_id)
    _print_json(output if args.json else output.output)
    return 0


async def cmd_trace(api: ApiClient, args: argparse.Namespace) -> int:
    """A run's decision trace as a timeline: when, how long, what was decided and why."""
    trace = await api.trace(args.run_id)
    if args.json:
        _print_json(trace)
        return 0
    print(format_trace(trace))
    return 0


async def cmd_chat(api: ApiClient, args: argparse.Namespace) -> int:
    """A terminal conversation: one message per line; an empty line or Ctrl-D ends it."""
    session = args.session
    interactive = sys.stdin.isatty()
    spoken = _read_audio(args.audio) if args.audio else None
    while True:
        if spoken is not None:  # `--audio FILE`: the first message is the recording's transcript
            reply = await api.chat_spoken(
                spoken, session_id=session, filename=Path(args.audio).name
            )
            spoken = None
            if not args.json:
                print(f"you (heard)> {reply['transcript']['text']}")
        else:
            if interactive:
                print("you> ", end="", flush=True)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line.strip():
                return 0
            body: dict[str, Any] = {"message": line.strip()}
            if session:
                body["session_id"] = session
            reply = await api.request("POST", "/v1/chat", json=body)
        session = reply["session_id"]
        if args.json:
            print(json.dumps(reply), flush=True)
            continue
        print(f"aios> {reply['reply']}")
        for use in reply.get("tools_used", []):
            outcome = use["status"] + (f": {use['error']}" if use.get("error") else "")
            print(f"      (used {use['tool']} {json.dumps(use['args'])} — {outcome})")
        for n, c in enumerate(reply["citations"], 1):
            print(f"      [{n}] {c.get('title') or c.get('source')} — {c.get('source')}")
        if interactive and not args.session:
            print(f"      (session {session})")
            args.session = session


async def cmd_schedule(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.goal or (args.cron is None) == (args.every is None):
            raise SystemExit("aios: schedule create needs --goal and one of --cron or --every")
        body: dict[str, Any] = {"goal": args.goal, "timezone": args.timezone}
        body.update({"cron": args.cron} if args.cron else {"interval_s": args.every})
        if args.skill:
            body["skill"] = args.skill
        if args.input:
            body["inputs"] = _parse_inputs(args.input)
        schedule = await api.request("POST", "/v1/schedules", json=body)
    elif args.action == "list":
        listing = await api.request("GET", "/v1/schedules")
        if args.json:
            _print_json(listing)
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
        _print_json(schedule)
    else:
        print(f"{schedule['schedule_id']}: {'paused' if schedule['paused'] else 'active'}")
        if schedule["next_runs"]:
            print(f"  next runs: {', '.join(schedule['next_runs'][:3])}")
        print(f"  its runs: aios runs --schedule {schedule['schedule_id']}")
    return 0


async def cmd_tenants(api: ApiClient, args: argparse.Namespace) -> int:
    """`aios tenants erase TENANT --yes`: everything AIOS holds for the tenant goes."""
    if not args.yes:
        raise SystemExit(
            f"aios: this deletes everything of tenant {args.tenant!r} (runs and their histories, "
            "documents, memory, conversations, schedules, keys) and cannot be undone; "
            "add --yes to go ahead"
        )
    erased = await api.request("DELETE", f"/v1/tenants/{args.tenant}")
    if args.json:
        _print_json(erased)
        return 0
    lines = {
        "schedules": str(erased["schedules"]),
        "workflows deleted": f"{erased['workflows_deleted']} ({erased['workflows_stopped']} open)",
        "chunks": str(erased["chunks"]),
        "memories": str(erased["memories"]),
        **{f"{table} rows": str(count) for table, count in erased["rows"].items()},
    }
    width = max(len(name) for name in lines)
    print(f"erased tenant {erased['tenant']}:")
    for name, value in lines.items():
        print(f"  {name:<{width}}  {value}")
    return 0


async def cmd_keys(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.tenant or not args.user:
            raise SystemExit("aios: keys create needs --tenant and --user")
        body = {"tenant": args.tenant, "user_id": args.user, "roles": args.role or ["user"]}
        if args.name:
            body["name"] = args.name
        created = await api.request("POST", "/v1/keys", json=body)
        if args.json:
            _print_json(created)
        else:
            print(created["key"])
            print(
                f"(key {created['id']} for {created['user_id']} in tenant {created['tenant']}, "
                f"roles {', '.join(created['roles'])}; it is not shown again)",
                file=sys.stderr,
            )
        return 0
    if args.action == "revoke":
        if not args.key_id:
            raise SystemExit("aios: keys revoke needs the key id (key_…), see aios keys list")
        revoked = await api.request("DELETE", f"/v1/keys/{args.key_id}")
        print(f"revoked {revoked['id']}")
        return 0
    params = {"tenant": args.tenant} if args.tenant else {}
    listing = await api.request("GET", "/v1/keys", params=params)
    if args.json:
        _print_json(listing)
        return 0
    print(f"{'id':<14} {'tenant':<12} {'user':<14} {'roles':<16} {'state':<8} last used")
    for key in listing["keys"]:
        state = "revoked" if key["revoked_at"] else "live"
        print(
            f"{key['id']:<14} {key['tenant']:<12} {key['user_id']:<14} "
            f"{','.join(key['roles']):<16} {state:<8} {key['last_used_at'] or '-'}"
        )
    return 0


async def cmd_skills(api: ApiClient, args: argparse.Namespace) -> int:
    listing = await api.skills()
    if args.json:
        _print_json(listing)
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
        _print_json(invoked if args.json else invoked.output)
        return 0
    listing = await api.tools()
    if args.json:
        _print_json(listing)
        return 0
    for spec in listing.tools:
        flags: list[str] = [spec.side_effects]
        if spec.requires_approval:
            flags.append("needs approval")
        if spec.roles:
            flags.append("roles: " + ",".join(spec.roles))
        print(f"{spec.name:<16} {spec.description}  [{'; '.join(flags)}]")
    return 0


async def cmd_dev(_: argparse.Namespace) -> int:
    from cli.devstack import serve_forever

    await serve_forever(_settings())
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return await run_demo(args)


async def cmd_mcp(_: argparse.Namespace) -> int:
    """`aios mcp`: AIOS as an MCP server over stdio, calling the API as the configured key."""
    from aios.mcp_server import build_mcp_server

    settings = _settings()
    await build_mcp_server(lambda: _api(settings)).run_stdio_async()
    return 0


async def cmd_worker(_: argparse.Namespace) -> int:
    from workers.main import run_worker

    await run_worker(_settings())
    return 0


async def cmd_upgrade(args: argparse.Namespace) -> int:
    """`aios upgrade check`: replay every open workflow's history against this code (talks to
    Temporal, and to PostgreSQL for offloaded payloads when AIOS_DATABASE_URL is set)."""
    from aios import db
    from aios.temporal import connect
    from workers.upgrade import check

    settings = _settings()
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
        _print_json(
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

    settings = _settings()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port)
    )
    await server.serve()
    return 0


# --- entry point --------------------------------------------------------------------------


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
            async with _api(_settings()) as api:
                return await fn(api, args)

        return verb(name, with_api, help)

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
    run = verb("run", cmd_run, "start an agent run")
    run.add_argument(
        "goal",
        nargs="?",
        help="what the run should achieve (`-` reads it from stdin; optional with --skill)",
    )
    run.add_argument("--file", help="read the goal from this file")
    run.add_argument(
        "--audio", metavar="FILE", help="say the goal: a recording (wav, mp3, m4a, webm, ogg)"
    )
    run.add_argument("--skill", help="run a named skill (see `aios skills`)")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a skill input or a run input (repeatable); unknown keys are refused naming the "
        "valid ones",
    )
    run.add_argument("--follow", action="store_true", help="show progress until the run ends")
    run.add_argument(
        "--wait-approval",
        action="store_true",
        help="with --follow: keep following while the run waits for an approval",
    )
    status = verb("status", cmd_status, "show a run")
    status.add_argument("run_id", help="the run (run-…), as `aios run` printed it")
    runs = verb("runs", cmd_runs, "list runs")
    runs.add_argument(
        "--status",
        help="queued, running, awaiting_approval, completed, failed, cancelled or timed_out",
    )
    runs.add_argument("--schedule", metavar="SCHEDULE_ID", help="only runs this schedule started")
    runs.add_argument("--limit", type=int, default=20, help="runs per page (1-200; default 20)")
    runs.add_argument("--page-token", help="the next page, as printed under the last one")
    approve = verb("approve", cmd_approve, "approve (or reject) a pending approval")
    approve.add_argument("run_id", help="the run waiting for the answer")
    approve.add_argument(
        "approval_id", nargs="?", help="which approval (needed when several are pending)"
    )
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.add_argument("--reason", help="a comment recorded with the answer")
    approve.add_argument(
        "--answer-file",
        help="approve an answer review with the text of this file (- for stdin) instead of the "
        "model's answer; the run returns it and records you as its editor",
    )
    approvals = verb("approvals", cmd_approvals, "list the approvals waiting for your decision")
    approvals.add_argument("--limit", type=int, default=50, help="runs to look at (1-200)")
    cancel = verb("cancel", cmd_cancel, "cancel a run")
    cancel.add_argument("run_id", help="the run to cancel")
    knowledge.add_verbs(client_verb)
    reports.add_verbs(client_verb)
    budgets.add_verbs(client_verb)
    policies.add_verbs(client_verb)
    contacts.add_verbs(client_verb)
    sources.add_verbs(client_verb)
    evals.add_verbs(client_verb)
    output = client_verb("output", cmd_output, "print a step's whole output")
    output.add_argument("run_id", help="the run")
    output.add_argument("step_id", help="the step's id, as `aios status` lists them")
    trace = client_verb("trace", cmd_trace, "show a run's decision trace as a timeline")
    trace.add_argument("run_id", help="the run")
    chat = client_verb("chat", cmd_chat, "talk with AIOS (one message per line; empty line ends)")
    chat.add_argument("--session", help="continue this session (default: a new one)")
    chat.add_argument(
        "--audio",
        metavar="FILE",
        help="send this recording (wav, mp3, m4a, webm, ogg) as the first message",
    )
    schedule = client_verb(
        "schedule", cmd_schedule, "run a goal on a schedule (Temporal Schedules)"
    )
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
    keys = client_verb("keys", cmd_keys, "create, list or revoke API keys (needs an admin key)")
    keys.add_argument("action", choices=["create", "list", "revoke"], help="what to do")
    keys.add_argument("key_id", nargs="?", help="for revoke: the key's id (key_…)")
    keys.add_argument("--tenant", help="the key's tenant (create), or only this tenant (list)")
    keys.add_argument("--user", help="the user the key acts as (create)")
    keys.add_argument("--role", action="append", help="admin, operator or user (repeatable)")
    keys.add_argument("--name", help="a label to recognise the key by")
    tenants = client_verb(
        "tenants", cmd_tenants, "erase a tenant: everything AIOS holds for it (admin key)"
    )
    tenants.add_argument("action", choices=["erase"], help="what to do")
    tenants.add_argument("tenant", help="the tenant's name")
    tenants.add_argument("--yes", action="store_true", help="confirm: it cannot be undone")
    client_verb("skills", cmd_skills, "list the skills (named workflows) and their inputs")
    tools = client_verb("tools", cmd_tools, "list the tools you may use, or invoke one")
    tools.add_argument("name", nargs="?", help="a tool to invoke")
    tools.add_argument("--args", default="{}", help="the tool's arguments as JSON")
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
