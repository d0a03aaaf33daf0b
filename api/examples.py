"""Response examples in the OpenAPI document: each route passes `responses=example(...)` with an
answer it really gives. tests/gateway/test_openapi.py checks that every operation has one and
that each fits the response's schema, so an example cannot drift from the model it shows.

FastAPI writes the OpenAPI document without null values, examples included: give a field whose
schema requires it a non-null value here."""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]


def example(value: Any, status: int = 200, media: str = "application/json") -> Responses:
    return {status: {"content": {media: {"example": value}}}}


def sse_example(text: str, description: str, status: int = 200) -> Responses:
    """A `text/event-stream` answer: its events as they arrive on the wire."""
    return {
        status: {
            "description": description,
            "content": {"text/event-stream": {"schema": {"type": "string"}, "example": text}},
        }
    }
