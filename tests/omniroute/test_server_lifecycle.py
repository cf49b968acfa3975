"""Health, reflection, listeners, deadlines and graceful shutdown of the real server (in-process and as
the `omniroute serve` subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from omniroute.client import Client, ServiceError, StockEvent
from omniroute.config import ServerConfig
from omniroute.server import SERVICE_NAMES, OmnirouteServer, ServerError
from omniroute.v1 import inventory_pb2 as ipb
from omniroute.v1 import inventory_pb2_grpc

from .fixtures import LedgerDouble, ServerThread, now_ms

ROOT = Path(__file__).resolve().parents[2]


def test_health_is_serving_for_the_server_and_every_service(server: ServerThread) -> None:
    channel = grpc.insecure_channel(server.target)
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", *SERVICE_NAMES):
        assert (
            stub.Check(health_pb2.HealthCheckRequest(service=name)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    channel.close()


def test_reflection_lists_the_services(server: ServerThread) -> None:
    channel = grpc.insecure_channel(server.target)
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    assert set(SERVICE_NAMES) <= services
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
    method = db.FindFileContainingSymbol("omniroute.v1.AvailabilityService")
    assert method.name == "omniroute/v1/availability.proto"
    channel.close()


def test_unix_domain_socket(tmp_path: Path) -> None:
    sock = tmp_path / "omniroute.sock"
    srv = ServerThread(ServerConfig(port=None, unix_socket=sock)).start()
    try:
        assert srv.target == f"unix:{sock.resolve()}"
        with Client(f"unix:{sock}") as c:
            assert c.get_availability(["SKU-1"], channel="web")["SKU-1"] == 92
    finally:
        srv.stop()
    assert not sock.exists()  # removed on shutdown


def test_a_port_in_use_fails_loudly(server: ServerThread) -> None:
    port = int(server.target.rsplit(":", 1)[1])
    other = ServerThread(ServerConfig(port=port))
    with pytest.raises(ServerError, match="cannot listen"):
        other.start()
    other.stop()


def test_a_slow_write_past_its_deadline_is_deadline_exceeded() -> None:
    ledger = LedgerDouble()
    ledger.delay_s = 0.5
    srv = ServerThread(load=ledger).start()
    try:
        with Client(srv.target) as c:
            started = time.monotonic()
            with pytest.raises(ServiceError) as err:
                c.apply_stock_events(
                    [StockEvent(f"e{i}", "receipt", "S-BOS", "SKU-1", 1, now_ms()) for i in range(300)],
                    timeout=0.1,
                )
            assert err.value.status is grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 0.45
    finally:
        srv.stop()


def test_graceful_shutdown_drains_an_in_flight_call() -> None:
    ledger = LedgerDouble()
    ledger.delay_s = 0.5
    srv = ServerThread(ServerConfig(port=0, grace_seconds=5), ledger).start()
    channel = grpc.insecure_channel(srv.target)
    health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert next(health).status == health_pb2.HealthCheckResponse.SERVING
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(now_ms())
    events = [
        ipb.StockEvent(
            event_id=f"d{i}", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=1, occurred_at=stamp
        )
        for i in range(300)
    ]
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    in_flight = stub.ApplyStockEvents.future(ipb.ApplyStockEventsRequest(events=events), timeout=10)
    assert ledger.entered.wait(5)
    started = time.monotonic()
    stopping = srv.submit(srv.server.stop())  # the configured grace: 5 s
    # load balancers watching health learn first
    assert next(health).status == health_pb2.HealthCheckResponse.NOT_SERVING
    health.cancel()  # an open health watch would otherwise hold the drain for the whole grace period
    resp = in_flight.result(10)
    assert resp.applied == 300
    stopping.result(10)
    assert time.monotonic() - started < 3  # done when the call finished, not when the grace ran out
    with pytest.raises(grpc.RpcError) as err:
        stub.ApplyStockEvents(ipb.ApplyStockEventsRequest(events=events[:1]), timeout=2)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    channel.close()
    srv.stop()


def test_watch_streams_end_cleanly_on_shutdown(server: ServerThread, client: Client) -> None:
    watch = client.watch_availability(["SKU-1"], channel="web", include_initial=True, timeout=10)
    next(watch)
    started = time.monotonic()
    server.call(server.server.stop(5))
    assert list(watch) == []  # ended by the server, not by the grace period running out
    assert time.monotonic() - started < 3


def test_omniroute_serve_subprocess_starts_serves_and_exits_on_sigterm(tmp_path: Path) -> None:
    sock = tmp_path / "serve.sock"
    env = {**os.environ, "OMNIROUTE_UNIX_SOCKET": str(sock), "OMNIROUTE_LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omniroute.cli",
            "serve",
            "--port",
            "off",
            "--data",
            str(ROOT / "examples" / "snapshot"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # generous: a first start after the kernels changed compiles them (numba's cache is per source)
        deadline = time.monotonic() + 120
        with Client(f"unix:{sock}", timeout=5) as c:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"omniroute serve exited with {proc.returncode}: {proc.communicate()[1]}")
                if sock.exists():
                    try:
                        if c.health(timeout=1) == "SERVING":
                            break
                    except ServiceError:
                        pass
                assert time.monotonic() < deadline, "omniroute serve not SERVING after 120 s"
                time.sleep(0.05)
            info = c.server_info()
            assert info.locations > 0 and info.skus > 0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "stopped" in err
    assert not sock.exists()


def test_server_refuses_a_regular_file_as_its_socket(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("precious")
    srv = OmnirouteServer(ServerConfig(port=None, unix_socket=path), lambda: None)  # type: ignore[arg-type,return-value]
    import asyncio

    with pytest.raises(ServerError, match="not a socket"):
        asyncio.run(srv.start())
    assert path.read_text() == "precious"


def test_loader_for_hands_the_atp_rules_to_the_ledger_it_picks() -> None:
    from availability.model import AtpConfig
    from omniroute.server import loader_for

    ledger = loader_for(ServerConfig(), AtpConfig(low_stock_network=3))()
    try:
        assert ledger.store.network.config.low_stock_network == 3
    finally:
        ledger.close()
