"""The Slack app's shared language: what the API hands the Slack workflow, what its activities
take and return, and how AIOS's messages read in Slack (text and Block Kit). Pure: no I/O.

Slack's own requests are checked and read in `api/routes/slack/`; messages go out through
`activities/slack.py`; `workflows/slack.py` decides what to post when.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.models import ChatReply, ChatSessionInput, PendingApproval
from aios.text import one_line

# Block Kit action ids of the approval buttons; their value is an `ApprovalButton` as JSON.
APPROVE_ACTION, REJECT_ACTION = "aios_approve", "aios_reject"
# Slack's limits: 40,000 characters of message text, 3,000 of a section block's text.
MAX_TEXT = 39_000
MAX_SECTION = 2_900

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_RUN = re.compile(r"^\s*run\b[:\s]*(.*)$", re.IGNORECASE | re.DOTALL)


class SlackThread(BaseModel):
    """Where a conversation happens: a thread of a channel of a workspace."""

    team_id: str
    channel: str
    thread_ts: str


class SlackMessage(BaseModel):
    """A message to post in a thread (`chat.postMessage`), or, with `update_ts`, the new text of
    a message already posted (`chat.update`). The bot token is the worker's, by team."""

    thread: SlackThread
    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    update_ts: str | None = None


class SlackPosted(BaseModel):
    channel: str
    ts: str


class SlackChatRequest(BaseModel):
    """One chat turn of a Slack user's session: update-with-start of `ChatSessionWorkflow`."""

    workflow_id: str
    session: ChatSessionInput
    message: str = Field(min_length=1, max_length=8000)
    # From the Slack event id: a retried activity names the same update, which Temporal runs once.
    message_id: str


class RunWatch(BaseModel):
    """Wait until the run's progress differs from what was last posted (or `wait_s` passes)."""

    run_id: str
    status: str | None = None
    done_steps: int = -1
    approvals: list[str] = Field(default_factory=list)
    wait_s: float = 300.0


class RunDigest(BaseModel):
    """A run's progress as the thread is told it."""

    run_id: str
    status: str
    goal: str = ""
    requester: str = ""
    done_steps: int = 0
    total_steps: int = 0
    running: list[str] = Field(default_factory=list)
    pending: list[PendingApproval] = Field(default_factory=list)
    answer: str | None = None
    error: str | None = None


class SlackJob(BaseModel):
    """The Slack workflow's input: one thing to do for one Slack request.

    - `say`: post `text` in the thread (e.g. "you are not mapped to an AIOS user").
    - `chat`: a chat turn of `chat`, its reply posted in the thread.
    - `follow_run`: post run `run_id`'s progress, approvals (with buttons) and report.
    - `update`: replace message `update_ts` with `text` (a button's outcome); `text` also posted
      in the thread when `also_say` is set.
    """

    kind: Literal["say", "chat", "follow_run", "update"]
    tenant: str
    thread: SlackThread
    text: str = ""
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    update_ts: str | None = None
    chat: SlackChatRequest | None = None
    run_id: str | None = None
    # How many watch rounds this workflow has made before continuing as new.
    rounds: int = 0
    last: RunDigest | None = None
    status_ts: str | None = None
    # The approvals already posted with buttons.
    posted: list[str] = Field(default_factory=list)


class ApprovalButton(BaseModel):
    """What an Approve / Reject button carries back: the approval and the hash it was shown with."""

    run_id: str = Field(max_length=200)
    approval_id: str = Field(max_length=200)
    args_hash: str = Field(max_length=200)


def escape(text: str) -> str:
    """Slack's three control characters, so text from users, documents or models cannot mention
    people or channels (`<!channel>`) or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_mention(text: str) -> tuple[Literal["run", "chat"], str]:
    """What a message to the bot asks: `run <goal>` starts a run; anything else is chat. The
    mentions of the bot (`<@U…>`) are taken out."""
    plain = _MENTION.sub("", text).strip()
    found = _RUN.match(plain)
    if found:
        return "run", found.group(1).strip()
    return "chat", plain


def session_id(thread: SlackThread, slack_user: str) -> str:
    """A thread is a chat session, one per person in it: a session holds one user's
    conversation and reads that user's memory (docs/decisions/0040)."""
    return f"slack-{thread.team_id}-{thread.channel}-{thread.thread_ts}-{slack_user}"


def event_workflow_id(team_id: str, event_id: str) -> str:
    """The Slack workflow of one event: a resend finds the one already started."""
    digest = hashlib.sha256(f"{team_id}\0{event_id}".encode()).hexdigest()[:24]
    return f"slack-{digest}"


def chat_text(reply: ChatReply) -> str:
    text = escape(reply.reply)
    if reply.citations:
        sources = "\n".join(
            f"[{c.n}] {escape(c.title or c.source)}" for c in reply.citations if c.n is not None
        )
        text += f"\n\n*Sources*\n{sources}"
    return cut(text)


STATUS_WORDS = {
    "queued": "queued",
    "running": "running",
    "awaiting_approval": "waiting for an approval",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed out",
}


def progress_text(digest: RunDigest, link: str) -> str:
    """The run's status message, updated in place as the run goes."""
    line = (
        f"Run `{digest.run_id}` for {escape(digest.requester)}: "
        f"*{STATUS_WORDS.get(digest.status, digest.status)}*"
    )
    if digest.total_steps:
        line += f" ({digest.done_steps}/{digest.total_steps} steps done)"
    if digest.running:
        line += "\nNow: " + escape(", ".join(digest.running))
    if digest.error:
        line += f"\nError: {escape(one_line(digest.error, 500))}"
    return f"{line}\nGoal: {escape(one_line(digest.goal, 300))}\n<{link}|Open the run>"


def report_text(digest: RunDigest) -> str:
    return cut(f"*Report of run `{digest.run_id}`*\n\n{escape(digest.answer or '')}")


def approval_blocks(run_id: str, pending: PendingApproval, requester: str) -> list[dict[str, Any]]:
    """An approval as a Block Kit message: what is asked and about what, then Approve / Reject.
    Whoever clicks answers as their mapped AIOS user, under the API's rules (four eyes)."""
    about = "".join(
        f"\n*Output of {escape(c.step_id)}*\n```{escape(one_line(c.text, 600))}```"
        for c in pending.about
    )
    args = json.dumps(pending.args, ensure_ascii=False, default=str)
    text = (
        f"*Approval needed* in run `{run_id}` (requested by {escape(requester)})\n"
        f"Step `{escape(pending.step_id)}`: {escape(one_line(pending.reason, 500))}\n"
        f"Arguments: `{escape(one_line(args, 500))}`"
        + (f"\nFor: {escape(', '.join(pending.approvers))}" if pending.approvers else "")
        + about
    )
    value = ApprovalButton(
        run_id=run_id, approval_id=pending.approval_id, args_hash=pending.args_hash
    ).model_dump_json()
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION)}},
        {
            "type": "actions",
            "block_id": f"approval:{pending.approval_id}"[:255],
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": value,
                },
            ],
        },
    ]


def approval_fallback_text(run_id: str, pending: PendingApproval) -> str:
    """The notification text of an approval message (what a phone shows)."""
    return f"Approval needed in run {run_id}: {escape(one_line(pending.reason, 200))}"


def outcome_blocks(original: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    """The approval message after an answer: what was asked (without the buttons), and the
    outcome."""
    kept = [b for b in original if b.get("type") == "section"][:1]
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]}]
