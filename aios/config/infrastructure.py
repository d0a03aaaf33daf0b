"""The settings of the process and of the infrastructure it reaches: Temporal and the stores."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
)

from aios.errors import ConfigurationError


class ProcessSettings(BaseModel):
    """Process: its environment, where the embedded stack keeps its state, how it logs."""

    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description=(
            "`production` refuses development conveniences (a fixed development key); "
            "`test` is what the test suite sets."
        ),
    )
    data_dir: Path = Field(
        default=Path(".aios"),
        description=(
            "Where the embedded stack keeps its state: the Temporal SQLite file, "
            "PostgreSQL, Qdrant files and models."
        ),
    )
    # Log lines for a terminal ("text") or for a log pipeline ("json": one object per line with
    # request, run, step and trace ids; see aios/logs.py).
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "`text` for a terminal, `json` for a log pipeline (one object per line with "
            "request, run, step and trace ids)."
        ),
    )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()


class TemporalSettings(BaseModel):
    """Temporal: the server, the namespace and its search attributes, the task queues, and how
    payloads travel.
    """

    # Unset address = the embedded dev server started by `aios dev`.
    temporal_address: str | None = Field(
        default=None,
        description=(
            "An external Temporal frontend (`host:port`); unset: the embedded dev server "
            "that `aios dev` starts."
        ),
    )
    temporal_namespace: str = Field(
        default="default",
        description="The Temporal namespace runs, schedules and search attributes live in.",
    )
    temporal_dev_ip: str = Field(
        default="127.0.0.1", description="The address the embedded Temporal dev server listens on."
    )
    temporal_dev_port: int = Field(
        default=7233, description="The embedded Temporal dev server's gRPC port."
    )
    temporal_ui_port: int = Field(
        default=8233, description="The embedded Temporal dev server's Web UI port."
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description=(
            "The Temporal Web UI's URL, for links in answers and the CLI; unset: the "
            "embedded dev server's UI."
        ),
    )
    temporal_search_attributes: dict[str, str] = Field(
        default_factory=lambda: {
            "AiosTenant": "Keyword",
            "AiosUser": "Keyword",
            "AiosStatus": "Keyword",
            "AiosWaitingSince": "Datetime",
        },
        description=(
            "The search attributes AIOS registers and uses (name: type); a worker refuses"
            " to start on a namespace that lacks one."
        ),
    )
    task_queue: str = Field(
        default="aios-agent",
        description=(
            "The task queue of workflows and of every activity not split off to its own queue."
        ),
    )
    # Workers split by queue (aios/queues.py): model calls and tool calls on their own queues,
    # each pool scaled on its own backlog. Unset: everything on `task_queue`.
    llm_task_queue: str | None = Field(
        default=None,
        description=(
            "A queue of its own for model calls, so LLM workers scale on their own "
            "backlog; unset: `task_queue`."
        ),
    )
    tool_task_queue: str | None = Field(
        default=None,
        description=(
            "A queue of its own for tool calls, so tool workers scale on their own "
            "backlog; unset: `task_queue`."
        ),
    )
    # Where this process's Temporal SDK serves its own metrics (loopback; folded into
    # `/metrics` and the worker's metrics port as `aios_temporal_*`). Port 0: any free port.
    temporal_metrics_address: str = Field(
        default="127.0.0.1:0",
        description=(
            "Where this process's Temporal SDK serves its own metrics (folded into "
            "`/metrics` as `aios_temporal_*`); port 0: any free port."
        ),
    )
    # Payloads above this size go to the artifact store and travel by reference.
    artifact_threshold_bytes: int = Field(
        default=64 * 1024,
        description=(
            "Payloads above this size go to the artifact store (PostgreSQL) and travel "
            "through Temporal by reference."
        ),
    )

    def activity_queues(self) -> dict[str, str]:
        """What a run carries: the queue of each activity group split off (aios/queues.py)."""
        split = {"llm": self.llm_task_queue, "tools": self.tool_task_queue}
        return {group: queue for group, queue in split.items() if queue}

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.temporal_dev_ip}:{self.temporal_dev_port}"

    @property
    def temporal_web_url(self) -> str:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://{self.temporal_dev_ip}:{self.temporal_ui_port}"


class StoreSettings(BaseModel):
    """Stores: PostgreSQL, Qdrant and its collections, and how long decision traces are kept."""

    # Unset = embedded PostgreSQL (pgserver) / embedded Qdrant (Edge) under data_dir.
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "An external PostgreSQL (`postgresql://…`); unset: the embedded one "
            "(`pgserver`) under the data dir."
        ),
    )
    qdrant_url: str | None = Field(
        default=None,
        description=(
            "A Qdrant server; unset: Qdrant Edge embedded in the process, under the data "
            "dir (one process only)."
        ),
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, description="The Qdrant server's API key."
    )
    # Knowledge chunks go to the collection `<collection>__<embedding model>`.
    collection: str = Field(
        default="aios_chunks",
        description=(
            "Knowledge chunks go to the Qdrant collection `<collection>__<embedding model>`."
        ),
    )
    memory_collection: str = Field(
        default="aios_memories", description="The Qdrant collection of semantic memories."
    )
    # Decision traces of finished runs are kept this long in PostgreSQL.
    trace_retention_days: int = Field(
        default=90,
        ge=1,
        description="How long decision traces of finished runs are kept in PostgreSQL.",
    )

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(
                "no database configured: set AIOS_DATABASE_URL or run `aios dev`, which starts "
                "an embedded PostgreSQL"
            )
        return self.database_url.get_secret_value()
