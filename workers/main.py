"""The AIOS worker: builds the activity classes with their clients and hosts every workflow.

`Resources` is what activities need (database pool, vector index, model router, tool registry):
the worker's view of the services `activities.services.open_services` opens. The dev stack opens
one set of services and shares it between the worker and the API in a single process.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import prometheus_client
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import DataConverter
from temporalio.worker import (
    PollerBehaviorSimpleMaximum,
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerDeploymentConfig,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.approval_policies import PolicyActivities
from activities.approvals import ApprovalActivities
from activities.chat import ChatActivities
from activities.evals import EvalActivities
from activities.knowledge import KnowledgeIndex, TextEmbedder
from activities.llm.activities import LlmActivities
from activities.llm.router import ModelRouter
from activities.memory import MemoryActivities, MemoryService
from activities.planning import PlanningActivities
from activities.rag import RagActivities, ingest_limits
from activities.research import ResearchActivities
from activities.services import WORKER, Parts, Services, open_services
from activities.slack import SlackActivities
from activities.tools.invoke import ToolActivities
from activities.tools.registry import ToolRegistry, ToolServices
from activities.trace import TraceActivities
from aios import logs, telemetry
from aios.config import Settings
from aios.errors import ConfigurationError
from aios.queues import GROUP_OF
from aios.skills import SkillCatalog
from aios.stores import DocumentStore, VectorStore
from aios.stores.ledger import LedgerStore
from aios.stores.run_files import RunFileStore
from aios.temporal import ensure_search_attributes
from aios.vocabulary import Activity
from workers.sandbox import SandboxRunner
from workflows.agent_run import AgentRunWorkflow
from workflows.chat import ChatSessionWorkflow
from workflows.eval import EvalWorkflow
from workflows.ingest import IngestWorkflow
from workflows.skill import SkillWorkflow
from workflows.slack import SlackEventWorkflow

# Named, not __name__: run as `python -m workers.main` (the image's worker command) this module is
# __main__, whose lines the server log configuration would drop.
log = logging.getLogger("workers.main")

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = [
    AgentRunWorkflow,
    SkillWorkflow,
    IngestWorkflow,
    ChatSessionWorkflow,
    SlackEventWorkflow,
    EvalWorkflow,
]


@dataclass
class Resources:
    """A worker's view of its services (activities/services.py), every part present: what the
    activities are built from."""

    services: Services
    settings: Settings
    pool: asyncpg.Pool
    vectors: VectorStore
    embedder: TextEmbedder
    index: KnowledgeIndex
    memory: MemoryService
    router: ModelRouter
    registry: ToolRegistry
    skills: SkillCatalog

    @classmethod
    def of(cls, services: Services) -> Resources:
        s = services
        if (
            s.vectors is None
            or s.embedder is None
            or s.knowledge is None
            or s.memory is None
            or s.router is None
        ):
            raise ConfigurationError(
                "a worker needs the vector store, the knowledge index, memory and the model "
                "router: open its services with activities.services.WORKER"
            )
        return cls(
            services=s,
            settings=s.settings,
            pool=s.pool,
            vectors=s.vectors,
            embedder=s.embedder,
            index=s.knowledge,
            memory=s.memory,
            router=s.router,
            registry=s.registry,
            skills=s.skills,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        pool: asyncpg.Pool | None = None,
        embedder: TextEmbedder | None = None,
    ) -> Resources:
        """A worker's services without a Temporal client (the caller has one); a pool or an
        embedder passed in stays the caller's."""
        needs = replace(WORKER, temporal=False)
        return cls.of(await open_services(settings, needs, Parts(pool=pool, embedder=embedder)))

    async def aclose(self) -> None:
        """Close what opening these services opened (not a pool or embedder passed in)."""
        await self.services.aclose()


def build_worker(client: Client, resources: Resources, *, task_queue: str | None = None) -> Worker:
    """A worker for one task queue. The agent queue (`AIOS_TASK_QUEUE`) gets the workflows and
    every activity not split off; the LLM queue gets the model activities only, the tools queue
    the tool, retrieval and memory activities only (aios/queues.py)."""
    settings = resources.settings
    queue = task_queue or settings.task_queue
    tools = ToolActivities(
        resources.registry,
        resources.pool,
        ToolServices(knowledge=resources.index, memory=resources.memory, settings=settings),
    )
    rag = RagActivities(
        resources.index, DocumentStore(resources.pool), ingest_limits(settings), resources.pool
    )
    llm = LlmActivities(
        resources.router,
        resources.registry,
        resources.pool,
        redact_pii=settings.guardrails_pii == "redact",
        cache_ttl_s=settings.llm_cache_ttl_s,
        logprobs=settings.confidence_logprobs,
        content_policy=settings.content_policy,
    )
    memory = MemoryActivities(resources.memory, llm)
    chat = ChatActivities(
        llm, resources.registry, resources.index, resources.memory, tools=settings.chat_tools
    )
    approvals = ApprovalActivities(resources.pool, settings, client)
    evals = EvalActivities(resources.pool, llm)
    slack = SlackActivities(settings, client)
    activities: dict[str, Callable[..., Any]] = {
        Activity.PLAN_RUN: PlanningActivities(
            resources.registry, llm, resources.skills, resources.pool
        ).plan_run,
        Activity.INVOKE_TOOL: tools.invoke_tool,
        Activity.LLM_COMPLETE: llm.complete,
        Activity.AGENT_TURN: llm.agent_turn,
        Activity.RETRIEVE: rag.retrieve,
        Activity.INGEST_BATCH: rag.ingest_batch,
        Activity.LOAD_SQL_SOURCE: rag.load_sql_source,
        Activity.MEMORY: memory.memory,
        Activity.CHAT_TURN: chat.chat_turn,
        Activity.CHAT_STEP: chat.chat_step,
        Activity.RECORD_TRACE: TraceActivities(
            resources.pool, settings.trace_retention_days, resources.memory
        ).record_trace,
        Activity.USE_STANDING_APPROVAL: approvals.use_standing_approval,
        Activity.NOTIFY_APPROVAL: approvals.notify_approval,
        Activity.SIGNAL_SENDER: approvals.signal_sender,
        Activity.APPROVAL_POLICY: PolicyActivities(resources.pool, settings).approval_policy,
        Activity.EVAL_PENDING: evals.pending,
        Activity.EVAL_ROW_INPUT: evals.row_input,
        Activity.EVAL_SCORE: evals.score,
        Activity.EVAL_FINISH: evals.finish,
        Activity.SLACK_POST: slack.post,
        Activity.SLACK_CHAT: slack.chat,
        Activity.SLACK_WATCH_RUN: slack.watch_run,
        Activity.RESEARCH_NOTES: ResearchActivities(
            resources.index.embedder, RunFileStore(resources.pool), LedgerStore(resources.pool)
        ).research_notes,
    }
    split_off = settings.activity_queues()
    group = next((g for g, q in split_off.items() if q == queue), None)
    if group is None:  # the agent queue: workflows, and what no other queue takes
        served = [fn for name, fn in activities.items() if GROUP_OF.get(name) not in split_off]
        # Checking a given plan runs as a local activity beside the workflow, wherever the
        # planner's model calls go.
        if activities[Activity.PLAN_RUN] not in served:
            served.append(activities[Activity.PLAN_RUN])
        workflows = WORKFLOWS
    else:
        served = [fn for name, fn in activities.items() if GROUP_OF.get(name) == group]
        workflows = []
    tuning = settings.worker
    return Worker(
        client,
        task_queue=queue,
        workflows=workflows,
        activities=served,
        max_concurrent_activities=tuning.max_concurrent_activities,
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_concurrent_local_activities=tuning.max_concurrent_local_activities,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(tuning.workflow_task_pollers),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(tuning.activity_task_pollers),
        max_cached_workflows=tuning.max_cached_workflows,
        interceptors=[telemetry.StepMetrics()],
        workflow_runner=workflow_runner(settings),
        # In-flight activities get this long to finish on shutdown; then Temporal hands them to
        # another worker (after their heartbeat timeout).
        graceful_shutdown_timeout=timedelta(seconds=tuning.worker_shutdown_s),
        deployment_config=deployment_config(settings),
    )


def build_id(settings: Settings) -> str:
    """AIOS_WORKER_BUILD_ID, or one derived from the code a workflow replays through: the
    package version and a hash of workflows/ and aios/ (same code, same build)."""
    if settings.worker_build_id:
        return settings.worker_build_id
    digest = hashlib.sha256()
    for package in ("workflows", "aios"):
        root = REPO_ROOT / package
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    try:
        version = importlib.metadata.version("aios")
    except importlib.metadata.PackageNotFoundError:
        version = "0"
    return f"{version}-{digest.hexdigest()[:12]}"


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Deployment Versioning when AIOS_WORKER_DEPLOYMENT names a deployment (see
    docs/upgrades.md). A workflow type without its own `versioning_behavior` is pinned: it ends
    on the build that started it, so changed workflow code needs no `workflow.patched()`."""
    if not settings.worker_deployment:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.worker_deployment, build_id(settings)),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def replayer(
    settings: Settings, data_converter: DataConverter, workflows: Sequence[type] = WORKFLOWS
) -> Replayer:
    """A replayer of the workflows this worker would run, as it would run them (same runner,
    same converter): what `aios upgrade check` and the replay tests replay histories with."""
    return Replayer(
        workflows=workflows,
        workflow_runner=workflow_runner(settings),
        data_converter=data_converter,
        interceptors=[telemetry.StepMetrics()],
    )


def workflow_runner(settings: Settings) -> WorkflowRunner:
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    # Temporal's tracing interceptor (when tracing is on) runs inside the workflow sandbox:
    # OpenTelemetry must be the same module there as outside. The sandbox imports every module
    # it does not pass through again for each new run; workflows.dag (the DAG executor: no state
    # between runs, only workflow APIs and asyncio) is shared, which took 1.3 ms of CPU off every
    # run (bench/README.md). The workflow modules themselves stay under the sandbox's checks.
    # SandboxRunner is Temporal's runner, compiling its own code strings once and keeping the
    # workflow modules' code objects for their per-run imports (workers/sandbox.py).
    return SandboxRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "opentelemetry", "workflows.dag"
        )
    )


def tune_garbage_collector(settings: Settings) -> None:
    """Collect garbage less often, and never scan what startup built (modules, registries,
    clients): see `Settings.worker_gc_thresholds`. Called once the worker is built."""
    if settings.worker_gc_thresholds:
        gc.set_threshold(*settings.worker_gc_thresholds)
    gc.collect()
    gc.freeze()


async def run_worker(settings: Settings) -> None:
    """`aios worker`: one worker process against an existing Temporal, PostgreSQL and Qdrant."""
    telemetry.configure_tracing("aios-worker")
    services = await open_services(settings, WORKER)
    try:
        resources = Resources.of(services)
        tuning = settings.worker
        if tuning.metrics_port is not None:
            prometheus_client.start_http_server(tuning.metrics_port)
        client = services.temporal
        if client is None:  # WORKER opens one
            raise ConfigurationError("the worker's services have no Temporal client")
        await ensure_search_attributes(
            client,
            settings.temporal.temporal_namespace,
            create=tuning.worker_create_search_attributes,
        )
        workers = [build_worker(client, resources, task_queue=q) for q in settings.served_queues()]
        tune_garbage_collector(settings)
        log.info(
            "worker polling task queue(s) %s on %s",
            ", ".join(settings.served_queues()),
            settings.temporal_target,
        )
        await asyncio.gather(*(worker.run() for worker in workers))
    finally:
        await services.aclose()


def main() -> None:
    """`python -m workers.main`: what `aios worker` runs (the container image's worker command)."""
    settings = Settings()
    logs.configure(server=True, log_format=settings.log_format)
    try:
        asyncio.run(run_worker(settings))
    except ConfigurationError as e:
        log.error("the worker cannot start: %s", e.message)
        logging.shutdown()
        # Out at once, without interpreter finalization: a thread a library started before the
        # refusal (the embedding engine, Temporal's runtime) can abort the process while the
        # interpreter finalizes (seen: 'PyGILState_Release' in make check), losing exit code 2.
        os._exit(2)


if __name__ == "__main__":
    main()
