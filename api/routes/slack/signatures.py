"""Slack's signatures: every request Slack sends is proven before anything is read from it.

Slack's requests carry no API key: each is proven by its signature (HMAC-SHA256 of the body with
the workspace's signing secret, `slack_sdk.signature.SignatureVerifier`) and a timestamp within
5 minutes. A forged, unsigned or replayed request, or one from a workspace not in
`AIOS_SLACK_TEAMS`, is 401 and does nothing.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import Request
from slack_sdk.signature import SignatureVerifier

from aios.config import Settings, SlackTeam
from aios.errors import Unauthorized

log = logging.getLogger("aios.api.slack")

# Slack's replay window (the same as SignatureVerifier's).
MAX_AGE_S = 5 * 60


def verified_team(
    settings: Settings, request: Request, body: bytes, team_id: str | None
) -> tuple[str, SlackTeam]:
    """The workspace whose signing secret signed this request, or 401. `team_id` (read from the
    still unproven body) picks the secret; only the URL-verification handshake names no team,
    and then every configured secret is tried."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Unauthorized("not a signed Slack request (X-Slack-Signature is missing)")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise Unauthorized("X-Slack-Request-Timestamp is not a timestamp") from None
    if age > MAX_AGE_S:
        raise Unauthorized(
            "the request's timestamp is more than 5 minutes away from now: a replayed request "
            "is refused (check the server's clock if this is a fresh one)"
        )
    teams = settings.slack_teams
    if team_id is not None:
        candidates = [(team_id, teams[team_id])] if team_id in teams else []
    else:
        candidates = list(teams.items())
    for name, team in candidates:
        verifier = SignatureVerifier(team.signing_secret.get_secret_value())
        if verifier.is_valid(body, timestamp, signature):
            return name, team
    # Which team was named is logged; the signature and secrets never are.
    log.warning("slack: refused a request with a bad signature (team %r)", team_id)
    raise Unauthorized("the Slack signature does not match (or the workspace is not configured)")


def json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, still unproven ({} when it is none)."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
