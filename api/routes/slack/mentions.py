"""Slack's Events API: a mention of the app starts a run or a chat turn as the mapped user.

`@AIOS run <goal>` starts a run through the run service like any other (the mapped user's roles,
limits and budget) and follows it in the thread; anything else is a chat turn in the user's
session of the thread. Events are taken once (by event id, in PostgreSQL): Slack resends an event
it thinks was lost.
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from temporalio.client import Client

from aios.config import Settings, SlackTeam
from aios.errors import AiosError
from aios.models import ChatSessionInput
from aios.notices import run_link
from aios.slack import (
    SlackChatRequest,
    SlackJob,
    SlackThread,
    escape,
    event_workflow_id,
    parse_mention,
    session_id,
)
from aios.stores.slack import SlackStore
from aios.wire import CreateRun
from api.deps import DbDep, SettingsDep, TemporalDep
from api.examples import example
from api.routes.chat import session_workflow_id
from api.routes.slack.jobs import mapped_user, principal_for, say, start_job, unmapped_notice
from api.routes.slack.signatures import json_body, verified_team
from api.run_service import RunsDep, RunService

router = APIRouter()


class SlackAck(BaseModel):
    ok: bool = True
    challenge: str | None = Field(default=None, description="the URL-verification handshake")
    duplicate: bool = Field(default=False, description="an event already taken (a Slack resend)")


@router.post(
    "/events",
    response_model=SlackAck,
    response_model_exclude_none=True,
    responses=example({"ok": True}),
)
async def events(
    request: Request,
    settings: SettingsDep,
    temporal: TemporalDep,
    pool: DbDep,
    runs: RunsDep,
) -> SlackAck:
    """Slack's Events API (the app's Request URL). Signed requests only (401 otherwise). The
    URL-verification handshake is answered with its challenge; an `app_mention` is taken once
    per event id: `@AIOS run <goal>` starts a run as the mapped user and follows it in the
    thread, anything else is a chat turn in the user's session of the thread."""
    body = await request.body()
    data = json_body(body)
    team_id, team = verified_team(settings, request, body, data.get("team_id"))
    if data.get("type") == "url_verification":
        return SlackAck(challenge=str(data.get("challenge", "")))
    event = data.get("event")
    event_id = data.get("event_id")
    if data.get("type") != "event_callback" or not isinstance(event, dict) or not event_id:
        return SlackAck()  # nothing AIOS acts on
    if event.get("type") != "app_mention" or event.get("bot_id") or not event.get("user"):
        return SlackAck()  # the bot's own messages and other events: nothing to do
    store = SlackStore(pool)
    if not await store.first_delivery(team_id, str(event_id), team.tenant):
        return SlackAck(duplicate=True)
    try:
        await _take_mention(
            settings, temporal, runs, store, team_id, team, str(event_id), event, request
        )
    except BaseException:
        # Not taken after all (Temporal unreachable, say): Slack's resend must find it new.
        await store.forget(team_id, str(event_id))
        raise
    return SlackAck()


async def _take_mention(
    settings: Settings,
    temporal: Client,
    runs: RunService,
    store: SlackStore,
    team_id: str,
    team: SlackTeam,
    event_id: str,
    event: dict[str, Any],
    request: Request,
) -> None:
    slack_user = str(event["user"])
    channel = str(event.get("channel", ""))
    thread = SlackThread(
        team_id=team_id,
        channel=channel,
        thread_ts=str(event.get("thread_ts") or event.get("ts") or ""),
    )
    job_id = event_workflow_id(team_id, event_id)
    mapped = await mapped_user(store, team_id, team, slack_user)
    if mapped is None:
        await say(temporal, settings, job_id, team.tenant, thread, unmapped_notice(slack_user))
        return
    principal = principal_for(settings, team_id, slack_user, mapped)
    command, text = parse_mention(str(event.get("text", "")))
    if not text:
        await say(
            temporal,
            settings,
            job_id,
            team.tenant,
            thread,
            f"<@{slack_user}> ask me something, or say `run <goal>` to start a run.",
            user_id=mapped.user_id,
        )
        return
    if command == "run":
        base = settings.public_url or str(request.base_url)
        try:
            created = await runs.start(
                principal,
                CreateRun(goal=text),
                base_url=base,
                idempotency_key=f"slack:{team_id}:{event_id}",
            )
        except (AiosError, pydantic.ValidationError) as e:
            reason = e.message if isinstance(e, AiosError) else "the goal is not valid"
            await say(
                temporal,
                settings,
                job_id,
                team.tenant,
                thread,
                f"<@{slack_user}> the run was not started: {escape(reason)}",
                user_id=mapped.user_id,
            )
            return
        link = run_link(settings.public_url or settings.api_listen_url, created.run_id)
        job = SlackJob(
            kind="follow_run", tenant=team.tenant, thread=thread, run_id=created.run_id, text=link
        )
    else:
        session = session_id(thread, slack_user)
        job = SlackJob(
            kind="chat",
            tenant=team.tenant,
            thread=thread,
            chat=SlackChatRequest(
                workflow_id=session_workflow_id(team.tenant, session),
                session=ChatSessionInput(
                    session_id=session,
                    tenant=team.tenant,
                    user_id=mapped.user_id,
                    roles=sorted(principal.roles),
                    activity_queues=settings.activity_queues(),
                ),
                message=text[:8000],
                message_id=f"m-slack-{event_id}",
            ),
        )
    await start_job(temporal, settings, job_id, job, mapped.user_id)
