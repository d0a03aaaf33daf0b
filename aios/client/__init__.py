"""The Python client of the AIOS REST API: `ApiClient` (async) and `Client` (sync, the same
methods), shared by the CLI, the demo, the console's tests and users' programs.

    from aios.client import Client

    with Client("http://127.0.0.1:8000", api_key) as aios:
        run = aios.create_run({"goal": "Summarise our pump maintenance rules"})
        state = aios.wait(run.run_id)             # a RunState: status, plan, result, usage
        print(state.result.answer if state.result else state.error)

`wait()` returns when the run has ended (or, with `until_approval=True`, when it waits for a
person too), like LangGraph's `runs.join`; `follow()` prints progress as it goes.

This package's modules hold the calls by resource, each a mixin over `ApiBase` (`base`: the
connection, one request, `ApiError`): `runs`, `approvals`, `chat` (sessions and voice),
`catalog` (skills, tools, versions), `documents` (the knowledge base, and which files to
upload), `reports`, `budgets` (budgets and usage), `sources` (SQL sources, MCP servers, egress),
`evals`. `clients` assembles them into `ApiClient` and wraps that in `Client`; `terminal` is what
the CLI prints (progress, a report, a trace). Import them from here:
`from aios.client import ApiClient`.
"""

from __future__ import annotations

from aios.client.approvals import (
    ApprovalsApi,
)
from aios.client.base import (
    ApiBase,
    ApiError,
)
from aios.client.budgets import (
    BudgetsApi,
)
from aios.client.catalog import (
    CatalogApi,
)
from aios.client.chat import (
    ChatApi,
)
from aios.client.clients import (
    ApiClient,
    Client,
)
from aios.client.documents import (
    DocumentsApi,
    collect_files,
    upload_batches,
)
from aios.client.evals import (
    EvalsApi,
)
from aios.client.reports import (
    ReportsApi,
)
from aios.client.runs import (
    LONG_POLL_S,
    RunsApi,
)
from aios.client.sources import (
    SourcesApi,
)
from aios.client.terminal import (
    describe_event,
    follow,
    format_report,
    format_trace,
    write_inline,
)

# What `from aios.client import ...` finds: the clients, their resource groups and the helpers
# the CLI uses.
__all__ = [
    "LONG_POLL_S",
    "ApiBase",
    "ApiClient",
    "ApiError",
    "ApprovalsApi",
    "BudgetsApi",
    "CatalogApi",
    "ChatApi",
    "Client",
    "DocumentsApi",
    "EvalsApi",
    "ReportsApi",
    "RunsApi",
    "SourcesApi",
    "collect_files",
    "describe_event",
    "follow",
    "format_report",
    "format_trace",
    "upload_batches",
    "write_inline",
]
