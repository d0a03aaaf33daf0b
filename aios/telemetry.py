"""Traces and metrics: where a run's time and money went, for an operator.

Traces (OpenTelemetry): the API's request span, Temporal's tracing interceptor on the client and
the worker (workflow and activity spans that link to the request), and a span per model call
(GenAI semantic conventions), tool call and retrieval. Spans are exported over OTLP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard OTel variables configure the exporter);
otherwise no provider is installed, the tracer is OpenTelemetry's no-op and Temporal gets no
interceptor, so nothing is recorded and nothing slows down.

Metrics (Prometheus, `aios_*`): defined here, once, and recorded where the thing happens; served
at `GET /metrics` by the API and on `AIOS_METRICS_PORT` by a worker. The Temporal SDK's own worker
metrics join them under `aios_temporal_*` (`sdk_runtime()`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
from opentelemetry import trace
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

TRACER = trace.get_tracer("aios")

# Set by the worker's activity interceptor from the activity's input: metrics and spans recorded
# deeper down (a model call) know whose work it is without passing the tenant through every call.
current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("aios_tenant", default="")

RUNS_STARTED = Counter("aios_runs_started", "Runs started through the API", ["tenant"])
RUNS_FINISHED = Counter("aios_runs_finished", "Runs finished, by final status", ["status"])
STEP_SECONDS = Histogram(
    "aios_step_duration_seconds",
    "Activity (step) latency by kind and outcome",
    ["kind", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
TOOL_CALLS = Counter("aios_tool_calls", "Tool invocations by tool and outcome", ["tool", "outcome"])
LLM_TOKENS = Counter(
    "aios_llm_tokens",
    "Model tokens by model, tenant and direction",
    ["model", "tenant", "direction"],
)
LLM_COST = Counter(
    "aios_llm_cost_usd", "Model cost in USD by model and tenant", ["model", "tenant"]
)
# Paid calls that are not a model's (a web search at its provider's price), as the spend ledger
# settles them: by what was called (`web_search:brave`) and tenant.
PAID_CALL_COST = Counter(
    "aios_paid_call_cost_usd",
    "Cost in USD of paid calls other than model calls (web searches), by call and tenant",
    ["call", "tenant"],
)
# The embedding cache (activities/knowledge/embedding_cache.py): chunks whose vector was read
# from PostgreSQL (hit) or embedded (miss), by embedding model.
EMBEDDING_CACHE = Counter(
    "aios_embedding_cache_lookups",
    "Document chunks by embedding model and cache outcome (hit: vector read, miss: embedded)",
    ["model", "outcome"],
)
# The LLM response cache (activities/llm/cache.py): lookups by outcome (hit, miss) and what the
# hits would have cost at the provider.
LLM_CACHE = Counter(
    "aios_llm_cache_lookups",
    "LLM response cache lookups by model, tenant and outcome",
    ["model", "tenant", "outcome"],
)
LLM_CACHE_SAVED = Counter(
    "aios_llm_cache_saved_usd",
    "What model calls answered from the LLM response cache would have cost, in USD",
    ["model", "tenant"],
)
# Confidence of answer steps (activities/llm/confidence.py), by skill ("" for none) and model.
ANSWER_CONFIDENCE = Histogram(
    "aios_answer_confidence",
    "Confidence in [0, 1] of answer steps, by skill and model",
    ["skill", "model"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
RATE_LIMITED = Counter("aios_rate_limited", "Requests refused with 429", ["reason"])
APPROVALS_WAITING = Gauge("aios_approvals_waiting", "Runs waiting for a person's approval")
OLDEST_APPROVAL_AGE = Gauge(
    "aios_oldest_approval_age_seconds", "How long the longest-waiting run has waited"
)


def tracing_enabled() -> bool:
    """Whether a real tracer provider is installed (by `configure_tracing` or a test)."""
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


def configure_tracing(service_name: str) -> bool:
    """Install an OTLP-exporting tracer provider when `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
    True when it did. Call once per process, before connecting to Temporal."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or tracing_enabled():
        return tracing_enabled()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def temporal_interceptors() -> list[Any]:
    """Temporal's tracing interceptor when tracing is on (client and workers built from that
    client both use it); none otherwise, so an untraced deployment pays nothing for it."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span with attributes (None values left out); errors are recorded on it."""
    with TRACER.start_as_current_span(name) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)
        yield current


def record_model_call(
    current: trace.Span,
    *,
    provider: str,
    model: str,
    response_model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    finish_reason: str | None,
) -> None:
    """GenAI semantic-convention attributes on the call's span, and the token and cost series
    (labelled by the model asked for: servers name the model they answer with freely, llama.cpp
    by a slot number)."""
    current.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    current.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    current.set_attribute("gen_ai.response.model", response_model or model)
    if finish_reason:
        current.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
    tenant = current_tenant.get() or "unknown"
    label = f"{provider}:{model}"
    LLM_TOKENS.labels(label, tenant, "input").inc(input_tokens)
    LLM_TOKENS.labels(label, tenant, "output").inc(output_tokens)
    LLM_COST.labels(label, tenant).inc(cost_usd)


@contextlib.contextmanager
def timed_step(kind: str) -> Iterator[None]:
    """Observe an activity's latency under its kind, with the outcome (ok or error)."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        STEP_SECONDS.labels(kind, outcome).observe(time.perf_counter() - started)


# --- the Temporal SDK's metrics ---------------------------------------------------------------

_sdk_runtime: Runtime | None = None
_sdk_metrics_address: str | None = None


def sdk_runtime(bind_address: str = "127.0.0.1:0") -> Runtime:
    """One Temporal runtime per process exporting the SDK's metrics (worker task slots, poll
    latencies, schedule-to-start, sticky cache) in Prometheus format; `SdkMetrics` folds them
    into this process's registry, so one endpoint serves everything."""
    global _sdk_runtime, _sdk_metrics_address
    if _sdk_runtime is None:
        if bind_address.endswith(":0"):
            bind_address = bind_address[:-1] + str(_free_port())
        _sdk_runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=bind_address, durations_as_seconds=True),
                metric_prefix="aios_temporal_",
            )
        )
        _sdk_metrics_address = bind_address
        REGISTRY.register(SdkMetrics(bind_address))
    return _sdk_runtime


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SdkMetrics(Collector):
    """The SDK's Prometheus text, read from its loopback endpoint at scrape time."""

    def __init__(self, address: str) -> None:
        self._url = f"http://{address}/metrics"

    def collect(self) -> Iterator[Any]:
        try:
            text = httpx.get(self._url, timeout=2.0).text
        except httpx.HTTPError:
            return
        yield from text_string_to_metric_families(text)


# --- the worker side ----------------------------------------------------------------------------


class StepMetrics(Interceptor):
    """Worker interceptor: every activity's latency and outcome by kind (its type), and the
    tenant its input names made current for the metrics recorded inside it."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StepMetricsInbound(next)


class _StepMetricsInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        tenant = next((str(arg.tenant) for arg in input.args if hasattr(arg, "tenant")), "")
        token = current_tenant.set(tenant)
        try:
            with timed_step(activity.info().activity_type):
                return await super().execute_activity(input)
        finally:
            current_tenant.reset(token)
