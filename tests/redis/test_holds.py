"""Holds on the Redis ledger beyond the contract suite: two service replicas and 32 concurrent clients
competing for the last units, a replica killed in the middle of a load of holds, Redis restarted with
persistence, expiry by a replica that was not running when the hold was made, and reconcile finding
and repairing drift injected into Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
import redis

from availability import AtpConfig, InsufficientStock, NotFound, Scope, Snapshot, Unavailable
from availability.ledger import Ledger
from availability.ledger.redis import RedisLedger
from availability.ledger.redis_holds import PENDING_MS
from availability.reservations import HoldLine, ReservationStatus, ReserveRequest
from omniroute.client import Client
from omniroute.client import HoldLine as ClientHoldLine
from omniroute.config import ServerConfig
from omniroute.redis_server import RedisServer
from omniroute.server import redis_loader
from tests.omniroute.fixtures import ServerThread, with_config
from tests.redis.conftest import Replicas, eventually
from tests.scenarios import Stock, grid_network, snapshot_of

ZERO_SAFETY = AtpConfig(default_safety=(0, 0, 0, 0))
ROOT = Path(__file__).resolve().parents[2]


def grid_snapshot(on_hand: dict[tuple[str, str], int]) -> Snapshot:
    return snapshot_of(grid_network(4), Stock(on_hand=on_hand), channels=("web", "app"))


def network_atp(led: Ledger, sku: str) -> int:
    store = led.store
    return store.hold_atp(store.skus.index(sku), store.network.channel_index("web"), Scope())


def held_in_arrays(led: Ledger, sku: str) -> int:
    """Reserved units at every location plus units held at groups, as this replica's arrays say."""
    store = led.store
    s = store.skus.index(sku)
    reserved = sum(p.reserved for li in store.sku_locations(s).tolist() if (p := store.position(s, li)) is not None)
    return reserved + sum(store.group_holds(s).values())


def test_two_replicas_and_32_clients_hold_exactly_the_last_units(redis_server: RedisServer, prefix: str) -> None:
    stock = {("LAST", "L0000"): 3, ("LAST", "L0001"): 2, ("LAST", "L0002"): 2}
    # four partitions: the reservation ids and the SKU fall in different ones, so holds take the saga path
    seed = RedisLedger(redis_server.url, prefix=prefix, partitions=4, snapshot=grid_snapshot(stock), config=ZERO_SAFETY)
    seed.close()
    config = with_config(redis_url=redis_server.url, redis_prefix=prefix)
    assert isinstance(config, ServerConfig)
    servers = [ServerThread(config, redis_loader(config)).start() for _ in range(2)]
    try:
        before = [network_atp(s.ledger, "LAST") for s in servers]
        assert before == [7, 7]
        wins: list[str] = []
        lost: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(32)

        def shopper(i: int) -> None:
            with Client(servers[i % 2].target, timeout=20) as client:
                start.wait()
                rid = f"cart-{i}"
                line = ClientHoldLine("LAST", 1) if i % 3 else ClientHoldLine("LAST", 1, location="L0000")
                try:
                    client.reserve(rid, "web", [line], ttl_seconds=2)
                    with lock:
                        wins.append(rid)
                except grpc.RpcError as err:
                    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION, err
                    with lock:
                        lost.append(rid)

        threads = [threading.Thread(target=shopper, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 7 and len(lost) == 25
        with Client(servers[0].target, timeout=20) as client:
            holds = sum(client.get_reservation(rid).held for rid in wins)
        assert holds == 7
        for s in servers:  # each replica, once it has applied the other's records
            led = s.ledger
            eventually(lambda: held_in_arrays(led, "LAST") == 7, what="the replica to apply every hold")  # noqa: B023
            assert network_atp(led, "LAST") == 0
            assert led.reconcile().inconsistencies == []
        # and once every hold has expired (nobody asks: the replicas' sweepers do it)
        for s in servers:
            led = s.ledger
            eventually(lambda: network_atp(led, "LAST") == 7, timeout=15, what="every hold to expire")  # noqa: B023
            assert held_in_arrays(led, "LAST") == 0
        with Client(servers[1].target, timeout=20) as client:
            assert {client.get_reservation(rid).status for rid in wins} == {"expired"}
        assert servers[0].ledger.reconcile().inconsistencies == []
    finally:
        for s in servers:
            s.stop()
        flush(redis_server)


def flush(server: RedisServer) -> None:
    client = redis.Redis(host="127.0.0.1", port=server.port)
    client.flushall()
    client.close()


_WRITER = """
import sys
from availability import AtpConfig
from availability.ledger.redis import RedisLedger
from availability.reservations import HoldLine, ReserveRequest

url, prefix = sys.argv[1], sys.argv[2]
led = RedisLedger(url, prefix=prefix, config=AtpConfig(default_safety=(0, 0, 0, 0)), sweep_interval_s=0)
skus = [f"S{k}" for k in range(8)]
i = 0
while True:
    lines = tuple(HoldLine(s, 1, location="L0000") for s in skus)
    led.reserve(ReserveRequest(f"load-{i}", "web", lines, 3_600_000))
    print(f"load-{i}", flush=True)
    i += 1
"""


def test_a_replica_killed_mid_load_loses_no_hold_and_duplicates_none(
    replicas: Replicas, redis_server: RedisServer, prefix: str
) -> None:
    skus = [f"S{k}" for k in range(8)]
    led = replicas(grid_snapshot({(s, "L0000"): 10_000 for s in skus}), partitions=4, config=ZERO_SAFETY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, redis_server.url, prefix], stdout=subprocess.PIPE, env=env, text=True
    )
    done: list[str] = []
    assert proc.stdout is not None
    try:
        while len(done) < 40:
            line = proc.stdout.readline()
            assert line, "the writer stopped early"
            done.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-operation: most likely between the steps of a saga
        proc.wait()
    # an operation left in flight is rolled back once its roll-back time has passed (here: told so)
    led.expire_due(now_ms=int(time.time() * 1000) + PENDING_MS + 1)
    report = led.reconcile()
    assert report.inconsistencies == []
    committed = []
    for k in range(len(done) + 2):
        try:
            res = led.get_reservation(f"load-{k}")
        except NotFound:  # the last one or two may never have been committed
            continue
        assert res.status is ReservationStatus.HELD and res.held == 8
        committed.append(res.reservation_id)
    assert set(done) <= set(committed)  # every acknowledged hold is there
    eventually(lambda: all(held_in_arrays(led, s) == len(committed) for s in skus), what="the replica")
    # each committed reservation holds its units once: nothing lost, nothing doubled
    assert all(network_atp(led, s) == 10_000 - len(committed) for s in skus)


def test_redis_restarted_with_persistence_keeps_confirmed_reservations(own_redis: RedisServer, prefix: str) -> None:
    led = RedisLedger(
        own_redis.url, prefix=prefix, partitions=2, snapshot=grid_snapshot({("A", "L0000"): 5, ("B", "L0001"): 5}),
        config=ZERO_SAFETY, sweep_interval_s=0,
    )  # fmt: skip
    try:
        led.reserve(ReserveRequest("order-1", "web", (HoldLine("A", 2, location="L0000"), HoldLine("B", 3)), 60_000))
        confirmed = led.confirm("order-1")
        own_redis.restart()
        eventually(lambda: not led.stale, timeout=15, what="the replica to reconnect")
        again = led.get_reservation("order-1")
        assert again.status is ReservationStatus.CONFIRMED and again.lines == confirmed.lines
        assert led.reconcile().inconsistencies == []
        with pytest.raises(InsufficientStock):
            led.reserve(ReserveRequest("order-2", "web", (HoldLine("A", 4),), 60_000))
    finally:
        led.close()


def test_a_hold_expires_even_when_no_replica_ran_at_its_deadline(replicas: Replicas) -> None:
    first = replicas(grid_snapshot({("A", "L0000"): 5}), config=ZERO_SAFETY, clock_ms=lambda: int(time.time() * 1000))
    first.reserve(ReserveRequest("cart", "web", (HoldLine("A", 5),), 800))
    first.close()
    time.sleep(1.0)  # the deadline passes with no replica running
    second = replicas(clock_ms=lambda: int(time.time() * 1000))
    # the sweep runs every 0.5 s; the bound is generous because the machine running the suite is shared
    expired = lambda: second.get_reservation("cart").status is ReservationStatus.EXPIRED  # noqa: E731
    eventually(expired, timeout=20, what="the expiry")
    # the record is read from Redis, the ATP from the replica's read model, which applies the expiry's
    # change record a moment later
    eventually(lambda: network_atp(second, "A") == 5, timeout=10, what="the expired units back in ATP")


def test_reconcile_finds_and_repairs_drift_in_redis(replicas: Replicas, redis_server: RedisServer) -> None:
    led = replicas(grid_snapshot({("A", "L0000"): 5, ("A", "L0001"): 5}), config=ZERO_SAFETY, sweep_interval_s=0)
    led.reserve(ReserveRequest("r1", "web", (HoldLine("A", 2, location="L0000"),), 60_000))
    led.reserve(ReserveRequest("r2", "web", (HoldLine("A", 3),), 60_000))
    assert led.reconcile().inconsistencies == []
    # drift: a compensation applied twice, written behind the ledger's back
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    gen = led._replica.state.gen
    key = led.keys.counters_prefix(0, gen) + "A"
    client.hincrby(key, "1", 1)  # reserved at location 0
    client.close()
    report = led.reconcile(repair=True)
    assert {(i.place, i.counter, i.expected, i.found) for i in report.inconsistencies} == {("L0000", "reserved", 2, 3)}
    assert led.reconcile().inconsistencies == []
    assert network_atp(led, "A") == 5


def test_snapshot_loads_during_a_load_of_holds_carry_every_committed_hold(replicas: Replicas) -> None:
    skus = [f"S{k}" for k in range(6)]
    stock = {(s, loc): 1_000 for s in skus for loc in ("L0000", "L0001")}
    led = replicas(grid_snapshot(stock), partitions=4, config=ZERO_SAFETY, sweep_interval_s=0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def shopper(t: int) -> None:
        i = 0
        while not stop.is_set():
            lines = (HoldLine(skus[(t + i) % 6], 1, location="L0000"), HoldLine(skus[(t + i + 1) % 6], 1))
            try:
                led.reserve(ReserveRequest(f"t{t}-{i}", "web", lines, 3_600_000))
                if i % 3 == 0:
                    led.release(f"t{t}-{i}")
            except Unavailable:
                pass  # an operation caught by a generation switch: the caller tries again
            except BaseException as err:  # reported below
                errors.append(err)
                return
            i += 1

    threads = [threading.Thread(target=shopper, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            time.sleep(0.2)
            led.load_snapshot(grid_snapshot(stock))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    led.expire_due(now_ms=int(time.time() * 1000) + PENDING_MS + 1)  # roll back what a switch interrupted
    assert led.reconcile().inconsistencies == []


def test_a_hold_never_uses_a_location_another_replica_just_disabled(replicas: Replicas) -> None:
    import dataclasses

    first = replicas(grid_snapshot({("A", "L0000"): 5}), config=ZERO_SAFETY, sweep_interval_s=0)
    second = replicas(sweep_interval_s=0)
    off = dataclasses.replace(first.store.network.locations[0], enabled=False)
    first.upsert_locations([off])
    # the second replica may not have applied the new catalogue yet: its hold must not count on L0000
    with pytest.raises(InsufficientStock):
        second.reserve(ReserveRequest("late", "web", (HoldLine("A", 1, location="L0000"),), 60_000))


def test_hold_rows_made_with_another_catalogue_version_are_refused_by_the_script(replicas: Replicas) -> None:
    led = replicas(grid_snapshot({("A", "L0000"): 5}), config=ZERO_SAFETY, sweep_interval_s=0)
    sc = led._scripts
    gen = led._replica.state.gen
    stale = sc.hold(0, gen, "force", [], b"", maxlen=1000, retention_ms=1000, checks=[99, "", "", 0])
    assert int(sc.run([stale])[0][0]) == -3  # the client must remake its rows
    current = sc.hold(0, gen, "force", [], b"", maxlen=1000, retention_ms=1000, checks=[1, "", "", 0])
    assert int(sc.run([current])[0][0]) == 0
