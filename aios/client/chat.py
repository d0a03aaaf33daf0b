"""The client's calls on conversations: chat sessions, and speech (a transcript, a run or chat
message sent as audio)."""

from __future__ import annotations

from typing import Any

from aios.client.base import ApiBase, _form
from aios.wire import ChatSession, ChatSessionList, RunCreated, Transcript


class ChatApi(ApiBase):
    """Chat sessions and voice: `/v1/chat`, `/v1/transcriptions`, spoken runs."""

    async def transcribe(
        self, audio: bytes, *, filename: str = "audio", language: str | None = None
    ) -> Transcript:
        """Speech to text (`POST /v1/transcriptions`): wav, mp3, m4a, webm or ogg."""
        data = {"language": language} if language else {}
        answer = await self.request(
            "POST", "/v1/transcriptions", files={"audio": (filename, audio)}, data=data
        )
        return Transcript.model_validate(answer)

    async def create_run_spoken(
        self, audio: bytes, fields: dict[str, Any] | None = None, *, filename: str = "audio"
    ) -> RunCreated:
        """Start a run whose goal is what the recording says; `fields` are the other fields of
        `POST /v1/runs` (the answer's `transcript` shows what was heard)."""
        created = await self.request(
            "POST", "/v1/runs", files={"audio": (filename, audio)}, data=_form(fields or {})
        )
        return RunCreated.model_validate(created)

    async def chat_spoken(
        self, audio: bytes, *, session_id: str | None = None, filename: str = "audio"
    ) -> dict[str, Any]:
        """Send a spoken chat message; the reply carries the `transcript`."""
        data = {"session_id": session_id} if session_id else {}
        reply: dict[str, Any] = await self.request(
            "POST", "/v1/chat", files={"audio": (filename, audio)}, data=data
        )
        return reply

    async def chat_sessions(
        self, *, user_id: str | None = None, limit: int = 50, page_token: str | None = None
    ) -> ChatSessionList:
        """The caller's chat sessions (another user's: operator and admin keys), latest first."""
        params = {"user_id": user_id, "limit": limit, "page_token": page_token}
        listed = await self.request(
            "GET", "/v1/chat/sessions", params={k: v for k, v in params.items() if v is not None}
        )
        return ChatSessionList.model_validate(listed)

    async def chat_session(self, session_id: str) -> ChatSession:
        """A session's messages in order, with its summary."""
        return ChatSession.model_validate(
            await self.request("GET", f"/v1/chat/sessions/{session_id}")
        )
