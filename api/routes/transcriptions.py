"""Voice: `POST /v1/transcriptions` turns a recording into text (docs/voice.md). The same
transcription runs when audio is sent to `POST /v1/runs` or `POST /v1/chat` (api/voice.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from aios.errors import UnsupportedMediaType
from aios.wire import Transcript
from api import voice
from api.deps import PrincipalDep

router = APIRouter(prefix="/v1/transcriptions", tags=["voice"])


@router.post(
    "",
    response_model=Transcript,
    openapi_extra=voice.multipart_body(
        "text", {"audio": "(the recording's bytes)", "language": "en"}
    ),
)
async def transcribe(request: Request, principal: PrincipalDep) -> Transcript:
    """Speech to text: a `multipart/form-data` body with the recording as its `audio` part (wav,
    mp3, m4a, webm or ogg, recognised by content) and optionally `language`. Answers the text,
    the language, the duration and timed segments. Over the size or duration limit: 413; not
    audio: 415; nothing spoken: 422. A provider's transcription is charged to the caller's
    budgets (402 when over a cap)."""
    if not voice.is_multipart(request):
        raise UnsupportedMediaType(
            "send the recording as multipart/form-data with an `audio` file part "
            "(curl -F audio=@question.wav)"
        )
    upload, _ = await voice.read_audio_form(request)
    return await voice.transcribe(request, principal, upload.data, upload.language)
