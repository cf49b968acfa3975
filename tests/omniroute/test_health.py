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
