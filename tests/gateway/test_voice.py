"""Voice input: a recording becomes text through the local engine (PocketSphinx, the model its
wheel ships) or a provider speaking OpenAI's transcription protocol (the scripted server), and a
spoken goal or chat message is the run's goal or the session's message. Speech is made by
espeak-ng, so the test knows what was said."""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import subprocess
import wave
from pathlib import Path
from typing import Any

import av
import pytest
from pydantic import SecretStr

from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import Stack, api_client, app_for, serving
from tests.helpers import aios
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

SAID = "one two three four five"
# A run that needs no model: the test is about its goal.
ECHO_PLAN = {"steps": [{"id": "say", "kind": "tool", "tool": "echo", "args": {"value": "hi"}}]}


def _wav(samples: list[int], rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


def tone(seconds: float, rate: int = 16000) -> bytes:
    """A loud 440 Hz tone: not speech, but loud enough that a provider is asked."""
    n = int(seconds * rate)
    return _wav([int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n)], rate)


def spoken(tmp_path: Path, text: str) -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it on Debian as root)")
    out = tmp_path / "said.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "140", "-w", str(out), text], check=True)
    return out.read_bytes()


def as_webm(wav: bytes) -> bytes:
    """What a browser's MediaRecorder uploads: Opus in WebM."""
    return encoded(wav, "webm", "libopus", 48000)


def encoded(wav: bytes, container: str, codec: str, rate: int) -> bytes:
    """The recording in another container and codec (PyAV's FFmpeg encodes it)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(wav), "r") as src, av.open(out, "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        sample_format = stream.codec_context.format.name  # the codec's first sample format
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            for f in resampler.resample(frame):
                dst.mux(stream.encode(f))
        dst.mux(stream.encode(None))
    return out.getvalue()


def with_voice(stack: Stack, **settings: Any) -> Any:
    return api_client(app_for(stack, settings=stack.settings.model_copy(update=settings)))


def provider(fake_openai: FakeOpenAI) -> dict[str, Any]:
    return {
        "transcription_engine": "openai",
        "transcription_api_key": SecretStr("sk-test"),
        "transcription_base_url": fake_openai.base_url,
    }


async def test_the_local_engine_hears_what_was_said(stack: Stack, tmp_path: Path) -> None:
    speech = spoken(tmp_path, SAID)
    async with with_voice(stack, transcription_engine="local") as api:
        for name, data in (
            ("said.wav", speech),
            ("said.webm", as_webm(speech)),
            ("said.mp3", encoded(speech, "mp3", "libmp3lame", 22050)),
            ("said.m4a", encoded(speech, "ipod", "aac", 22050)),  # AAC in MP4, as phones record
            ("said.ogg", encoded(speech, "ogg", "libopus", 48000)),
        ):
            answer = await api.post("/v1/transcriptions", files={"audio": (name, data)})
            assert answer.status_code == 200, answer.text
            heard = answer.json()
            assert heard["engine"] == "local:pocketsphinx" and heard["language"] == "en"
            assert len(set(heard["text"].split()) & set(SAID.split())) >= 4, heard
            assert 1.0 < heard["duration_s"] < 5.0
            assert (
                heard["segments"]
                and heard["segments"][0]["start_s"] < heard["segments"][-1]["end_s"]
            )


async def test_a_provider_transcribes_over_openais_protocol_under_the_callers_budget(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.transcripts.append("what is our leave policy")
    async with with_voice(stack, **provider(fake_openai), transcription_usd_per_minute=0.6) as api:
        answer = await api.post(
            "/v1/transcriptions", files={"audio": ("q.bin", tone(2.0))}, data={"language": "en"}
        )
    assert answer.status_code == 200, answer.text
    heard = answer.json()
    assert heard["text"] == "what is our leave policy" and heard["language"] == "en"
    assert heard["engine"] == "openai:whisper-1" and heard["duration_s"] == 2.0
    sent = fake_openai.transcription_requests[0]
    assert sent["model"] == "whisper-1" and sent["response_format"] == "verbose_json"
    assert sent["language"] == "en" and sent["filename"] == "audio.wav"  # sniffed, not named
    assert sent["size"] == len(tone(2.0))
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    charged = await stack.pool.fetchrow(
        "SELECT user_id, model, status, usd FROM ledger_entries WHERE model = 'openai:whisper-1'"
    )
    assert charged is not None and charged["status"] == "settled"
    assert charged["user_id"] == "dev" and float(charged["usd"]) == pytest.approx(0.02)


async def test_what_is_not_speech_is_refused_with_the_reason(stack: Stack) -> None:
    async with with_voice(
        stack, transcription_engine="local", max_audio_bytes=20_000, max_audio_seconds=0.5
    ) as api:
        text = await api.post(
            "/v1/transcriptions", files={"audio": ("question.wav", b"%PDF-1.7 not audio " * 50)}
        )
        assert text.status_code == 415 and "content is checked" in text.json()["detail"]
        as_json = await api.post("/v1/transcriptions", json={"audio": "x"})
        assert as_json.status_code == 415
        big = await api.post("/v1/transcriptions", files={"audio": ("a.wav", tone(1.0))})
        assert big.status_code == 413 and big.json()["limit_bytes"] == 20_000
        long = await api.post("/v1/transcriptions", files={"audio": ("a.wav", tone(0.8, 8000))})
        assert long.status_code == 413 and long.json()["limit_s"] == 0.5
        quiet = await api.post("/v1/transcriptions", files={"audio": ("a.wav", _wav([0] * 4000))})
        assert quiet.status_code == 422 and "no speech found" in quiet.json()["detail"]
        huge = await api.post("/v1/runs", files={"audio": ("a.wav", b"RIFF" + b"\0" * 400_000)})
        assert huge.status_code == 413 and "AIOS_MAX_AUDIO_BYTES" in huge.json()["detail"]


async def test_a_spoken_goal_starts_a_run_whose_goal_is_the_transcript(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.transcripts.append("summarise how approvals work")
    async with with_voice(stack, **provider(fake_openai)) as api:
        started = await api.post(
            "/v1/runs",
            files={"audio": ("goal.wav", tone(1.0))},
            data={"plan": json.dumps(ECHO_PLAN)},
        )
        assert started.status_code == 202, started.text
        assert started.json()["transcript"]["text"] == "summarise how approvals work"
        run = (await api.get(f"/v1/runs/{started.json()['run_id']}")).json()
        assert run["goal"] == "summarise how approvals work"

        both = await api.post(
            "/v1/runs", files={"audio": ("g.wav", tone(1.0))}, data={"goal": "typed too"}
        )
        assert both.status_code == 422 and "not both" in both.json()["detail"]


async def test_aios_chat_and_run_take_a_recording(
    stack: Stack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    recording = tmp_path / "question.wav"
    recording.write_bytes(tone(1.0))
    fake_openai.transcripts.extend(["how do approvals work", "write about approvals"])
    fake_openai.default_reply = ScriptedReply(content="A person answers them.")
    app = app_for(stack, settings=stack.settings.model_copy(update=provider(fake_openai)))
    async with serving(app) as url:
        code, out, err = await aios(url, "chat", "--audio", str(recording))
        assert code == 0, err
        assert "you (heard)> how do approvals work" in out and "A person answers them." in out
        # The transcript is the session's message: the model was asked it.
        assert fake_openai.requests[-1]["messages"][-1]["content"] == "how do approvals work"
        code, out, err = await aios(url, "run", "--audio", str(recording))
        assert code == 0, err
        assert "heard: write about approvals" in out and "started" in out
