"""Audio wherever text goes in: `POST /v1/runs` and `POST /v1/chat` take a multipart body with an
`audio` part instead of JSON, and its transcript becomes the goal or the message.

`AudioForm` is the routers' route class. For a route marked with `takes_audio(field)` it turns a
multipart request into the JSON request the route already validates, with a placeholder in
`field` and the audio kept aside; the route then authenticates the caller as usual and calls
`transcribe_upload`, which transcribes under the caller's budget and gives the text to put in
`field`. Nothing is transcribed for a caller who is not authenticated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.types import Message

from activities.speech import ACCEPTED, Transcriber
from aios.errors import ValidationFailed
from aios.wire import Transcript
from api.deps import Principal

AUDIO_PART = "audio"
LANGUAGE_PART = "language"
PLACEHOLDER = "(spoken: transcribed after authentication)"
_MARK = "__aios_audio_field__"
# Multipart overhead over the audio itself, for the request size limit.
ENVELOPE_BYTES = 256 * 1024

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def takes_audio(field: str) -> Callable[[Endpoint], Endpoint]:
    """Mark a route whose text `field` may arrive as speech (an `audio` part)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _MARK, field)
        return endpoint

    return mark


@dataclass(frozen=True)
class AudioUpload:
    data: bytes
    language: str | None


def is_multipart(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "multipart/form-data"


async def read_audio_form(request: Request) -> tuple[AudioUpload, dict[str, Any]]:
    """The `audio` part and the other fields (JSON objects and arrays parsed, the rest as text)."""
    form = await request.form(max_files=1, max_fields=30)
    upload = form.get(AUDIO_PART) or form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed(
            f"the multipart body has no `{AUDIO_PART}` file part: send the recording as "
            f"`{AUDIO_PART}` ({ACCEPTED})"
        )
    data = await upload.read()
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile) or name in (AUDIO_PART, "file"):
            continue
        text = value.strip()
        if text[:1] in ("{", "["):
            try:
                fields[name] = json.loads(text)
                continue
            except json.JSONDecodeError:
                raise ValidationFailed(f"{name}: not valid JSON") from None
        fields[name] = value
    language = fields.pop(LANGUAGE_PART, None)
    if language is not None and not isinstance(language, str):
        raise ValidationFailed("language: an ISO 639-1 code such as `en`")
    return AudioUpload(data, language or None), fields


class AudioForm(APIRoute):
    """The route class of routers with routes marked `takes_audio` (FastAPI's documented way to
    give a route its own request handling)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = getattr(self.endpoint, _MARK, None)
        if field is None:
            return handler

        async def handle(request: Request) -> Response:
            if not is_multipart(request):
                return await handler(request)
            upload, fields = await read_audio_form(request)
            if field in fields:
                raise ValidationFailed(
                    f"send `{field}` as text or as `{AUDIO_PART}`, not both in one request"
                )
            body = json.dumps({**fields, field: PLACEHOLDER}).encode()
            scope = dict(request.scope)
            scope["headers"] = [
                (k, v)
                for k, v in request.scope["headers"]
                if k not in (b"content-type", b"content-length")
            ] + [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            scope.setdefault("state", {})["audio_upload"] = upload
            sent = False

            async def receive() -> Message:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await handler(Request(scope, receive))

        return handle


def transcriber(request: Request) -> Transcriber:
    """One per API process, made on first use."""
    state = request.app.state
    found: Transcriber | None = getattr(state, "transcriber", None)
    if found is None:
        found = state.transcriber = Transcriber(state.settings)
    return found


async def transcribe(
    request: Request, principal: Principal, data: bytes, language: str | None
) -> Transcript:
    """Speech to text for the caller, charged to them."""
    return await transcriber(request).transcribe(
        data,
        language=language,
        spender=Transcriber.spender(principal.tenant, principal.user_id, principal.key_id),
        pool=request.app.state.pool,
    )


async def transcribe_upload(request: Request, principal: Principal) -> Transcript | None:
    """The transcript of the audio an `AudioForm` route was sent, or None for a JSON request."""
    upload: AudioUpload | None = getattr(request.state, "audio_upload", None)
    if upload is None:
        return None
    return await transcribe(request, principal, upload.data, upload.language)


def multipart_body(
    field: str, example: dict[str, Any], others: str | None = None
) -> dict[str, Any]:
    """A route's multipart body, for its OpenAPI `openapi_extra` (beside its JSON body, if it has
    one); `others` describes the other fields a form may carry."""
    return {
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [AUDIO_PART],
                        "properties": {
                            AUDIO_PART: {
                                "type": "string",
                                "format": "binary",
                                "description": f"the recording ({ACCEPTED}); its transcript "
                                f"becomes `{field}`",
                            },
                            LANGUAGE_PART: {
                                "type": "string",
                                "description": "the language spoken (ISO 639-1), if known",
                            },
                        },
                        "additionalProperties": {"type": "string", "description": others}
                        if others
                        else False,
                    },
                    "example": example,
                }
            }
        }
    }
