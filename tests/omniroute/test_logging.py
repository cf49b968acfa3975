"""Request ids and log lines (omniroute/logs.py), and OpenTelemetry tracing (omniroute/tracing.py).

A real server in-process with a JSON handler on the root logger: the caller's x-request-id comes back
in the trailing metadata (one is made when it sent none, errors included) and is in every line logged
while its call is served, on the event loop and on the write threads alike. One `omniroute serve
--log-format json` subprocess shows the flags end to end: every line it writes parses as JSON."""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from availability.model import EventBatchResult, StockEvent
from omniroute import logs
from omniroute.config import ConfigError, ServerConfig
from omniroute.logs import JsonFormatter, RequestContext, TextFormatter
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc, inventory_pb2_grpc
from omniroute.v1 import inventory_pb2 as ipb

from .fixtures import LedgerDouble, ServerThread, now_ms, with_config

ROOT = Path(__file__).resolve().parents[2]
RID = "x-request-id"


JsonLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    """The records logged so far in the test, as the JSON formatter writes them (parsed back), at DEBUG."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(RequestContext())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in buf.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def trailer(md: Sequence[tuple[str, str | bytes]] | None, key: str = RID) -> str | bytes | None:
    return next((v for k, v in md or () if k == key), None)


# ---------------------------------------------------------------------------------------------- ids
def test_the_request_id_comes_back_in_the_trailing_metadata(server: ServerThread) -> None:
    channel = grpc.insecure_channel(server.target)
    try:
        stub = availability_pb2_grpc.AvailabilityServiceStub(channel)
        req = apb.GetAvailabilityRequest(skus=["SKU-1"], channel="web")
        _, call = stub.GetAvailability.with_call(req, metadata=((RID, "checkout-42"),))
        assert trailer(call.trailing_metadata()) == "checkout-42"

        _, call = stub.GetAvailability.with_call(req)
        made = trailer(call.trailing_metadata())
        assert isinstance(made, str) and re.fullmatch(r"[0-9a-f]{16}", made)
        _, again = stub.GetAvailability.with_call(req)
        assert trailer(again.trailing_metadata()) != made

        # errors keep it next to their structured details
        with pytest.raises(grpc.RpcError) as err:
            stub.GetAvailability(apb.GetAvailabilityRequest(skus=["SKU-1"], channel="nope"), metadata=((RID, "bad-1"),))
        rpc_error: Any = err.value
        assert rpc_error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert trailer(rpc_error.trailing_metadata()) == "bad-1"
        assert trailer(rpc_error.trailing_metadata(), "grpc-status-details-bin") is not None

        long = "r" * 500
        _, call = stub.GetAvailability.with_call(req, metadata=((RID, long),))
        assert trailer(call.trailing_metadata()) == long[: logs.MAX_REQUEST_ID_CHARS]
    finally:
        channel.close()


class LoggingLedger(LedgerDouble):
    """The tiny network's ledger, doing its writes on a write thread (as the Redis ledger does) and
    logging from there."""

    blocking_io = True

    def apply_stock_events(self, events: Sequence[StockEvent]) -> EventBatchResult:
        logging.getLogger("tests.ledger").info("applying %d events on %s", len(events), threading.current_thread().name)
        return super().apply_stock_events(events)  # type: ignore[no-any-return]


def test_json_lines_carry_the_request_id_on_the_loop_and_on_write_threads(json_lines: JsonLines) -> None:
    srv = ServerThread(load=LoggingLedger()).start()
    channel = grpc.insecure_channel(srv.target)
    try:
        availability = availability_pb2_grpc.AvailabilityServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            availability.GetAvailability(
                apb.GetAvailabilityRequest(skus=["SKU-1"], channel="nope"), metadata=((RID, "req-err-1"),)
            )
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        event = ipb.StockEvent(event_id="log-1", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=1)
        event.occurred_at.FromMilliseconds(now_ms())
        inventory.ApplyStockEvents(ipb.ApplyStockEventsRequest(events=[event]), metadata=((RID, "req-write-1"),))
    finally:
        channel.close()
        srv.stop()
    lines = json_lines()
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    errors = [ln for ln in lines if ln.get("request_id") == "req-err-1"]
    assert errors and errors[0]["level"] == "DEBUG" and errors[0]["message"].startswith("INVALID_ARGUMENT")
    assert errors[0]["method"] == "omniroute.v1.AvailabilityService/GetAvailability"
    writes = [ln for ln in lines if ln["logger"] == "tests.ledger"]
    assert len(writes) == 1 and "omniroute-write" in writes[0]["message"]  # it ran on a write thread
    assert writes[0]["request_id"] == "req-write-1"
    assert writes[0]["method"] == "omniroute.v1.InventoryService/ApplyStockEvents"
    # lines outside any call (start-up, shutdown) have none
    assert any(ln["message"] == "stopped" and "request_id" not in ln for ln in lines)


# ---------------------------------------------------------------------------------------------- formats
def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("omniroute.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    for k, v in extra.items():
        setattr(record, k, v)
    RequestContext().filter(record)
    return record


def test_json_formatter_fields() -> None:
    token = logs.REQUEST_ID.set("abc")
    try:
        line = json.loads(JsonFormatter().format(_record("%d holds", 3, exc=True, sku="SKU-1", where=Path("/x"))))
    finally:
        logs.REQUEST_ID.reset(token)
    assert line["message"] == "3 holds" and line["level"] == "WARNING" and line["logger"] == "omniroute.test"
    assert line["request_id"] == "abc"
    assert line["sku"] == "SKU-1" and line["where"] == "/x"  # extra fields; str() what JSON cannot carry
    assert "ValueError: boom" in line["exception"]
    assert "request_id" not in json.loads(JsonFormatter().format(_record("outside a call")))


def test_text_format_appends_the_request_id() -> None:
    token = logs.REQUEST_ID.set("abc")
    try:
        inside = TextFormatter().format(_record("held"))
    finally:
        logs.REQUEST_ID.reset(token)
    assert inside.endswith("omniroute.test: held [request abc]")
    assert TextFormatter().format(_record("held")).endswith("omniroute.test: held")


def test_log_format_setting() -> None:
    assert ServerConfig.load(env={"OMNIROUTE_LOG_FORMAT": "JSON"}).log_format == "json"
    assert ServerConfig.load(env={}).log_format == "text"
    with pytest.raises(ConfigError, match="--log-format"):
        ServerConfig.load({"log_format": "xml"}, env={})


def test_omniroute_serve_writes_json_lines(tmp_path: Path) -> None:
    env = {**os.environ, "OMNIROUTE_LOG_FORMAT": "json"}
    args = ["serve", "--port", "0", "--metrics-port", "0", "--log-level", "debug", "--data", str(ROOT / "examples")]
    args[-1] += "/snapshot"
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniroute.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    stderr = proc.stderr

    def read() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[dict[str, Any]] = []

    def until(pattern: str) -> re.Match[str]:
        """The first line (seen so far or still to come) whose message matches."""
        # generous: a first start after the kernels changed compiles them (numba's cache is per source)
        deadline = time.monotonic() + 120
        k = 0
        while time.monotonic() < deadline:
            for line in seen[k:]:
                m = re.search(pattern, line["message"])
                if m:
                    return m
            k = len(seen)
            try:
                seen.append(json.loads(lines.get(timeout=1)))  # every line is one JSON object
            except queue.Empty:
                assert proc.poll() is None, f"omniroute serve exited with {proc.returncode}"
        raise AssertionError(f"no log line matching {pattern!r}")

    try:
        target = until(r"listening on (\S+:\d+)").group(1)
        metrics = int(until(r"metrics on http://\S+:(\d+)/metrics").group(1))
        until(r"^serving \(ready")
        channel = grpc.insecure_channel(target)
        try:
            stub = availability_pb2_grpc.AvailabilityServiceStub(channel)
            with pytest.raises(grpc.RpcError):
                stub.GetAvailability(apb.GetAvailabilityRequest(skus=["?"], channel="web"), metadata=((RID, "sub-1"),))
        finally:
            channel.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as resp:
            assert b'grpc_code="INVALID_ARGUMENT"' in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        reader.join(10)
        while not lines.empty():
            seen.append(json.loads(lines.get()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    mine = [ln for ln in seen if ln.get("request_id") == "sub-1"]
    assert mine and mine[0]["message"].startswith("INVALID_ARGUMENT")
    assert seen[-1]["message"] == "stopped"


# ---------------------------------------------------------------------------------------------- tracing
def test_otel_not_installed_is_skipped_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from omniroute.tracing import start_tracing

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were not installed
    with caplog.at_level(logging.WARNING, logger="omniroute.tracing"):
        tracing = start_tracing(True)
    assert not tracing.enabled and tracing.interceptors == []
    assert "pip install 'omniroute[otel]'" in caplog.text and "tracing is off" in caplog.text
    assert not start_tracing(False).enabled


def test_otel_spans_of_grpc_calls_carry_the_request_id(
    monkeypatch: pytest.MonkeyPatch, json_lines: JsonLines
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.grpc", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import omniroute.server
    from omniroute.tracing import REQUEST_ID_ATTRIBUTE, start_tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # the process's tracer provider can be set once only: this server gets its own
    monkeypatch.setattr(
        omniroute.server, "start_tracing", lambda enabled, version="": start_tracing(enabled, provider=provider)
    )
    monkeypatch.setattr(logs, "_trace_ids", None)  # restored afterwards, with the hook below
    monkeypatch.setattr(logs, "_on_request", None)
    srv = ServerThread(with_config(otel=True)).start()
    channel = grpc.insecure_channel(srv.target)
    try:
        stub = availability_pb2_grpc.AvailabilityServiceStub(channel)
        stub.GetAvailability(apb.GetAvailabilityRequest(skus=["SKU-1"], channel="web"), metadata=((RID, "traced-1"),))
        with pytest.raises(grpc.RpcError):
            stub.GetAvailability(apb.GetAvailabilityRequest(skus=["SKU-1"], channel="x"), metadata=((RID, "traced-2"),))
    finally:
        channel.close()
        srv.stop()
    spans = {s.attributes.get(REQUEST_ID_ATTRIBUTE): s for s in exporter.get_finished_spans() if s.attributes}
    ok, bad = spans["traced-1"], spans["traced-2"]
    assert ok.name == bad.name == "/omniroute.v1.AvailabilityService/GetAvailability"
    assert bad.attributes is not None
    assert bad.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    line = next(ln for ln in json_lines() if ln.get("request_id") == "traced-2")
    assert line["trace_id"] == f"{bad.context.trace_id:032x}" and line["span_id"] == f"{bad.context.span_id:016x}"
