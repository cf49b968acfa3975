"""Fixtures of the pytest-benchmark suites: stores built once per session from benchmarks/synth.py.

`pytest benchmarks --benchmark-enable` measures on the "medium" network (100k SKUs x 2,000 locations at
5%: 10 million positions); OMNIROUTE_BENCH_SIZE=large uses the 50-million-position one (needs ~4 GB and a
minute to build). With benchmarks disabled (the default addopts), every benchmark runs once on the
"tiny" network, so the suite doubles as a smoke test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from availability import StockStore
from availability import _kernels as K
from availability.model import Snapshot
from benchmarks import synth
from omniroute.redis_server import RedisServer


@pytest.fixture(scope="session")
def bench_size(request: pytest.FixtureRequest) -> str:
    # the project's addopts pass --benchmark-disable; --benchmark-enable on the command line wins
    config = request.config
    enabled = bool(config.getoption("benchmark_enable")) or not config.getoption("benchmark_disable")
    return os.environ.get("OMNIROUTE_BENCH_SIZE", "medium" if enabled else "tiny")


@pytest.fixture(scope="session", autouse=True)
def _compiled() -> None:
    K.warm_up()


@pytest.fixture(scope="session")
def big_snapshot(bench_size: str) -> Snapshot:
    """The synthetic network of the session's size (see benchmarks/synth.py)."""
    return synth.snapshot(bench_size)


@pytest.fixture(scope="session")
def big_store(big_snapshot: Snapshot) -> StockStore:
    return StockStore.from_snapshot(big_snapshot)


@pytest.fixture(scope="session")
def dense_store() -> StockStore:
    """16 SKUs each stocked at all 2,000 locations: the worst case for one SKU's network ATP."""
    return StockStore.from_snapshot(synth.dense_snapshot(2_000, 16))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throw-away redis-server on a free port of 127.0.0.1 (never the one on 6379), no persistence."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()
