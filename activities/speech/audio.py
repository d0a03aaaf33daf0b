"""Audio in: what an upload is (sniffed from its bytes, never from its name), decoded to 16 kHz
mono PCM with PyAV (FFmpeg's libraries, shipped in its wheel), measured while it is decoded.

Only five demuxers are ever opened (wav, mp3, mp4/m4a, matroska/webm, ogg), chosen by the file's
own signature: a hostile upload reaches no other part of FFmpeg's format zoo. Decoding stops as
soon as the audio is longer than the limit, so a small file that claims hours costs nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

from aios.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

SAMPLE_RATE = 16_000
# Our name for each accepted format: (FFmpeg demuxer, file extension, media type).
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav": ("wav", "wav", "audio/wav"),
    "mp3": ("mp3", "mp3", "audio/mpeg"),
    "m4a": ("mp4", "m4a", "audio/mp4"),
    "webm": ("matroska", "webm", "audio/webm"),
    "ogg": ("ogg", "ogg", "audio/ogg"),
}
ACCEPTED = ", ".join(FORMATS)
# Loudest 30 ms of the recording below this: nobody spoke (a quiet room is around -60 dBFS,
# speech into a laptop microphone -30 to -10).
SILENCE_DBFS = -50.0
WINDOW = SAMPLE_RATE * 30 // 1000
NO_SPEECH = "no speech found in the audio: record again closer to the microphone"


@dataclass(frozen=True)
class Audio:
    format: str
    # Signed 16-bit little-endian samples, mono, SAMPLE_RATE per second.
    pcm: bytes
    duration_s: float
    loudest_dbfs: float

    @property
    def extension(self) -> str:
        return FORMATS[self.format][1]

    @property
    def media_type(self) -> str:
        return FORMATS[self.format][2]


def sniff(data: bytes) -> str | None:
    """The format a file's first bytes say it is, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM (and Matroska)
        return "webm"
    if data[4:8] == b"ftyp":  # ISO base media: m4a, mp4
        return "m4a"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def decode(data: bytes, *, max_seconds: float) -> Audio:
    """The upload as PCM: 415 when it is not one of the accepted formats or does not decode,
    413 past `max_seconds`, 422 when nothing in it is loud enough to be speech."""
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"this is not audio AIOS can read: send {ACCEPTED} (the content is checked, not the "
            "file name)"
        )
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[bytes] = []
    samples = 0
    try:
        with av.open(io.BytesIO(data), mode="r", format=FORMATS[fmt][0]) as container:
            if not container.streams.audio:
                raise UnsupportedMediaType(f"the {fmt} file has no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().tobytes()
                    samples += len(pcm) // 2
                    if samples > limit:
                        raise PayloadTooLarge(
                            f"the audio is longer than the limit of {max_seconds:g} s; send a "
                            "shorter recording (AIOS_MAX_AUDIO_SECONDS)",
                            details={"limit_s": max_seconds},
                        )
                    chunks.append(pcm)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().tobytes())
    except av.error.FFmpegError as e:
        raise UnsupportedMediaType(f"the {fmt} file could not be decoded ({e.strerror})") from None
    pcm = b"".join(chunks)
    audio = Audio(fmt, pcm, len(pcm) / 2 / SAMPLE_RATE, loudest_dbfs(pcm))
    if audio.duration_s < 0.1 or audio.loudest_dbfs < SILENCE_DBFS:
        level = audio.loudest_dbfs
        shown = round(level, 1) if np.isfinite(level) else None
        raise ValidationFailed(NO_SPEECH, details={"loudest_dbfs": shown})
    return audio


def loudest_dbfs(pcm: bytes) -> float:
    """The level of the loudest 30 ms, in dB below full scale (-inf for digital silence)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / 32768.0
    usable = len(samples) - len(samples) % WINDOW
    if usable == 0:
        return float("-inf")
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, WINDOW) ** 2, axis=1))
    loudest = float(rms.max())
    return 20 * float(np.log10(loudest)) if loudest > 0 else float("-inf")
