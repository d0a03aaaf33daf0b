"""What Slack's events and button clicks share: who a Slack user acts as, and the job that acts.

A Slack user acts only as the AIOS user an admin mapped them to (their roles, their tenant, the
deployment's run limit); an unmapped user is told so in the thread. Slack wants an answer within
3 seconds, so the work is started, never done here: a `SlackEventWorkflow` job posts replies,
follows runs and updates approval messages.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from aios import search_attributes as sa
from aios.config import Settings, SlackTeam
from aios.slack import SlackJob, SlackThread
from aios.stores.slack import SlackStore, SlackUser
from api.deps import Principal
from api.temporal_reads import UNREACHABLE, unavailable
from workflows.slack import SlackEventWorkflow


async def mapped_user(
    store: SlackStore, team_id: str, team: SlackTeam, slack_user: str
) -> SlackUser | None:
    """The AIOS user of this Slack user, if an admin mapped them (in the team's tenant)."""
    if not slack_user:
        return None
    user = await store.user(team_id, slack_user)
    return user if user is not None and user.tenant == team.tenant else None


def principal_for(settings: Settings, team_id: str, slack_user: str, user: SlackUser) -> Principal:
    """The mapped user as a caller: their roles, their tenant, the deployment's run limit; the
    key id names the Slack identity (spend ledger and audit)."""
    return Principal(
        tenant=user.tenant,
        user_id=user.user_id,
        roles=frozenset(user.roles),
        key_id=f"slack:{team_id}:{slack_user}",
        max_concurrent_runs=settings.max_concurrent_runs,
    )


def unmapped_notice(slack_user: str) -> str:
    return (
        f"<@{slack_user}> you are not mapped to an AIOS user in this workspace, so I cannot act "
        "for you. Ask an AIOS admin to map you (`POST /v1/channels/slack/users`)."
    )


async def say(
    temporal: Client,
    settings: Settings,
    job_id: str,
    tenant: str,
    thread: SlackThread,
    text: str,
    *,
    user_id: str = "slack",
) -> None:
    await start_job(
        temporal,
        settings,
        job_id,
        SlackJob(kind="say", tenant=tenant, thread=thread, text=text),
        user_id,
    )


async def start_job(
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
