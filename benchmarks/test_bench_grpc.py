"""The gRPC service end to end (pytest-benchmark): one client calling in sequence, and a load generator of
concurrent clients against a no-op Ping on the same server in the same run. Run with

    pytest benchmarks/test_bench_grpc.py --benchmark-enable

The server is `omniroute serve --data <networkgen network>` (embedded ledger) in a subprocess on a free
port (omniroute.bench.grpc_rows.ServerProcess), so its CPU time is read apart from the clients'. With
benchmarks enabled: the "small" network (200 locations, 20,000 SKUs), 16 concurrent clients (grpc.aio,
one channel each, one call in flight each), 6 rounds of 1,000 calls; disabled (the project's addopts): the
demo network, 4 clients, one round of 40 calls, as a smoke test.

Concurrent rounds: pytest-benchmark times a round of the kind of call; before each round, untimed, the
holds of the previous round are released and a round of Ping runs with the same clients, so every kind's
ratio to the no-op call comes from interleaved rounds of one run. extra_info: calls/s of the kind and of
Ping, p50/p99 latency (ms), server CPU a call and its ratio to Ping's. Goals (issue 2: GetAvailability
<= 1.3x Ping for 1 SKU, <= 2x for 1,000, in server CPU; issue 3: one-line holds/s >= 0.5 of Ping calls/s)
are for reference only, never asserted: `omniroute bench` judges them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from omniroute.bench.grpc_rows import Call, Holds, ServerProcess, Stubs, burst
from omniroute.bench.network import BenchNetwork, bench_network
from omniroute.bench.workload import CHANNEL, hold_places
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc, diagnostics_pb2_grpc
from omniroute.v1 import diagnostics_pb2 as dpb


def pedantic(benchmark: BenchmarkFixture) -> Callable[..., Any]:
    """benchmark.pedantic, typed (pytest-benchmark does not annotate it)."""
    run: Callable[..., Any] = benchmark.pedantic
    return run


@dataclass(frozen=True, slots=True)
class Load:
    size: str
    clients: int
    calls: int  # per round
    rounds: int


@pytest.fixture(scope="module")
def load(request: pytest.FixtureRequest) -> Load:
    config = request.config
    enabled = bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")
    return Load("small", 16, 1_000, 6) if enabled else Load("demo", 4, 40, 1)


@pytest.fixture(scope="module")
def network(load: Load) -> BenchNetwork:
    return bench_network(load.size, 7)  # cached under bench-results/networks (git-ignored)


@pytest.fixture(scope="module")
def server(network: BenchNetwork) -> Iterator[ServerProcess]:
    with ServerProcess(network.directory) as s:
        yield s


@dataclass
class Requests:
    ones: Iterator[apb.GetAvailabilityRequest]
    thousands: Iterator[apb.GetAvailabilityRequest]

    @classmethod
    def of(cls, network: BenchNetwork) -> Requests:
        """1-SKU requests (256 SKUs in turn) and 1,000-SKU requests (64 random ones in turn)."""
        rng = np.random.default_rng(7)
        ids = [s.id for s in network.snapshot.skus]
        k = min(1_000, len(ids))
        return cls(
            itertools.cycle([apb.GetAvailabilityRequest(skus=[ids[i]], channel=CHANNEL)
                             for i in rng.integers(0, len(ids), 256)]),
            itertools.cycle([apb.GetAvailabilityRequest(skus=[ids[i] for i in rng.choice(len(ids), k, replace=False)],
                                                        channel=CHANNEL) for _ in range(64)]),
        )  # fmt: skip


PING = dpb.PingRequest()


@pytest.mark.parametrize("kind", ["ping", "availability_1", "availability_1000"])
def test_one_client(benchmark: BenchmarkFixture, server: ServerProcess, network: BenchNetwork, kind: str) -> None:
    """One client, one call at a time: the round trip as a caller sees it."""
    reqs = Requests.of(network)
    with grpc.insecure_channel(server.target) as channel:
        diag = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        avail = availability_pb2_grpc.AvailabilityServiceStub(channel)
        calls: dict[str, Callable[[], Any]] = {
            "ping": lambda: diag.Ping(PING),
            "availability_1": lambda: avail.GetAvailability(next(reqs.ones)),
            "availability_1000": lambda: avail.GetAvailability(next(reqs.thousands)),
        }
        fn = calls[kind]
        for _ in range(50):
            fn()
        benchmark(fn)


@dataclass
class Side:
    """One kind's rounds: calls, wall seconds, server CPU seconds, latencies."""

    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, server: ServerProcess, loop: asyncio.AbstractEventLoop, work: Any) -> None:
        c0, w0 = server.cpu_seconds(), time.perf_counter()
        lat = loop.run_until_complete(work)
        self.wall += time.perf_counter() - w0
        self.cpu += server.cpu_seconds() - c0
        self.calls += len(lat)
        self.latencies += lat

    def figures(self) -> dict[str, float]:
        a = np.asarray(self.latencies) * 1e3
        return {
            "calls_per_s": round(self.calls / self.wall),
            "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3),
            "server_cpu_us_per_call": round(1e6 * self.cpu / self.calls, 1),
        }


@pytest.mark.parametrize("kind", ["ping", "availability_1", "availability_1000", "reserve_1_line"])
def test_concurrent_clients_against_ping(
    benchmark: BenchmarkFixture, server: ServerProcess, network: BenchNetwork, load: Load, kind: str
) -> None:
    """One round = `load.calls` calls of the kind shared by `load.clients` clients; each round follows an
    untimed round of Ping on the same clients (see the module docstring)."""
    reqs = Requests.of(network)
    holds = Holds(hold_places(network.snapshot, 2_000, 7))
    kinds: dict[str, Call] = {
        "ping": lambda s, i: s.diag.Ping(PING),
        "availability_1": lambda s, i: s.avail.GetAvailability(next(reqs.ones)),
        "availability_1000": lambda s, i: s.avail.GetAvailability(next(reqs.thousands)),
        "reserve_1_line": lambda s, i: s.res.Reserve(holds.request()),
    }
    call, ping = kinds[kind], kinds["ping"]
    loop = asyncio.new_event_loop()

    async def open_clients() -> list[Stubs]:
        return [Stubs.open(server.target) for _ in range(load.clients)]

    clients = loop.run_until_complete(open_clients())
    try:
        loop.run_until_complete(burst(clients, call, 4 * load.clients))  # connections up, caches warm
        loop.run_until_complete(holds.release_all(clients))
        measured, floor = Side(), Side()

        def before_round() -> tuple[tuple[object, ...], dict[str, object]]:
            loop.run_until_complete(holds.release_all(clients))
            floor.add(server, loop, burst(clients, ping, load.calls))
            return (), {}

        def one_round() -> None:
            measured.add(server, loop, burst(clients, call, load.calls))

        pedantic(benchmark)(one_round, setup=before_round, rounds=load.rounds)
        loop.run_until_complete(holds.release_all(clients))
        mine, base = measured.figures(), floor.figures()
        benchmark.extra_info.update({f"{kind}_{k}": v for k, v in mine.items()})
        benchmark.extra_info.update({f"ping_{k}": v for k, v in base.items()})
        benchmark.extra_info["clients"] = load.clients
        benchmark.extra_info["server_cpu_ratio_to_ping"] = round(
            mine["server_cpu_us_per_call"] / base["server_cpu_us_per_call"], 3
        )
        benchmark.extra_info["rate_ratio_to_ping"] = round(mine["calls_per_s"] / base["calls_per_s"], 3)
        assert measured.calls == load.calls * load.rounds
    finally:

        async def close() -> None:
            for c in clients:
                await c.channel.close(None)

        loop.run_until_complete(close())
        loop.close()
