"""Metrics and traces of the worker and API processes, in one place.

- **The Temporal SDK's own metrics** (task latencies, polls, slots, schedule-to-start) in Prometheus form
  on SDK_METRICS_PORT of each process: the SDK runtime the one connection uses (`sdk_runtime`).
- **Business metrics** with prometheus_client: the API's `/metrics` counts returns by stage and those
  needing attention (visibility counts, at scrape time) and times every door (`ApiMetrics`,
  `RequestTelemetry`); the worker's `/metrics` (its health port) counts refunds issued and their
  total per currency, and failed steps by error type, as its activities finish (`WorkerMetrics`).
  Refunds are counted where the money moved; Prometheus adds up the workers.
- **Traces** through `temporalio.contrib.opentelemetry`: a span per API request, the workflow start it
  makes, the workflow run and each activity, one trace from the door to the vendor call; exported
  over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (`start_tracing`, called where each process
  starts, and `client_interceptors`, on the one connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio import activity
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from integrations.settings import Settings

log = structlog.get_logger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The activities that move money back to the shopper (activities/payments.py): the request's payment
# (returns started before the order decided the money) and the order's payments, each never above
# what it has left (None when nothing was). A receipt carries the amount and currency.
REFUND_ACTIVITIES = frozenset({"refund_payment", "refund_what_is_left"})

# --- the SDK's metrics and the tracing interceptor, on the one connection ------------------------

_runtimes: dict[str, Runtime] = {}


def sdk_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime exporting its metrics on SDK_METRICS_PORT; one per address and process (a second
    one would try to bind the port again). None: the SDK's default runtime, exporting nothing."""
    if settings.sdk_metrics_port is None:
        return None
    address = f"{settings.metrics_host}:{settings.sdk_metrics_port}"
    if address not in _runtimes:
        metrics = PrometheusConfig(bind_address=address, durations_as_seconds=True)
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=metrics))
        log.info("sdk metrics exported", address=f"http://{address}/metrics")
    return _runtimes[address]


def tracing_enabled(settings: Settings) -> bool:
    return bool(settings.otel_exporter_otlp_endpoint)


def client_interceptors(settings: Settings) -> Sequence[ClientInterceptor]:
    """On the client, and through it on the worker: spans for workflow starts, signals, updates, queries,
    the workflow run and each activity, carried across in the payload headers."""
    return [TracingInterceptor()] if tracing_enabled(settings) else []


def start_tracing(settings: Settings, service_name: str) -> None:
    """Sends this process's spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; call once, where
    the process starts, before it connects."""
    if not tracing_enabled(settings):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otel_exporter_otlp_endpoint or ""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    log.info("traces exported", endpoint=endpoint, service=service_name)


def stop_tracing() -> None:
    """Sends what is buffered (a process that stops on SIGTERM must not lose its last spans)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


# --- the API: door latencies, spans, and the returns' figures from visibility -------------------


class ApiMetrics:
    """The API's `/metrics`: its own registry (several apps may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "returns_api_request_duration_seconds",
            "Time to answer an API request, by route template, method and status",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.returns_by_stage = Gauge(
            "returns_by_stage",
            "Returns Temporal knows (open, and closed within the namespace's retention), by stage",
            ["stage"],
            registry=self.registry,
        )
        self.needs_attention = Gauge(
            "returns_needs_attention", "Open returns waiting for an operator", registry=self.registry
        )
        self.visibility_up = Gauge(
            "returns_visibility_up", "1 when the last scrape could count returns in Temporal", registry=self.registry
        )

    async def render(self, client: Client, stages: Sequence[str], scope: Any, timeout: float) -> bytes:
        """Counts returns per stage (one visibility count each, at once) and renders every metric."""
        deadline = timedelta(seconds=timeout)

        async def count(query: str) -> int:
            return (await client.count_workflows(scope(query), rpc_timeout=deadline)).count

        try:
            counts = await asyncio.wait_for(
                asyncio.gather(
                    *(count(f"ReturnStage = '{stage}'") for stage in stages),
                    count("ReturnNeedsAttention = 'true' AND ExecutionStatus = 'Running'"),
                ),
                timeout,
            )
        except Exception as error:  # Temporal down: the door latencies are still worth scraping
            log.warning("returns could not be counted for /metrics", error=str(error))
            self.visibility_up.set(0)
        else:
            for stage, value in zip(stages, counts, strict=False):
                self.returns_by_stage.labels(stage=stage).set(value)
            self.needs_attention.set(counts[-1])
            self.visibility_up.set(1)
        return generate_latest(self.registry)


class RequestTelemetry:
    """Times each request by its route template (never the path: ids would make a series each) and opens
    the door's span, the root of the trace that follows the return into the workflow and its activities."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics
        self.tracer = trace.get_tracer("returns.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}", kind=trace.SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, recording)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                self.metrics.request_seconds.labels(scope["method"], route, str(status)).observe(
                    time.perf_counter() - started
                )


# --- the worker: refunds and failed steps, as its activities finish ------------------------------


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.refunds_issued = Counter(
            "returns_refunds_issued", "Refunds Stripe accepted, by currency", ["currency"], registry=self.registry
        )
        self.refunded_amount = Counter(
            "returns_refunded_minor_units",
            "Money refunded, in the currency's minor units (cents), by currency",
            ["currency"],
            registry=self.registry,
        )
        self.step_failures = Counter(
            "returns_step_failures",
            "Failed activity attempts, by activity and error type (e.g. stripe.http_500)",
            ["activity", "error_type"],
            registry=self.registry,
        )

    def interceptor(self) -> Interceptor:
        return _ActivityOutcomes(self)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ActivityOutcomes(Interceptor):
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivity(next, self.metrics)


class _CountingActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        try:
            result = await super().execute_activity(input)
        except asyncio.CancelledError:
            raise  # handed back (worker shutdown) or cancelled by the workflow: not a failure of the step
        except ApplicationError as error:
            self.metrics.step_failures.labels(name, error.type or "ApplicationError").inc()
            raise
        except Exception as error:
            self.metrics.step_failures.labels(name, type(error).__name__).inc()
            raise
        if name in REFUND_ACTIVITIES and result is not None and getattr(result, "status", None) != "failed":
            currency = str(getattr(result, "currency", "")).upper()
            self.metrics.refunds_issued.labels(currency).inc()
            self.metrics.refunded_amount.labels(currency).inc(int(getattr(result, "amount", 0)))
        return result
