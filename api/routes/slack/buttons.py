"""Slack's interactivity requests: the Approve and Reject buttons of an approval message.

A click answers as the clicker's mapped AIOS user through `RunService.approvals.answer`, the path
`POST /v1/runs/{id}/approvals/{approval_id}` takes: the approver role and four eyes apply. The
message then shows the outcome, or the clicker is told in the thread why their click did not
count. A click is taken once, as an event is.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pydantic
from fastapi import APIRouter, Request, Response
from temporalio.client import Client

from aios.config import Settings, SlackTeam
from aios.errors import AiosError
from aios.slack import (
    APPROVE_ACTION,
    REJECT_ACTION,
    ApprovalButton,
    SlackJob,
    SlackThread,
    escape,
    event_workflow_id,
    outcome_blocks,
)
from aios.stores.slack import SlackStore
from aios.wire import ApprovalBody
from api.deps import DbDep, SettingsDep, TemporalDep
from api.routes.slack.jobs import mapped_user, principal_for, say, start_job, unmapped_notice
from api.routes.slack.signatures import verified_team
from api.run_service import RunsDep, RunService

router = APIRouter()


@router.post("/interactions", status_code=200, response_class=Response)
async def interactions(
    request: Request,
    settings: SettingsDep,
    temporal: TemporalDep,
    pool: DbDep,
    runs: RunsDep,
) -> Response:
    """Slack's interactivity requests (the app's Interactivity Request URL): the Approve and
    Reject buttons of an approval message. Signed requests only (401 otherwise). The clicker
    answers as their mapped AIOS user, through the same checks as the API (the approver role,
    four eyes: a run's requester never answers its approvals); the message is updated with the
    outcome, or the clicker is told in the thread why their click did not count."""
    body = await request.body()
    try:
        payload = json.loads(parse_qs(body.decode("utf-8", "replace")).get("payload", ["{}"])[0])
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    team_field = payload.get("team")
    team_id_named = team_field.get("id") if isinstance(team_field, dict) else None
    team_id, team = verified_team(settings, request, body, team_id_named or "")
    actions = payload.get("actions") or []
    if payload.get("type") != "block_actions" or not actions:
        return Response(status_code=200)
    action = actions[0]
    if action.get("action_id") not in (APPROVE_ACTION, REJECT_ACTION):
        return Response(status_code=200)
    store = SlackStore(pool)
    click_id = str(payload.get("trigger_id") or action.get("action_ts") or "")
    if not click_id or not await store.first_delivery(team_id, f"click:{click_id}", team.tenant):
        return Response(status_code=200)
    try:
        await _take_click(settings, temporal, runs, store, team_id, team, payload, action)
    except BaseException:
        await store.forget(team_id, f"click:{click_id}")
        raise
    return Response(status_code=200)


async def _take_click(
    settings: Settings,
    temporal: Client,
    runs: RunService,
    store: SlackStore,
    team_id: str,
    team: SlackTeam,
    payload: dict[str, Any],
    action: dict[str, Any],
) -> None:
    slack_user = str((payload.get("user") or {}).get("id", ""))
    message = payload.get("message") or {}
    channel = str((payload.get("channel") or {}).get("id", ""))
    message_ts = str((payload.get("container") or {}).get("message_ts") or message.get("ts", ""))
    thread = SlackThread(
        team_id=team_id, channel=channel, thread_ts=str(message.get("thread_ts") or message_ts)
    )
    job_id = event_workflow_id(team_id, f"click:{payload.get('trigger_id') or message_ts}")
    mapped = await mapped_user(store, team_id, team, slack_user)
    if mapped is None:
        await say(temporal, settings, job_id, team.tenant, thread, unmapped_notice(slack_user))
        return
    try:
        button = ApprovalButton.model_validate_json(str(action.get("value", "")))
    except pydantic.ValidationError:
        await say(
            temporal,
            settings,
            job_id,
            team.tenant,
            thread,
            f"<@{slack_user}> this button is not an AIOS approval.",
            user_id=mapped.user_id,
        )
        return
    decision = "approve" if action["action_id"] == APPROVE_ACTION else "reject"
    principal = principal_for(settings, team_id, slack_user, mapped)
    try:
        ack, _ = await runs.approvals.answer(
            principal,
            button.run_id,
            button.approval_id,
            ApprovalBody(
                decision=decision, args_hash=button.args_hash, comment="answered in Slack"
            ),
        )
    except AiosError as e:
        # Refused (four eyes, no approver role, already answered, stale): the clicker is told in
        # the thread; the buttons stay for someone who may answer.
        await say(
            temporal,
            settings,
            job_id,
            team.tenant,
            thread,
            f"<@{slack_user}> your {decision} did not count: {escape(e.message)}",
            user_id=mapped.user_id,
        )
        return
    verb = "Approved" if decision == "approve" else "Rejected"
    outcome = f"{verb} by <@{slack_user}> ({escape(mapped.user_id)})" + (
        " — recorded; applied when a worker picks the run up" if ack.status == "accepted" else ""
    )
    shown = message.get("blocks")
    original: list[dict[str, Any]] = (
        [b for b in shown if isinstance(b, dict)] if isinstance(shown, list) else []
    )
    job = SlackJob(
        kind="update",
        tenant=team.tenant,
        thread=thread,
        update_ts=message_ts,
        text=outcome,
        blocks=outcome_blocks(original, outcome),
    )
    await start_job(temporal, settings, job_id, job, mapped.user_id)
