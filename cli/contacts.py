"""`aios contacts`: where approval notices reach a user (an email, optionally a Slack member id):
show, set, delete. Your own with any key; another user's of your tenant with an admin key."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aios.client import ApiClient
from aios.errors import UserError
from aios.notices import Contact


def contact_line(c: Contact) -> str:
    slack = f", Slack {c.slack_user_id}" if c.slack_user_id else ""
    return (
        f"{c.user_id}: {c.email}{slack}  (set by {c.updated_by}, {c.updated_at:%Y-%m-%d %H:%M} UTC)"
    )


async def cmd_contacts(api: ApiClient, args: argparse.Namespace) -> int:
    path = f"/v1/users/{args.user_id}/contact"
    if args.action == "delete":
        await api.request("DELETE", path)
        print(f"deleted the contact of {args.user_id}")
        return 0
    if args.action == "set":
        if not args.email:
            raise UserError("which address? aios contacts set USER --email ADDRESS")
        body: dict[str, Any] = {"email": args.email}
        if args.slack_user_id:
            body["slack_user_id"] = args.slack_user_id
        contact = Contact.model_validate(await api.request("PUT", path, json=body))
    else:
        contact = Contact.model_validate(await api.request("GET", path))
    print(
        json.dumps(contact.model_dump(mode="json"), indent=2)
        if args.json
        else contact_line(contact)
    )
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios contacts` with the parser's `client_verb` helper."""
    c = verb(
        "contacts",
        cmd_contacts,
        "where a user's approval notices go: show, set, delete (yours, or any user's with an "
        "admin key)",
    )
    c.add_argument("action", choices=("show", "set", "delete"))
    c.add_argument("user_id", help="the user (a user id of your tenant)")
    c.add_argument("--email", help="set: the address approval notices are sent to")
    c.add_argument("--slack-user-id", help="set: the user's Slack member id (U…), mentioned")
