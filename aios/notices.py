"""Telling approvers that an approval waits: the notice a run sends when an approval opens, and
how it reads as an email, as a webhook's JSON and as a Slack message. Delivery is the
`aios.notify_approval` activity (activities/approvals.py), once per approval and channel."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from aios.models import ApprovalContext
from aios.text import one_line

# What a notice carries of each output the approval is about (the console shows more).
NOTICE_CONTEXT_CHARS = 1500
# Slack's limit on a section block's text is 3000 characters; what is cut is in the console.
SLACK_SECTION_CHARS = 2900


class ApprovalNotice(BaseModel):
    """An approval that opened: the activity's input."""

    tenant: str
    run_id: str
    goal: str
    requester: str
    approval_id: str
    step_id: str
    reason: str
    args: Any = None
    about: list[ApprovalContext] = Field(default_factory=list)
    requested_at: datetime
    expires_at: datetime
    # Who may answer (empty: the approver role); after an escalation, the next group.
    approvers: list[str] = Field(default_factory=list)
    # 0 when the approval opens; n after its n-th escalation (each group is told once).
    escalation: int = 0
    # The policy that lets the run's requester answer it too (four eyes off), if any.
    self_approval_policy: str | None = None

    @property
    def key(self) -> str:
        """Names the approval (and escalation step) across retries and replays: deliveries are
        deduplicated on it."""
        base = f"{self.run_id}/{self.approval_id}"
        return base if self.escalation == 0 else f"{base}/escalation-{self.escalation}"


# A Slack member id (`U…` or `W…`, as Slack's profile menu "Copy member ID" gives it).
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,20}$"
# The roles that answer an approval that names nobody (admin implies approver).
ANSWERING_ROLES = frozenset({"approver", "admin"})


class ContactIn(BaseModel):
    """Where a user is told about approvals routed to them (`PUT /v1/users/{id}/contact`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "carol@acme.example", "slack_user_id": "U024BE7LH"}]
        },
    )

    email: EmailStr = Field(description="approval notices are sent here")
    slack_user_id: str | None = Field(
        default=None,
        pattern=SLACK_USER_ID,
        description="the user's Slack member id (U…): mentioned in the tenant's Slack notices",
    )


class Contact(ContactIn):
    """A user's contact as kept: who set it and when."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    updated_by: str
    updated_at: datetime


def routed_users(
    approvers: list[str], users: dict[str, set[str]], groups: dict[str, set[str]]
) -> set[str]:
    """The people an approval is routed to, as far as the tenant's data knows them: users named
    by id, members of named groups, the tenant's users whose keys hold a named role (admin holds
    every role); naming nobody: those holding the approver (or admin) role. `users` are the
    tenant's users and their keys' roles; `groups` the tenant's groups and their members."""
    if not approvers:
        return {u for u, roles in users.items() if roles & ANSWERING_ROLES}
    found: set[str] = set()
    for name in approvers:
        if name.startswith("role:"):
            role = name.removeprefix("role:")
            found |= {u for u, roles in users.items() if role in roles or "admin" in roles}
        elif name.startswith("group:"):
            found |= groups.get(name.removeprefix("group:"), set())
        else:
            found.add(name)
    return found


class NoticeSent(BaseModel):
    """Channels the notice went to now, and those it had already gone to (a retry)."""

    sent: list[str] = Field(default_factory=list)
    already: list[str] = Field(default_factory=list)


def for_tenant(per_tenant: dict[str, Any], tenant: str) -> Any:
    """A per-tenant setting's value for `tenant` (its own entry, else `"*"`), or None."""
    return per_tenant.get(tenant, per_tenant.get("*"))


def run_link(public_url: str, run_id: str) -> str:
    return f"{public_url.rstrip('/')}/#/runs/{run_id}"


def email_subject(notice: ApprovalNotice) -> str:
    return one_line(f"Approval waiting: {notice.reason}", 150)


def email_body(notice: ApprovalNotice, link: str) -> str:
    """Plain text: what is asked, by whom, until when, what it is about, and where to answer."""
    lines = [
        f"{notice.requester} asks for an approval in run {notice.run_id}.",
        "",
        f"Goal: {one_line(notice.goal, 500)}",
        f"Step: {notice.step_id}",
        f"Why: {notice.reason}",
        f"For: {', '.join(notice.approvers) or 'the approver role'}"
        + (f" (escalated, step {notice.escalation})" if notice.escalation else ""),
        f"Expires: {notice.expires_at:%Y-%m-%d %H:%M} UTC",
        f"Arguments: {one_line(str(notice.args), 1000)}",
    ]
    if notice.self_approval_policy:
        lines.append(self_approval_note(notice.self_approval_policy))
    for context in notice.about:
        text = context.text[:NOTICE_CONTEXT_CHARS]
        cut = " (cut; the console shows more)" if len(context.text) > len(text) else ""
        lines += ["", f"Output of {context.step_id}{cut}:", text]
    lines += ["", f"Open it: {link}", f"Or: aios approve {notice.run_id} {notice.approval_id}"]
    return "\n".join(lines) + "\n"


def self_approval_note(policy: str) -> str:
    """What every view of an approval says when its requester may answer it too."""
    return f"Self-approval allowed by policy {policy} (the requester may approve it too)."


def webhook_body(notice: ApprovalNotice, link: str) -> dict[str, Any]:
    body = notice.model_dump(mode="json")
    for context in body["about"]:
        context["text"] = context["text"][:NOTICE_CONTEXT_CHARS]
    return {"type": "approval.requested", "link": link, **body}


def slack_escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally: `&`, `<` and `>` escaped, so a goal or an
    output cannot make links or mentions (`<!channel>`) of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(
    notice: ApprovalNotice, link: str, mentions: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """A Slack incoming webhook's message (`text` for notifications, `blocks` for the
    channel): what is asked, by whom, until when, what it is about, and a button to open it.
    `mentions`: the Slack member ids of the people it is routed to (validated ids, so the only
    mentions a message carries are these)."""
    who = ", ".join(notice.approvers) or "the approver role"
    if notice.escalation:
        who += f" (escalated, step {notice.escalation})"
    facts = "\n".join(
        [
            f"*Goal:* {slack_escape(one_line(notice.goal, 500))}",
            f"*Step:* {slack_escape(notice.step_id)}",
            f"*Why:* {slack_escape(one_line(notice.reason, 500))}",
            f"*For:* {slack_escape(who)}"
            + "".join(f" <@{m}>" for m in mentions if re.match(SLACK_USER_ID, m)),
            f"*Expires:* {notice.expires_at:%Y-%m-%d %H:%M} UTC",
            f"*Arguments:* {slack_escape(one_line(str(notice.args), 1000))}",
            *(
                [slack_escape(self_approval_note(notice.self_approval_policy))]
                if notice.self_approval_policy
                else []
            ),
        ]
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{slack_escape(notice.requester)} asks for an approval in run "
                f"`{notice.run_id}`.\n{facts}",
            },
        }
    ]
    for context in notice.about:
        text = slack_escape(context.text[:NOTICE_CONTEXT_CHARS])[:SLACK_SECTION_CHARS]
        cut = " (cut; the console shows more)" if len(context.text) > NOTICE_CONTEXT_CHARS else ""
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Output of {slack_escape(context.step_id)}*{cut}:\n{text}",
                },
            }
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in the console"},
                    "url": link,
                    "style": "primary",
                }
            ],
        }
    )
    headline = one_line(f"Approval waiting: {notice.reason}", 150)
    return {"text": f"{slack_escape(headline)} <{link}|Open it>", "blocks": blocks}
