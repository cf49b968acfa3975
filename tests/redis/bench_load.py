"""Snapshot load into Redis and replica rebuild, on a generated network.

    /work/venv/bin/python -m tests.redis.bench_load [--size medium] [--partitions 1]

Starts its own redis-server (no persistence), writes the network with load_into_redis (what
`omniroute load` does), starts a replica against the populated Redis (a full rebuild), and prints
positions/s for both and Redis's memory per position.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import redis

from availability.ledger.redis import RedisLedger, load_into_redis
from omniroute.networkgen import generate_network
from omniroute.redis_server import RedisServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--partitions", type=int, default=1)
    args = ap.parse_args()
    t = time.perf_counter()
    snap = generate_network(args.size, seed=7, base_date=date.today())
    print(
        f"network {args.size}: {len(snap.locations)} locations, {len(snap.skus):,} SKUs, "
        f"{snap.positions:,} positions, {snap.inbound_sku.shape[0]:,} inbound rows "
        f"(generated in {time.perf_counter() - t:.1f} s)"
    )
    server = RedisServer().start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        base = int(client.info("memory")["used_memory"])
        report = load_into_redis(server.url, snap, partitions=args.partitions)
        used = int(client.info("memory")["used_memory"]) - base
        print(
            f"load: {report.positions:,} positions in {report.seconds:.1f} s "
            f"= {report.positions / report.seconds:,.0f} positions/s; Redis memory {used / 2**20:,.0f} MiB "
            f"= {used / report.positions:.0f} bytes/position"
        )
        t = time.perf_counter()
        replica = RedisLedger(server.url)
        dt = time.perf_counter() - t
        print(
            f"rebuild: a replica read {replica.store.position_count:,} positions in {dt:.1f} s "
            f"= {replica.store.position_count / dt:,.0f} positions/s"
        )
        replica.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
