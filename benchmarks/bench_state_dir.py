"""The embedded ledger with and without a state directory (`omniroute serve --state-dir`), in-process.

    python benchmarks/bench_state_dir.py                      # networkgen "small" (477k positions)
    python benchmarks/bench_state_dir.py --size demo --state-root /mnt/ssd/tmp   # on another disk

Protocol, in one process, for each mode in turn (memory: no state directory; `fsync off`: a state
directory whose writes return once the OS has the journal entry; `fsync on`: once it is fdatasync()ed),
each on a fresh ledger over the same generated network (networkgen, --size, --seed):
1. Stock events: --batches batches of --batch-size events (benchmarks/synth.py store_event_batches: the
   synth.EVENT_MIX of types at positions drawn uniformly, 1% at new positions), made before the timed
   region; events/s = events / total wall time of the apply_stock_events calls (and / the calling
   thread's CPU time, which other processes on a shared machine disturb less).
2. One-line holds, one thread: --holds reserve calls, each with a new id, 1 unit of a (SKU, location)
   drawn from positions with at least 1,000 units free for web (DCs), 10-minute TTL; holds/s = calls /
   wall time of the calls.
3. The same with --threads threads calling at once (with fsync on, concurrent writers share each
   fdatasync: group commit).
4. With a state directory: the journal's size; a restart (close; open_ledger: checkpoint load and the
   replay of that journal); close again (which waits for the checkpoint the restart started) and open
   (checkpoint load only); then an explicit checkpoint and its size.
Checkpoints are not triggered during 1-3 (the journal stays under the 64 MiB threshold), so the figures
are the cost of journaling itself; a checkpoint's cost is reported on its own (step 4). The modes take
turns for --rounds rounds and each figure is the median over the rounds. Results go to a table on
stdout and to JSON (--out, default under the git-ignored bench-results/).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from availability import StockStore  # noqa: E402
from availability import _kernels as K  # noqa: E402
from availability.ledger import MemoryLedger  # noqa: E402
from availability.ledger.statedir import StateDirOptions, open_ledger  # noqa: E402
from availability.reservations import HoldLine, ReserveRequest  # noqa: E402
from benchmarks import synth  # noqa: E402
from omniroute.networkgen import generate_network  # noqa: E402


def hold_targets(store: StockStore, n: int, seed: int) -> list[tuple[str, str]]:
    """(SKU, location) pairs with plenty free for web, drawn with replacement."""
    g = store.generation
    view = store.view()
    web = view.network.channel_index("web")
    serves = (view.network.channel_bits >> np.uint64(web)) & np.uint64(1)
    n_sku = len(view.skus)
    used = g.idx[:n_sku, K.USED]
    slot = np.repeat(g.idx[:n_sku, K.START] - (np.cumsum(used) - used), used) + np.arange(int(used.sum()))
    sku = np.repeat(np.arange(n_sku), used)
    loc = g.pos[K.LOC, slot]
    free = g.pos[K.FREE, slot]
    ok = np.flatnonzero((free >= 1_000) & (serves[loc] == 1))
    pick = np.random.default_rng(seed).choice(ok, n)
    return [(view.skus.id(int(sku[i])), view.network.index.id(int(loc[i]))) for i in pick]


def run_mode(mode: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    snap = generate_network(args.size, seed=args.seed)
    directory = root / mode.replace(" ", "-")
    out: dict[str, Any] = {"mode": mode}

    def boot() -> MemoryLedger:
        return MemoryLedger(StockStore.from_snapshot(snap), sweep_interval_s=0)

    if mode == "memory":
        ledger = boot()
    else:
        ledger = open_ledger(directory, boot, options=StateDirOptions(fsync=mode == "fsync on"), sweep_interval_s=0)
    batches = list(synth.store_event_batches(ledger.store, args.batches, args.batch_size, seed=args.seed))
    spent = cpu = 0.0
    for events in batches:
        t0, c0 = time.perf_counter(), time.thread_time()
        ledger.apply_stock_events(events)
        spent += time.perf_counter() - t0
        cpu += time.thread_time() - c0
    out["events_per_s"] = round(args.batches * args.batch_size / spent)
    out["events_per_cpu_s"] = round(args.batches * args.batch_size / cpu)

    targets = hold_targets(ledger.store, args.holds * (1 + args.threads), args.seed)
    t0 = time.perf_counter()
    for i in range(args.holds):
        sku, loc = targets[i]
        ledger.reserve(ReserveRequest(f"h1-{i}", "web", (HoldLine(sku, 1, location=loc),), 600_000))
    out["holds_per_s_1_thread"] = round(args.holds / (time.perf_counter() - t0))

    per = args.holds // args.threads

    def worker(w: int) -> None:
        base = args.holds + w * per
        for i in range(per):
            sku, loc = targets[base + i]
            ledger.reserve(
                ReserveRequest(f"h{args.threads}-{w}-{i}", "web", (HoldLine(sku, 1, location=loc),), 600_000)
            )

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(args.threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out[f"holds_per_s_{args.threads}_threads"] = round(per * args.threads / (time.perf_counter() - t0))

    if mode != "memory":
        opts = StateDirOptions(fsync=mode == "fsync on")
        out["journal_mb"] = round(sum(p.stat().st_size for p in directory.glob("journal-*.log")) / 2**20, 1)
        ledger.close()
        t0 = time.perf_counter()
        ledger = open_ledger(directory, boot, options=opts, sweep_interval_s=0)
        out["restart_with_replay_s"] = round(time.perf_counter() - t0, 2)
        ledger.close()  # waits for the checkpoint of what was replayed
        t0 = time.perf_counter()
        ledger = open_ledger(directory, boot, options=opts, sweep_interval_s=0)
        out["restart_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        number = ledger.checkpoint()
        out["checkpoint_s"] = round(time.perf_counter() - t0, 2)
        folder = directory / f"checkpoint-{number:012d}"
        out["checkpoint_mb"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1)
    ledger.close()
    shutil.rmtree(directory, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=5_000)
    ap.add_argument("--holds", type=int, default=4_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--modes", default="memory,fsync off,fsync on")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--state-root", type=Path, default=None, help="where the state directories go (default: a temp dir)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "state_dir.json")
    args = ap.parse_args()
    K.warm_up()
    root = Path(tempfile.mkdtemp(prefix="omniroute-state-", dir=args.state_root))
    modes = [m.strip() for m in args.modes.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    try:
        for _ in range(args.rounds):
            for m in modes:
                runs[m].append(run_mode(m, args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        {"mode": m, **{k: statistics.median(r[k] for r in runs[m]) for k in runs[m][0] if k != "mode"}} for m in modes
    ]
    result = {
        "size": args.size,
        "machine": platform.platform(),
        "state_root": str(root.parent),
        "rows": rows,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    keys = [k for k in rows[0] if k != "mode"] + [k for k in rows[-1] if k not in rows[0]]
    print(f"{'':>10} " + " ".join(f"{k:>22}" for k in keys))
    for r in rows:
        print(f"{r['mode']:>10} " + " ".join(f"{r.get(k, ''):>22}" for k in keys))


if __name__ == "__main__":
    main()
