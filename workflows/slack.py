"""`SlackEventWorkflow`: what one Slack request asks of AIOS, done durably after the API has
answered Slack (within Slack's 3 seconds). Its id comes from the Slack event, so a resent event
finds the workflow already started. No queries, signals or updates.

- `say`: post a message in the thread (a Slack user who is not mapped to an AIOS user is told so).
- `update`: replace a message (an approval button's outcome).
- `chat`: the Slack user's chat turn (the `aios.slack_chat` activity sends it to their
  `ChatSessionWorkflow` and waits for the reply), then the reply in the thread.
- `follow_run`: the run's status message in the thread, updated as the run goes; each approval
  it waits for as a message with Approve / Reject buttons; its report when it ends. Continues as
  new every `ROUNDS_PER_RUN` looks, so a run that waits days keeps a small history.

Every message goes out through `aios.slack_post` (retried on 429 after Slack's `Retry-After`).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from typing import Any

    from aios.models import ChatReply
    from aios.slack import (
        RunDigest,
        RunWatch,
        SlackJob,
        SlackMessage,
        SlackPosted,
        SlackThread,
        approval_blocks,
        approval_fallback_text,
        chat_text,
        escape,
        progress_text,
        report_text,
    )
    from aios.vocabulary import TERMINAL_STATUSES, Activity
    from workflows.run.calls import failure_reason

POST_TIMEOUT = timedelta(seconds=30)
# Slack may ask for minutes of patience under load; a message keeps trying for about an hour.
POST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
)
CHAT_TIMEOUT = timedelta(minutes=10)
CHAT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
WATCH_WAIT_S = 300.0
WATCH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=10)
HEARTBEAT = timedelta(seconds=30)
ROUNDS_PER_RUN = 100


@workflow.defn
class SlackEventWorkflow:
    @workflow.run
    async def run(self, job: SlackJob) -> None:
        if job.kind == "say":
            await _post(job.thread, job.text, job.blocks)
        elif job.kind == "update":
            await _post(job.thread, job.text, job.blocks, update_ts=job.update_ts)
        elif job.kind == "chat":
            await self._chat(job)
        else:
            await self._follow(job)

    async def _chat(self, job: SlackJob) -> None:
        if job.chat is None:
            raise ApplicationError("a chat job names no chat turn", non_retryable=True)
        try:
            reply: ChatReply = await workflow.execute_activity(
                Activity.SLACK_CHAT,
                job.chat,
                result_type=ChatReply,
                start_to_close_timeout=CHAT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=CHAT_RETRY,
                summary=f"chat turn of {job.chat.session.user_id}",
            )
            text = chat_text(reply)
        except ActivityError as e:
            text = f"Sorry, I could not answer that: {escape(failure_reason(e))}"
        await _post(job.thread, text)

    async def _follow(self, job: SlackJob) -> None:
        if job.run_id is None:
            raise ApplicationError("a follow_run job names no run", non_retryable=True)
        last, status_ts, posted = job.last, job.status_ts, list(job.posted)
        for _ in range(ROUNDS_PER_RUN):
            try:
                digest: RunDigest = await workflow.execute_activity(
                    Activity.SLACK_WATCH_RUN,
                    RunWatch(
                        run_id=job.run_id,
                        status=last.status if last else None,
                        done_steps=last.done_steps if last else -1,
                        approvals=posted,
                        wait_s=WATCH_WAIT_S,
                    ),
                    result_type=RunDigest,
                    start_to_close_timeout=timedelta(seconds=WATCH_WAIT_S + 60),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=WATCH_RETRY,
                    summary=f"follow {job.run_id}",
                )
            except ActivityError as e:
                await _post(
                    job.thread,
                    f"I lost track of run `{job.run_id}`: {escape(failure_reason(e))}. "
                    f"<{job.text}|Open the run>",
                )
                return
            if last is None or (digest.status, digest.done_steps) != (
                last.status,
                last.done_steps,
            ):
                status = progress_text(digest, job.text)
                sent = await _post(job.thread, status, update_ts=status_ts)
                status_ts = sent.ts
            for pending in digest.pending:
                if pending.approval_id in posted:
                    continue
                await _post(
                    job.thread,
                    approval_fallback_text(digest.run_id, pending),
                    approval_blocks(digest.run_id, pending, digest.requester),
                )
                posted.append(pending.approval_id)
            last = digest
            if digest.status in TERMINAL_STATUSES:
                if digest.answer:
                    await _post(job.thread, report_text(digest))
                return
        workflow.continue_as_new(
            job.model_copy(update={"last": last, "status_ts": status_ts, "posted": posted})
        )


async def _post(
    thread: SlackThread,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    update_ts: str | None = None,
) -> SlackPosted:
    posted: SlackPosted = await workflow.execute_activity(
        Activity.SLACK_POST,
        SlackMessage(thread=thread, text=text, blocks=blocks or [], update_ts=update_ts),
        result_type=SlackPosted,
        start_to_close_timeout=POST_TIMEOUT,
        retry_policy=POST_RETRY,
        summary="update the Slack message" if update_ts else "post in the Slack thread",
    )
    return posted
