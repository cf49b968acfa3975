"""The service over a Redis that goes away: reads keep answering the last known figures flagged stale,
health says NOT_SERVING overall and for the write services (SERVING for AvailabilityService), writes
answer UNAVAILABLE, and all of it comes back by itself with Redis. And a write stuck on a Redis that
does not answer never holds the event loop: other calls keep being answered meanwhile."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from availability.ledger import Ledger
from availability.model import EventBatchResult
from availability.model import StockEvent as EngineEvent
from omniroute.client import Client, SafetyStock, ServiceError, StockEvent
from omniroute.redis_server import RedisServer
from omniroute.server import READ_SERVICES, WRITE_SERVICES, redis_loader
from omniroute.v1 import diagnostics_pb2 as dpb
from omniroute.v1 import diagnostics_pb2_grpc, inventory_pb2_grpc
from omniroute.v1 import inventory_pb2 as ipb
from tests.omniroute.fixtures import ServerThread, now_ms, with_config
from tests.redis.conftest import eventually

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot"
SKUS = ["TEE-WHT-M", "TEE-BLK-M", "SKU-NOPE"]


def serve(redis: RedisServer, prefix: str, wrap: Callable[[Ledger], Ledger] = lambda ledger: ledger) -> ServerThread:
    config = with_config(redis_url=redis.url, redis_prefix=prefix, data_dir=SAMPLE)
    load = redis_loader(config)
    return ServerThread(config, lambda: wrap(load())).start()


def test_redis_down_reads_stale_writes_unavailable_and_back_by_itself(own_redis: RedisServer, prefix: str) -> None:
    srv = serve(own_redis, prefix)
    try:
        with Client(srv.target, timeout=10) as c:
            assert c.apply_stock_events([StockEvent("before", "receipt", "NYC-01", "TEE-WHT-M", 3, now_ms())]).applied
            before = c.get_availability(SKUS, channel="web")
            assert not before.stale and not c.server_info().stale and c.health() == "SERVING"

            own_redis.kill()
            eventually(lambda: c.health() == "NOT_SERVING", what="overall health to say NOT_SERVING")
            assert {name: c.health(name) for name in WRITE_SERVICES} == dict.fromkeys(WRITE_SERVICES, "NOT_SERVING")
            assert {name: c.health(name) for name in READ_SERVICES} == dict.fromkeys(READ_SERVICES, "SERVING")
            during = c.get_availability(SKUS, channel="web")
            assert during.stale
            assert (during.quantity, during.status, during.unknown) == (before.quantity, before.status, before.unknown)
            assert during.sequence == before.sequence
            assert c.find_nearby_stores({"TEE-WHT-M": 1}, near=(40.75, -73.99), radius_km=30, channel="web").stale
            assert c.server_info().stale
            for write in (
                lambda: c.apply_stock_events([StockEvent("down", "receipt", "NYC-01", "TEE-WHT-M", 1, now_ms())]),
                lambda: c.set_safety_stock([SafetyStock("TEE-WHT-M", "NYC-01", 2)]),
            ):
                with pytest.raises(ServiceError) as err:
                    write()
                assert err.value.status is grpc.StatusCode.UNAVAILABLE
                assert f"ledger at redis://127.0.0.1:{own_redis.port}/0 unreachable" in err.value.message

            own_redis.start()  # same port and data directory: the append-only file brings the ledger back
            eventually(lambda: c.health() == "SERVING", timeout=20, what="overall health to say SERVING again")
            assert all(c.health(name) == "SERVING" for name in WRITE_SERVICES | READ_SERVICES)
            after = c.get_availability(SKUS, channel="web")
            assert not after.stale and after.quantity == before.quantity
            assert c.apply_stock_events([StockEvent("after", "sale", "NYC-01", "TEE-WHT-M", 1, now_ms())]).applied
            assert c.get_availability(SKUS, channel="web").quantity[0] == before.quantity[0] - 1
    finally:
        srv.stop()


class NotedWrites:
    """A ledger whose stock event writes note the thread that runs them (everything else goes through)."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.thread = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply_stock_events(self, events: Sequence[EngineEvent]) -> EventBatchResult:
        self.thread = threading.current_thread().name
        self.entered.set()
        return self.inner.apply_stock_events(events)


@pytest.fixture
def paused_redis() -> Iterator[RedisServer]:
    """A private redis-server that the test may pause with SIGSTOP; resumed and removed afterwards."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        if server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.cleanup()


def test_a_write_stuck_on_a_paused_redis_does_not_hold_the_event_loop(paused_redis: RedisServer, prefix: str) -> None:
    noted: list[NotedWrites] = []

    def wrap(ledger: Ledger) -> Ledger:
        noted.append(NotedWrites(ledger))
        return noted[0]

    srv = serve(paused_redis, prefix, wrap)
    channel = grpc.insecure_channel(srv.target)
    try:
        assert paused_redis.proc is not None
        event = ipb.StockEvent(event_id="paused-1", type=ipb.RECEIPT, location="NYC-01", sku="TEE-WHT-M", quantity=1)
        event.occurred_at.FromMilliseconds(now_ms())
        os.kill(paused_redis.proc.pid, signal.SIGSTOP)  # Redis accepts bytes but answers nothing
        write = inventory_pb2_grpc.InventoryServiceStub(channel).ApplyStockEvents.future(
            ipb.ApplyStockEventsRequest(events=[event]), timeout=60
        )
        assert noted[0].entered.wait(30)
        # the write is now waiting for Redis: if it waited on the event loop, no other call could be
        # answered until Redis did (or the client's 10 s socket timeout passed, failing the write)
        diagnostics_pb2_grpc.DiagnosticsServiceStub(channel).Ping(dpb.PingRequest(), timeout=60)
        with Client(srv.target, timeout=60) as c:
            assert c.get_availability(SKUS, channel="web").quantity[0] > 0
        assert not write.done()
        assert noted[0].thread.startswith("omniroute-write")

        os.kill(paused_redis.proc.pid, signal.SIGCONT)
        assert write.result(60).applied == 1
    finally:
        channel.close()
        srv.stop()
