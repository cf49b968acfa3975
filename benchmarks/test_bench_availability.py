"""Micro-benchmarks of the inventory engine (pytest-benchmark). Run with

    pytest benchmarks/test_bench_availability.py --benchmark-enable [--benchmark-timer time.process_time]

Targets (issue 2), for reference only, never asserted: one SKU over 2,000 locations < 3 us a call from
Python; 10,000 random SKUs in one call < 5 ms at 50M positions (OMNIROUTE_BENCH_SIZE=large); >= 200,000
stock events/s in batches of 5,000. The written protocol with the machine and the memory figures is
benchmarks/bench_engine.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from availability import AvailabilityQuery, Method, Scope, StockEvent, StockStore, get_availability
from availability.ledger import MemoryLedger
from availability.model import Snapshot
from benchmarks import synth


def pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """benchmark.pedantic, typed (pytest-benchmark does not annotate it)."""
    run: Callable[..., Any] = benchmark.pedantic
    return run


def test_single_sku_network_atp_2000_locations(benchmark: BenchmarkFixture, dense_store: StockStore) -> None:
    """store.atp for one SKU stocked at all 2,000 locations: the Python wrapper, the cached mask lookup
    and the kernel."""
    web = dense_store.network.channel_index("web")
    scope = Scope()
    assert int(dense_store.generation.idx[3, 1]) == 2_000
    # rounds of 10,000 calls: pytest-benchmark's own calibration makes rounds of one or two calls,
    # where reading the timer (~0.5 us) would be part of every call's figure
    result = pedantic(benchmark)(dense_store.atp, args=(3, web, Method.SHIP, scope), iterations=10_000, rounds=30)
    assert result > 0


def test_single_sku_group_scope(benchmark: BenchmarkFixture, dense_store: StockStore) -> None:
    """The same SKU over a radius scope (a cached mask, the same loop)."""
    web = dense_store.network.channel_index("web")
    scope = Scope.within(40.0, -95.0, 1_500)
    pedantic(benchmark)(dense_store.atp, args=(3, web, Method.PICKUP, scope), iterations=10_000, rounds=30)


def test_batch_of_10k_random_skus(benchmark: BenchmarkFixture, big_store: StockStore) -> None:
    """atp_many for 10,000 random SKU indices (a new draw every round) on the session's big store."""
    web = big_store.network.channel_index("web")
    rng = np.random.default_rng(5)
    n = len(big_store.skus)

    def draw() -> tuple[tuple[object, ...], dict[str, object]]:
        return (rng.integers(0, n, 10_000), web, Method.SHIP), {}

    pedantic(benchmark)(big_store.atp_many, setup=draw, rounds=50, warmup_rounds=2)


def test_get_availability_10k_skus_by_id(benchmark: BenchmarkFixture, big_store: StockStore) -> None:
    """The library entry point the service calls: ids resolved, statuses, unknown flags."""
    rng = np.random.default_rng(6)
    ids = list(big_store.skus.ids)
    query = AvailabilityQuery([ids[i] for i in rng.integers(0, len(ids), 10_000)], "web")
    benchmark(get_availability, big_store, query)


def test_apply_stock_events_batches_of_5000(
    benchmark: BenchmarkFixture, big_snapshot: Snapshot, bench_size: str
) -> None:
    """MemoryLedger.apply_stock_events, a fresh batch of 5,000 every round (the synth.EVENT_MIX of
    types, 1% at new positions). One round = one batch: events/s = 5,000 / mean."""
    store = StockStore.from_snapshot(big_snapshot)
    ledger = MemoryLedger(store)
    rounds = 40
    batches: Iterator[list[StockEvent]] = synth.event_batches(big_snapshot, rounds + 2)

    def next_batch() -> tuple[tuple[object, ...], dict[str, object]]:
        return (next(batches),), {}

    pedantic(benchmark)(ledger.apply_stock_events, setup=next_batch, rounds=rounds, warmup_rounds=1)
    benchmark.extra_info["events_per_round"] = 5_000


@pytest.mark.parametrize("size", ["small"])
def test_store_build(benchmark: BenchmarkFixture, size: str) -> None:
    """StockStore.from_snapshot of a 2-million-position network (generation not timed)."""
    snap = synth.snapshot(size)
    store = pedantic(benchmark)(StockStore.from_snapshot, args=(snap,), rounds=3)
    benchmark.extra_info["positions"] = snap.positions
    benchmark.extra_info["bytes_per_position"] = store.nbytes() / snap.positions
