"""The run verbs: `aios run` (start one, from a goal, a file, stdin, a recording or a skill, and
follow it), `aios status`, `aios runs`, `aios approve` and `aios approvals` (answer what a run
waits for), `aios cancel`, `aios output` (a step's whole output) and `aios trace` (the decision
trace). They share how a run and what an approval is about are shown in the terminal."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from aios.client import ApiClient, follow, format_report, format_trace, write_inline
from aios.models import ApprovalContext, RunState
from aios.text import one_line
from aios.vocabulary import RunStatus
from cli.common import api_client, load_settings, parse_inputs, print_json, read_audio


def print_run(run: RunState) -> None:
    """A run as `aios status` shows it: its steps, what waits for approval, its report."""
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
    settings = load_settings()
    inputs = parse_inputs(args.input)
    args.goal = _read_goal(args.goal, args.file)
    spoken = _read_spoken_goal(args)
    if spoken is None and args.goal is None and not args.skill:
        raise SystemExit(
            "aios: say what the run should do (a goal, `-` to read it from stdin, or --file F), "
            "or name a --skill"
        )
    async with api_client(settings) as api:
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
            print_json(created)
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
            print_json(run)
        elif run.status == RunStatus.AWAITING_APPROVAL:
            print(f"\nThe run waits for approval; see it with: aios status {run_id}")
            print("(follow it to the end with --wait-approval)")
        else:
            print()
            print_run(run)
        return 0 if run.status in (RunStatus.COMPLETED, RunStatus.AWAITING_APPROVAL) else 1


def _read_spoken_goal(args: argparse.Namespace) -> bytes | None:
    """`aios run --audio FILE`: the recording whose transcript is the goal."""
    if args.audio is None:
        return None
    if args.goal is not None or args.skill:
        raise SystemExit("aios: --audio is the goal: give no other goal, --file or --skill")
    return read_audio(args.audio)


async def cmd_status(args: argparse.Namespace) -> int:
    async with api_client(load_settings()) as api:
        run = await api.get_run(args.run_id)
    print_json(run) if args.json else print_run(run)
    return 0


async def cmd_runs(args: argparse.Namespace) -> int:
    async with api_client(load_settings()) as api:
        page = await api.list_runs(
            status=args.status or None,
            schedule_id=args.schedule or None,
            page_size=args.limit,
            page_token=args.page_token or None,
        )
    if args.json:
        print_json(page)
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


def edited_answer(path: str, *, rejecting: bool) -> str | None:
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
    async with api_client(load_settings()) as api:
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
            edited = edited_answer(args.answer_file, rejecting=args.reject)
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
    print_json(ack) if args.json else print(f"{done} {ack.approval_id}")
    return 0


async def cmd_approvals(args: argparse.Namespace) -> int:
    """What waits for my decision, oldest first, with the command that answers each."""
    async with api_client(load_settings()) as api:
        inbox = await api.approvals(limit=args.limit)
    if args.json:
        print_json(inbox)
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
    async with api_client(load_settings()) as api:
        result = await api.cancel(args.run_id)
    print_json(result) if args.json else print(f"run {args.run_id}: {result.status}")
    return 0


async def cmd_output(api: ApiClient, args: argparse.Namespace) -> int:
    """A step's whole output (run states show a reference to it)."""
    output = await api.step_output(args.run_id, args.step_id)
    print_json(output if args.json else output.output)
    return 0


async def cmd_trace(api: ApiClient, args: argparse.Namespace) -> int:
    """A run's decision trace as a timeline: when, how long, what was decided and why."""
    trace = await api.trace(args.run_id)
    if args.json:
        print_json(trace)
        return 0
    print(format_trace(trace))
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios run`, `status`, `runs`, `approve`, `approvals` and `cancel` with the
    parser's `verb` helper (they open the API themselves)."""
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


def add_inspection_verbs(verb: Any) -> None:
    """Register `aios output` and `aios trace` with the parser's `client_verb` helper."""
    output = verb("output", cmd_output, "print a step's whole output")
    output.add_argument("run_id", help="the run")
    output.add_argument("step_id", help="the step's id, as `aios status` lists them")
    trace = verb("trace", cmd_trace, "show a run's decision trace as a timeline")
    trace.add_argument("run_id", help="the run")
