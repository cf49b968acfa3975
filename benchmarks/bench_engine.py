"""The inventory engine's measurement protocol (issue 2, "Must show"), in-process, no gRPC.

    python benchmarks/bench_engine.py                         # networkgen "small" (quick)
    python benchmarks/bench_engine.py --size large            # 2,000 locations x 500k SKUs, ~50M positions
    python benchmarks/bench_engine.py --generator synth --size large   # uniform synthetic network instead

Protocol, in this order, in one process:
1. Memory. Baseline RSS after imports, kernel compilation, gc and malloc_trim; generate the network
   (omniroute.networkgen.generate_network(size, seed), or benchmarks/synth.py), build the StockStore
   (StockStore.from_snapshot), drop the snapshot, gc, malloc_trim; report the read model's array bytes per
   position (StockStore.nbytes) and the RSS increase per position (everything the store holds: arrays,
   ids, masks, allocator overhead).
2. Single-SKU ATP over 2,000 locations: StockStore.atp (the Python wrapper, the cached mask lookup and
   the kernel) for one SKU stocked at all 2,000 locations of a dense synthetic store (benchmarks/synth.py
   dense_snapshot), channel web, method ship, network scope; and for the widest SKU of the big network.
   Calls in a loop of 20,000, best of --rounds loops, per call.
3. 10,000 random SKUs in one call: StockStore.atp_many on the big store, a new uniform draw of SKU
   indices per call; also get_availability with SKU ids (id resolution, statuses). Best and median.
4. Stock events: MemoryLedger.apply_stock_events over the big store, --batches fresh batches of
   --batch-size (synth.EVENT_MIX of types, positions drawn uniformly, 1% at new positions), the events
   made outside the timed region, the garbage collector on. events/s = events / total time in the calls.
Times are reported both as CPU time of the measuring thread (robust to other processes on a shared
machine) and as wall time. Results go to a table on stdout and to JSON (--out, default under the
git-ignored bench-results/).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from availability import AvailabilityQuery, Method, Scope, StockStore, get_availability  # noqa: E402
from availability import _kernels as K  # noqa: E402
from availability.ledger import MemoryLedger  # noqa: E402
from availability.model import EventOutcome, Snapshot  # noqa: E402
from benchmarks import synth  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - not Linux


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS, so RSS counts what is held."""
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: RSS then includes free heap pages
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def machine() -> dict[str, Any]:
    """The machine, the package versions and the commit (the same record `omniroute bench` writes)."""
    from omniroute.bench.machine import machine_info

    return machine_info()


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> dict[str, float]:
    """Best loop of `calls` calls, per call, in CPU time and wall time (the best of each)."""
    best_cpu = best_wall = float("inf")
    for _ in range(rounds):
        c0, w0 = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        c1, w1 = time.thread_time(), time.perf_counter()
        best_cpu = min(best_cpu, (c1 - c0) / calls * 1e6)
        best_wall = min(best_wall, (w1 - w0) / calls * 1e6)
    return {"cpu_us": round(best_cpu, 3), "wall_us": round(best_wall, 3)}


def timed_ms(fn: Callable[[], object], rounds: int) -> dict[str, float]:
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append((time.thread_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
    return {
        "cpu_ms_min": round(min(cpu), 3),
        "cpu_ms_median": round(statistics.median(cpu), 3),
        "wall_ms_min": round(min(wall), 3),
        "wall_ms_median": round(statistics.median(wall), 3),
    }


def dense_single_sku(rounds: int) -> dict[str, float]:
    dense = StockStore.from_snapshot(synth.dense_snapshot(2_000, 16))
    web = dense.network.channel_index("web")
    scope = Scope()
    assert int(dense.generation.idx[3, K.USED]) == 2_000
    return per_call_us(lambda: dense.atp(3, web, Method.SHIP, scope), 20_000, rounds)


def make_snapshot(generator: str, size: str, seed: int) -> Snapshot:
    if generator == "networkgen":
        from omniroute.networkgen import generate_network

        return generate_network(size, seed=seed)
    return synth.snapshot(size, seed=seed)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "machine": machine(),
        "generator": args.generator,
        "size": args.size,
        "seed": args.seed,
    }
    K.warm_up()
    release_memory()

    # 1. memory
    base = rss_bytes()
    t0 = time.perf_counter()
    snap = make_snapshot(args.generator, args.size, args.seed)
    t1 = time.perf_counter()
    store = StockStore.from_snapshot(snap)
    t2 = time.perf_counter()
    positions = snap.positions
    del snap
    release_memory()
    held = rss_bytes() - base
    out["network"] = {
        "positions": positions,
        "skus": len(store.skus),
        "locations": len(store.network),
        "generate_s": round(t1 - t0, 2),
        "build_s": round(t2 - t1, 2),
    }
    out["memory"] = {
        "array_bytes_per_position": round(store.nbytes() / positions, 2),
        "rss_bytes_per_position": round(held / positions, 2),
        "rss_increase_mb": round(held / 2**20, 1),
    }

    # 2. single SKU over 2,000 locations
    scope = Scope()
    single = dense_single_sku(args.rounds)
    big_web = store.network.channel_index("web")
    n_sku = len(store.skus)
    widest = int(np.argmax(store.generation.idx[:n_sku, K.USED]))
    wide = per_call_us(lambda: store.atp(widest, big_web, Method.SHIP, scope), 20_000, args.rounds)
    out["single_sku"] = {
        "dense_2000_locations": single,
        "widest_sku_of_network": {**wide, "positions": int(store.generation.idx[widest, K.USED])},
    }

    # 3. 10,000 random SKUs
    rng = np.random.default_rng(args.seed)
    draws = [rng.integers(0, n_sku, 10_000) for _ in range(args.rounds * 5)]
    it = iter(draws)
    batch = timed_ms(lambda: store.atp_many(next(it), big_web, Method.SHIP, scope), len(draws))
    ids = store.skus.ids
    queries = [AvailabilityQuery([ids[i] for i in d.tolist()], "web") for d in draws[: args.rounds]]
    qit = iter(queries)
    by_id = timed_ms(lambda: get_availability(store, next(qit)), len(queries))
    out["batch_10k"] = {"atp_many": batch, "get_availability_by_id": by_id}

    # 4. stock events
    ledger = MemoryLedger(store)
    batches = synth.store_event_batches(store, args.batches, args.batch_size, seed=args.seed)
    cpu = wall = 0.0
    per_batch = []
    counts = dict.fromkeys((o.name for o in EventOutcome), 0)
    generations = {id(store.generation.pos)}
    n_events = 0
    for events in batches:
        c0, w0 = time.thread_time(), time.perf_counter()
        res = ledger.apply_stock_events(events)
        dc, dw = time.thread_time() - c0, time.perf_counter() - w0
        cpu += dc
        wall += dw
        per_batch.append(dw * 1e3)
        n_events += len(events)
        generations.add(id(store.generation.pos))
        for r in res.results:
            counts[r.outcome.name] += 1
    out["events"] = {
        "batch_size": args.batch_size,
        "batches": args.batches,
        "events_per_s_cpu": round(n_events / cpu),
        "events_per_s_wall": round(n_events / wall),
        "batch_ms_median": round(statistics.median(per_batch), 2),
        "batch_ms_max": round(max(per_batch), 2),
        "outcomes": counts,
        "rebuilds": len(generations) - 1,
    }
    return out


def table(res: dict[str, Any]) -> str:
    m, s, b, e, net = res["memory"], res["single_sku"], res["batch_10k"], res["events"], res["network"]
    dense, wide, many = s["dense_2000_locations"], s["widest_sku_of_network"], b["atp_many"]
    rows = [
        (
            "network",
            f"{res['generator']} {res['size']}: {net['positions']:,} positions, {net['skus']:,} SKUs, "
            f"{net['locations']:,} locations (generate {net['generate_s']} s, build {net['build_s']} s)",
        ),
        ("memory: arrays / position", f"{m['array_bytes_per_position']} B"),
        ("memory: RSS increase / position", f"{m['rss_bytes_per_position']} B ({m['rss_increase_mb']} MB)"),
        ("1 SKU x 2,000 locations (atp)", f"{dense['cpu_us']} us CPU, {dense['wall_us']} us wall"),
        (
            f"widest SKU ({wide['positions']} positions)",
            f"{wide['cpu_us']} us CPU, {wide['wall_us']} us wall",
        ),
        (
            "10k random SKUs (atp_many)",
            f"{many['cpu_ms_min']} ms CPU min, {many['cpu_ms_median']} ms median; "
            f"{many['wall_ms_median']} ms wall median",
        ),
        (
            "10k SKUs by id (get_availability)",
            f"{b['get_availability_by_id']['cpu_ms_median']} ms CPU median",
        ),
        (
            f"events, batches of {e['batch_size']:,}",
            f"{e['events_per_s_cpu']:,}/s CPU, {e['events_per_s_wall']:,}/s wall "
            f"({e['rebuilds']} rebuilds, max batch {e['batch_ms_max']} ms)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    mach = res["machine"]
    head = f"{mach['cpu']}, {mach['cores']} cores, {mach['memory_gb']} GB RAM"
    head += (
        f"; python {mach['python']}, numpy {mach['numpy']}, numba {mach['numba']}; commit {mach['commit']}"
    )
    return "\n".join([head, *(f"{k.ljust(width)}  {v}" for k, v in rows)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--generator", choices=["networkgen", "synth"], default="networkgen")
    p.add_argument(
        "--size", default="small", help="networkgen: demo/small/medium/large; synth: tiny/small/medium/large"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--rounds", type=int, default=20, help="timing rounds (loops of single calls, 10k batches)"
    )
    p.add_argument("--batches", type=int, default=40, help="event batches")
    p.add_argument("--batch-size", type=int, default=5_000)
    p.add_argument(
        "--out", type=Path, default=None, help="JSON output (default bench-results/engine-<gen>-<size>.json)"
    )
    args = p.parse_args(argv)
    res = run(args)
    print(table(res))
    path = args.out or ROOT / "bench-results" / f"engine-{args.generator}-{args.size}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
