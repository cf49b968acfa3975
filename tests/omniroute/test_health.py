"""Health per service and the `stale` flag of read answers. The embedded ledger is never stale; a ledger
double whose reachability the test switches shows how health and answers follow it (the same with a real
Redis going away: tests/redis/test_service_outage.py)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from availability.errors import Unavailable
from omniroute.client import Client, ServiceError, StockEvent
from omniroute.server import READ_SERVICES, SERVICE_NAMES, WRITE_SERVICES, health_statuses
from tests.redis.conftest import eventually

from .fixtures import BOSTON, LedgerDouble, ServerThread, now_ms

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
AVAILABILITY = "omniroute.v1.AvailabilityService"


class SwitchedLedger(LedgerDouble):
    """The tiny network's memory ledger, reported stale (and failing its writes, as the Redis ledger
    does) while the test says its ledger is out of reach."""

    def __init__(self) -> None:
        super().__init__()
        self.stale = False


def test_the_write_services_need_the_ledger_and_the_read_services_do_not() -> None:
    assert {AVAILABILITY, "omniroute.v1.DiagnosticsService"} == READ_SERVICES
    assert {
        "omniroute.v1.InventoryService",
        "omniroute.v1.ReservationService",
        "omniroute.v1.AdminService",
        "omniroute.v1.RoutingService",  # holds plans: it needs the ledger
    } == WRITE_SERVICES
    assert health_statuses(stale=False) == dict.fromkeys(("", *SERVICE_NAMES), SERVING)
    down = health_statuses(stale=True)
    assert down[""] == NOT_SERVING
    assert {name for name, status in down.items() if status == SERVING} == READ_SERVICES


def test_answers_of_the_embedded_ledger_are_never_stale(client: Client) -> None:
    assert not client.get_availability(["SKU-1", "SKU-NOPE"], channel="web").stale
    assert not client.get_availability(["SKU-1"], channel="web", per_location=True).stale
    assert not client.find_nearby_stores({"SKU-1": 1}, near=BOSTON, radius_km=20, channel="web").stale
    assert not client.server_info().stale
    chunks = list(client.export_local_inventory())
    assert chunks and not any(c.stale for c in chunks)
    with client.watch_availability(["SKU-1"], channel="web", include_initial=True, timeout=10) as watch:
        assert not next(watch).stale


def test_health_and_answers_follow_the_ledger_out_of_reach_and_back() -> None:
    ledger = SwitchedLedger()
    srv = ServerThread(load=ledger).start()
    try:
        with Client(srv.target, timeout=10) as c:
            before = c.get_availability(["SKU-1", "SKU-3"], channel="web")
            assert not before.stale and c.health() == "SERVING"

            ledger.stale = True
            ledger.raise_on_write = Unavailable("ledger at redis://127.0.0.1:1/0 unreachable: refused")
            eventually(lambda: c.health() == "NOT_SERVING", what="overall health to say NOT_SERVING")
            for name in WRITE_SERVICES:
                assert c.health(name) == "NOT_SERVING", name
            for name in READ_SERVICES:
                assert c.health(name) == "SERVING", name
            during = c.get_availability(["SKU-1", "SKU-3"], channel="web")
            assert during.stale and during.quantity == before.quantity and during.sequence == before.sequence
            assert c.get_availability(["SKU-1"], channel="web", per_location=True).stale
            assert c.find_nearby_stores({"SKU-1": 1}, near=BOSTON, radius_km=20, channel="web").stale
            assert c.server_info().stale
            assert all(chunk.stale for chunk in c.export_local_inventory())
            with pytest.raises(ServiceError) as err:
                c.apply_stock_events([StockEvent("down-1", "receipt", "S-BOS", "SKU-1", 1, now_ms())])
            assert err.value.status is grpc.StatusCode.UNAVAILABLE
            assert "unreachable" in err.value.message

            ledger.stale = False
            ledger.raise_on_write = None
            eventually(lambda: c.health() == "SERVING", what="overall health to say SERVING again")
            assert all(c.health(name) == "SERVING" for name in SERVICE_NAMES)
            assert not c.get_availability(["SKU-1"], channel="web").stale
            assert c.apply_stock_events([StockEvent("up-1", "receipt", "S-BOS", "SKU-1", 1, now_ms())]).applied == 1
    finally:
        srv.stop()


def test_draining_says_not_serving_even_for_the_read_services() -> None:
    srv = ServerThread().start()
    channel = grpc.insecure_channel(srv.target)
    try:
        request = health_pb2.HealthCheckRequest(service=AVAILABILITY)
        watch = health_pb2_grpc.HealthStub(channel).Watch(request, timeout=10)
        assert next(watch).status == SERVING
        stopping = srv.submit(srv.server.stop(5))
        assert next(watch).status == NOT_SERVING
        watch.cancel()  # an open health watch would hold the drain for the whole grace period
        stopping.result(10)
    finally:
        channel.close()
        srv.stop()


def test_not_serving_anywhere_until_the_read_model_is_loaded() -> None:
    """SERVING needs the arrays: while the ledger loads, every service, the read ones included, says
    NOT_SERVING (their calls answer UNAVAILABLE meanwhile)."""
    import threading

    from availability.ledger import MemoryLedger

    from .fixtures import tiny_ledger

    release = threading.Event()

    def slow_load() -> MemoryLedger:
        release.wait(10)
        return tiny_ledger()

    srv = ServerThread(load=slow_load).start(wait_loaded=False)
    try:
        with Client(srv.target, timeout=10) as c:
            assert {name: c.health(name) for name in ("", *SERVICE_NAMES)} == dict.fromkeys(
                ("", *SERVICE_NAMES), "NOT_SERVING"
            )
            release.set()
            srv.call(srv.server.wait_until_loaded())
            assert all(c.health(name) == "SERVING" for name in ("", *SERVICE_NAMES))
    finally:
        release.set()
        srv.stop()


def test_a_ledger_out_of_reach_when_loading_ends_is_not_serving_from_the_start() -> None:
    """Health is set from the ledger's reachability the moment loading ends, not at the next poll; the
    metrics say the same (omniroute_serving 0, omniroute_ledger_stale 1)."""
    from .fixtures import with_config
    from .test_metrics import scrape, value

    ledger = SwitchedLedger()
    ledger.stale = True
    srv = ServerThread(with_config(metrics_port=0), load=ledger).start()
    try:
        with Client(srv.target, timeout=10) as c:
            assert c.health() == "NOT_SERVING"
            assert all(c.health(name) == "NOT_SERVING" for name in WRITE_SERVICES)
            assert all(c.health(name) == "SERVING" for name in READ_SERVICES)
        assert srv.server.metrics_port is not None
        samples = scrape(srv.server.metrics_port)
        assert value(samples, "omniroute_ledger_stale") == 1
        assert value(samples, "omniroute_serving") == 0 and value(samples, "omniroute_loaded") == 1
    finally:
        srv.stop()
