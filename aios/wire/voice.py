"""Voice on the wire: a transcript of speech (`POST /v1/transcriptions`, and what was heard when a
goal or chat message is sent as audio)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TranscriptSegment(BaseModel):
    """A stretch of speech between pauses, with its time in the audio."""

    start_s: float
    end_s: float
    text: str


class Transcript(BaseModel):
    """`POST /v1/transcriptions`, and the `transcript` of a run or chat message sent as audio."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "what does our leave policy say about parental leave",
                    "language": "en",
                    "duration_s": 3.2,
                    "segments": [
                        {
                            "start_s": 0.1,
                            "end_s": 3.0,
                            "text": "what does our leave policy say about parental leave",
                        }
                    ],
                    "engine": "openai:whisper-1",
                }
            ]
        }
    )

    text: str
    language: str | None = Field(description="ISO 639-1 code, when the engine says")
    duration_s: float = Field(description="the audio's length, as decoded by AIOS")
    segments: list[TranscriptSegment] = Field(default_factory=list)
    engine: str = Field(description="who transcribed it: `local:pocketsphinx` or `openai:<model>`")
