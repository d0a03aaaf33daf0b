"""How the processes serve: worker tuning, the API and its limits, security, clients."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import (
    NoDecode,
)

from aios.config.base import (
    DEFAULT_MAX_GOAL_CHARS,
    comma_separated,
)


class WorkerSettings(BaseModel):
    """Worker tuning: the queues a worker serves, its slots and pollers, its cache, sandbox,
    versioning and metrics.
    """

    # The queues this worker process serves (comma-separated); unset: `task_queue` alone.
    worker_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "The queues this worker process serves, comma-separated; unset: `task_queue` alone."
        ),
    )
    # Per queue a worker serves: activities running at once (bounds memory and provider load).
    max_concurrent_activities: int = Field(
        default=100,
        ge=1,
        description=(
            "Per queue a worker serves: activities running at once (bounds memory and "
            "provider load)."
        ),
    )
    # Worker tuning, measured in bench/README.md ("Worker tuning"): no other value did better than
    # these (Temporal's own defaults) beyond the machine's noise on the throughput benchmark.
    # workflow tasks (activations) at once, and local activities at once (plan checks, traces);
    max_concurrent_workflow_tasks: int = Field(
        default=100,
        ge=2,
        description=(
            "Workflow tasks a worker runs at once (Temporal's default; see "
            "bench/README.md, Worker tuning)."
        ),
    )
    max_concurrent_local_activities: int = Field(
        default=100,
        ge=1,
        description="Local activities (plan checks, traces) a worker runs at once.",
    )
    # long polls held open on the server per queue, for workflow and for activity tasks;
    workflow_task_pollers: int = Field(
        default=5,
        ge=2,
        description="Long polls a worker holds open on the server per queue for workflow tasks.",
    )
    activity_task_pollers: int = Field(
        default=5,
        ge=1,
        description="Long polls a worker holds open on the server per queue for activity tasks.",
    )
    # runs kept in memory between their workflow tasks (the sticky cache). A run evicted from it
    # is rebuilt by replaying its history when it next wakes, which costs CPU but is correct;
    # each kept run costs ~0.15 MiB (bench/README.md, 1,000 parked approvals).
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description=(
            "Runs kept in memory between their workflow tasks (the sticky cache); an "
            "evicted run is rebuilt by replay. Each costs ~0.15 MiB."
        ),
    )
    # On SIGTERM, in-flight activities get this long to finish before they are handed back
    # (Temporal retries them on another worker).
    worker_shutdown_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "On SIGTERM, how long in-flight activities get to finish before they are "
            "handed back to Temporal (retried on another worker)."
        ),
    )
    # Workflow code runs in Temporal's sandbox, which catches non-deterministic calls (clocks,
    # randomness, I/O) as they happen. Off: ~20 % more runs per worker core (bench/README.md);
    # then replaying the recorded histories (tests/workflows/test_replay.py) is the only guard.
    workflow_sandbox: bool = Field(
        default=True,
        description=(
            "Run workflow code in Temporal's sandbox, which catches non-deterministic "
            "calls as they happen. Off: ~20 % more runs per worker core; the replay tests"
            " are then the only guard."
        ),
    )
    # A worker checks at start that the namespace has AIOS's search attributes and refuses to
    # start without them (its workflow tasks would fail for ever); this lets it add them instead.
    worker_create_search_attributes: bool = Field(
        default=False,
        description=(
            "Let a worker add AIOS's search attributes to a namespace that lacks them; "
            "off: it refuses to start and names them."
        ),
    )
    # Worker Deployment Versioning (docs/upgrades.md): opt-in; unset, workers are unversioned.
    worker_deployment: str | None = Field(
        default=None,
        description=(
            "The Temporal Worker Deployment this worker belongs to (versioned workers: "
            "runs stay on the build that started them, see docs/upgrades.md); unset: unversioned."
        ),
    )
    worker_build_id: str | None = Field(
        default=None,
        description=(
            "This worker's build within its deployment; unset: derived from the workflow "
            "code (a hash of workflows/ and aios/)."
        ),
    )
    # The worker's garbage collector (gc.set_threshold; empty: Python's 700,10,10). Every new run
    # gives the sandbox a fresh copy of the workflow module, thousands of objects at once: with
    # Python's thresholds the worker spent ~12 % of its CPU in full collections of a heap of
    # half a million objects; at 10000,10,10 (and with the startup heap frozen) ~2 %.
    worker_gc_thresholds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [10_000, 10, 10],
        description=(
            "The worker's garbage-collector thresholds (`gc.set_threshold`), "
            "comma-separated; empty: Python's 700,10,10."
        ),
    )
    # A worker's Prometheus endpoint (the API serves `/metrics` itself); None: none.
    metrics_port: int | None = Field(
        default=None,
        description=(
            "A worker's Prometheus endpoint (the API serves `/metrics` itself); unset: none."
        ),
    )

    @field_validator("worker_queues", "worker_gc_thresholds", mode="before")
    @classmethod
    def _worker_lists(cls, value: Any) -> Any:
        return comma_separated(value)

    @field_validator("worker_gc_thresholds")
    @classmethod
    def _gc_thresholds(cls, value: list[int]) -> list[int]:
        if value and (len(value) > 3 or value[0] < 1 or any(v < 0 for v in value)):
            raise ValueError(
                "up to three thresholds (gc.set_threshold), the first at least 1, e.g. 10000,10,10"
            )
        return value


class ApiSettings(BaseModel):
    """API: where it listens, and its limits (rates, concurrent runs, sizes, timeouts)."""

    api_host: str = Field(default="127.0.0.1", description="The address the API listens on.")
    api_port: int = Field(default=8000, description="The port the API listens on.")
    # Per API key (keys may set their own): requests per minute and runs running at once,
    # counted across every API process (in PostgreSQL and Temporal).
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description=(
            "Requests per minute per API key (a key may set its own), counted across "
            "every API process; over it: 429."
        ),
    )
    max_concurrent_runs: int = Field(
        default=50,
        ge=1,
        description=(
            "Runs running at once per API key (a key may set its own); over it: 429. The "
            "development key is not limited."
        ),
    )
    max_goal_chars: int = Field(
        default=DEFAULT_MAX_GOAL_CHARS,
        ge=1,
        description=(
            "The longest goal a run accepts; longer is a 422 (put long material in documents)."
        ),
    )
    # Request bodies above this size are refused with 413 before they are read in full.
    max_request_bytes: int = Field(
        default=1024 * 1024,
        description=(
            "Request bodies above this size are refused with 413 before they are read in full."
        ),
    )
    # Uploads: the whole request to POST /v1/documents, and each document in it.
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="The largest request to `POST /v1/documents` (uploads); larger is a 413.",
    )
    max_document_bytes: int = Field(
        default=20 * 1024 * 1024, description="The largest single document in an upload."
    )
    # Reads (describe, list, query) give up after this long, so a client learns of an outage in
    # seconds rather than waiting on Temporal's own retries; 503 answers say when to try again.
    read_timeout_s: float = Field(
        default=3.0,
        description="How long API reads (describe, list) wait on Temporal before answering 503.",
    )
    query_timeout_s: float = Field(
        default=5.0,
        description="How long the API waits for a worker to answer a run's state query.",
    )
    retry_after_s: int = Field(default=5, description="The `Retry-After` a 503 advises.")
    # An event stream with nothing to say sends a comment this often, so proxies keep it open.
    sse_keepalive_s: float = Field(
        default=15.0,
        description=(
            "How often an idle event stream sends a keep-alive comment, so proxies keep it open."
        ),
    )

    @property
    def api_listen_url(self) -> str:
        """The URL the API serves on when this process runs it."""
        return f"http://{self.api_host}:{self.api_port}"


class SecuritySettings(BaseModel):
    """Security: the development key, and bearer JWTs from an identity provider."""

    temporal_ui_approvals: bool = Field(
        default=False,
        description=(
            "Answers to approvals sent as `approve` signals from the Temporal UI count, recorded "
            "with the identity the Temporal server attached to the signal (put the UI behind "
            "the company's sign-in); off: they are ignored and reported in the run's events."
        ),
    )

    dev_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fixes the development key (tenant `default`, admin) instead of generating "
            "one; refused in production."
        ),
    )
    # Bearer JWTs from an identity provider, verified against a JSON Web Key Set file (RS256,
    # ES256 or EdDSA; no key set: JWTs are refused). `sub` is the user; the tenant and roles come
    # from the named claims. Issuer and audience are checked when set.
    jwt_keys_file: Path | None = Field(
        default=None,
        description=(
            "A JSON Web Key Set file against which bearer JWTs from an identity provider "
            "are verified (RS256, ES256, EdDSA); unset: JWTs are refused."
        ),
    )
    jwt_issuer: str | None = Field(
        default=None, description="The issuer a JWT must name; unset: not checked."
    )
    jwt_audience: str | None = Field(
        default=None, description="The audience a JWT must name; unset: not checked."
    )
    jwt_tenant_claim: str = Field(
        default="tenant", description="The JWT claim that holds the tenant."
    )
    jwt_roles_claim: str = Field(default="roles", description="The JWT claim that holds the roles.")


class ClientSettings(BaseModel):
    """Clients: where the CLI and other clients find the API, and the key they send."""

    # Where the CLI and other clients find the API, and the key they send. Unset: the stack that
    # `aios dev` runs from this directory (its runtime file), else api_host:api_port.
    api_url: str | None = Field(
        default=None,
        description=(
            "Where the CLI and other clients find the API; unset: the stack `aios dev` "
            "runs from this directory."
        ),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "The key the CLI sends; unset: the development key of the stack `aios dev` "
            "runs from this directory."
        ),
    )
