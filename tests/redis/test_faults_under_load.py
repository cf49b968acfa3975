"""Faults under load, through the gRPC service: Redis killed and restarted while clients hold stock and send
stock events, and a replica killed while its neighbour keeps serving.

The servers are real `omniroute serve --redis` processes (tests/redis/served.py) on a private
redis-server; the clients are threads with one `omniroute.Client` each, doing what checkout and the
stores do: reserve two lines (two SKUs in different partitions, so a hold is a saga across partitions),
confirm or release it, send a receipt. A call that fails with UNAVAILABLE (Redis or the replica gone) or
DEADLINE_EXCEEDED is sent again with the same reservation id or event id, as the API's idempotency
allows, until it is acknowledged; one hold in two whose reserve fails is abandoned instead (a client that
gave up), to show that an unacknowledged hold is held once or not at all, never twice.

Durability assumed: Redis runs with AOF and `appendfsync always`, so every write Redis acknowledged
is on disk before the reply; kill -9 then loses nothing that any replica was told had happened (with
`everysec` the last second could be lost, and an acknowledged hold with it). The ledger's keys then come
back with the same port and data directory.

Bounded: a few seconds of load around each fault; each test has its own timeout.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from availability.ingest import load_snapshot
from availability.ledger.redis import load_into_redis
from availability.ledger.redis_keys import partition_of
from omniroute.client import Client, HoldLine, ServiceError, StockEvent
from omniroute.redis_server import RedisServer
from tests.omniroute.fixtures import now_ms
from tests.redis.conftest import eventually
from tests.redis.served import ROOT, Served

SAMPLE = ROOT / "examples" / "snapshot"
PARTITIONS = 2
HOLD_AT = "DC-EAST"
BIG = 1_000_000  # units received up front, so holds never run short
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
T = TypeVar("T")

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def split_skus() -> tuple[str, str, str, str]:
    """Two SKUs for the holds and two for the events, one of each in each partition."""
    skus = [s.id for s in load_snapshot(SAMPLE).skus]
    by_part = [[s for s in skus if partition_of(s, PARTITIONS) == p] for p in range(PARTITIONS)]
    assert all(len(p) >= 2 for p in by_part), by_part
    return by_part[0][0], by_part[1][0], by_part[0][1], by_part[1][1]


HOLD_SKUS = split_skus()[:2]
EVENT_SKUS = split_skus()[2:]


@dataclass
class Tally:
    """What the clients were told, merged under a lock."""

    holds: dict[str, str] = field(default_factory=dict)  # acknowledged: id -> status after its last call
    abandoned: set[str] = field(default_factory=set)
    events: Counter[str] = field(default_factory=Counter)  # acknowledged receipts of one unit, per SKU
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Shopper(threading.Thread):
    """One client: holds, confirms or releases, receipts, until told to stop. `strict`: any failed call
    is an error (the clients of a replica that must keep answering)."""

    def __init__(self, name: str, target: str, tally: Tally, stop: threading.Event, *, strict: bool = False) -> None:
        super().__init__(name=name, daemon=True)
        self.target = target
        self.tally = tally
        self.stop_flag = stop
        self.strict = strict
        self.done = 0

    def run(self) -> None:
        try:
            with Client(self.target, timeout=5) as c:
                k = 0
                while not self.stop_flag.is_set() and not self.tally.errors:
                    self.one_round(c, k)
                    k += 1
                    self.done = k
        except BaseException as err:  # reported by the test
            with self.tally.lock:
                self.tally.errors.append(f"{self.name}: {err!r}")

    def one_round(self, c: Client, k: int) -> None:
        rid = f"{self.name}-h{k}"
        lines = [HoldLine(s, 1, location=HOLD_AT) for s in HOLD_SKUS]
        abandon = k % 2 == 0  # a client that gives up on its first failure (one in two)
        held = self.until_ok(lambda: c.reserve(rid, "web", lines, ttl_seconds=3600), give_up=abandon)
        if held is None:
            with self.tally.lock:
                self.tally.abandoned.add(rid)
        else:
            status = "held"
            if k % 3 == 0:
                self.until_ok(lambda: c.confirm(rid))
                status = "confirmed"
            elif k % 3 == 1:
                self.until_ok(lambda: c.release(rid))
                status = "released"
            with self.tally.lock:
                self.tally.holds[rid] = status
        sku = EVENT_SKUS[k % 2]
        event = StockEvent(f"{self.name}-e{k}", "receipt", HOLD_AT, sku, 1, now_ms())
        self.until_ok(lambda: c.apply_stock_events([event]))  # applied, or a duplicate of itself: once
        with self.tally.lock:
            self.tally.events[sku] += 1

    def until_ok(self, call: Callable[[], T], *, give_up: bool = False) -> T | None:
        deadline = time.monotonic() + 90
        while True:
            try:
                return call()
            except grpc.RpcError as err:
                code = err.code()
                if self.strict or code not in RETRYABLE or time.monotonic() > deadline:
                    raise AssertionError(f"{code.name}: {err.details()}") from None
                with self.tally.lock:
                    self.tally.retries += 1
                if give_up:
                    return None
                time.sleep(0.05)


def start_load(
    targets: list[tuple[str, bool]], tally: Tally, per_target: int = 2
) -> tuple[threading.Event, list[Shopper]]:
    stop = threading.Event()
    shoppers = [
        Shopper(f"c{i}-{j}", target, tally, stop, strict=strict)
        for i, (target, strict) in enumerate(targets)
        for j in range(per_target)
    ]
    for s in shoppers:
        s.start()
    return stop, shoppers


def stop_load(stop: threading.Event, shoppers: list[Shopper]) -> None:
    stop.set()
    for s in shoppers:
        s.join(120)
        assert not s.is_alive(), f"{s.name} did not stop"


def wait_rounds(shoppers: list[Shopper], rounds: int, timeout: float = 60.0) -> None:
    """Until every shopper has done `rounds` more rounds than now."""
    start = {s.name: s.done for s in shoppers}
    eventually(lambda: all(s.done >= start[s.name] + rounds for s in shoppers), timeout, f"{rounds} more rounds")


# ---------------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Baseline:
    reserved: dict[str, int]
    on_hand: dict[str, int]


def position_of(c: Client, sku: str) -> tuple[int, int]:
    (p,) = [p for p in c.get_positions([sku], locations=[HOLD_AT]).positions if p.location == HOLD_AT]
    return p.on_hand, p.reserved


def baseline(c: Client) -> Baseline:
    return Baseline(
        reserved={s: position_of(c, s)[1] for s in HOLD_SKUS},
        on_hand={s: position_of(c, s)[0] for s in EVENT_SKUS},
    )


def check_ledger(c: Client, tally: Tally, base: Baseline) -> None:
    """Every acknowledged hold exactly as last acknowledged, every abandoned one held once or not at all,
    the reserved counters equal to what the open holds hold, reconcile clean, on hand as the receipts say."""
    open_holds = 0
    for rid, status in tally.holds.items():
        r = c.get_reservation(rid)
        assert r.status.value == status, (rid, r.status, status)
        held = {(ln.sku, ln.place): ln.held for ln in r.lines}
        assert held == {(s, HOLD_AT): 1 if status != "released" else 0 for s in HOLD_SKUS}, (rid, r.lines)
        open_holds += status != "released"
    for rid in tally.abandoned:
        try:
            r = c.get_reservation(rid)
        except ServiceError as err:
            assert err.status is grpc.StatusCode.NOT_FOUND, err
            continue
        assert r.status.value == "held" and {ln.held for ln in r.lines} == {1} and len(r.lines) == 2, r
        open_holds += 1
    for sku in HOLD_SKUS:
        assert position_of(c, sku)[1] == base.reserved[sku] + open_holds, sku
    for sku in EVENT_SKUS:
        assert position_of(c, sku)[0] == base.on_hand[sku] + tally.events[sku], sku
    assert c.reconcile().inconsistencies == ()


def summary(tally: Tally) -> str:
    states = Counter(tally.holds.values())
    return (
        f"{len(tally.holds)} holds acknowledged ({dict(states)}), {len(tally.abandoned)} abandoned, "
        f"{sum(tally.events.values())} receipts, {tally.retries} calls retried"
    )


def settled(c: Client, tally: Tally, base: Baseline) -> Callable[[], bool]:
    """True once check_ledger passes: a saga a fault interrupted rolls back or commits within ~10.5 s."""

    def check() -> bool:
        try:
            check_ledger(c, tally, base)
        except AssertionError:
            return False
        return True

    return check


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A private redis-server with AOF and appendfsync always (see the module docstring)."""
    server = RedisServer(persistence=True).start()
    try:
        yield server
    finally:
        server.cleanup()


def seeded(redis: RedisServer, prefix: str) -> None:
    load_into_redis(redis.url, load_snapshot(SAMPLE), prefix=prefix, partitions=PARTITIONS)


def receive_plenty(c: Client) -> None:
    c.apply_stock_events([StockEvent(f"plenty-{s}", "receipt", HOLD_AT, s, BIG, now_ms()) for s in HOLD_SKUS])


# ---------------------------------------------------------------------------------------------- the tests
@pytest.mark.timeout(240)
def test_redis_killed_and_restarted_under_load_loses_and_doubles_nothing(
    durable_redis: RedisServer, prefix: str, tmp_path: Path
) -> None:
    seeded(durable_redis, prefix)
    server = Served(durable_redis.url, prefix, tmp_path).start()
    tally = Tally()
    try:
        with Client(server.target, timeout=10) as c:
            receive_plenty(c)
            base = baseline(c)
            stop, shoppers = start_load([(server.target, False)] * 2, tally)
            try:
                wait_rounds(shoppers, 5)
                durable_redis.kill()  # SIGKILL, mid-load
                eventually(lambda: c.health() == "NOT_SERVING", 10, "health to say NOT_SERVING")
                time.sleep(1.0)  # the clients keep calling, and keep being told UNAVAILABLE
                durable_redis.start()  # same port and directory: the append-only file brings the ledger back
                eventually(lambda: c.health() == "SERVING", 30, "health to say SERVING again, by itself")
                wait_rounds(shoppers, 5)
            finally:
                stop_load(stop, shoppers)
            assert tally.errors == []
            assert tally.retries > 0, "no call met the outage: the test proved nothing"
            assert server.proc is not None and server.proc.poll() is None
            assert c.server_info().pid == server.pid  # the same process: nobody restarted it
            eventually(settled(c, tally, base), 30, "the ledger to settle")
            check_ledger(c, tally, base)  # once more, with its message if it fails
            print(summary(tally))
            assert len(tally.holds) >= 20
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_a_replica_killed_under_load_the_other_keeps_serving_and_the_restarted_one_catches_up(
    durable_redis: RedisServer, prefix: str, tmp_path: Path
) -> None:
    seeded(durable_redis, prefix)
    doomed = Served(durable_redis.url, prefix, tmp_path, name="doomed").start()
    survivor = Served(durable_redis.url, prefix, tmp_path, name="survivor").start()
    tally = Tally()
    try:
        with Client(survivor.target, timeout=10) as c:
            receive_plenty(c)
            base = baseline(c)
            # the survivor's clients are strict: a single failed call is an error
            stop, shoppers = start_load([(doomed.target, False), (survivor.target, True)], tally)
            try:
                wait_rounds(shoppers, 5)
                doomed.kill()
                survivors = [s for s in shoppers if s.strict]
                wait_rounds(survivors, 10)  # served on alone
                doomed.start()  # same port: the doomed replica's clients get through again
                wait_rounds(shoppers, 5)
            finally:
                stop_load(stop, shoppers)
            assert tally.errors == []
            assert tally.retries > 0, "no call met the dead replica: the test proved nothing"
            eventually(settled(c, tally, base), 30, "the ledger to settle")
            check_ledger(c, tally, base)
            print(summary(tally))
            with Client(doomed.target, timeout=10) as d:
                skus = [*HOLD_SKUS, *EVENT_SKUS]

                def same_answers() -> bool:
                    mine, theirs = d.get_availability(skus, channel="web"), c.get_availability(skus, channel="web")
                    return (mine.quantity, mine.sequence) == (theirs.quantity, theirs.sequence)

                eventually(same_answers, 30, "the restarted replica to answer what the survivor answers")
                assert d.get_positions(skus).positions == c.get_positions(skus).positions
                check_ledger(d, tally, base)
    finally:
        doomed.stop()
        survivor.stop()

