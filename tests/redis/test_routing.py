"""RoutingService over the Redis ledger (a private redis-server from the session fixture): a held plan is
exactly the plan in Redis's counters, a cart's network hold becomes location holds, and a rival hold
landing between routing and holding forces a re-route even though this replica's arrays may not have seen
the rival yet (the ledger's shortfall caps the next route)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from availability.ledger import Ledger
from availability.ledger.redis import RedisLedger
from availability.locations import Scope
from availability.reservations import HoldLine, ReserveRequest
from omniroute.client import Allocation, Client, Order
from omniroute.config import ServerConfig
from omniroute.redis_server import RedisServer
from omniroute.server import redis_loader
from tests.omniroute.fixtures import ServerThread, tiny_network, with_config
from tests.redis.conftest import eventually

BOSTON = (42.3601, -71.0589)
PLACED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Rival:
    """Around a Redis replica: before the first hold of an order, another checkout (through the same
    ledger, so straight into Redis) takes every unit that order is about to hold at its first location."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.struck = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def reserve(self, request: ReserveRequest) -> Any:
        if not self.struck and request.reservation_id.startswith("o-"):
            self.struck = True
            line = request.lines[0]
            store = self.inner.store
            s = store.skus.get(line.sku)
            assert s is not None
            left = store.hold_atp(s, store.network.channel_index("web"), Scope.of_locations([line.location]))
            self.inner.reserve(ReserveRequest("rival", "web", (HoldLine(line.sku, left, location=line.location),)))
        return self.inner.reserve(request)


@pytest.fixture
def redis_config(redis_server: RedisServer, prefix: str) -> Iterator[ServerConfig]:
    RedisLedger(redis_server.url, prefix=prefix, snapshot=tiny_network()).close()
    config = with_config(redis_url=redis_server.url, redis_prefix=prefix)
    assert isinstance(config, ServerConfig)
    yield config
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()


def reserved(client: Client, sku: str, location: str) -> int:
    return next(p.reserved for p in client.get_positions([sku], locations=[location]).positions)


def test_a_held_plan_is_exactly_the_plan_in_redis(redis_config: ServerConfig) -> None:
    srv = ServerThread(redis_config, redis_loader(redis_config)).start()
    try:
        with Client(srv.target, timeout=10) as c:
            routed = c.route_order(
                Order("o-1", "web", [("SKU-1", 3), ("SKU-5", 2)], BOSTON, placed_at=PLACED), hold=True
            )
            plan = routed.result.shipped()
            assert plan == {("DC-EAST", "SKU-1"): 3, ("DC-EAST", "SKU-5"): 2}
            assert routed.hold is not None and routed.hold.held and routed.hold.reroutes == 0
            r = c.get_reservation("o-1")
            assert {(ln.place, ln.sku): ln.held for ln in r.lines} == plan
            eventually(lambda: reserved(c, "SKU-5", "DC-EAST") == 2, what="the replica to apply the hold")
            assert reserved(c, "SKU-1", "DC-EAST") == 3
            # a cart's network hold of the last units of SKU-5 moves to the DC for its own order
            c.reserve("cart-2", "web", [("SKU-5", 5)])
            eventually(lambda: c.get_availability(["SKU-5"], channel="web")["SKU-5"] == 0, what="the cart hold")
            moved = c.route_order(
                Order("o-2", "web", [("SKU-5", 5)], BOSTON, placed_at=PLACED), hold=True, reservation_id="cart-2"
            )
            assert moved.hold is not None and moved.hold.held
            assert {(ln.place, ln.held) for ln in c.get_reservation("cart-2").lines if ln.held} == {("DC-EAST", 5)}
            assert c.reconcile().consistent
    finally:
        srv.stop()


def test_a_rival_hold_forces_a_reroute_on_redis(redis_config: ServerConfig) -> None:
    load = redis_loader(redis_config)
    rival: list[Rival] = []

    def wrapped() -> Any:
        rival.append(Rival(load()))
        return rival[0]

    srv = ServerThread(redis_config, wrapped).start()
    try:
        with Client(srv.target, timeout=10) as c:
            c.set_allocations([Allocation("SKU-1", "marketplace", 0)])
            eventually(lambda: not c.get_positions(["SKU-1"]).allocations, what="the fence to go")
            routed = c.route_order(Order("o-1", "web", [("SKU-1", 3)], BOSTON, placed_at=PLACED), hold=True)
            assert rival[0].struck
            assert routed.hold is not None and routed.hold.held and routed.hold.reroutes >= 1
            assert routed.result.shipped() == {("S-BOS", "SKU-1"): 3}
            r = c.get_reservation("o-1")
            assert {(ln.place, ln.sku): ln.held for ln in r.lines} == {("S-BOS", "SKU-1"): 3}
            assert c.reconcile().consistent
    finally:
        srv.stop()


def test_capacity_held_on_one_replica_counts_on_another_and_a_release_gives_it_back(
    redis_server: RedisServer, prefix: str
) -> None:
    """Two servers on one Redis (as `serve --workers 2`): the DC ships one order a day. A plan held
    through one replica takes it for the other; a release through the other gives it back to both."""
    from dataclasses import replace

    snap = tiny_network()
    snap.locations = [replace(loc, daily_capacity=1) if loc.id == "DC-EAST" else loc for loc in snap.locations]
    RedisLedger(redis_server.url, prefix=prefix, snapshot=snap).close()
    config = with_config(redis_url=redis_server.url, redis_prefix=prefix)
    assert isinstance(config, ServerConfig)
    one = ServerThread(config, redis_loader(config)).start()
    two = ServerThread(config, redis_loader(config)).start()
    try:
        with Client(one.target, timeout=10) as a, Client(two.target, timeout=10) as b:
            a.set_allocations([Allocation("SKU-1", "marketplace", 0)])
            eventually(lambda: not b.get_positions(["SKU-1"]).allocations, what="the fence to go")
            first = a.route_order(Order("o-1", "web", [("SKU-1", 1)], BOSTON, placed_at=PLACED), hold=True)
            assert first.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            second = b.route_order(Order("o-2", "web", [("SKU-1", 1)], BOSTON, placed_at=PLACED), hold=True)
            assert second.result.shipped() == {("S-BOS", "SKU-1"): 1}
            b.release("o-1")
            third = a.route_order(Order("o-3", "web", [("SKU-1", 1)], BOSTON, placed_at=PLACED), hold=True)
            assert third.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            assert a.reconcile().consistent
    finally:
        one.stop()
        two.stop()
        client = redis.Redis(host="127.0.0.1", port=redis_server.port)
        client.flushall()
        client.close()
