"""GetAvailability throughput of `omniroute serve --workers 2` against one worker, in the same run.

Protocol: a private redis-server on a free port holds the demo network (Redis ledger, one partition).
For each round, `omniroute serve --redis ... --workers W` starts (W = 1, then 2, then 1, then 2 ...),
and C client processes (each its own connection, so the kernel spreads them over the workers) call
GetAvailability for one random SKU of the network (channel web, ship) in a closed loop for --seconds.
Calls per second are summed over the clients; the table shows each round and the ratio of the medians.
Clients and servers share the machine's cores, so on a 2-core machine the clients cap what any number
of workers can show: the figure is the gain a host sees, not the servers' capacity.

    python benchmarks/bench_workers.py                 # 3 rounds of 5 s, 4 clients
    python benchmarks/bench_workers.py --clients 6 --seconds 10 --rounds 2
    python benchmarks/bench_workers.py --skus-per-call 1000   # the server's work dominates each call
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omniroute.client import Client  # noqa: E402
from omniroute.redis_server import RedisServer, free_port  # noqa: E402


def _client(target: str, skus: list[str], per_call: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    rng = random.Random(os.getpid())
    with Client(target, timeout=10) as c:
        c.ping()
        n = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            c.get_availability(rng.sample(skus, per_call), channel="web")
            n += 1
    out.put(n / seconds)


def _serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from omniroute.cli import main; main()", "serve", "--redis", url]
    cmd += ["--redis-prefix", "bench", "--port", str(port), "--workers", str(workers), "--log-level", "WARNING"]
    return subprocess.Popen(cmd, env=env)


def _wait_serving(target: str, workers: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline:
        try:
            with Client(target, timeout=2) as c:
                if c.health() == "SERVING":
                    seen.add(c.server_info().worker)
        except Exception:
            time.sleep(0.2)
        if len(seen) >= workers or (workers == 1 and seen):
            return
    raise SystemExit(f"the server on {target} did not serve with {workers} workers in {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--skus-per-call", type=int, default=1,
        help="SKUs per GetAvailability: larger calls make the server's share of the CPU larger",
    )  # fmt: skip
    args = ap.parse_args()
    server = RedisServer().start()
    results: dict[int, list[float]] = {1: [], 2: []}
    try:
        port = free_port()
        target = f"127.0.0.1:{port}"
        skus: list[str] = []
        for r in range(args.rounds):
            for workers in (1, 2):
                proc = _serve(server.url, port, workers)
                try:
                    _wait_serving(target, workers)
                    if not skus:
                        with Client(target) as c:
                            n = c.server_info().skus
                        skus = [f"SKU{i:06d}" for i in range(1, n + 1)]
                    # spawn, not fork: this process has used gRPC, and gRPC does not survive a fork
                    ctx = mp.get_context("spawn")
                    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
                    procs = [
                        ctx.Process(target=_client, args=(target, skus, args.skus_per_call, args.seconds, q))
                        for _ in range(args.clients)
                    ]
                    for p in procs:
                        p.start()
                    rate = sum(q.get() for _ in procs)
                    for p in procs:
                        p.join()
                    results[workers].append(rate)
                    print(
                        f"round {r + 1}/{args.rounds}, {workers} worker(s): {rate:,.0f} GetAvailability calls/s",
                        flush=True,
                    )
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
    finally:
        server.cleanup()
    one, two = statistics.median(results[1]), statistics.median(results[2])
    print(
        f"\n{args.clients} client processes, {args.skus_per_call} SKUs a call, {os.cpu_count()} CPUs: "
        f"median 1 worker {one:,.0f}/s, 2 workers {two:,.0f}/s, ratio {two / one:.2f}x"
    )


if __name__ == "__main__":
    main()
