"""The Redis ledger on one redis-server and on a 3-master Redis Cluster, side by side in one run.

    .venv/bin/python -m tests.redis.bench_cluster [--size demo] [--rounds 3] [--batches 4] [--holds 300]

Starts a private redis-server and a private 3-master cluster (tests/support: free ports of 127.0.0.1,
no persistence), creates three ledgers from the same generated network: one server with 1 partition,
one server with 6, the cluster with 6 (so each master holds about two partitions). Then, in interleaved
rounds (each round measures every ledger in turn, so drift in the machine's load hits all alike):
- the no-op script's round trip through the ledger's own connections (`_scripts.run([noop])`);
- stock events in batches of 5,000 at random positions: events/s end to end;
- one-line holds (reserve one unit at a stocked position, one caller): holds/s = 1 / mean reserve time;
- ten-line holds (ten SKUs: with 6 partitions, a saga whose steps go out to every partition touched in
  one round trip, which on the cluster means to several nodes at once).
Every hold is released after its round (not timed). Prints the median over the rounds of each figure.

What this machine can show: the cluster's three servers, the client and everything else share the
same cores, so the figures measure what routing costs, not what sharding gains (that needs a core or a
host per master).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date

import numpy as np
import redis

from availability import EventType, InsufficientStock, StockEvent
from availability.ledger.redis import RedisLedger
from availability.reservations import HoldLine, ReserveRequest
from omniroute.networkgen import generate_network
from omniroute.redis_server import RedisServer
from tests.support.redis_cluster import RedisCluster

BATCH = 5_000


def evalsha_usec(ports: list[int]) -> int:
    """Microseconds Redis spent in EVALSHA so far, summed over the servers (INFO commandstats)."""
    total = 0
    for port in ports:
        client = redis.Redis(host="127.0.0.1", port=port)
        total += int(client.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))
        client.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="demo", help="networkgen size (demo, small, medium)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=4, help="event batches of 5,000 per ledger and round")
    ap.add_argument("--holds", type=int, default=300, help="one-line holds per ledger and round (ten-line: 1/5)")
    args = ap.parse_args()

    snap = generate_network(args.size, seed=7, base_date=date.today())
    sku_ids = [s.id for s in snap.skus]
    loc_ids = [lo.id for lo in snap.locations]
    stock_sku, stock_loc = snap.stock_sku.tolist(), snap.stock_loc.tolist()
    positions = [(sku_ids[s], loc_ids[li]) for s, li in zip(stock_sku, stock_loc, strict=True)]
    # where to hold: per SKU, its best-stocked location (safety stock aside, plenty for a unit a round)
    on_hand = np.asarray(snap.stock_on_hand) - np.maximum(np.asarray(snap.stock_safety), 0)
    best: dict[str, tuple[int, str]] = {}
    for s, li, q in zip(stock_sku, stock_loc, on_hand.tolist(), strict=True):
        if q > best.get(sku_ids[s], (0, ""))[0]:
            best[sku_ids[s]] = (q, loc_ids[li])
    places = [(sku, loc) for sku, (q, loc) in best.items() if q >= 4 * args.rounds]
    print(f"network {args.size}: {len(loc_ids)} locations, {len(sku_ids):,} SKUs, {len(positions):,} positions")

    server = RedisServer().start()
    cluster = RedisCluster().start()
    ledgers: dict[str, RedisLedger] = {}
    try:
        for name, url, p in (
            ("server, P=1", server.url, 1),
            ("server, P=6", server.url, 6),
            ("cluster, P=6", cluster.url, 6),
        ):
            t = time.perf_counter()
            ledgers[name] = RedisLedger(url, prefix=f"bench{p}", partitions=p, snapshot=snap, sweep_interval_s=0)
            print(f"{name}: ledger created (snapshot written) in {time.perf_counter() - t:.1f} s")
        figures: dict[str, dict[str, list[float]]] = {n: {} for n in ledgers}
        rng = random.Random(1)
        t0 = int(time.time() * 1000) - 3_600_000
        n_event = 0
        for r in range(args.rounds):
            for name, led in ledgers.items():
                got = figures[name]
                noop = led._scripts.noop()
                for _ in range(100):
                    led._scripts.run([noop])
                t = time.perf_counter()
                for _ in range(1_000):
                    led._scripts.run([noop])
                got.setdefault("no-op round trip (us)", []).append((time.perf_counter() - t) / 1_000 * 1e6)

                kinds = [EventType.SALE] * 14 + [EventType.RECEIPT] * 6
                batches = []
                for _ in range(args.batches):
                    batch = []
                    for _ in range(BATCH):
                        sku, loc = rng.choice(positions)
                        qty = rng.randrange(1, 3)
                        batch.append(StockEvent(f"b{n_event}", rng.choice(kinds), loc, sku, qty, t0 + n_event))
                        n_event += 1
                    batches.append(batch)
                ports = [server.port] if led.url == server.url else cluster.ports
                u0 = evalsha_usec(ports)
                t = time.perf_counter()
                for batch in batches:
                    led.apply_stock_events(batch)
                dt = time.perf_counter() - t
                events = args.batches * BATCH
                got.setdefault("events/s (batches of 5,000)", []).append(events / dt)
                got.setdefault("  inside Redis, us/event (all nodes)", []).append((evalsha_usec(ports) - u0) / events)

                for lines, calls, label in ((1, args.holds, "one-line holds/s"), (10, args.holds // 5, "ten-line holds/s")):  # noqa: E501
                    ids = []
                    spent = 0.0
                    for k in range(calls):
                        chosen = rng.sample(places, lines)
                        rid = f"r{r}-{lines}-{k}"
                        hold = tuple(HoldLine(s, 1, location=loc) for s, loc in chosen)
                        req = ReserveRequest(rid, "web", hold, 600_000)
                        t = time.perf_counter()
                        try:
                            led.reserve(req)
                            ids.append(rid)
                        except InsufficientStock:
                            pass  # sales above may have emptied the place: still a whole check, timed
                        spent += time.perf_counter() - t
                    got.setdefault(label, []).append(calls / spent)
                    for rid in ids:
                        led.release(rid)
            print(f"round {r + 1}/{args.rounds} done")
        names = list(ledgers)
        kinds_ = list(figures[names[0]])
        width = max(len(k) for k in kinds_)
        print(f"\n{'median of ' + str(args.rounds) + ' rounds':<{width}}  " + "  ".join(f"{n:>14}" for n in names))
        for kind in kinds_:
            row = [statistics.median(figures[n][kind]) for n in names]
            print(f"{kind:<{width}}  " + "  ".join(f"{v:>14,.0f}" for v in row))
    finally:
        for led in ledgers.values():
            led.close()
        cluster.cleanup()
        server.cleanup()


if __name__ == "__main__":
    main()
