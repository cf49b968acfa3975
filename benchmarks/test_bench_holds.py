"""Micro-benchmarks of holds (pytest-benchmark): a one-line reservation made and released, on the memory
ledger and on the Redis ledger (one partition, a private redis-server on a free port). Run with

    pytest benchmarks/test_bench_holds.py --benchmark-enable

Without --benchmark-enable (the project's addopts) each benchmark runs once, as a smoke test; the normal
test run does not collect benchmarks/ at all. Demo network, one unit of a SKU that has stock at its place,
a new reservation id every call (benchmarks/bench_holds.py picks the places). The whole protocol (ten
lines, four partitions, gRPC, the no-op EVALSHA ratio, time inside Redis, 32 clients) is
benchmarks/bench_holds.py. Figures are for reference only, never asserted.
"""

from __future__ import annotations

from datetime import date

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from availability import StockStore
from availability.ledger import MemoryLedger
from availability.ledger.redis import RedisLedger
from availability.model import Snapshot
from benchmarks.bench_holds import Place, Requests, pick_places
from omniroute.networkgen import generate_network
from omniroute.redis_server import RedisServer


@pytest.fixture(scope="module")
def demo() -> Snapshot:
    return generate_network("demo", seed=7, base_date=date.today())


@pytest.fixture(scope="module")
def places(demo: Snapshot) -> list[Place]:
    return pick_places(demo)


def test_reserve_release_one_line_memory(benchmark: BenchmarkFixture, demo: Snapshot, places: list[Place]) -> None:
    """MemoryLedger.reserve of one line, then release: one round = one hold made and given back."""
    ledger = MemoryLedger(StockStore.from_snapshot(demo))
    reqs = Requests(places, "pb-mem")
    before = ledger.store.totals()

    def cycle() -> None:
        req = reqs.request(1)
        ledger.reserve(req)
        ledger.release(req.reservation_id)

    benchmark(cycle)
    assert ledger.store.totals() == before  # every hold given back


@pytest.mark.redis
def test_reserve_release_one_line_redis(
    benchmark: BenchmarkFixture, demo: Snapshot, places: list[Place], redis_server: RedisServer
) -> None:
    """RedisLedger (one partition) reserve of one line, then release: two hold.lua calls, a record read,
    the replica's own updates."""
    ledger = RedisLedger(redis_server.url, prefix="pb", partitions=1, snapshot=demo)
    try:
        reqs = Requests(places, "pb-redis")

        def cycle() -> None:
            req = reqs.request(1)
            ledger.reserve(req)
            ledger.release(req.reservation_id)

        benchmark(cycle)
        assert not ledger.reconcile().inconsistencies
    finally:
        ledger.close()
