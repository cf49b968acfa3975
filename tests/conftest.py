"""Suite-wide set-up: numba kernels compiled once before any test, and hypothesis profiles.

`HYPOTHESIS_PROFILE=thorough` runs the engine's property tests with 20x their examples (minutes); the
default keeps the availability suite well under a minute. Tests that set their own example count keep
it under either profile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from availability import _kernels
from omniroute.redis_server import RedisServer
from tests.support.redis_cluster import RedisCluster

# Deadlines off: the first example of a test may pay for loading compiled kernels from numba's cache.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels() -> None:
    """Compile (or load) every kernel up front, so no test's timing or deadline includes it."""
    _kernels.warm_up()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port of 127.0.0.1 for the whole session (never the shared one on
    6379, never a fake); started on first use only. Tests flush what they wrote."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A real Redis Cluster of three masters on free ports of 127.0.0.1 for the whole session (about 2 s
    to start; on first use only). Tests flush what they wrote."""
    cluster = RedisCluster().start()
    try:
        yield cluster
    finally:
        cluster.cleanup()
