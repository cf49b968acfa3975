"""Prometheus metrics (omniroute/metrics.py): a real server with --metrics-port 0, real calls through the
client, then the real /metrics endpoint scraped over HTTP and parsed with prometheus_client's own parser.
Counters are compared before and after the calls, never against timings. The change-stream lag is shown
on a real Redis replica (the private redis-server of tests/conftest.py) held behind its writer."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from availability.errors import Unavailable
from availability.model import EventType
from availability.model import StockEvent as EngineEvent
from omniroute.client import Client, HoldLine, Order, ServiceError, StockEvent
from omniroute.config import ConfigError, ServerConfig
from omniroute.metrics import LATENCY_BUCKETS
from omniroute.redis_server import RedisServer
from omniroute.status import service_of
from omniroute.v1 import availability_pb2, diagnostics_pb2, diagnostics_pb2_grpc

from .fixtures import BOSTON, ServerThread, now_ms, with_config

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
AVAILABILITY = "omniroute.v1.AvailabilityService"
RESERVATION = "omniroute.v1.ReservationService"
PLACED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def handled(samples: Samples, service: str, method: str, code: str) -> float:
    kind = "server_stream" if method in ("WatchAvailability", "ExportLocalInventory") else "unary"
    return value(
        samples, "grpc_server_handled_total", grpc_type=kind, grpc_service=service, grpc_method=method, grpc_code=code
    )


@pytest.fixture
def metered() -> Iterator[ServerThread]:
    """A real server over the tiny network with its metrics on a free port."""
    srv = ServerThread(with_config(metrics_port=0)).start()
    try:
        yield srv
    finally:
        srv.stop()


def metrics_port(srv: ServerThread) -> int:
    port = srv.server.metrics_port
    assert port is not None and port > 0
    return port


# ---------------------------------------------------------------------------------------------- RPCs
def test_requests_by_method_and_status_code_with_latency_histograms(metered: ServerThread) -> None:
    port = metrics_port(metered)
    before = scrape(port)
    with Client(metered.target, timeout=10) as c:
        for _ in range(3):
            c.get_availability(["SKU-1"], channel="web")
        with pytest.raises(ServiceError) as err:
            c.get_availability(["SKU-1"], channel="no-such-channel")
        assert err.value.status is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(ServiceError) as err:
            c.get_reservation("never-made")
        assert err.value.status is grpc.StatusCode.NOT_FOUND
        c.ping()  # the bare baseline: not counted
    after = scrape(port)

    def moved(service: str, method: str, code: str) -> float:
        return handled(after, service, method, code) - handled(before, service, method, code)

    assert moved(AVAILABILITY, "GetAvailability", "OK") == 3
    assert moved(AVAILABILITY, "GetAvailability", "INVALID_ARGUMENT") == 1
    assert moved(RESERVATION, "GetReservation", "NOT_FOUND") == 1
    assert not any(name == "grpc_server_handled_total" and ("grpc_method", "Ping") in labels for name, labels in after)

    # every call, whatever its code, lands in the method's histogram, in cumulative buckets
    hist = {"grpc_type": "unary", "grpc_service": AVAILABILITY, "grpc_method": "GetAvailability"}
    count = value(after, "grpc_server_handling_seconds_count", **hist)
    assert count - value(before, "grpc_server_handling_seconds_count", **hist) == 4
    assert value(after, "grpc_server_handling_seconds_sum", **hist) > 0
    buckets = [value(after, "grpc_server_handling_seconds_bucket", **hist, le=str(b)) for b in LATENCY_BUCKETS]
    assert buckets == sorted(buckets)
    assert value(after, "grpc_server_handling_seconds_bucket", **hist, le="+Inf") == count


def test_atp_answers_by_stock_status(metered: ServerThread) -> None:
    port = metrics_port(metered)
    with Client(metered.target, timeout=10) as c:
        network = c.get_availability(["SKU-1", "SKU-2", "SKU-3", "SKU-NOPE"], channel="web")
        per_location = c.get_availability(["SKU-1", "SKU-NOPE"], channel="web", per_location=True)
    after = scrape(port)
    expected = {"out_of_stock": 0, "low_stock": 0, "in_stock": 0}
    for answer in (network, per_location):
        for _, _, status, _ in answer.rows():
            expected[status.value] += 1
    assert expected["out_of_stock"] >= 2  # the unknown SKU, twice
    assert {s: value(after, "omniroute_atp_answers_total", status=s) for s in expected} == expected
    assert value(after, "omniroute_atp_unknown_skus_total") == 2


def test_holds_by_outcome(metered: ServerThread) -> None:
    port = metrics_port(metered)
    with Client(metered.target, timeout=10) as c:
        c.reserve("cart-1", "web", [HoldLine("SKU-1", 2, location="DC-EAST")])
        c.reserve("cart-1", "web", [HoldLine("SKU-1", 2, location="DC-EAST")])  # a retry: the same hold
        with pytest.raises(ServiceError):  # short
            c.reserve("cart-2", "web", [("SKU-1", 1_000_000)])
        with pytest.raises(ServiceError):  # the id again, other lines
            c.reserve("cart-1", "web", [HoldLine("SKU-1", 1, location="DC-EAST")])
        with pytest.raises(ServiceError):  # malformed
            c.reserve("cart-3", "web", [("SKU-1", -1)])
        c.fulfill("cart-1", [("SKU-1", "DC-EAST", 1)], operation_id="ship-1")
        c.release("cart-1")
        with pytest.raises(ServiceError):
            c.release("no-such-cart")
        routed = c.route_order(
            Order("o-1", "web", [("SKU-1", 1)], destination=BOSTON, placed_at=PLACED), hold=True
        )
        assert routed.hold is not None and routed.hold.held
    after = scrape(port)
    holds = {
        (labels[0][1], labels[1][1]): v  # (operation, outcome): labels come sorted
        for (name, labels), v in after.items()
        if name == "omniroute_holds_total" and v
    }
    assert holds == {
        ("reserve", "held"): 2,
        ("reserve", "short"): 1,
        ("reserve", "already_exists"): 1,
        ("reserve", "invalid"): 1,
        ("fulfill", "fulfilled"): 1,
        ("release", "released"): 1,
        ("release", "not_found"): 1,
        ("route", "held"): 1,
    }
    assert value(after, "omniroute_holds_total", operation="expire", outcome="expired") == 0  # always there


def test_expired_holds_are_counted_from_the_ledger(metered: ServerThread) -> None:
    with Client(metered.target, timeout=10) as c:
        c.reserve("brief", "web", [("SKU-1", 1)], ttl_seconds=1)
    ledger = metered.ledger
    assert ledger.expire_due(now_ms() + 60_000) == 1  # what the sweeper does once the TTL has passed
    after = scrape(metrics_port(metered))
    assert value(after, "omniroute_holds_total", operation="expire", outcome="expired") == 1


def test_routing_solve_time_status_and_solver(metered: ServerThread) -> None:
    with Client(metered.target, timeout=10) as c:
        r = c.route_order(Order("o-9", "web", [("SKU-1", 2)], destination=BOSTON, placed_at=PLACED)).result
        c.route_order(Order("o-10", "web", [("SKU-1", 1)], destination=BOSTON, placed_at=PLACED), policy="nearest")
    after = scrape(metrics_port(metered))
    labels = {"policy": "optimal", "solver": r.solver, "status": r.status.value}
    assert value(after, "omniroute_routing_solve_seconds_count", **labels) == 1
    assert value(after, "omniroute_routing_solve_seconds_sum", **labels) == pytest.approx(r.solve_time_s)
    nearest = [k for k in after if k[0] == "omniroute_routing_solve_seconds_count" and ("policy", "nearest") in k[1]]
    assert len(nearest) == 1 and after[nearest[0]] == 1


def test_ledger_state_gauges_on_the_embedded_ledger(metered: ServerThread) -> None:
    with Client(metered.target, timeout=10) as c:
        seq = c.apply_stock_events([StockEvent("m-1", "receipt", "S-BOS", "SKU-1", 1, now_ms())]).sequence
    after = scrape(metrics_port(metered))
    assert value(after, "omniroute_info", version=metered.server.runtime.version, backend="memory") == 1  # type: ignore[union-attr]
    assert value(after, "omniroute_loaded") == 1
    assert value(after, "omniroute_serving") == 1
    assert value(after, "omniroute_ledger_stale") == 0
    assert value(after, "omniroute_read_model_sequence") == seq
    assert value(after, "omniroute_ledger_stream_lag_records", partition="0") == 0
    assert value(after, "omniroute_ledger_stream_lag_seconds", partition="0") == 0
    for kind in ("unavailable", "script"):
        assert ("omniroute_ledger_errors_total", (("kind", kind),)) in after


def test_ledger_errors_count_where_the_ledger_becomes_unavailable(metered: ServerThread) -> None:
    from availability.ledger.scripts import reachable

    port = metrics_port(metered)
    before = value(scrape(port), "omniroute_ledger_errors_total", kind="unavailable")
    with pytest.raises(Unavailable), reachable("redis://127.0.0.1:1/0"):
        raise redis.ConnectionError("connection refused")
    assert value(scrape(port), "omniroute_ledger_errors_total", kind="unavailable") == before + 1


def test_an_internal_error_and_a_stream_are_counted() -> None:
    from availability.reservations import ReconcileReport

    from .fixtures import LedgerDouble

    class Broken(LedgerDouble):
        def reconcile(self, *, repair: bool = False, skus: frozenset[str] = frozenset()) -> ReconcileReport:
            raise RuntimeError("a bug")

    srv = ServerThread(with_config(metrics_port=0), load=Broken()).start()
    try:
        with Client(srv.target, timeout=10) as c:
            with pytest.raises(ServiceError) as err:
                c.reconcile()
            assert err.value.status is grpc.StatusCode.INTERNAL
            assert list(c.export_local_inventory())
        after = scrape(metrics_port(srv))
        assert handled(after, "omniroute.v1.AdminService", "Reconcile", "INTERNAL") == 1
        assert handled(after, AVAILABILITY, "ExportLocalInventory", "OK") == 1
        assert value(after, "omniroute_streams_open", grpc_method="ExportLocalInventory") == 0
    finally:
        srv.stop()


def test_service_labels_name_the_real_services() -> None:
    from omniroute.server import SERVICE_NAMES

    for qualname in (
        "AvailabilityServicer.GetAvailability",
        "InventoryServicer.ApplyStockEvents",
        "DiagnosticsServicer.GetServerInfo",
        "ReservationServicer.Reserve",
        "AdminServicer.Reconcile",
        "RoutingServicer.RouteOrder",
    ):
        assert service_of(qualname)[0] in SERVICE_NAMES


def test_calls_the_edge_refuses_are_counted(tmp_path: Path) -> None:
    """No token, a role too low, a batch over its limit, a request that is not protobuf, a caller's
    stream cap and the server's default deadline: answered before (or instead of) the servicer, and
    counted by method and code like every other call; a refused hold is not a hold outcome."""
    from availability.reservations import MAX_LINES

    from .test_auth import write_tokens_file
    from .test_limits import opened

    tokens = write_tokens_file(tmp_path)
    config = with_config(
        metrics_port=0, auth_tokens=tokens.path, max_streams_per_caller=1, default_deadline_seconds=0.3
    )
    srv = ServerThread(config).start()
    try:
        port = metrics_port(srv)
        before = scrape(port)
        with Client(srv.target, timeout=10) as anonymous:
            with pytest.raises(ServiceError):
                anonymous.get_availability(["SKU-1"], channel="web")
            with pytest.raises(ServiceError):
                anonymous.ping()
        with Client(srv.target, timeout=10, token=tokens.read) as reader:
            with pytest.raises(ServiceError):
                reader.reserve("cart-1", "web", [("SKU-1", 1)])
            watch = opened(reader)
            with pytest.raises(grpc.RpcError) as err:
                next(reader.watch_availability(["SKU-2"], channel="web"))
            assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            watch.cancel()
        with Client(srv.target, timeout=10, token=tokens.write) as writer, pytest.raises(ServiceError):
            writer.reserve("cart-2", "web", [("SKU-1", 1)] * (MAX_LINES + 1))
        with grpc.insecure_channel(srv.target) as channel:
            auth = (("authorization", f"Bearer {tokens.write}"),)
            reserve = channel.unary_unary("/omniroute.v1.ReservationService/Reserve", None, None)
            with pytest.raises(grpc.RpcError) as err:  # not protobuf: a length running past the end
                reserve(b"\x0a\x05ab", metadata=auth)
            assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            waits = availability_pb2.GetAvailabilityRequest(skus=["SKU-1"], channel="web", min_sequence=10**9)
            with pytest.raises(grpc.RpcError) as err:  # no deadline of its own: the server's 0.3 s
                channel.unary_unary("/omniroute.v1.AvailabilityService/GetAvailability", None, None)(
                    waits.SerializeToString(), metadata=auth
                )
            assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        after = scrape(port)
    finally:
        srv.stop()

    def moved(service: str, method: str, code: str) -> float:
        return handled(after, service, method, code) - handled(before, service, method, code)

    assert moved(AVAILABILITY, "GetAvailability", "UNAUTHENTICATED") == 1
    assert moved("omniroute.v1.DiagnosticsService", "Ping", "UNAUTHENTICATED") == 1
    assert moved(RESERVATION, "Reserve", "PERMISSION_DENIED") == 1
    assert moved(AVAILABILITY, "WatchAvailability", "RESOURCE_EXHAUSTED") == 1
    assert moved(RESERVATION, "Reserve", "INVALID_ARGUMENT") == 2  # over the line limit, and not protobuf
    assert moved(AVAILABILITY, "GetAvailability", "DEADLINE_EXCEEDED") == 1
    assert moved(AVAILABILITY, "GetAvailability", "CANCELLED") == 0
    # each refusal is in its method's histogram too, and none is a hold outcome
    hist = {"grpc_type": "unary", "grpc_service": RESERVATION, "grpc_method": "Reserve"}
    assert value(after, "grpc_server_handling_seconds_count", **hist) == 3
    assert not any(name == "omniroute_holds_total" and ("operation", "reserve") in labels for name, labels in after)


# ---------------------------------------------------------------------------------------------- config
def test_metrics_are_off_by_default(server: ServerThread) -> None:
    assert server.server.metrics_port is None
    assert server.server.runtime is not None and server.server.runtime.metrics is None


def test_metrics_port_from_the_environment_and_its_checks() -> None:
    assert ServerConfig.load(env={"OMNIROUTE_METRICS_PORT": "9464"}).metrics_port == 9464
    assert ServerConfig.load(env={"OMNIROUTE_METRICS_PORT": "off"}).metrics_port is None
    assert ServerConfig.load({"metrics_port": "0"}, env={}).metrics_port == 0
    with pytest.raises(ConfigError, match="OMNIROUTE_METRICS_PORT"):
        ServerConfig.load(env={"OMNIROUTE_METRICS_PORT": "70000"})
    with pytest.raises(ConfigError, match="differ from the gRPC port"):
        ServerConfig(port=6000, metrics_port=6000)


def test_a_metrics_port_in_use_stops_the_server(metered: ServerThread) -> None:
    from omniroute.server import ServerError

    srv = ServerThread(with_config(metrics_port=metrics_port(metered)))
    with pytest.raises(ServerError, match="metrics: cannot listen"):
        srv.start()
    srv.stop()


def test_get_server_info_is_counted_but_ping_stays_bare(metered: ServerThread) -> None:
    channel = grpc.insecure_channel(metered.target)
    try:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        stub.Ping(diagnostics_pb2.PingRequest())
        stub.GetServerInfo(diagnostics_pb2.GetServerInfoRequest())
    finally:
        channel.close()
    after = scrape(metrics_port(metered))
    assert handled(after, "omniroute.v1.DiagnosticsService", "GetServerInfo", "OK") == 1


# ---------------------------------------------------------------------------------------------- Redis
@pytest.mark.redis
def test_stream_lag_of_a_redis_replica_held_behind_its_writer(redis_server: RedisServer) -> None:
    from availability.ledger.redis import RedisLedger

    from .fixtures import tiny_network

    prefix = "metrics-lag"
    served = RedisLedger(redis_server.url, prefix=prefix, snapshot=tiny_network())
    writer = RedisLedger(redis_server.url, prefix=prefix)
    srv = ServerThread(with_config(metrics_port=0, redis_url=redis_server.url), load=served)
    srv.server.backend = "redis"
    srv.start()
    try:
        port = metrics_port(srv)
        assert served.stream_lag(refresh=True)[0].records == 0
        first = scrape(port)
        assert value(first, "omniroute_info", version=srv.server.runtime.version, backend="redis") == 1  # type: ignore[union-attr]
        assert value(first, "omniroute_ledger_stream_lag_records", partition="0") == 0
        assert value(first, "omniroute_ledger_stale") == 0

        # the served replica's appliers wait on its lock, as a replica too slow for the stream would
        with served._replica._lock:
            results = writer.apply_stock_events(
                [EngineEvent(f"lag-{i}", EventType.RECEIPT, "S-BOS", "SKU-1", 1, now_ms()) for i in range(3)]
            )
            assert [r.outcome.name for r in results.results] == ["APPLIED"] * 3
            lag = served.stream_lag(refresh=True)  # the heartbeat's look, made now
            assert [(x.partition, x.records) for x in lag] == [(0, 3)]
            behind = scrape(port)
            assert value(behind, "omniroute_ledger_stream_lag_records", partition="0") == 3
            assert value(behind, "omniroute_ledger_stream_lag_seconds", partition="0") >= 0
        from tests.redis.conftest import eventually

        eventually(lambda: served.stream_lag(refresh=True)[0].records == 0, what="the replica to catch up")
        caught_up = scrape(port)
        assert value(caught_up, "omniroute_ledger_stream_lag_records", partition="0") == 0
        assert value(caught_up, "omniroute_ledger_stream_lag_seconds", partition="0") == 0
    finally:
        srv.stop()
        writer.close()
        client = redis.Redis.from_url(redis_server.url)
        client.flushall()  # as tests/redis do after each test
        client.close()
