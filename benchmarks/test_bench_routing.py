"""Micro-benchmarks of routing (pytest-benchmark). Run with

    pytest benchmarks/test_bench_routing.py --benchmark-enable --benchmark-timer time.thread_time

Each round routes the next of a fixed list of orders (benchmarks/bench_routing.py sample_orders: 1-10
lines, popular SKUs more often, near a random store), from the order to the answer: build_problem then
the policy. With benchmarks enabled the network has 2,000 locations ("2k"; OMNIROUTE_BENCH_ROUTING=demo
for the demo network); disabled (the default), each benchmark runs once on the demo network as a smoke
test. Targets (issue 4), for reference only, never asserted: 1-10 lines on 2,000 locations, p50 < 5 ms
and p99 < 25 ms in-process. The written protocol, with quality figures, is benchmarks/bench_routing.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from availability import StockStore
from benchmarks.bench_routing import make_network, sample_orders
from router import Order, RoutingResult, build_problem, route
from router import _kernels as RK


def pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """benchmark.pedantic, typed (pytest-benchmark does not annotate it)."""
    run: Callable[..., Any] = benchmark.pedantic
    return run


@pytest.fixture(scope="module")
def routing_store(request: pytest.FixtureRequest) -> StockStore:
    config = request.config
    enabled = bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")
    size = os.environ.get("OMNIROUTE_BENCH_ROUTING", "2k" if enabled else "demo")
    RK.warm_up()
    return StockStore.from_snapshot(make_network(size, 7))


@pytest.fixture(scope="module")
def orders(routing_store: StockStore) -> list[Order]:
    return sample_orders(routing_store, 400, 7)


def _cycle(orders: list[Order]) -> Iterator[Order]:
    while True:
        yield from orders


@pytest.mark.parametrize("policy", ["optimal", "fewest_shipments", "nearest"])
def test_route_one_order(
    benchmark: BenchmarkFixture, routing_store: StockStore, orders: list[Order], policy: str
) -> None:
    """One order, from the order to the answer: the candidate pool from the ATP arrays, then the policy
    (for optimal: bounds, pruning, CP-SAT when the bound does not settle it, the explanation)."""
    it = _cycle(orders)

    def one() -> RoutingResult:
        return route(build_problem(routing_store, next(it)), policy=policy)

    for _ in range(20):  # kernels and caches warm
        one()
    result = pedantic(benchmark)(one, rounds=300, iterations=1)
    assert result.policy == policy


def test_build_problem_only(benchmark: BenchmarkFixture, routing_store: StockStore, orders: list[Order]) -> None:
    """The candidate pool alone: ATP rows of the order's SKUs, distances, costs and dates."""
    it = _cycle(orders)
    pedantic(benchmark)(lambda: build_problem(routing_store, next(it)), rounds=300, iterations=1)
