"""Speech to text: an upload is checked and decoded here (`audio.py`), then transcribed by the
configured engine: a provider speaking OpenAI's transcription protocol (`provider.py`) or the
local PocketSphinx engine (`local.py`). The API calls it before a run or chat turn starts, since
the transcript is that request's text (decision record 0041)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import asyncpg
from ulid import ULID

from activities.speech.audio import ACCEPTED, FORMATS, NO_SPEECH, Audio, decode, sniff
from activities.speech.local import LocalEngine
from activities.speech.provider import ProviderEngine
from aios.config import Settings
from aios.errors import ConfigurationError, PayloadTooLarge, ValidationFailed
from aios.stores.ledger import LedgerStore, Spender
from aios.wire import Transcript

__all__ = ["ACCEPTED", "FORMATS", "Audio", "Transcriber", "decode", "sniff"]

# Decoding and the local engine hold a core each; two at once per process.
CPU_SLOTS = 2


class Transcriber:
    """The engine the settings choose (`AIOS_TRANSCRIPTION_ENGINE`), with the limits."""

    def __init__(self, settings: Settings) -> None:
        voice = settings.transcription
        self.max_bytes = voice.max_audio_bytes
        self.max_seconds = voice.max_audio_seconds
        self.usd_per_minute = voice.transcription_usd_per_minute
        # Made with the transcriber, in the API's event loop (an asyncio primitive is bound to one).
        self._cpu = asyncio.Semaphore(CPU_SLOTS)
        key = voice.transcription_api_key or settings.openai_api_key
        engine = voice.transcription_engine
        if engine == "auto":
            engine = "openai" if key is not None else "local"
        self.provider: ProviderEngine | None = None
        self.local: LocalEngine | None = None
        self.unavailable: str | None = None
        if engine == "openai":
            if key is None:
                self.unavailable = (
                    "AIOS_TRANSCRIPTION_ENGINE is openai but no key is set: set "
                    "AIOS_TRANSCRIPTION_API_KEY or OPENAI_API_KEY"
                )
            else:
                self.provider = ProviderEngine(
                    model=voice.transcription_model,
                    api_key=key.get_secret_value(),
                    base_url=voice.transcription_base_url or settings.openai_base_url,
                    timeout_s=voice.transcription_timeout_s,
                )
        elif engine == "local":
            if LocalEngine.available():
                self.local = LocalEngine()
            else:
                self.unavailable = (
                    "the local speech engine needs the pocketsphinx package (pip install "
                    "pocketsphinx), or set OPENAI_API_KEY to transcribe with OpenAI"
                )
        else:
            self.unavailable = "voice input is off here (AIOS_TRANSCRIPTION_ENGINE=off)"

    @property
    def engine(self) -> str | None:
        if self.provider is not None:
            return self.provider.engine
        return "local:pocketsphinx" if self.local is not None else None

    async def transcribe(
        self,
        data: bytes,
        *,
        language: str | None,
        spender: Spender,
        pool: asyncpg.Pool,
    ) -> Transcript:
        """The upload's transcript. 413 over the size or duration limit, 415 for anything but
        the accepted formats, 422 when there is no speech; a provider's transcription is
        reserved in the spend ledger under `spender`'s caps first (402 when over one)."""
        if self.unavailable is not None:
            raise ConfigurationError(self.unavailable)
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the audio is larger than the limit of {self.max_bytes} bytes; send a shorter "
                "or more compressed recording (AIOS_MAX_AUDIO_BYTES)",
                details={"limit_bytes": self.max_bytes},
            )
        if language is not None and not (2 <= len(language) <= 3 and language.isalpha()):
            raise ValidationFailed("language: an ISO 639-1 code such as `en`")
        async with self._cpu:
            audio = await asyncio.to_thread(decode, data, max_seconds=self.max_seconds)
        if self.provider is not None:
            transcript = await self._charged(data, audio, language, spender, pool)
        else:
            assert self.local is not None
            if language not in (None, "en"):
                raise ValidationFailed(
                    f"language: the local engine understands English only, not {language!r}; "
                    "configure a provider (OPENAI_API_KEY) for other languages"
                )
            async with self._cpu:
                transcript = await asyncio.to_thread(self.local.transcribe, audio)
        if not transcript.text.strip():
            raise ValidationFailed(NO_SPEECH)
        return transcript

    async def _charged(
        self,
        data: bytes,
        audio: Audio,
        language: str | None,
        spender: Spender,
        pool: asyncpg.Pool,
    ) -> Transcript:
        assert self.provider is not None
        ledger = LedgerStore(pool)
        key = f"{spender.run_id}/transcription"
        usd = Decimal(str(self.usd_per_minute)) * Decimal(audio.duration_s) / 60
        await ledger.reserve(key, spender, self.provider.engine, usd, 0, ttl=timedelta(minutes=10))
        try:
            transcript = await self.provider.transcribe(data, audio, language)
        except BaseException as e:
            await asyncio.shield(ledger.fail(key, e))
            raise
        await ledger.settle(key, usd, 0, 0)
        return transcript

    @staticmethod
    def spender(tenant: str, user_id: str, key_id: str | None) -> Spender:
        """Who a transcription is charged to: the caller, under an id of its own."""
        return Spender(
            tenant=tenant, user_id=user_id, run_id=f"stt-{str(ULID()).lower()}", key_id=key_id
        )

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()
