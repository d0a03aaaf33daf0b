"""The JSON log format: what an operator's log pipeline receives."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider

from aios.logs import JsonFormatter


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("aios.test", logging.INFO, __file__, 1, message, None, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_a_line_is_one_json_object_with_its_run_and_step() -> None:
    record = _record(
        "step failed",
        temporal_activity={"workflow_id": "run-1", "activity_id": "s2", "activity_type": "x"},
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == "run-1" and line["step_id"] == "s2" and line["activity"] == "x"
    assert line["level"] == "info" and line["logger"] == "aios.test"
    assert line["ts"].endswith("+00:00")


def test_messages_and_tracebacks_are_redacted() -> None:
    try:
        raise ValueError("card 4111 1111 1111 1111 for jane@example.com")
    except ValueError:
        record = _record("mail jane@example.com failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "jane@example.com" not in line and "4111 1111 1111 1111" not in line
    assert json.loads(line)["error"].startswith("Traceback")


def test_a_line_written_inside_a_span_carries_its_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        line = json.loads(JsonFormatter().format(_record("inside")))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
