"""OpenTelemetry tracing of gRPC calls (`serve --otel`, OMNIROUTE_OTEL=on), when the optional `otel` extra
is installed (`pip install 'omniroute[otel]'`); without it the server says so once and runs untraced.

One server span per call (opentelemetry-instrumentation-grpc's asyncio interceptor: the W3C
`traceparent` in the caller's metadata makes it a child of the caller's span, the status code is
recorded), carrying the call's request id as `omniroute.request_id`; JSON log lines emitted during the
call carry `trace_id` and `span_id`. Where spans go is the OpenTelemetry SDK's standard configuration:
OTEL_TRACES_EXPORTER (`otlp`, the default, to OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317;
`console`; `none`), OTEL_SERVICE_NAME (default omniroute), OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER.
A tracer provider already installed in the process (by `opentelemetry-instrument`, say) is used as is.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final

import grpc.aio

from . import logs

log = logging.getLogger(__name__)

MISSING: Final = (
    "--otel: OpenTelemetry is not installed (no module {name!r}); tracing is off. "
    "Install it with: pip install 'omniroute[otel]'"
)
REQUEST_ID_ATTRIBUTE: Final = "omniroute.request_id"


class Tracing:
    """The interceptors to give the gRPC server (none when tracing is off or not installed)."""

    def __init__(self, interceptors: list[grpc.aio.ServerInterceptor[Any, Any]], provider: Any = None) -> None:
        self.interceptors = interceptors
        self._provider = provider

    @property
    def enabled(self) -> bool:
        return bool(self.interceptors)

    def close(self) -> None:
        """Send the spans still buffered (the provider stays: OpenTelemetry allows one per process)."""
        if self._provider is not None and hasattr(self._provider, "force_flush"):
            self._provider.force_flush()


def start_tracing(enabled: bool, *, version: str = "", provider: Any = None) -> Tracing:
    """Tracing as configured; `provider` (a TracerProvider) overrides the process's, for tests."""
    if not enabled:
        return Tracing([])
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.grpc import aio_server_interceptor
    except ImportError as err:
        log.warning(MISSING.format(name=err.name))
        return Tracing([])
    if provider is None:
        provider = trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):  # the API's no-op proxy: nobody set one up yet
            try:
                provider = _sdk_provider(version)
            except ImportError as err:
                log.warning(MISSING.format(name=err.name))
                return Tracing([])
            trace.set_tracer_provider(provider)

    def trace_ids() -> tuple[str, str] | None:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"

    def on_request(request_id: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)

    logs.set_trace_ids(trace_ids)
    logs.set_on_request(on_request)
    log.info("OpenTelemetry tracing of gRPC calls on (exporter: %s)", os.environ.get("OTEL_TRACES_EXPORTER", "otlp"))
    return Tracing([aio_server_interceptor(tracer_provider=provider)], provider)  # type: ignore[no-untyped-call]


def _sdk_provider(version: str) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over these defaults
    attributes = {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "omniroute"), SERVICE_VERSION: version}
    provider = TracerProvider(resource=Resource.create(attributes))
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    exporter: SpanExporter | None = None
    if kind == "console":
        exporter = ConsoleSpanExporter()
    elif kind == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif kind != "none":
        log.warning("OTEL_TRACES_EXPORTER=%s: not supported here (otlp, console, none); spans are not exported", kind)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
