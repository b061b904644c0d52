"""One local stack with what an operator runs in production turned on: encrypted payloads, the codec
endpoint, the worker's health port, the SDK's metrics, and traces sent to an OTLP collector (a small
receiver in the test that keeps what it is sent). The worker starts with the first test that needs it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import SecretStr

from devstack.ports import free_port
from devstack.stack import LocalStack, Ports
from integrations.payload_codec import new_key

CODEC_TOKEN = "codec-token-for-tests"
UI_ORIGIN = "http://127.0.0.1:18233"


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str


@dataclass
class Collector:
    """Receives OTLP/HTTP trace exports (protobuf), as a collector would."""

    port: int
    spans: list[Span] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def keep(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        Span(
                            attributes.get("service.name", "?"),
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                        )
                    )


@pytest.fixture(scope="package")
def collector() -> Iterator[Collector]:
    collector = Collector(free_port())

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/v1/traces":
                collector.keep(body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", collector.port), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield collector
    server.shutdown()


@dataclass
class OpsStack:
    stack: LocalStack
    worker_health_port: int
    worker_metrics_port: int

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_health_port}"

    def start_worker(self) -> None:
        self.stack.start_worker(
            WORKER_HEALTH_PORT=str(self.worker_health_port), SDK_METRICS_PORT=str(self.worker_metrics_port)
        )


@pytest.fixture(scope="package")
async def ops(tmp_path_factory: pytest.TempPathFactory, collector: Collector) -> AsyncIterator[OpsStack]:
    overrides = {
        "payload_keys": SecretStr(f"ops1:{new_key()}"),
        "codec_auth_token": SecretStr(CODEC_TOKEN),
        "codec_cors_origins": UI_ORIGIN,
        "otel_exporter_otlp_endpoint": collector.endpoint,
    }
    stack = LocalStack(
        ports=Ports.free(), ui=False, log_dir=tmp_path_factory.mktemp("ops"), worker=False, overrides=overrides
    )
    async with stack:
        yield OpsStack(stack, free_port(), free_port())


async def wait_for(probe, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    """Polls an async `probe` until it answers something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if answer := await probe():
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never saw {what}")
        await asyncio.sleep(0.25)


@pytest.fixture(scope="package")
async def completed_return(ops: OpsStack) -> str:
    """A return carried through the API from request to refund by the stack's worker (its health and SDK
    metrics ports on), every payload encrypted on the way."""
    from tests.system.deploy.drive import drive_return

    ops.start_worker()
    status = await drive_return(ops.stack.settings, ops.stack.api_url, "OPS-1")
    assert status.refund is not None
    return status.return_id
