"""The Slack app (docs/slack.md): Slack's Events API and interactivity requests, and the admin's
map of Slack users to AIOS users.

Slack's requests carry no API key: each is proven by its signature (HMAC-SHA256 of the body with
the workspace's signing secret, `slack_sdk.signature.SignatureVerifier`) and a timestamp within
5 minutes. A forged, unsigned or replayed request, or one from a workspace not in
`AIOS_SLACK_TEAMS`, is 401 and does nothing. Slack wants an answer within 3 seconds, so the work
is started, never done here: a `SlackEventWorkflow` posts replies, follows runs and posts
approvals; a run itself is started through the run service like any other, as the mapped user
(their roles, their limits, their budget). Events are taken once (by event id, in PostgreSQL):
Slack resends an event it thinks was lost.

A Slack user acts only as the AIOS user an admin mapped them to; an unmapped user is told so in
the thread, and nothing runs. An approval button answers through `RunService.approvals.answer`,
the path `POST /v1/runs/{id}/approvals/{approval_id}` takes: the approver role and four eyes
apply.

The routes are this package's modules, under one router (`/v1/channels/slack`): `mentions`
(`POST /events`), `buttons` (`POST /interactions`) and `users` (the admin's map); `signatures`
proves Slack's requests and `jobs` is what the first two share.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.slack import buttons, mentions, users
from api.routes.slack.buttons import interactions
from api.routes.slack.mentions import SlackAck, events
from api.routes.slack.signatures import MAX_AGE_S, log, verified_team
from api.routes.slack.users import (
    USER_EXAMPLE,
    MapSlackUser,
    SlackUserId,
    SlackUserList,
    SlackUserOut,
    TeamId,
    list_users,
    map_user,
    unmap_user,
)

__all__ = [
    "MAX_AGE_S",
    "USER_EXAMPLE",
    "MapSlackUser",
    "SlackAck",
    "SlackUserId",
    "SlackUserList",
    "SlackUserOut",
    "TeamId",
    "events",
    "interactions",
    "list_users",
    "log",
    "map_user",
    "router",
    "unmap_user",
    "verified_team",
]

router = APIRouter(prefix="/v1/channels/slack", tags=["slack"])
# In the order the routes were always listed (the OpenAPI document's order).
router.include_router(mentions.router)
router.include_router(buttons.router)
router.include_router(users.router)
