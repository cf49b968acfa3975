"""Micro-benchmark of stock events on the Redis ledger (pytest-benchmark): RedisLedger.apply_stock_events
(one partition, a private redis-server on a free port), a fresh batch of 5,000 every round. Run with

    pytest benchmarks/test_bench_redis_events.py --benchmark-enable

With benchmarks enabled the network is networkgen's "small" (200 locations, 20,000 SKUs, 476k positions);
disabled (the project's addopts), one round of 500 events on the demo network, as a smoke test. The
embedded ledger's counterpart is test_bench_availability.py's test_apply_stock_events_batches_of_5000;
holds on both ledgers are in test_bench_holds.py. The written protocol (the EVALSHA floor, one-event
batches, hot SKUs, time inside Redis) is tests/redis/bench_events.py; `omniroute bench` reports the same
figure beside the embedded ledger's. Figures are for reference only, never asserted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from availability.ledger.redis import RedisLedger
from availability.model import EventOutcome, StockEvent
from omniroute.bench.workload import stock_event_batches
from omniroute.networkgen import generate_network
from omniroute.redis_server import RedisServer


def pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """benchmark.pedantic, typed (pytest-benchmark does not annotate it)."""
    run: Callable[..., Any] = benchmark.pedantic
    return run


@pytest.mark.redis
def test_apply_stock_events_redis_batches_of_5000(
    benchmark: BenchmarkFixture, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    """One round = one batch: events/s = batch size / mean. Events at the network's positions (1% at new
    ones), the EVENT_MIX of types, ids never used before; the replica applies its own change records."""
    config = request.config
    enabled = bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")
    size, per_batch, rounds = ("small", 5_000, 20) if enabled else ("demo", 500, 1)
    snap = generate_network(size, seed=7)
    ledger = RedisLedger(redis_server.url, prefix=f"pb-events-{size}", partitions=1, snapshot=snap)
    try:
        batches: Iterator[list[StockEvent]] = iter(stock_event_batches(snap, rounds + 1, per_batch, 7, "pb-ev"))
        ledger.apply_stock_events(next(batches))  # warm-up: scripts loaded, connections open

        def next_batch() -> tuple[tuple[object, ...], dict[str, object]]:
            return (next(batches),), {}

        result = pedantic(benchmark)(ledger.apply_stock_events, setup=next_batch, rounds=rounds)
        benchmark.extra_info["events_per_round"] = per_batch
        assert sum(r.outcome is EventOutcome.APPLIED for r in result.results) > 0
    finally:
        ledger.close()
