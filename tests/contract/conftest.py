"""The contract suite runs every test against each ledger backend through `ledger_factory`:
"memory" (the embedded ledger), "redis" (one partition), "redis-p4" (four partitions, so SKUs and
event ids land in different partitions and every cross-partition path is taken) and "redis-cluster"
(six partitions on a real Redis Cluster of three masters, so those paths also cross nodes). The Redis
backends use the session's real redis-server or cluster (tests/conftest.py), one key prefix per ledger."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

import pytest

from availability import AtpConfig, Snapshot, StockStore
from availability.ledger import Ledger, MemoryLedger
from omniroute.redis_server import RedisServer
from tests.scenarios import FakeClock, full_state
from tests.support.redis_cluster import RedisCluster

BACKENDS = ("memory", "redis", "redis-p4", "redis-cluster")
PARTITIONS = {"redis": 1, "redis-p4": 4, "redis-cluster": 6}
_prefixes = itertools.count()


class LedgerFactory(Protocol):
    def __call__(
        self,
        snapshot: Snapshot,
        *,
        config: AtpConfig | None = None,
        clock: FakeClock | None = None,
        count_window_ms: int = ...,
        event_retention_ms: int = ...,
    ) -> Ledger: ...


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def ledger_factory(request: pytest.FixtureRequest, backend: str) -> Iterator[LedgerFactory]:
    """Makes ledgers of this test's backend over a snapshot, with a hand-moved clock (a day's count
    window and a week's id retention unless given). Every ledger made is closed after the test."""
    made: list[Ledger] = []
    server: RedisServer | RedisCluster | None = None
    if backend == "redis-cluster":
        server = request.getfixturevalue("redis_cluster")
    elif backend != "memory":
        server = request.getfixturevalue("redis_server")

    def make(
        snapshot: Snapshot,
        *,
        config: AtpConfig | None = None,
        clock: FakeClock | None = None,
        count_window_ms: int = 24 * 3600 * 1000,
        event_retention_ms: int = 7 * 24 * 3600 * 1000,
    ) -> Ledger:
        ledger: Ledger
        if server is None:
            ledger = MemoryLedger(
                StockStore.from_snapshot(snapshot, config or AtpConfig()),
                clock_ms=clock or FakeClock(),
                count_window_ms=count_window_ms,
                event_retention_ms=event_retention_ms,
                sweep_interval_s=0,  # tests expire by hand, with the hand-moved clock
            )
        else:
            from availability.ledger.redis import RedisLedger

            ledger = RedisLedger(
                server.url,
                prefix=f"contract{next(_prefixes)}",
                partitions=PARTITIONS[backend],
                snapshot=snapshot,
                config=config or AtpConfig(),
                clock_ms=clock or FakeClock(),
                count_window_ms=count_window_ms,
                event_retention_ms=event_retention_ms,
                sweep_interval_s=0,
            )
        made.append(ledger)
        return ledger

    yield make
    try:
        # trust, but verify: whatever a contract test did, the counters must match the records
        for ledger in made:
            report = ledger.reconcile()
            assert report.inconsistencies == [], f"{backend}: reconcile found {report.inconsistencies}"
    finally:
        for ledger in made:
            ledger.close()
    if isinstance(server, RedisCluster):
        server.flushall()
    elif server is not None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.flushall()
        client.close()


def observable(store: StockStore) -> dict[str, object]:
    """full_state without what legitimately differs between backends: the order of SKU indices (a
    Redis replica numbers SKUs as it meets them) and the sequence (per partition with P > 1)."""
    state = full_state(store)
    state["skus"] = sorted(state["skus"])  # type: ignore[call-overload]
    del state["sequence"]
    return state
