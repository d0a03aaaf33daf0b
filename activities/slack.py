"""Slack activities: posting and updating messages through Slack's Web API (`chat.postMessage`,
`chat.update` with the real `slack_sdk` client), a Slack user's chat turn (update-with-start of
their `ChatSessionWorkflow`), and waiting for a run's progress to change.

The bot token is read here, from the worker's own settings by team id: it never enters a workflow
input or history. The Slack client retries nothing itself; Temporal's policy does, honouring a
429's `Retry-After` (`TransientError.retry_after` becomes the next retry's delay).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.common import classified, heartbeating
from aios import search_attributes as sa
from aios.config import Settings
from aios.errors import ConfigurationError, TransientError, UserError
from aios.guardrails import check_policy, describe
from aios.models import ChatReply, ChatTurn, RunState
from aios.slack import RunDigest, RunWatch, SlackChatRequest, SlackMessage, SlackPosted
from aios.vocabulary import FINISHED_STEP_STATUSES, TERMINAL_STATUSES, Activity, StepStatus

log = logging.getLogger("aios.activities")

SLACK_TIMEOUT_S = 10
# How often a followed run is looked at.
WATCH_EVERY_S = 1.0
# Slack errors that are the configuration's fault (the token, the app's scopes).
_CONFIG_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
}


class SlackActivities:
    def __init__(self, settings: Settings, temporal: Client | None = None) -> None:
        self._settings = settings
        self._temporal = temporal

    def _client(self, team_id: str) -> AsyncWebClient:
        team = self._settings.slack_teams.get(team_id)
        if team is None:
            raise ConfigurationError(
                f"Slack team {team_id!r} is not in this worker's AIOS_SLACK_TEAMS; give the "
                "worker the same AIOS_SLACK_TEAMS as the API"
            )
        return AsyncWebClient(
            token=team.bot_token.get_secret_value(),
            base_url=self._settings.slack_api_url,
            timeout=SLACK_TIMEOUT_S,
            retry_handlers=[],  # Temporal retries, once, by policy
        )

    @activity.defn(name=Activity.SLACK_POST)
    @classified
    async def post(self, message: SlackMessage) -> SlackPosted:
        """Post in the thread, or update a posted message (`update_ts`)."""
        client = self._client(message.thread.team_id)
        thread = message.thread
        blocks = message.blocks or None
        try:
            if message.update_ts is not None:
                response = await client.chat_update(
                    channel=thread.channel, ts=message.update_ts, text=message.text, blocks=blocks
                )
            else:
                response = await client.chat_postMessage(
                    channel=thread.channel,
                    thread_ts=thread.thread_ts,
                    text=message.text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
        except SlackApiError as e:
            raise _classify(e) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"Slack did not answer: {e!r}") from e
        return SlackPosted(channel=str(response["channel"]), ts=str(response["ts"]))

    @activity.defn(name=Activity.SLACK_CHAT)
    @classified
    async def chat(self, request: SlackChatRequest) -> ChatReply:
        """The Slack user's chat turn in their session of the thread (started when new), named by
        the Slack event so a retry joins the turn already taken."""
        if self._temporal is None:
            raise ConfigurationError("this worker has no Temporal client to send chat turns with")
        refused = check_policy(request.message, self._settings.content_policy)
        if refused:  # as POST /v1/chat refuses it (api/goals.py)
            raise UserError(
                f"the message is not allowed by the content policy: {describe(refused)}"
            )
        session = request.session
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            "ChatSessionWorkflow",
            session,
            id=request.workflow_id,
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=sa.owned_by(session.tenant, session.user_id),
            static_summary=f"chat session {session.session_id}",
        )
        turn = ChatTurn(message=request.message, message_id=request.message_id)
        try:
            async with heartbeating():
                reply: ChatReply = await self._temporal.execute_update_with_start_workflow(
                    "send",
                    turn,
                    start_workflow_operation=start,
                    id=request.message_id,
                    result_type=ChatReply,
                )
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise UserError(f"the message was not answered: {reason}") from None
        return reply

    @activity.defn(name=Activity.SLACK_WATCH_RUN)
    @classified
    async def watch_run(self, watch: RunWatch) -> RunDigest:
        """The run's progress once it differs from `watch` (status, steps done, approvals
        waiting), or as it is after `wait_s`."""
        if self._temporal is None:
            raise ConfigurationError("this worker has no Temporal client to follow runs with")
        handle = self._temporal.get_workflow_handle(watch.run_id)
        deadline = time.monotonic() + watch.wait_s
        while True:
            state: RunState = await handle.query("state", result_type=RunState)
            digest = digest_of(state)
            changed = (
                digest.status != watch.status
                or digest.done_steps != watch.done_steps
                or {p.approval_id for p in digest.pending} - set(watch.approvals)
            )
            if changed or time.monotonic() >= deadline:
                return digest
            activity.heartbeat()
            await asyncio.sleep(WATCH_EVERY_S)


def digest_of(state: RunState) -> RunDigest:
    terminal = state.status in TERMINAL_STATUSES
    return RunDigest(
        run_id=state.run_id,
        status=state.status,
        goal=state.goal,
        requester=state.user_id,
        done_steps=sum(s.status in FINISHED_STEP_STATUSES for s in state.plan),
        total_steps=len(state.plan),
        running=[s.title or s.id for s in state.plan if s.status == StepStatus.RUNNING],
        pending=list(state.pending_approvals),
        answer=state.result.answer if terminal and state.result else None,
        error=state.error,
    )


def _classify(error: SlackApiError) -> Exception:
    """Slack's answer as an AIOS error: 429 and 5xx retry (after `Retry-After`), a bad token or
    missing scope is the operator's to fix, anything else (channel not found, message too long)
    is the request's."""
    response = error.response
    status = response.status_code
    code = response.get("error") if isinstance(response.data, dict) else None
    if status == 429 or code == "ratelimited":
        retry_after = float(
            response.headers.get("Retry-After", response.headers.get("retry-after", 1))
        )
        return TransientError(f"Slack rate-limited the call ({code})", retry_after=retry_after)
    if status >= 500 or status == 408:
        return TransientError(f"Slack answered {status}")
    if code in _CONFIG_ERRORS:
        return ConfigurationError(f"Slack refused the bot token: {code} (check AIOS_SLACK_TEAMS)")
    return UserError(f"Slack refused the message: {code or status}")
