"""Chat: `POST /v1/chat` sends one message to a session and answers with the reply. A session is
one long-lived `ChatSessionWorkflow`; each message is an update, started together with the
workflow when the session is new or had ended (update-with-start)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from ulid import ULID

from aios import search_attributes as sa
from aios.errors import ValidationFailed
from aios.models import ChatReply, ChatSessionInput, ChatTurn
from api.deps import PrincipalDep, SettingsDep, TemporalDep
from api.temporal_reads import SAFE_VALUE, UNREACHABLE, unavailable
from workflows.chat import ChatSessionWorkflow

router = APIRouter(prefix="/v1/chat", tags=["chat"])


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


@router.post("", response_model=ChatReply)
async def chat(
    body: ChatMessage, principal: PrincipalDep, settings: SettingsDep, temporal: TemporalDep
) -> ChatReply:
    """Send a message; the reply uses the session's conversation (summarised when long), the
    knowledge base (with citations) and what AIOS remembers about the user."""
    if not body.message.strip():
        raise ValidationFailed("message: the message is empty")
    session_id = body.session_id or f"s-{str(ULID()).lower()}"
    user_id = body.user_id or principal.user_id
    start = WithStartWorkflowOperation(
        ChatSessionWorkflow.run,
        ChatSessionInput(
            session_id=session_id,
            tenant=principal.tenant,
            user_id=user_id,
            roles=sorted(principal.roles),
        ),
        id=session_workflow_id(principal.tenant, session_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.owned_by(principal.tenant, user_id),
        static_summary=f"chat session {session_id}",
    )
    try:
        reply: ChatReply = await temporal.execute_update_with_start_workflow(
            ChatSessionWorkflow.send,
            ChatTurn(message=body.message, message_id=f"m-{str(ULID()).lower()}"),
            start_workflow_operation=start,
            rpc_timeout=timedelta(minutes=5),
        )
    except WorkflowUpdateFailedError as e:
        raise ValidationFailed(f"the message was not taken: {e.cause}") from None
    except UNREACHABLE as e:
        raise unavailable(settings, "the message", e) from e
    return reply
