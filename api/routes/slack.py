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
the thread, and nothing runs. An approval button answers through `RunService.answer`, the path
`POST /v1/runs/{id}/approvals/{approval_id}` takes: the approver role and four eyes apply.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any
from urllib.parse import parse_qs

import pydantic
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from slack_sdk.signature import SignatureVerifier
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from aios import search_attributes as sa
from aios.config import Settings, SlackTeam
from aios.errors import AiosError, NotFound, Unauthorized, ValidationFailed
from aios.models import ChatSessionInput
from aios.notices import run_link
from aios.slack import (
    APPROVE_ACTION,
    REJECT_ACTION,
    ApprovalButton,
    SlackChatRequest,
    SlackJob,
    SlackThread,
    escape,
    event_workflow_id,
    outcome_blocks,
    parse_mention,
    session_id,
)
from aios.stores.slack import SlackStore, SlackUser
from aios.vocabulary import BUILTIN_ROLES
from aios.wire import ApprovalBody, CreateRun
from api.deps import (
    ADMIN_ONLY,
    DbDep,
    Principal,
    RegistryDep,
    SettingsDep,
    TemporalDep,
)
from api.examples import example
from api.routes.chat import session_workflow_id
from api.run_service import RunsDep, RunService
from api.temporal_reads import UNREACHABLE, unavailable
from workflows.slack import SlackEventWorkflow

router = APIRouter(prefix="/v1/channels/slack", tags=["slack"])
log = logging.getLogger("aios.api.slack")

# Slack's replay window (the same as SignatureVerifier's).
MAX_AGE_S = 5 * 60
TeamId = Annotated[str, Path(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")]
SlackUserId = Annotated[str, Path(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")]


# --- signatures ---------------------------------------------------------------------------------


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


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- events -------------------------------------------------------------------------------------


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
    data = _json(body)
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
    mapped = await _mapped(store, team_id, team, slack_user)
    if mapped is None:
        await _say(temporal, settings, job_id, team.tenant, thread, _unmapped(slack_user))
        return
    principal = _principal(settings, team_id, slack_user, mapped)
    command, text = parse_mention(str(event.get("text", "")))
    if not text:
        await _say(
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
            await _say(
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
    await _start(temporal, settings, job_id, job, mapped.user_id)


# --- interactions -------------------------------------------------------------------------------


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
    mapped = await _mapped(store, team_id, team, slack_user)
    if mapped is None:
        await _say(temporal, settings, job_id, team.tenant, thread, _unmapped(slack_user))
        return
    try:
        button = ApprovalButton.model_validate_json(str(action.get("value", "")))
    except pydantic.ValidationError:
        await _say(
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
    principal = _principal(settings, team_id, slack_user, mapped)
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
        await _say(
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
    await _start(temporal, settings, job_id, job, mapped.user_id)


# --- shared -------------------------------------------------------------------------------------


async def _mapped(
    store: SlackStore, team_id: str, team: SlackTeam, slack_user: str
) -> SlackUser | None:
    """The AIOS user of this Slack user, if an admin mapped them (in the team's tenant)."""
    if not slack_user:
        return None
    user = await store.user(team_id, slack_user)
    return user if user is not None and user.tenant == team.tenant else None


def _principal(settings: Settings, team_id: str, slack_user: str, user: SlackUser) -> Principal:
    """The mapped user as a caller: their roles, their tenant, the deployment's run limit; the
    key id names the Slack identity (spend ledger and audit)."""
    return Principal(
        tenant=user.tenant,
        user_id=user.user_id,
        roles=frozenset(user.roles),
        key_id=f"slack:{team_id}:{slack_user}",
        max_concurrent_runs=settings.max_concurrent_runs,
    )


def _unmapped(slack_user: str) -> str:
    return (
        f"<@{slack_user}> you are not mapped to an AIOS user in this workspace, so I cannot act "
        "for you. Ask an AIOS admin to map you (`POST /v1/channels/slack/users`)."
    )


async def _say(
    temporal: Client,
    settings: Settings,
    job_id: str,
    tenant: str,
    thread: SlackThread,
    text: str,
    *,
    user_id: str = "slack",
) -> None:
    await _start(
        temporal,
        settings,
        job_id,
        SlackJob(kind="say", tenant=tenant, thread=thread, text=text),
        user_id,
    )


async def _start(
    temporal: Client, settings: Settings, job_id: str, job: SlackJob, user_id: str
) -> None:
    try:
        await temporal.start_workflow(
            SlackEventWorkflow.run,
            job,
            id=job_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=sa.owned_by(job.tenant, user_id),
            static_summary=f"Slack {job.kind} in {job.thread.channel}",
        )
    except UNREACHABLE as e:
        raise unavailable(settings, "the Slack event", e) from e


# --- the admin's map of Slack users -------------------------------------------------------------


class MapSlackUser(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"team_id": "T0123ABCD", "slack_user_id": "U0456EFGH", "user_id": "ada"}]
        },
    )

    team_id: str = Field(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")
    slack_user_id: str = Field(max_length=40, pattern=r"^[A-Z0-9]{2,40}$")
    user_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]{1,200}$")
    roles: list[str] = Field(default_factory=lambda: ["user"], min_length=1, max_length=10)


class SlackUserOut(BaseModel):
    team_id: str
    slack_user_id: str
    tenant: str
    user_id: str
    roles: list[str]


class SlackUserList(BaseModel):
    users: list[SlackUserOut]


USER_EXAMPLE = {
    "team_id": "T0123ABCD",
    "slack_user_id": "U0456EFGH",
    "tenant": "acme",
    "user_id": "ada",
    "roles": ["user"],
}


@router.post(
    "/users",
    status_code=201,
    response_model=SlackUserOut,
    responses=example(USER_EXAMPLE, 201),
    dependencies=[ADMIN_ONLY],
)
async def map_user(
    body: MapSlackUser,
    settings: SettingsDep,
    pool: DbDep,
    registry: RegistryDep,
) -> SlackUserOut:
    """Map a Slack user of a configured workspace to an AIOS user of that workspace's tenant,
    with the roles they act with from Slack (as a key's roles). Mapping again replaces. Needs
    the admin role."""
    team = settings.slack_teams.get(body.team_id)
    if team is None:
        raise ValidationFailed(f"team_id: {body.team_id!r} is not a workspace in AIOS_SLACK_TEAMS")
    known = BUILTIN_ROLES | {role for spec in registry.specs(None) for role in spec.roles}
    unknown = sorted(set(body.roles) - known)
    if unknown:
        raise ValidationFailed(
            f"roles: unknown {', '.join(map(repr, unknown))}; the known roles are "
            f"{', '.join(sorted(known))}"
        )
    user = await SlackStore(pool).map_user(
        SlackUser(
            team_id=body.team_id,
            slack_user_id=body.slack_user_id,
            tenant=team.tenant,
            user_id=body.user_id,
            roles=body.roles,
        )
    )
    return _out(user)


@router.get(
    "/users",
    response_model=SlackUserList,
    responses=example({"users": [USER_EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_users(
    pool: DbDep,
    tenant: Annotated[str | None, Query(max_length=100)] = None,
) -> SlackUserList:
    """The mapped Slack users (of one tenant, or all). Needs the admin role."""
    return SlackUserList(users=[_out(u) for u in await SlackStore(pool).users(tenant)])


@router.delete(
    "/users/{team_id}/{slack_user_id}",
    status_code=204,
    response_class=Response,
    dependencies=[ADMIN_ONLY],
)
async def unmap_user(team_id: TeamId, slack_user_id: SlackUserId, pool: DbDep) -> Response:
    """Forget a Slack user: their requests are refused from now on. Needs the admin role."""
    if not await SlackStore(pool).unmap_user(team_id, slack_user_id):
        raise NotFound(f"no mapped Slack user {slack_user_id!r} in team {team_id!r}")
    return Response(status_code=204)


def _out(user: SlackUser) -> SlackUserOut:
    return SlackUserOut(
        team_id=user.team_id,
        slack_user_id=user.slack_user_id,
        tenant=user.tenant,
        user_id=user.user_id,
        roles=list(user.roles),
    )
