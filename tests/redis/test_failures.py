"""Redis going away and coming back: writes answer Unavailable with the ledger's address, reads keep
serving the last known state flagged stale, and the replica recovers by itself (reconnecting, catching
up with what other replicas wrote, rebuilding when Redis lost its data or trimmed what it had not read)."""

from __future__ import annotations

import pytest
import redis

from availability import AllocationRow, EventOutcome, EventType, Method, Scope, StockEvent, Unavailable
from availability.ledger import SafetyStockEntry
from availability.ledger.redis import load_into_redis
from omniroute.redis_server import RedisServer
from tests.contract.conftest import observable
from tests.redis.conftest import Replicas, eventually
from tests.scenarios import T0, Stock, everyday_stock, north_east_groups, north_east_locations, snapshot_of


def ev(eid: str, sku: str = "TEE", qty: int = 1, at: int = 0) -> StockEvent:
    return StockEvent(eid, EventType.SALE, "DC-EAST", sku, qty, T0 + at)


def snapshot() -> object:
    return snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups())


def tee_atp(store: object) -> int:
    from availability import StockStore

    assert isinstance(store, StockStore)
    return store.atp(store.skus.index("TEE"), store.network.channel_index("web"), Method.SHIP, Scope())


@pytest.mark.parametrize("partitions", [1, 4])
def test_redis_down_then_back(replicas: Replicas, own_redis: RedisServer, partitions: int) -> None:
    first = replicas(snapshot(), partitions=partitions, url=own_redis.url)  # type: ignore[arg-type]
    second = replicas(partitions=partitions, url=own_redis.url)
    first.apply_stock_events([ev("before")])
    eventually(lambda: observable(second.store) == observable(first.store), what="replicas in step")
    atp = tee_atp(second.store)
    assert not first.stale and not second.stale

    own_redis.stop()
    for write in (
        lambda: first.apply_stock_events([ev("while-down")]),
        lambda: first.set_safety_stock([SafetyStockEntry("TEE", "DC-EAST", 1)]),
        lambda: first.set_allocations([AllocationRow("TEE", "web", 1)]),
    ):
        with pytest.raises(Unavailable, match=rf"ledger at redis://127.0.0.1:{own_redis.port}/0 unreachable"):
            write()
    eventually(lambda: first.stale and second.stale, what="both replicas to say stale")
    assert tee_atp(second.store) == atp  # reads answer from the last known state

    own_redis.start()  # same port, same data directory: the append-only file brings the data back
    eventually(lambda: not first.stale and not second.stale, timeout=10, what="both replicas to recover")
    res = second.apply_stock_events([ev("after"), ev("before")])
    assert [r.outcome for r in res.results] == [EventOutcome.APPLIED, EventOutcome.DUPLICATE]
    eventually(lambda: observable(first.store) == observable(second.store), what="the first replica")
    assert tee_atp(first.store) == atp - 1


def test_a_replica_catches_up_with_writes_made_while_it_was_cut_off(replicas: Replicas, own_redis: RedisServer) -> None:
    first = replicas(snapshot(), url=own_redis.url)  # type: ignore[arg-type]
    second = replicas(url=own_redis.url)
    own_redis.stop()
    eventually(lambda: second.stale, what="the second replica to notice")
    own_redis.start()
    # the first writes as soon as Redis is back, possibly before the second has reconnected
    eventually(lambda: _applies(first, "catch-1"), timeout=10, what="a write to succeed")
    first.apply_stock_events([ev(f"more-{i}") for i in range(50)])
    eventually(lambda: observable(second.store) == observable(first.store), timeout=10, what="catch-up")
    assert not second.stale


def _applies(ledger: object, eid: str) -> bool:
    from availability.ledger.redis import RedisLedger

    assert isinstance(ledger, RedisLedger)
    try:
        ledger.apply_stock_events([ev(eid)])
    except Unavailable:
        return False
    return True


def test_redis_back_without_its_data(replicas: Replicas, redis_server: RedisServer) -> None:
    """As after a restart without persistence: writes say so, reads keep the last known state, and a
    snapshot loaded with `omniroute load` brings every replica back."""
    first = replicas(snapshot())  # type: ignore[arg-type]
    first.apply_stock_events([ev("x")])
    atp = tee_atp(first.store)
    prefix = first.keys.prefix
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    with pytest.raises(Unavailable, match="has no data"):
        first.apply_stock_events([ev("y")])
    assert tee_atp(first.store) == atp
    eventually(lambda: first.stale, what="stale after the data went away")

    load_into_redis(
        redis_server.url,
        snapshot_of(north_east_locations(), Stock(on_hand={("TEE", "DC-EAST"): 70})),
        prefix=prefix,
    )
    eventually(lambda: not first.stale and tee_atp(first.store) == 70, timeout=10, what="the replica to reload")
    assert first.apply_stock_events([ev("z")]).results[0].outcome is EventOutcome.APPLIED
    client.close()


def test_a_replica_that_missed_trimmed_records_rebuilds(replicas: Replicas, redis_server: RedisServer) -> None:
    first = replicas(snapshot(), partitions=4)  # type: ignore[arg-type]
    second = replicas(partitions=4)
    for b in range(5):
        first.apply_stock_events([ev(f"t{b}-{i}", sku) for i, sku in enumerate(("TEE", "MUG", "CAP"))])
    eventually(lambda: observable(second.store) == observable(first.store), what="replicas in step")
    # the second replica falls behind (white box: as if it had been paused) and the streams are trimmed
    # past its position, as MAXLEN does to a replica that is too slow
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    with second._replica._lock:
        second._replica.state.applied[:] = [0] * 4
        for p in range(4):
            client.xtrim(first.keys.log(p), maxlen=0, approximate=False)
    rebuilds = second._replica.rebuilds
    first.apply_stock_events([ev(f"after-{i}", sku) for i, sku in enumerate(("TEE", "MUG", "CAP", "LAMP"))])
    eventually(lambda: second._replica.rebuilds > rebuilds, what="a rebuild")
    eventually(lambda: observable(second.store) == observable(first.store), what="the rebuilt replica")
    assert not second.stale
    client.close()


def test_a_ledger_whose_creation_crashed_is_created_again_cleanly(
    replicas: Replicas, redis_server: RedisServer, prefix: str
) -> None:
    """What a crash halfway through creating a ledger leaves: a generation number taken, partial keys of
    it and a partition already switched to it, but no ledger metadata. The next start takes over."""
    from availability.ledger.redis_keys import Keys

    keys = Keys(prefix)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.hset(keys.meta, "lastgen", 1)
    client.hset(keys.counters_prefix(0, 1) + "GHOST", mapping={"-1": 0, "0": 99})
    client.hset(keys.skus(0, 1), "GHOST", "")
    client.hset(keys.partition_meta(0), mapping={"gen": 1, "seq": 0})
    ledger = replicas(snapshot())  # type: ignore[arg-type]
    assert "GHOST" not in ledger.store.skus
    assert not list(client.scan_iter(match=f"*{prefix}*:g1:*"))
    assert ledger.apply_stock_events([ev("fine")]).results[0].outcome is EventOutcome.APPLIED
    later = replicas()
    assert observable(later.store) == observable(ledger.store)
    client.close()
