"""Chat: `POST /v1/chat` sends one message to a session and answers with the reply. A session is
one long-lived `ChatSessionWorkflow`; each message is an update, started together with the
workflow when the session is new or had ended (update-with-start)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from ulid import ULID

from aios import search_attributes as sa
from aios.config import Settings
from aios.errors import (
    AiosError,
    BudgetExceeded,
    Forbidden,
    NotFound,
    ValidationFailed,
    describe_field_errors,
)
from aios.models import ChatReply, ChatSessionInput, ChatTurn
from aios.stores.deltas import DeltaHub
from aios.stores.memory import ConversationStore
from aios.vocabulary import FailureType
from aios.wire import (
    SAFE_VALUE,
    ChatResponse,
    ChatSession,
    ChatSessionHeading,
    ChatSessionList,
    ChatSessionMessage,
)
from api import page_tokens, voice
from api.authz import require_user, sees_all_users
from api.deps import DbDep, DeltasDep, PrincipalDep, SettingsDep, TemporalDep
from api.goals import checked_message
from api.run_events import format_sse
from api.temporal_reads import UNREACHABLE, read_within, unavailable
from workflows.chat import ChatSessionWorkflow

router = APIRouter(prefix="/v1/chat", tags=["chat"], route_class=voice.AudioForm)


class ChatMessage(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message": "How do approvals work?", "session_id": "s1"}]},
    )

    message: str = Field(min_length=1, max_length=8000)
    session_id: str | None = Field(
        default=None, max_length=200, pattern=SAFE_VALUE.pattern, description="default: a new one"
    )
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)


def session_workflow_id(tenant: str, session_id: str) -> str:
    """Per tenant: two tenants' sessions of the same name are two workflows."""
    digest = hashlib.sha256(f"{tenant}\0{session_id}".encode()).hexdigest()[:24]
    return f"chat-{digest}"


CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "example": {
                    "session_id": "s1",
                    "reply": "17 times 23 is 391. Approvals wait for a person [1].",
                    "citations": [
                        {
                            "n": 1,
                            "source": "handbook/approvals.md",
                            "title": "Approvals",
                            "document_id": "doc-3f9a1c2e8b7d4a6f0e5c1b2a",
                            "chunk_id": "doc-3f9a1c2e8b7d4a6f0e5c1b2a#0",
                            "snippet": "A step that needs approval waits for a person …",
                            "score": 0.031,
                        }
                    ],
                    "grounded": True,
                    "turn": 2,
                    "usage": {"input_tokens": 1840, "output_tokens": 42, "cost_usd": 0.0009},
                    "tools_used": [
                        {
                            "tool": "calculator",
                            "args": {"expression": "17 * 23"},
                            "round": 1,
                            "status": "ok",
                        }
                    ],
                }
            },
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'event: delta\ndata: {"text": "Approvals "}\n\n'
                'event: reply\ndata: {"session_id": "s1", "reply": "Approvals …", '
                '"citations": []}\n\n',
            },
        },
        "description": "The reply; with `Accept: text/event-stream`, `delta` events with the text "
        "as the model writes it, then one `reply` event with the whole (checked) reply",
    }
}


@router.post(
    "",
    response_model=ChatResponse,
    response_model_exclude_none=True,
    responses=CHAT_RESPONSES,
    openapi_extra=voice.multipart_body(
        "message",
        {"audio": "(the recording's bytes)", "session_id": "s1"},
        "the other fields of the JSON body",
    ),
)
@voice.takes_audio("message")
async def chat(
    body: ChatMessage,
    request: Request,
    principal: PrincipalDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    deltas: DeltasDep,
) -> Any:
    """Send a message; the reply uses the session's conversation (summarised when long), the
    knowledge base (with citations) and what AIOS remembers about the user. Ask for
    `text/event-stream` to receive the reply as it is written.

    The message may be spoken: send `multipart/form-data` with the recording as `audio` (and
    `session_id` as a form field); its transcript is the message, and the reply shows it."""
    transcript = await voice.transcribe_upload(request, principal)
    if transcript is not None:
        try:
            body = ChatMessage.model_validate({**body.model_dump(), "message": transcript.text})
        except ValidationError as e:
            raise ValidationFailed(describe_field_errors(e.errors())) from None
    if not body.message.strip():
        raise ValidationFailed("message: the message is empty")
    checked_message(body.message, settings)
    session_id = body.session_id or f"s-{str(ULID()).lower()}"
    user_id = body.user_id or principal.user_id
    if user_id != principal.user_id and not sees_all_users(principal):
        raise Forbidden(
            "only admin and operator keys may chat as another user_id; this key is "
            f"{principal.user_id!r}'s"
        )
    workflow_id = session_workflow_id(principal.tenant, session_id)
    await _refuse_foreign_session(temporal, settings, workflow_id, user_id, session_id)
    turn = ChatTurn(message=body.message, message_id=f"m-{str(ULID()).lower()}")
    start = WithStartWorkflowOperation(
        ChatSessionWorkflow.run,
        ChatSessionInput(
            session_id=session_id,
            tenant=principal.tenant,
            user_id=user_id,
            roles=sorted(principal.roles),
            activity_queues=settings.activity_queues(),
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.owned_by(principal.tenant, user_id),
        static_summary=f"chat session {session_id}",
    )

    async def send() -> ChatResponse:
        try:
            reply: ChatReply = await temporal.execute_update_with_start_workflow(
                ChatSessionWorkflow.send,
                turn,
                start_workflow_operation=start,
                rpc_timeout=timedelta(minutes=5),
            )
        except WorkflowUpdateFailedError as e:
            refused = _budget_refusal(e)
            if refused is not None:  # over a cap of the user's or tenant's: 402 with the reason
                raise BudgetExceeded(refused) from None
            raise ValidationFailed(f"the message was not taken: {e.cause}") from None
        except UNREACHABLE as e:
            raise unavailable(settings, "the message", e) from e
        return ChatResponse(**dict(reply), transcript=transcript)

    if "text/event-stream" not in request.headers.get("accept", ""):
        return await send()
    return StreamingResponse(
        _stream_reply(send, deltas, workflow_id, turn.message_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _refuse_foreign_session(
    temporal: TemporalDep, settings: Settings, workflow_id: str, user_id: str, session_id: str
) -> None:
    """A session belongs to the user who began it: a reused `session_id` of another user's
    session is 404, so nobody continues a conversation under someone else's facts and history."""
    try:
        description = await read_within(
            settings, temporal.get_workflow_handle(workflow_id).describe(), "the chat session"
        )
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return  # a new session
        raise
    if description.typed_search_attributes.get(sa.USER) != user_id:
        raise NotFound(f"no chat session {session_id!r} of user {user_id!r}")


async def _stream_reply(
    send: Callable[[], Coroutine[Any, Any, ChatResponse]],
    deltas: DeltaHub,
    workflow_id: str,
    message_id: str,
) -> AsyncIterator[str]:
    """`delta` events while the model writes (a retried call starts over: `attempt` grows), then
    `reply` with the whole reply as the guardrails passed it, or `error` with a problem."""

    async with deltas.subscribe(workflow_id) as queue:
        sending = asyncio.create_task(send())
        try:
            while not sending.done():
                getting = asyncio.ensure_future(queue.get())
                await asyncio.wait({sending, getting}, return_when=asyncio.FIRST_COMPLETED)
                if getting.done():
                    delta = getting.result()
                    if delta.step_id == message_id:
                        yield format_sse("delta", {"text": delta.text, "attempt": delta.attempt})
                else:
                    getting.cancel()
            try:
                reply = sending.result()
            except AiosError as e:
                yield format_sse("error", {"status": e.http_status, "detail": e.message})
                return
            yield format_sse("reply", reply.model_dump(mode="json", exclude_none=True))
        finally:
            sending.cancel()


def _budget_refusal(error: BaseException) -> str | None:
    """The spend ledger's reason when a model call of the turn was refused for a budget."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == FailureType.BUDGET_EXCEEDED:
            return cause.message
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return None


# --- reading sessions ---------------------------------------------------------------------------

MAX_FIRST_MESSAGE_CHARS = 200


@router.get("/sessions", response_model=ChatSessionList)
async def list_sessions(
    principal: PrincipalDep,
    pool: DbDep,
    user_id: Annotated[
        str | None,
        Query(max_length=200, description="whose sessions (operator and admin keys only)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> ChatSessionList:
    """The caller's chat sessions (and the conversations their runs joined), latest activity
    first. Operator and admin keys may name another `user_id`; for anyone else that is 404."""
    owner = user_id or principal.user_id
    require_user(principal, owner, "chat sessions")
    listing = f"chat-sessions\0{principal.tenant}\0{owner}\0{limit}"
    before = None
    if page_token is not None:
        before = datetime.fromisoformat(page_tokens.unseal(page_token, listing).decode())
    found = await ConversationStore(pool).sessions(
        principal.tenant, owner, limit=limit + 1, before=before
    )
    page, more = found[:limit], len(found) > limit
    return ChatSessionList(
        sessions=[
            ChatSessionHeading(
                **{**asdict(s), "first_message": s.first_message[:MAX_FIRST_MESSAGE_CHARS]}
            )
            for s in page
        ],
        next_page_token=page_tokens.seal(page[-1].last_at.isoformat().encode(), listing)
        if more
        else None,
    )


@router.get("/sessions/{session_id}", response_model=ChatSession)
async def read_session(session_id: str, principal: PrincipalDep, pool: DbDep) -> ChatSession:
    """A session's messages in order, with its summary. Only its user's (operator and admin keys
    read any of the tenant's): another user's session is 404, as another tenant's is."""
    store = ConversationStore(pool)
    messages = await store.session_messages(principal.tenant, session_id)
    owners = {m.user_id for m in messages}
    owner = next(iter(owners)) if len(owners) == 1 else None
    if not messages or not (owner == principal.user_id or sees_all_users(principal)):
        raise NotFound(f"no chat session {session_id!r} of user {principal.user_id!r}")
    summary, _ = await store.summary(principal.tenant, session_id)
    return ChatSession(
        session_id=session_id,
        user_id=owner,
        summary=summary,
        messages=[
            ChatSessionMessage(seq=m.seq, role=m.role, content=m.content, created_at=m.created_at)
            for m in messages
        ],
    )
