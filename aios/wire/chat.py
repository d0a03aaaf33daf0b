"""Chat on the wire: the answer to a message (`POST /v1/chat`) and the sessions a user can list
and read back.

The reply itself (`ChatReply`) is in `aios.models`: the chat workflow returns it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from aios.models import ChatReply
from aios.wire.voice import Transcript


class ChatResponse(ChatReply):
    """`POST /v1/chat`: the reply, and the transcript when the message was sent as audio."""

    transcript: Transcript | None = Field(
        default=None, description="what was heard, when the message was sent as `audio`"
    )


class ChatSessionHeading(BaseModel):
    """A chat session (or a run's conversation) as `GET /v1/chat/sessions` lists it."""

    session_id: str
    user_id: str | None
    messages: int
    started_at: datetime
    last_at: datetime
    # How it began (the user's first message, cut): what a list shows to tell sessions apart.
    first_message: str


class ChatSessionList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessions": [
                        {
                            "session_id": "s1",
                            "user_id": "ada",
                            "messages": 4,
                            "started_at": "2026-11-22T09:00:05Z",
                            "last_at": "2026-11-22T09:03:41Z",
                            "first_message": "How do approvals work?",
                        }
                    ],
                    "next_page_token": None,
                }
            ]
        }
    )

    sessions: list[ChatSessionHeading]
    next_page_token: str | None = None


class ChatSessionMessage(BaseModel):
    seq: int
    role: str
    content: str
    created_at: datetime | None = None


class ChatSession(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "s1",
                    "user_id": "ada",
                    "summary": "",
                    "messages": [
                        {
                            "seq": 1,
                            "role": "user",
                            "content": "How do approvals work?",
                            "created_at": "2026-11-22T09:00:05Z",
                        },
                        {
                            "seq": 2,
                            "role": "assistant",
                            "content": "A step that needs approval waits for a person [1].",
                            "created_at": "2026-11-22T09:00:09Z",
                        },
                    ],
                }
            ]
        }
    )

    session_id: str
    user_id: str | None
    # What the older messages were folded into once the session grew long ('' until then).
    summary: str
    messages: list[ChatSessionMessage]
