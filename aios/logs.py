"""Logging for every AIOS process: readable lines for a terminal, one JSON object per line for a
log pipeline (`AIOS_LOG_FORMAT=json`, what `deploy/` sets).

A JSON line carries the fields an operator filters on: the request's id, principal, route, status
and latency (from the API's request log), the run and step a line belongs to (from Temporal's
workflow and activity loggers), and the trace and span ids of the current OpenTelemetry span, so a
log line leads to its trace. Messages pass through the PII and secret redactor first: a log line
never carries an e-mail address, a card number or a key, whoever wrote it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace
from temporalio import workflow

from aios.guardrails import redact

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Extra attributes (`log.info(..., extra={...})`) copied into a JSON line when present.
CONTEXT_FIELDS = (
    "request_id",
    "principal",
    "method",
    "route",
    "path",
    "status",
    "latency_ms",
    "run_id",
    "step_id",
    "tenant",
)


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """Run and step from the SDK's logger adapters (`temporal_workflow` / `temporal_activity`)."""
    found: dict[str, Any] = {}
    in_workflow = getattr(record, "temporal_workflow", None)
    if isinstance(in_workflow, dict) and "workflow_id" in in_workflow:
        found["run_id"] = in_workflow["workflow_id"]
    in_activity = getattr(record, "temporal_activity", None)
    if isinstance(in_activity, dict):
        if "workflow_id" in in_activity:
            found["run_id"] = in_activity["workflow_id"]
        if "activity_id" in in_activity:
            found["step_id"] = in_activity["activity_id"]
        if "activity_type" in in_activity:
            found["activity"] = in_activity["activity_type"]
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts`, `level`, `logger`, `message` (redacted), the context
    fields above, `trace_id`/`span_id` when a span is current, and `error` with the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage())[0],
        }
        line.update(_temporal_context(record))
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))[0]
        return json.dumps(line, default=str, ensure_ascii=False)


LogFormat = Literal["text", "json"]


def configure(
    *,
    server: bool,
    verbose: bool = False,
    log_format: LogFormat = "text",
    log_file: Path | None = None,
) -> None:
    """Client verbs stay quiet (warnings only). Server processes (`dev`, `worker`, `api`) log
    AIOS's own INFO lines: requests (`aios.api`), run status changes (`temporalio.workflow`),
    failed steps (`aios.activities`). With `log_file` (`aios demo`, whose terminal is for its
    progress lines) those lines go to the file and the terminal shows warnings, or everything
    with `verbose`."""
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    terminal = logging.StreamHandler()
    terminal.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [terminal]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(formatter)
        root.handlers.append(to_file)
        if not verbose:
            terminal.setLevel(logging.WARNING)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not server:
        return
    for name in ("aios", "activities", "workers", "api", "cli", "temporalio.workflow"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    # The SDK logs every failed activity attempt with a traceback. Expected failures (a refused
    # request, a retryable outage) are logged in one line by `activities.common.classified`,
    # which keeps tracebacks for unexpected errors.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    # Text lines read "run run-…: completed"; the workflow's info dict adds nothing there. JSON
    # lines take the run id from the same dict (as `run_id`), so it stays for them.
    workflow.logger.workflow_info_on_message = False
