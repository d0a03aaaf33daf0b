"""The JSON log format: what an operator's log pipeline receives."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from aios.logs import JsonFormatter, configure


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


def test_the_demos_terminal_keeps_its_progress_lines_and_the_log_goes_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`aios demo` prints its own progress; the API's request lines and run status lines go to
    `<data dir>/logs/demo.log` (warnings still reach the terminal)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(server=True, log_file=tmp_path / "logs" / "demo.log")
        logging.getLogger("aios.api").info("GET /v1/documents/jobs/j1 200")
        logging.getLogger("aios.api").warning("rate limit near")
        for handler in root.handlers:
            handler.flush()
        terminal = capsys.readouterr().err
        assert "GET /v1/documents" not in terminal and "rate limit near" in terminal
        written = (tmp_path / "logs" / "demo.log").read_text()
        assert "GET /v1/documents/jobs/j1 200" in written and "rate limit near" in written
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
