"""Micro-benchmark of batch routing (pytest-benchmark): router.solve_batch routing a small wave of orders
jointly (shared stock and capacity), the joint model only (no sequential comparison, no LP bound). Run with

    pytest benchmarks/test_bench_batch.py --benchmark-enable

With benchmarks enabled: a wave of 200 orders on networkgen's "small" network (200 locations), 3 rounds;
disabled (the project's addopts), one round of 30 orders on the demo network, as a smoke test. The same
orders every round (omniroute.bench.workload.sample_orders: the routing protocol's 1-10 lines near a
random store). extra_info holds, from one more untimed call, the wave's saving against sequential
fewest_shipments and its gap to the LP relaxation. The written protocol, with the goals (1,000 orders
< 10 s, >= 10% saving, <= 1% to the LP bound) is benchmarks/bench_batch.py; `omniroute bench` reports
a wave of 500. Figures are for reference only, never asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from availability import StockStore
from omniroute.bench.workload import sample_orders
from omniroute.networkgen import generate_network
from router import BatchResult, solve_batch
from router import _kernels as RK


def pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """benchmark.pedantic, typed (pytest-benchmark does not annotate it)."""
    run: Callable[..., Any] = benchmark.pedantic
    return run


def test_solve_batch_small_wave(benchmark: BenchmarkFixture, request: pytest.FixtureRequest) -> None:
    config = request.config
    enabled = bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")
    size, n, rounds = ("small", 200, 3) if enabled else ("demo", 30, 1)
    RK.warm_up()
    store = StockStore.from_snapshot(generate_network(size, seed=7))
    orders = sample_orders(store, n, 7)

    def wave() -> BatchResult:
        return solve_batch(store, orders, time_limit_s=10.0, seed=7, compare_sequential=False)

    result: BatchResult = pedantic(benchmark)(wave, rounds=rounds, warmup_rounds=0)
    assert len(result.results) == n
    full = solve_batch(store, orders, time_limit_s=10.0, seed=7, lp_relaxation=True)
    fewest = full.sequential_by("fewest_shipments")
    assert fewest is not None and fewest.totals.cost > 0
    benchmark.extra_info["orders"] = n
    benchmark.extra_info["joint_cost"] = full.totals.cost
    benchmark.extra_info["saving_vs_sequential_fewest_shipments"] = round(1 - full.totals.cost / fewest.totals.cost, 4)
    lp_gap = full.gap_to(full.lp_bound)
    if lp_gap is not None:
        benchmark.extra_info["gap_to_lp_bound"] = round(lp_gap, 5)
