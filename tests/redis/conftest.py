"""Fixtures for the Redis ledger's own tests: ledgers on the session's real redis-server (each test
gets its own key prefix and flushes afterwards), and a private server for tests that stop Redis."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
import redis

from availability import AtpConfig, Snapshot
from availability.ledger.redis import RedisLedger
from omniroute.redis_server import RedisServer
from tests.scenarios import FakeClock

_prefixes = itertools.count()


class Replicas(Protocol):
    def __call__(
        self, snapshot: Snapshot | None = None, *, partitions: int = 1, url: str | None = None, **kwargs: Any
    ) -> RedisLedger: ...


def eventually(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait for a replica to catch up (tailing is asynchronous by design)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def prefix() -> str:
    return f"rt{next(_prefixes)}"


@pytest.fixture
def replicas(redis_server: RedisServer, prefix: str) -> Iterator[Replicas]:
    """Makes RedisLedger replicas sharing this test's prefix (the first one creates the ledger from the
    snapshot; later ones rebuild from Redis). All are closed, and Redis flushed, after the test."""
    made: list[RedisLedger] = []

    def make(
        snapshot: Snapshot | None = None, *, partitions: int = 1, url: str | None = None, **kwargs: Any
    ) -> RedisLedger:
        kwargs.setdefault("clock_ms", FakeClock())
        kwargs.setdefault("config", AtpConfig())
        ledger = RedisLedger(url or redis_server.url, prefix=prefix, partitions=partitions, snapshot=snapshot, **kwargs)
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        ledger.close()
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A private redis-server with persistence (AOF, fsync always), for tests that stop and restart it."""
    server = RedisServer(persistence=True).start()
    try:
        yield server
    finally:
        server.cleanup()
