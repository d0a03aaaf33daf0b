"""The local engine: PocketSphinx with the US English model its wheel ships (CMU Sphinx's
continuous acoustic model, a 3-gram language model and the CMU dictionary). Runs on the CPU,
downloads nothing, and needs no setup step; English only, and far less accurate than a provider
(docs/voice.md says what to expect and decision record 0041 why it was still chosen)."""

from __future__ import annotations

import re
import threading
from typing import Any

from activities.speech.audio import SAMPLE_RATE, Audio
from aios.wire import Transcript, TranscriptSegment

ENGINE = "local:pocketsphinx"
# PocketSphinx counts time in frames of 10 ms.
FRAME_S = 0.01
# A pause at least this long starts a new segment.
SEGMENT_PAUSE_S = 0.3
_FILLER = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")


class LocalEngine:
    """One decoder per process, used by one transcription at a time (a decoder is not thread
    safe, and two at once would only share the same cores). Built on first use: loading the
    model takes about half a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoder: Any = None

    @staticmethod
    def available() -> bool:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            return False
        return True

    def transcribe(self, audio: Audio) -> Transcript:
        """Blocking (seconds for a minute of audio): call it in a thread."""
        with self._lock:
            if self._decoder is None:
                from pocketsphinx import Decoder

                self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
            decoder = self._decoder
            decoder.start_utt()
            decoder.process_raw(audio.pcm, full_utt=True)
            decoder.end_utt()
            words = [(s.word, s.start_frame, s.end_frame) for s in decoder.seg()]
        segments = _segments(words)
        return Transcript(
            text=" ".join(s.text for s in segments),
            language="en",
            duration_s=round(audio.duration_s, 3),
            segments=segments,
            engine=ENGINE,
        )


def _segments(words: list[tuple[str, int, int]]) -> list[TranscriptSegment]:
    """Words (without fillers and the dictionary's `(2)` variant marks) grouped between pauses."""
    segments: list[TranscriptSegment] = []
    current: list[str] = []
    start = end = 0
    for word, first, last in words:
        if _FILLER.match(word):
            continue
        if current and (first - end) * FRAME_S >= SEGMENT_PAUSE_S:
            segments.append(_segment(current, start, end))
            current = []
        if not current:
            start = first
        current.append(re.sub(r"\(\d+\)$", "", word))
        end = last
    if current:
        segments.append(_segment(current, start, end))
    return segments


def _segment(words: list[str], first: int, last: int) -> TranscriptSegment:
    return TranscriptSegment(
        start_s=round(first * FRAME_S, 2),
        end_s=round((last + 1) * FRAME_S, 2),
        text=" ".join(words),
    )
