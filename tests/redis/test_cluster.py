"""The Redis ledger on a real Redis Cluster of three masters (tests/support/redis_cluster.py), beyond
the contract suite (which also runs there, with six partitions): the partitions land on several nodes,
each whole on one; replicas see each other's writes through per-node stream reads; a reservation whose
record and SKUs sit on different nodes holds and releases (the saga); a snapshot load switches and
drops the old generation on every node; reconcile finds drift on every node; a plain URL naming a
cluster node is refused; and `omniroute load` + `omniroute serve --redis redis+cluster://...` answer over
gRPC."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from availability import (
    AtpConfig,
    EventOutcome,
    EventType,
    InsufficientStock,
    InvalidArgument,
    Location,
    LocationType,
    Snapshot,
    StockEvent,
    Unavailable,
)
from availability.ledger import SafetyStockEntry
from availability.ledger.redis import RedisLedger
from availability.ledger.redis_connect import connect, slot_of
from availability.ledger.redis_keys import partition_of
from availability.ledger.scripts import ReadReply, Scripts
from availability.reservations import HoldLine, ReserveRequest
from omniroute.cli import main
from omniroute.client import Client
from omniroute.client import StockEvent as ClientStockEvent
from omniroute.redis_server import free_port
from tests.contract.conftest import observable
from tests.omniroute.fixtures import now_ms
from tests.redis.conftest import Replicas, eventually
from tests.redis.test_holds import grid_snapshot, held_in_arrays, network_atp
from tests.scenarios import T0, FakeClock
from tests.support.redis_cluster import RedisCluster

P = 6
ZERO_SAFETY = AtpConfig(default_safety=(0, 0, 0, 0))
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "snapshot"
_prefixes = itertools.count()


@pytest.fixture
def on_cluster(redis_cluster: RedisCluster) -> Iterator[Replicas]:
    """Makes RedisLedger replicas on the session's cluster, sharing this test's prefix (six partitions
    unless told); all closed, and the cluster flushed, after the test."""
    prefix = f"cl{next(_prefixes)}"
    made: list[RedisLedger] = []

    def make(
        snapshot: Snapshot | None = None, *, partitions: int = P, url: str | None = None, **kw: Any
    ) -> RedisLedger:
        kw.setdefault("clock_ms", FakeClock())
        kw.setdefault("config", ZERO_SAFETY)
        led = RedisLedger(url or redis_cluster.url, prefix=prefix, partitions=partitions, snapshot=snapshot, **kw)
        made.append(led)
        return led

    yield make
    for led in made:
        led.close()
    redis_cluster.flushall()


def node_clients(cluster: RedisCluster) -> dict[int, redis.Redis]:
    return {port: redis.Redis(host="127.0.0.1", port=port) for port in cluster.ports}


def owners(cluster: RedisCluster, prefix: str) -> dict[int, int]:
    """Partition -> port of the node holding its metadata, read from the nodes themselves."""
    out: dict[int, int] = {}
    for port, client in node_clients(cluster).items():
        for raw in client.scan_iter(match=f"{{{prefix}:p*}}:meta", count=1000):
            p = int(raw.decode().split(":p", 1)[1].split("}", 1)[0])
            assert p not in out, f"partition {p} has metadata on two nodes"
            out[p] = port
        client.close()
    return out


def on_other_nodes(owner: dict[int, int], n: int, avoid: Collection[int] = ()) -> list[str]:
    """n SKU names whose partitions sit on n different nodes (none on a node in `avoid`)."""
    picked: dict[int, str] = {}
    for k in range(10_000):
        sku = f"S{k}"
        port = owner[partition_of(sku, P)]
        if port not in picked and port not in avoid:
            picked[port] = sku
        if len(picked) == n:
            return list(picked.values())
    raise AssertionError(f"fewer than {n} nodes hold partitions")


def test_partitions_spread_over_the_nodes_each_whole_on_one(on_cluster: Replicas, redis_cluster: RedisCluster) -> None:
    skus = [f"S{k}" for k in range(60)]
    led = on_cluster(grid_snapshot({(s, "L0000"): 5 for s in skus}))
    prefix = led.keys.prefix
    owner = owners(redis_cluster, prefix)
    assert sorted(owner) == list(range(P))
    assert len(set(owner.values())) >= 2, owner  # the point of partitions: several nodes share the ledger
    # every key of a partition lives on the partition's node (its hash tag), and the SKUs' counters too
    for port, client in node_clients(redis_cluster).items():
        for raw in client.scan_iter(match=f"{{{prefix}:p*}}:*", count=1000):
            p = int(raw.decode().split(":p", 1)[1].split("}", 1)[0])
            assert owner[p] == port, raw
        client.close()
    per_node = redis_cluster.keys_per_node(f"{{{prefix}:p*}}:g*:c:*")
    assert sum(per_node.values()) == len(skus) and sum(1 for n in per_node.values() if n) >= 2
    # the script calls went to the partitions' nodes directly, on one connection to each
    assert {int(name.rsplit(":", 1)[1]) for name in led._scripts._links} == set(owner.values())


def test_replicas_see_each_others_writes_through_per_node_stream_reads(on_cluster: Replicas) -> None:
    skus = [f"S{k}" for k in range(24)]
    first = on_cluster(grid_snapshot({(s, "L0000"): 5 for s in skus}))
    second = on_cluster()
    assert observable(first.store) == observable(second.store)
    events = [StockEvent(f"e{k}", EventType.RECEIPT, "L0001", s, k + 1, T0 + k) for k, s in enumerate(skus)]
    res = first.apply_stock_events(events)
    assert {r.outcome for r in res.results} == {EventOutcome.APPLIED}
    eventually(lambda: all(second.reached(r.sequence) for r in res.results), what="the second replica")
    assert observable(first.store) == observable(second.store)
    # and the other way round, with configuration writes and a new location (every partition's catalogue)
    second.set_safety_stock([SafetyStockEntry(s, "L0001", 1) for s in skus[:6]])
    store = Location("L-NEW", "New", LocationType.STORE, 42.3, -71.0, channels=frozenset({"web"}))
    second.upsert_locations([store])
    more = second.apply_stock_events(
        [StockEvent(f"n{k}", EventType.RECEIPT, "L-NEW", s, 2, T0 + 99) for k, s in enumerate(skus)]
    )
    eventually(lambda: all(first.reached(r.sequence) for r in more.results), what="the first replica")
    eventually(lambda: observable(first.store) == observable(second.store), what="the same state")
    # a hold at the new location checks the new catalogue in the SKU's partition, whichever node it is on
    first.reserve(ReserveRequest("at-new", "web", tuple(HoldLine(s, 2, location="L-NEW") for s in skus[:8]), 60_000))
    assert first.reconcile().inconsistencies == []


def test_a_reservation_across_nodes_holds_and_releases(on_cluster: Replicas, redis_cluster: RedisCluster) -> None:
    probe = on_cluster(grid_snapshot({("X", "L0000"): 1}))
    owner = owners(redis_cluster, probe.keys.prefix)
    rid = "order-1"
    a, b = on_other_nodes(owner, 2, avoid={owner[partition_of(rid, P)]}) if len(set(owner.values())) == 3 else (
        on_other_nodes(owner, 2)
    )
    led = probe
    led.apply_stock_events([
        StockEvent("a", EventType.RECEIPT, "L0000", a, 5, T0), StockEvent("b", EventType.RECEIPT, "L0001", b, 3, T0)
    ])  # fmt: skip
    other = on_cluster(sweep_interval_s=0)
    # the record and the two SKUs: three partitions on (at least) two nodes, so the saga path
    assert len({owner[partition_of(x, P)] for x in (rid, a, b)}) >= 2
    led.reserve(ReserveRequest(rid, "web", (HoldLine(a, 4, location="L0000"), HoldLine(b, 3)), 60_000))
    assert (held_in_arrays(led, a), held_in_arrays(led, b)) == (4, 3)
    eventually(lambda: (held_in_arrays(other, a), held_in_arrays(other, b)) == (4, 3), what="the other replica")
    # one line short: nothing held on either node
    with pytest.raises(InsufficientStock) as short:
        other.reserve(ReserveRequest("order-2", "web", (HoldLine(a, 1), HoldLine(b, 1)), 60_000))
    assert [(s.sku, s.available) for s in short.value.shortfalls] == [(b, 0)]
    assert led.reconcile().inconsistencies == []
    other.release(rid)
    assert (network_atp(other, a), network_atp(other, b)) == (5, 3)
    eventually(lambda: (held_in_arrays(led, a), held_in_arrays(led, b)) == (0, 0), what="the release")
    assert led.reconcile().inconsistencies == []


def test_a_snapshot_load_switches_and_drops_the_old_generation_on_every_node(
    on_cluster: Replicas, redis_cluster: RedisCluster
) -> None:
    skus = [f"S{k}" for k in range(30)]
    snap = grid_snapshot({(s, loc): 4 for s in skus for loc in ("L0000", "L0001")})
    led = on_cluster(snap)
    other = on_cluster()
    prefix = led.keys.prefix
    led.reserve(ReserveRequest("kept", "web", tuple(HoldLine(s, 1, location="L0000") for s in skus[::3]), 3_600_000))
    before = redis_cluster.keys_per_node(f"{{{prefix}:p*}}:g1:*")
    assert sum(1 for n in before.values() if n) >= 2
    led.load_snapshot(snap)
    assert redis_cluster.keys_per_node(f"{{{prefix}:p*}}:g1:*") == dict.fromkeys(redis_cluster.ports, 0)
    assert sum(redis_cluster.keys_per_node(f"{prefix}:g1:*").values()) == 0
    assert redis_cluster.keys_per_node(f"{{{prefix}:p*}}:g2:*") == before  # the same keys, one generation on
    # the hold was carried (its record found by a SCAN of every master), on both replicas
    assert sum(held_in_arrays(led, s) for s in skus) == 10
    eventually(lambda: sum(held_in_arrays(other, s) for s in skus) == 10, what="the other replica to switch")
    assert led.reconcile().inconsistencies == []


def test_reconcile_finds_and_repairs_drift_on_every_node(on_cluster: Replicas, redis_cluster: RedisCluster) -> None:
    skus = [f"S{k}" for k in range(30)]
    led = on_cluster(grid_snapshot({(s, "L0000"): 5 for s in skus}), sweep_interval_s=0)
    owner = owners(redis_cluster, led.keys.prefix)
    drifted = on_other_nodes(owner, len(set(owner.values())))
    for k, s in enumerate(skus):
        led.reserve(ReserveRequest(f"r{k}", "web", (HoldLine(s, 2, location="L0000"),), 60_000))
    assert led.reconcile().inconsistencies == []
    # drift behind the ledger's back, one SKU on each node
    gen = led._replica.state.gen
    clients = node_clients(redis_cluster)
    for s in drifted:
        p = partition_of(s, P)
        clients[owner[p]].hincrby(led.keys.counters_prefix(p, gen) + s, "1", 1)  # reserved at location 0
    for c in clients.values():
        c.close()
    report = led.reconcile(repair=True)
    assert {(i.sku, i.counter, i.expected, i.found) for i in report.inconsistencies} == {
        (s, "reserved", 2, 3) for s in drifted
    }
    assert led.reconcile().inconsistencies == []
    assert network_atp(led, drifted[0]) == 3


def test_a_partition_moved_to_another_node_is_followed_by_writers_and_readers(
    on_cluster: Replicas, redis_cluster: RedisCluster
) -> None:
    skus = [f"S{k}" for k in range(12)]
    led = on_cluster(grid_snapshot({(s, "L0000"): 5 for s in skus}), sweep_interval_s=0)
    other = on_cluster(sweep_interval_s=0)
    sku = skus[0]
    p = partition_of(sku, P)
    slot = slot_of(led.keys.tag(p))
    home = redis_cluster.owner(slot)
    away = next(port for port in redis_cluster.ports if port != home)
    lone = Scripts(connect(redis_cluster.url), led.keys)  # no readers to refresh its map for it
    redis_cluster.move_slot(slot, away)  # a resharding: every client's map still says `home`
    try:
        assert owners(redis_cluster, led.keys.prefix)[p] == away
        # a script call refused with MOVED: the map is read again and the call sent to `away`
        got = lone.read_reply(lone.run([lone.read(p, led._replica.state.gen, [sku])])[0])
        assert isinstance(got, ReadReply) and b"5" in got.text
        assert {int(name.rsplit(":", 1)[1]) for name in lone._links} == {home, away}
        lone.close()
        lone.client.close()
        # the writer's call is refused with MOVED: it reads the map again and sends the call to `away`
        res = led.apply_stock_events([StockEvent("moved-1", EventType.RECEIPT, "L0000", sku, 3, T0)])
        assert [r.outcome for r in res.results] == [EventOutcome.APPLIED]
        # the other replica's reader, blocked on `home`, is redirected too and tails the stream on `away`
        eventually(lambda: other.reached(res.results[0].sequence), what="the other replica's reader")
        other.reserve(ReserveRequest("after-move", "web", (HoldLine(sku, 8, location="L0000"),), 60_000))
        eventually(lambda: held_in_arrays(led, sku) == 8, what="the hold on the first replica")
        assert led.reconcile().inconsistencies == []
    finally:
        redis_cluster.move_slot(slot, home)


def test_urls_a_plain_url_to_a_cluster_node_another_database_and_no_cluster(redis_cluster: RedisCluster) -> None:
    node = redis_cluster.ports[0]
    with pytest.raises(InvalidArgument, match=r"node of a Redis Cluster: use redis\+cluster://"):
        RedisLedger(f"redis://127.0.0.1:{node}/0", prefix="plain")
    with pytest.raises(InvalidArgument, match="only database 0"):
        RedisLedger(f"redis+cluster://127.0.0.1:{node}/1", prefix="plain")
    with pytest.raises(Unavailable, match=r"redis\+cluster://127.0.0.1:1 unreachable"):
        RedisLedger("redis+cluster://127.0.0.1:1", prefix="plain")
    assert redis_cluster.keys_per_node() == dict.fromkeys(redis_cluster.ports, 0)  # nothing written


def test_load_and_serve_on_a_cluster_answer_over_grpc(redis_cluster: RedisCluster) -> None:
    prefix = f"cl{next(_prefixes)}"
    runner = CliRunner()
    args = ["load", "--data", str(SAMPLE), "--redis", redis_cluster.url, "--prefix", prefix, "--partitions", str(P)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"generation 1, {P} partitions" in result.output
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from omniroute.cli import main; main()", "serve", "--redis", redis_cluster.url]
    cmd += ["--redis-prefix", prefix, "--port", str(port), "--grace-seconds", "1"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with Client(f"127.0.0.1:{port}", timeout=10) as c:
            c.wait_until_serving(timeout=120)
            assert c.server_info().backend.startswith("redis")
            before = {p.location: p.on_hand for p in c.get_positions(["TEE-WHT-M"]).positions}
            event = ClientStockEvent("cl-1", "receipt", "DC-EAST", "TEE-WHT-M", 5, now_ms())
            assert c.apply_stock_events([event]).applied == 1
            after = {p.location: p.on_hand for p in c.get_positions(["TEE-WHT-M"]).positions}
            assert after == {**before, "DC-EAST": before["DC-EAST"] + 5}
            held = c.reserve("cl-order", "web", [("TEE-WHT-M", 1), ("TEE-BLK-M", 1)])
            assert held.held == 2
            assert c.reconcile().inconsistencies == ()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
        redis_cluster.flushall()
    assert server.returncode == 0, err.decode()[-2000:]
