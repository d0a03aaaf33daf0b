"""A provider's speech to text over OpenAI's audio transcription protocol
(`POST /v1/audio/transcriptions`, multipart), with the `openai` client: OpenAI itself or any
server that speaks it (a self-hosted Whisper server, the tests' scripted one)."""

from __future__ import annotations

import openai

from activities.llm.base import status_error
from activities.speech.audio import Audio
from aios.errors import TransientError
from aios.wire import Transcript, TranscriptSegment

# Whisper's verbose answer names the language in English; the ones it is most often asked for.
_ISO = {
    "english": "en",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "polish": "pl",
    "japanese": "ja",
    "chinese": "zh",
}


class ProviderEngine:
    def __init__(self, *, model: str, api_key: str, base_url: str | None, timeout_s: float) -> None:
        self.model = model
        self.engine = f"openai:{model}"
        # The API waits on this call while the caller waits on the API; the client's own two
        # retries (honouring retry-after) are the only ones: there is no Temporal policy here.
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=2, timeout=timeout_s
        )

    async def transcribe(self, data: bytes, audio: Audio, language: str | None) -> Transcript:
        try:
            answer = await self._client.audio.transcriptions.create(
                model=self.model,
                file=(f"audio.{audio.extension}", data, audio.media_type),
                response_format="verbose_json",
                timestamp_granularities=["segment"],
                language=language or openai.omit,
            )
        except openai.APIStatusError as e:
            raise status_error(self.engine, e.status_code, e.message, e.response.headers) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise TransientError(f"{self.engine} could not be reached ({e})") from None
        spoken = (answer.language or language or "").lower() or None
        return Transcript(
            text=answer.text.strip(),
            language=_ISO.get(spoken, spoken) if spoken else None,
            duration_s=round(audio.duration_s, 3),
            segments=[
                TranscriptSegment(start_s=s.start, end_s=s.end, text=s.text.strip())
                for s in answer.segments or []
            ],
            engine=self.engine,
        )

    async def aclose(self) -> None:
        await self._client.close()
