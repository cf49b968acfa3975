"""Stock events through RedisLedger, measured against the EVALSHA floor in the same run.

    /work/venv/bin/python -m tests.redis.bench_events [--size small] [--batches 20] [--partitions 1 4]

Starts its own redis-server (no persistence: this measures the ledger, not the disk), creates the
ledger from a generated network, then for each partition count:
- the round trip of a no-op script (lua/noop.lua) through the same code path, and of redis-py's evalsha;
- one-event batches: the latency of a whole apply_stock_events call, replica update included;
- batches of 5,000 events at random positions of random SKUs ("spread") and on 50 hot SKUs ("hot"):
  events/s end to end, and the time Redis spent inside the event script per event (INFO commandstats).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date

import redis

from availability import EventType, StockEvent
from availability.ledger.redis import RedisLedger
from omniroute.networkgen import generate_network
from omniroute.redis_server import RedisServer

BATCH = 5_000


def evalsha_usec(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def events(rng: random.Random, positions: list[tuple[str, str]], n: int, start: int, t0: int) -> list[StockEvent]:
    kinds = [EventType.SALE] * 14 + [EventType.RECEIPT] * 4 + [EventType.ADJUSTMENT, EventType.CYCLE_COUNT]
    out = []
    for k in range(n):
        sku, loc = rng.choice(positions)
        kind = rng.choice(kinds)
        qty = rng.randrange(0, 40) if kind is EventType.CYCLE_COUNT else rng.randrange(1, 5)
        out.append(StockEvent(f"b{start + k}", kind, loc, sku, qty, t0 + start + k))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small", help="networkgen size (demo, small, medium)")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--partitions", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()

    snap = generate_network(args.size, seed=7, base_date=date.today())
    sku_ids = [s.id for s in snap.skus]
    loc_ids = [lo.id for lo in snap.locations]
    positions = [
        (sku_ids[s], loc_ids[li]) for s, li in zip(snap.stock_sku.tolist(), snap.stock_loc.tolist(), strict=True)
    ]
    hot_skus = set(sku_ids[:50])
    hot = [p for p in positions if p[0] in hot_skus]
    print(f"network {args.size}: {len(loc_ids)} locations, {len(sku_ids):,} SKUs, {len(positions):,} positions")

    server = RedisServer().start()
    try:
        raw = redis.Redis(host="127.0.0.1", port=server.port)
        for partitions in args.partitions:
            raw.flushall()
            t = time.perf_counter()
            ledger = RedisLedger(server.url, prefix="bench", partitions=partitions, snapshot=snap)
            print(f"\nP={partitions}: ledger created (snapshot written) in {time.perf_counter() - t:.1f} s")
            scripts = ledger._scripts
            noop_call = scripts.noop()
            scripts.run([noop_call])
            noop_sha = scripts.sha["noop"]
            for _ in range(200):
                scripts.run([noop_call])
            rounds = 3_000
            t = time.perf_counter()
            for _ in range(rounds):
                scripts.run([noop_call])
            noop_us = (time.perf_counter() - t) / rounds * 1e6
            t = time.perf_counter()
            for _ in range(rounds):
                raw.evalsha(noop_sha, 0)
            redis_py_us = (time.perf_counter() - t) / rounds * 1e6

            rng = random.Random(1)
            t0 = int(time.time() * 1000) - 3_600_000
            n = 0
            lat = []
            c0, u0 = evalsha_usec(raw)
            for _ in range(2_000):
                e = events(rng, positions, 1, n, t0)
                n += 1
                t = time.perf_counter()
                ledger.apply_stock_events(e)
                lat.append(time.perf_counter() - t)
            c1, u1 = evalsha_usec(raw)
            lat.sort()
            print(f"  no-op EVALSHA round trip: {noop_us:.0f} us (redis-py evalsha: {redis_py_us:.0f} us)")
            p50, p99 = statistics.median(lat) * 1e6, lat[int(len(lat) * 0.99)] * 1e6
            print(
                f"  one-event batch: p50 {p50:.0f} us, p99 {p99:.0f} us = {p50 / noop_us:.2f}x the no-op round "
                f"trip; the script spends {(u1 - u0) / max(1, c1 - c0):.1f} us inside Redis"
            )
            for name, pool in (("spread", positions), ("hot", hot)):
                ledger.apply_stock_events(events(rng, pool, BATCH, n, t0))  # warm-up
                n += BATCH
                batches = [events(rng, pool, BATCH, n + b * BATCH, t0) for b in range(args.batches)]
                n += args.batches * BATCH
                c0, u0 = evalsha_usec(raw)
                t = time.perf_counter()
                for batch in batches:
                    ledger.apply_stock_events(batch)
                dt = time.perf_counter() - t
                c1, u1 = evalsha_usec(raw)
                total = args.batches * BATCH
                print(
                    f"  batches of {BATCH:,} ({name}): {total / dt:,.0f} events/s end to end; "
                    f"inside Redis {(u1 - u0) / total:.2f} us/event over {c1 - c0} script calls "
                    f"({(u1 - u0) / 1e6 / dt:.0%} of the wall time)"
                )
            ledger.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
