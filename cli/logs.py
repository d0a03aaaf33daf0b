"""Logging for the `aios` processes: one line per request and per run status change, tracebacks
only for what is a bug."""

from __future__ import annotations

import logging

from temporalio import workflow

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(*, server: bool, verbose: bool = False) -> None:
    """Client verbs stay quiet (warnings only). Server verbs (`dev`, `worker`, `api`) log AIOS's
    own INFO lines: requests (`aios.api`), run status changes (`temporalio.workflow`), failed
    steps (`aios.activities`)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=FORMAT)
    if not server:
        return
    for name in ("aios", "activities", "workers", "api", "cli", "temporalio.workflow"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    # The SDK logs every failed activity attempt with a traceback. Expected failures (a refused
    # request, a retryable outage) are logged in one line by `activities.common.classified`,
    # which keeps tracebacks for unexpected errors.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    # Run lines read "run run-…: completed"; the workflow's full info dict adds nothing there.
    workflow.logger.workflow_info_on_message = False
