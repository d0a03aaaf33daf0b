"""Approval activities: asking for a standing approval before a run waits for a person, and
telling the approvers that an approval waits (email, webhook, Slack), once per approval and
channel."""

from __future__ import annotations

import email.policy
import hashlib
import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from functools import partial

import aiohttp
import asyncpg
import httpx
from slack_sdk.webhook.async_client import AsyncWebhookClient
from temporalio import activity
from temporalio.client import Client

from activities.common import classified
from activities.smtp import send_message
from aios.approvals import SignalCheck, SignalSender
from aios.config import Settings
from aios.errors import ConfigurationError, TransientError, UserError
from aios.notices import (
    ApprovalNotice,
    Contact,
    NoticeSent,
    email_body,
    email_subject,
    for_tenant,
    routed_users,
    run_link,
    slack_body,
    webhook_body,
)
from aios.standing import StandingUse, StandingUseRequest
from aios.stores.approval_policies import PolicyStore
from aios.stores.contacts import ContactStore
from aios.stores.standing_approvals import StandingApprovalStore
from aios.vocabulary import Activity

log = logging.getLogger("aios.activities")

EMAIL, WEBHOOK, SLACK = "email", "webhook", "slack"
WEBHOOK_TIMEOUT_S = 10.0


class ApprovalActivities:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, temporal: Client | None = None
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._temporal = temporal
        self._standing = StandingApprovalStore(pool)

    @activity.defn(name=Activity.USE_STANDING_APPROVAL)
    @classified
    async def use_standing_approval(self, request: StandingUseRequest) -> StandingUse | None:
        """The standing approval that allows this action, one of its uses consumed (once per
        `use_key`, however often this is retried), or None: the run waits for a person."""
        return await self._standing.use(request)

    @activity.defn(name=Activity.SIGNAL_SENDER)
    @classified
    async def signal_sender(self, check: SignalCheck) -> SignalSender:
        """Who sent the run's first `approve` signal with this answer, as the Temporal server
        recorded it, and whether that is the identity that started the run (AIOS's API)."""
        if self._temporal is None:
            raise ConfigurationError("this worker has no Temporal client to read histories with")
        handle = self._temporal.get_workflow_handle(check.workflow_id, run_id=check.run_id)
        starter: str | None = None
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_started_event_attributes"):
                starter = event.workflow_execution_started_event_attributes.identity
                continue
            if not event.HasField("workflow_execution_signaled_event_attributes"):
                continue
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name != "approve" or not signal.input.payloads:
                continue
            [payload] = await self._temporal.data_converter.decode(signal.input.payloads)
            if not (
                isinstance(payload, dict)
                and payload.get("approval_id") == check.approval_id
                and payload.get("decision", "approve") == check.decision
                and payload.get("args_hash") == check.args_hash
            ):
                continue
            return SignalSender(
                identity=signal.identity,
                from_starter=bool(starter) and signal.identity == starter,
                ui_answers=self._settings.temporal_ui_approvals,
            )
        return SignalSender(ui_answers=self._settings.temporal_ui_approvals)

    @activity.defn(name=Activity.NOTIFY_APPROVAL)
    @classified
    async def notify_approval(self, notice: ApprovalNotice) -> NoticeSent:
        """Tell the approvers that an approval waits, with a link to the run in the console: by
        email to each person it is routed to who has a contact address (`PUT
        /v1/users/{id}/contact`), else to the tenant's address (AIOS_NOTIFY_EMAIL_TO); to the
        tenant's webhook (AIOS_NOTIFY_WEBHOOK_URLS) and Slack channel
        (AIOS_NOTIFY_SLACK_WEBHOOK_URLS, mentioning the approvers' Slack ids). A channel (or
        address) that already took this approval's notice (an earlier attempt) is not sent to
        again; a failed channel fails the attempt (retried) after the others were
        tried."""
        settings = self._settings
        link = run_link(settings.public_url or settings.api_listen_url, notice.run_id)
        channels: dict[str, Callable[[], Awaitable[None]]] = {}
        slack = for_tenant(settings.notify_slack_webhook_urls, notice.tenant)
        mail = bool(settings.smtp_host and settings.smtp_from)
        # Nothing to send them by: the people it is routed to are not looked up.
        contacts = await self._contacts(notice) if mail or slack is not None else {}
        # Each person the approval is routed to, at their own address (one message each,
        # deduplicated per approval and address); nobody known: the tenant's address, as before.
        personal = sorted({str(c.email) for c in contacts.values()}) if mail else []
        for address in personal:
            channels[f"{EMAIL}:{address}"] = partial(self._email, notice, [address], link, address)
        recipients = for_tenant(settings.notify_email_to, notice.tenant)
        if recipients and not personal:
            channels[EMAIL] = lambda: self._email(notice, list(recipients), link)
        url = for_tenant(settings.notify_webhook_urls, notice.tenant)
        if url:
            channels[WEBHOOK] = lambda: self._webhook(notice, url, link)
        if slack is not None:
            mentions = sorted({c.slack_user_id for c in contacts.values() if c.slack_user_id})
            channels[SLACK] = lambda: self._slack(notice, slack.get_secret_value(), link, mentions)
        result = NoticeSent()
        errors: list[Exception] = []
        for channel, deliver in channels.items():
            if await self._pool.fetchval(
                "SELECT 1 FROM approval_notices WHERE approval_key = $1 AND channel = $2",
                notice.key,
                channel,
            ):
                result.already.append(channel)
                continue
            try:
                await deliver()
            except (TransientError, UserError, ConfigurationError) as e:
                log.warning("approval %s: %s notice not sent: %s", notice.key, channel, e)
                errors.append(e)
                continue
            await self._pool.execute(
                "INSERT INTO approval_notices (approval_key, channel, tenant) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                notice.key,
                channel,
                notice.tenant,
            )
            result.sent.append(channel)
        if errors:
            raise errors[0]
        return result

    async def _contacts(self, notice: ApprovalNotice) -> dict[str, Contact]:
        """The contacts of the people the approval is routed to now (`routed_users`: named
        users, members of named groups, the tenant's users whose keys hold a named role; naming
        nobody, the approver role), without the run's requester unless a policy lets them
        answer."""
        contacts = ContactStore(self._pool)
        store = PolicyStore(self._pool)
        users = await store.users(notice.tenant)
        groups: dict[str, set[str]] = {}
        if any(a.startswith("group:") for a in notice.approvers):
            groups = {g.name: set(g.members) for g in await store.groups(notice.tenant)}
        routed = routed_users(notice.approvers, users, groups)
        if not notice.self_approval_policy:
            routed.discard(notice.requester)
        return await contacts.of_users(notice.tenant, routed) if routed else {}

    async def _email(
        self, notice: ApprovalNotice, to: list[str], link: str, recipient: str | None = None
    ) -> None:
        settings = self._settings
        if not settings.smtp_host or not settings.smtp_from:
            raise ConfigurationError(
                "approval emails (AIOS_NOTIFY_EMAIL_TO) need AIOS_SMTP_HOST and AIOS_SMTP_FROM"
            )
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(to)
        message["Subject"] = email_subject(notice)
        # The same notice has the same Message-ID: a resend after a lost acknowledgement is
        # dropped by the receiving server.
        # One per recipient too, where each approver gets their own message.
        key = notice.key if recipient is None else f"{notice.key}/{recipient}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<approval-{digest}@aios>"
        message.set_content(email_body(notice, link))
        await send_message(settings, message, "the notice")

    async def _webhook(self, notice: ApprovalNotice, url: str, link: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
                response = await client.post(
                    url,
                    json=webhook_body(notice, link),
                    headers={"Idempotency-Key": notice.key, "User-Agent": "AIOS"},
                )
        except httpx.HTTPError as e:
            raise TransientError(f"the webhook did not answer: {e}") from e
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"the webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise UserError(f"the webhook refused the notice: {response.status_code}")

    async def _slack(
        self, notice: ApprovalNotice, url: str, link: str, mentions: list[str] | None = None
    ) -> None:
        """Slack's incoming-webhook protocol (slack_sdk): 200 `ok`, or a status and a reason
        (`invalid_payload`, `no_service`, `channel_is_archived`, ...). The URL is the credential
        and is never put in a message."""
        body = slack_body(notice, link, mentions or [])
        try:
            response = await AsyncWebhookClient(url, timeout=int(WEBHOOK_TIMEOUT_S)).send(
                text=body["text"], blocks=body["blocks"], unfurl_links=False
            )
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"Slack did not answer: {type(e).__name__}") from e
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"Slack answered {response.status_code}")
        if response.status_code >= 400:
            raise UserError(
                f"Slack refused the notice: {response.status_code} {response.body[:200]}"
            )
