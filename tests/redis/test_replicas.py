"""Several replicas on one Redis: each sees the others' writes by tailing the partition streams, a
replica started against a populated Redis rebuilds exactly the same state (also while writers keep
writing), an event id is applied once whichever replicas it is sent to, and concurrent writers on
different replicas lose no update."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from availability import AllocationRow, EventOutcome, EventType, Location, LocationType, Method, Scope, StockEvent
from availability.ledger import ChangeBatch, SafetyStockEntry
from availability.ledger.redis import RedisLedger
from tests.contract.conftest import observable
from tests.redis.conftest import Replicas, eventually
from tests.scenarios import (
    T0,
    Stock,
    everyday_stock,
    future_supply,
    marketplace_ring_fence,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)

A = EventOutcome.APPLIED
D = EventOutcome.DUPLICATE


def rich_snapshot() -> object:
    """everyday stock, the LAMP ring-fences, SOFA's future supply and an explicit safety stock."""
    base, fence, supply = everyday_stock(), marketplace_ring_fence(), future_supply(date(2023, 11, 14))
    stock = Stock(
        on_hand={**base.on_hand, **fence.on_hand, **supply.on_hand},
        safety={("TEE", "ST-BOS"): 4},
        inbound=supply.inbound,
        allocations=fence.allocations,
    )
    return snapshot_of(north_east_locations(), stock, groups=north_east_groups())


def ev(
    eid: str, kind: EventType, sku: str, qty: int, at: int, location: str = "DC-EAST", channel: str = ""
) -> StockEvent:
    return StockEvent(eid, kind, location, sku, qty, T0 + at, channel)


def same(a: RedisLedger, b: RedisLedger) -> bool:
    return observable(a.store) == observable(b.store)


@pytest.mark.parametrize("partitions", [1, 4])
def test_two_replicas_see_each_others_writes(replicas: Replicas, partitions: int) -> None:
    first = replicas(rich_snapshot(), partitions=partitions)  # type: ignore[arg-type]
    second = replicas(partitions=partitions)
    assert same(first, second)
    seen: list[ChangeBatch] = []
    second.subscribe(seen.append)

    res = first.apply_stock_events(
        [
            ev("a", EventType.SALE, "TEE", 2, 0, "ST-BOS"),
            ev("b", EventType.RECEIPT, "NEW-SKU", 5, 1, "ST-NYC"),
            ev("c", EventType.SALE, "LAMP", 3, 2, "DC-WEST", "marketplace"),
        ]
    )
    assert [r.outcome for r in res.results] == [A, A, A]
    eventually(lambda: all(second.reached(r.sequence) for r in res.results), what="the second replica")
    assert same(first, second)
    assert {second.store.skus.id(int(s)) for b in seen for s in b.sku} == {"TEE", "NEW-SKU", "LAMP"}
    assert {second.store.skus.id(int(s)) for b in seen for s in b.skus_touched} == {"LAMP"}

    second.set_safety_stock([SafetyStockEntry("MUG", "ST-CAM", 2)])
    second.set_allocations([AllocationRow("LAMP", "web", 6)])
    pvd = Location("ST-PVD", "Providence", LocationType.STORE, 41.82, -71.41, channels=frozenset({"web"}))
    second.upsert_locations([pvd])
    second.apply_stock_events([ev("d", EventType.RECEIPT, "TEE", 9, 3, "ST-PVD")])
    eventually(lambda: same(first, second), what="the first replica")
    web = first.store.network.channel_index("web")
    tee = first.store.skus.index("TEE")
    assert first.store.atp(tee, web, Method.SHIP, Scope.of_locations(["ST-PVD"])) == 8  # store default safety 1


@pytest.mark.parametrize("partitions", [1, 4])
def test_a_replica_started_later_rebuilds_the_same_state(replicas: Replicas, partitions: int) -> None:
    first = replicas(rich_snapshot(), partitions=partitions)  # type: ignore[arg-type]
    first.apply_stock_events(
        [
            ev(f"r{i}", EventType.RECEIPT, f"SKU-{i % 7}", 1 + i % 3, i, north_east_locations()[i % 7].id)
            for i in range(200)
        ]
        + [ev("count", EventType.CYCLE_COUNT, "TEE", 40, 500)]
    )
    first.set_safety_stock([SafetyStockEntry("SKU-3", "DC-WEST", 1), SafetyStockEntry("TEE", "ST-BOS", None)])
    first.set_allocations([AllocationRow("SKU-1", "app", 7), AllocationRow("LAMP", "marketplace", 5)])
    later = replicas(partitions=partitions)
    assert same(first, later)
    assert later.sequence == first.sequence
    # inbound supply came back too: SOFA's future ATP counts it (SKU indices are each replica's own)
    web = later.store.network.channel_index("web")
    answers = [
        led.store.atp(led.store.skus.index("SOFA"), web, Method.SHIP, Scope(), day)
        for led in (first, later)
        for day in (-1, 19_680, 30_000)  # 2023-11-14 is day 19_675: supply due in 3 and 10 days
    ]
    assert answers[:3] == answers[3:] == [2, 2 + 95 + 19, 2 + 95 + 19 + 20]
    # and the count times live in Redis: a delta before the count is stale through the new replica too
    res = later.apply_stock_events([ev("late", EventType.SALE, "TEE", 1, 400)])
    assert res.results[0].outcome is EventOutcome.STALE


def test_rebuilding_while_writers_write_misses_nothing_and_doubles_nothing(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counters are read in chunks while the stream moves on: each SKU's basis keeps the replay exact.
    Small chunks here, so that writes land between the chunk reads of every partition."""
    import availability.ledger.redis_replica as replica_module

    monkeypatch.setattr(replica_module, "READ_SKUS_PER_CALL", 10)
    locations = [lo.id for lo in north_east_locations()]
    skus = [f"S{i}" for i in range(1_500)]
    first = replicas(
        snapshot_of(north_east_locations(), Stock(on_hand={(s, "DC-EAST"): 100 for s in skus})), partitions=4
    )
    stop = threading.Event()
    sent = [0]

    def write() -> None:
        k = 0
        while not stop.is_set():
            batch = [
                ev(
                    f"w{k}-{i}",
                    EventType.SALE if i % 2 else EventType.RECEIPT,
                    skus[(k * 37 + i) % len(skus)],
                    1,
                    k,
                    locations[i % 7],
                )
                for i in range(200)
            ]
            first.apply_stock_events(batch)
            k += 1
            sent[0] += len(batch)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        eventually(lambda: sent[0] >= 1_000, what="writes before the rebuild")
        at_start = sent[0]
        later = replicas(partitions=4)
        assert sent[0] > at_start, "the rebuild overlapped writes"
        at_end = sent[0]
        eventually(lambda: sent[0] >= at_end + 2_000, what="writes after the rebuild")
    finally:
        stop.set()
        writer.join()
    eventually(lambda: later.sequence == first.sequence, what="the later replica to catch up")
    assert same(first, later)


@pytest.mark.parametrize("partitions", [1, 4])
def test_the_same_event_sent_to_two_replicas_is_applied_once(replicas: Replicas, partitions: int) -> None:
    first = replicas(rich_snapshot(), partitions=partitions)  # type: ignore[arg-type]
    second = replicas(partitions=partitions)
    events = [ev(f"id-{i}", EventType.SALE, "TEE", 1, i, "ST-BOS") for i in range(20)]
    assert first.apply_stock_events(events).count(A) == 20
    assert second.apply_stock_events(events).count(D) == 20
    changed = [ev("id-3", EventType.SALE, "MUG", 1, 3)]
    assert second.apply_stock_events(changed).results[0].outcome is EventOutcome.REJECTED
    # both at once, from many threads: each id applied exactly once in total
    more = [ev(f"par-{i}", EventType.SALE, "TEE", 1, 100 + i, "ST-BOS") for i in range(300)]
    outcomes: list[EventOutcome] = []
    lock = threading.Lock()

    def send(ledger: RedisLedger, chunk: list[StockEvent]) -> None:
        res = ledger.apply_stock_events(chunk)
        with lock:
            outcomes.extend(r.outcome for r in res.results)

    threads = [
        threading.Thread(target=send, args=(ledger, more[a : a + 50]))
        for ledger in (first, second, first, second)
        for a in range(0, 300, 50)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(A) == 300 and outcomes.count(D) == 900
    eventually(lambda: same(first, second), what="both replicas to agree")
    tee, bos = first.store.skus.index("TEE"), first.store.network.index.index("ST-BOS")
    position = first.store.position(tee, bos)
    assert position is not None and position.on_hand == 10 - 20 - 300


def test_concurrent_writers_on_two_replicas_lose_no_update(replicas: Replicas) -> None:
    first = replicas(rich_snapshot(), partitions=4)  # type: ignore[arg-type]
    second = replicas(partitions=4)

    def send(ledger: RedisLedger, tag: str) -> None:
        for b in range(10):
            ledger.apply_stock_events(
                [
                    ev(f"{tag}-{b}-{i}", EventType.RECEIPT, ("TEE", "MUG", "CAP")[i % 3], 1, b, "DC-WEST")
                    for i in range(30)
                ]
            )

    threads = [
        threading.Thread(target=send, args=(led, f"{name}{t}"))
        for t in range(4)
        for name, led in (("a", first), ("b", second))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eventually(lambda: same(first, second), what="both replicas to agree")
    west = first.store.network.index.index("DC-WEST")
    totals = {s: first.store.position(first.store.skus.index(s), west) for s in ("TEE", "MUG", "CAP")}
    assert {s: p.on_hand if p else 0 for s, p in totals.items()} == {"TEE": 10 + 800, "MUG": 7 + 800, "CAP": 800}


def test_a_snapshot_load_on_one_replica_switches_every_replica(replicas: Replicas) -> None:
    first = replicas(rich_snapshot(), partitions=4)  # type: ignore[arg-type]
    second = replicas(partitions=4)
    seen: list[ChangeBatch] = []
    second.subscribe(seen.append)
    first.apply_stock_events([ev("x", EventType.RECEIPT, "TEE", 5, 0)])
    first.load_snapshot(snapshot_of(north_east_locations(), Stock(on_hand={("ONLY", "ST-CAM"): 4})))
    assert list(first.store.skus.ids) == ["ONLY"]
    eventually(lambda: list(second.store.skus.ids) == ["ONLY"], what="the second replica to switch")
    assert any(b.everything for b in seen)
    assert same(first, second)
    # ids survive the load; writes go to the new generation from either replica
    assert second.apply_stock_events([ev("x", EventType.RECEIPT, "TEE", 5, 0)]).results[0].outcome is D
    second.apply_stock_events([ev("y", EventType.SALE, "ONLY", 1, 1, "ST-CAM")])
    eventually(lambda: same(first, second), what="the first replica")
