"""Routing's measurement protocol (issue 4, "Must show"), in-process, no gRPC.

    python benchmarks/bench_routing.py                            # demo and the 2,000-location network
    python benchmarks/bench_routing.py --networks demo --orders 300
    python benchmarks/bench_routing.py --networks large           # networkgen "large": 50M positions, GBs

Protocol, per network, in one process:
1. Network: omniroute.networkgen.generate_network(size, seed) and StockStore.from_snapshot. Sizes: the
   generator's "demo" (64 locations) and "small" (200), "2k" (the "large" network's 2,000 locations:
   40 DCs, 1,880 stores, 60 dark stores, 20 vendors, with 20,000 SKUs at 5% instead of 500,000, so it
   builds in seconds), and "large" itself. Default cost model (router.CostModel()).
2. Orders (sample_orders, seeded): 1-10 lines (uniform), SKUs drawn in proportion to how many locations
   stock them (best sellers are ordered most), 1 unit (70%), 2 (20%) or 3 (10%) each, channel web,
   standard shipping, partial fulfilment allowed (so every policy has an answer), shipped to a point
   within 30 km of a random enabled store (stores sit where people live).
3. Speed: after --warmup orders, each order is timed from the order to the answer: build_problem (the
   candidate pool from the ATP arrays) then solve (bounds, pruning, the CP-SAT model when the bound does
   not settle it, the answer and its explanation). Reported as the measuring thread's CPU time (robust on
   a shared machine) and wall time, p50/p90/p99/max; also with the bound's fast path off, so that CP-SAT
   decides every order ("cp-sat always").
4. Quality: every policy routes every order (the same problems). Per policy: total cost, shipments per
   order, extra shipments (beyond one per order), units shipped. Optimal against each baseline: cost
   saved over the orders where both ship the same units (all orders, and multi-line orders), and the
   number of orders where optimal cost more (the goal: none).
Results go to a table on stdout and to JSON (--out, default under the git-ignored bench-results/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from availability import StockStore  # noqa: E402
from availability import _kernels as AK  # noqa: E402
from availability.model import Snapshot  # noqa: E402
from router import (  # noqa: E402
    POLICIES,
    Order,
    RoutingResult,
    build_problem,
    route,
    solve,
)
from router import _kernels as RK  # noqa: E402
from router.model import SolveStatus  # noqa: E402

PLACED_AT_ISO = "2026-01-05T15:00:00+00:00"  # a Monday, 10:00 on the east coast
BASELINES = ("nearest", "priority", "high_stock", "fewest_shipments")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_network(size: str, seed: int) -> Snapshot:
    from omniroute import networkgen

    if size == "2k":
        spec = networkgen.SIZES["large"]
        # the large network's locations with fewer SKUs: routing reads locations, not the long tail
        networkgen.SIZES.setdefault(
            "2k",
            networkgen.NetworkSize(
                spec.distribution_centers, spec.stores, spec.dark_stores, spec.vendors, 20_000, spec.density
            ),
        )
    return networkgen.generate_network(size, seed=seed)


def sample_orders(store: StockStore, n: int, seed: int) -> list[Order]:
    """The protocol's orders (see the module docstring), deterministic for a store and seed: the ones
    `omniroute bench` routes (omniroute.bench.workload.sample_orders)."""
    from omniroute.bench.workload import sample_orders as orders

    return orders(store, n, seed, id_prefix="B")


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.array(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p90": round(float(np.percentile(a, 90)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


def time_orders(store: StockStore, orders: list[Order], *, fast_path: bool, warmup: int) -> dict[str, Any]:
    cpu: list[float] = []
    wall: list[float] = []
    build_cpu: list[float] = []
    solve_cpu: list[float] = []
    by_lines: dict[str, list[float]] = {"1-3": [], "4-6": [], "7-10": []}
    solvers: Counter[str] = Counter()
    exact = considered = 0
    considered_all: list[int] = []
    pool: list[int] = []
    timed_out = 0
    for i, o in enumerate(orders):
        c0, w0 = time.thread_time(), time.perf_counter()
        problem = build_problem(store, o)
        c1 = time.thread_time()
        r = solve(problem, fast_path=fast_path)
        c2, w2 = time.thread_time(), time.perf_counter()
        if i < warmup:
            continue
        cpu.append((c2 - c0) * 1e3)
        wall.append((w2 - w0) * 1e3)
        build_cpu.append((c1 - c0) * 1e3)
        solve_cpu.append((c2 - c1) * 1e3)
        n = len(o.lines)
        by_lines["1-3" if n <= 3 else "4-6" if n <= 6 else "7-10"].append((c2 - c0) * 1e3)
        solvers[r.solver] += 1
        timed_out += r.timed_out
        pool.append(problem.pool)
        if r.candidates is not None:
            exact += r.candidates.exact
            considered = r.candidates.considered
            considered_all.append(considered)
        if (i - warmup) % 100 == 99:
            say(f"    timed {i - warmup + 1}/{len(orders) - warmup}")
    n = len(cpu)
    return {
        "orders": n,
        "cpu_ms": percentiles(cpu),
        "wall_ms": percentiles(wall),
        "build_cpu_ms_median": round(statistics.median(build_cpu), 3),
        "solve_cpu_ms_median": round(statistics.median(solve_cpu), 3),
        "cpu_ms_by_lines": {k: percentiles(v) for k, v in by_lines.items() if v},
        "solver": dict(solvers),
        "exact_pruning_share": round(exact / n, 4),
        "candidates_considered": {
            "p50": float(np.percentile(considered_all, 50)),
            "p99": float(np.percentile(considered_all, 99)),
        },
        "pool_median": float(np.median(pool)),
        "timed_out": timed_out,
    }


def compare_policies(store: StockStore, orders: list[Order]) -> dict[str, Any]:
    results: dict[str, list[RoutingResult]] = {name: [] for name in POLICIES}
    for i, o in enumerate(orders):
        problem = build_problem(store, o)
        for name in POLICIES:
            results[name].append(route(problem, policy=name))
        if i % 100 == 99:
            say(f"    compared {i + 1}/{len(orders)}")

    def units(r: RoutingResult) -> int:
        return sum(s.units for s in r.shipments)

    per_policy = {}
    for name, rs in results.items():
        shipped = [r for r in rs if r.status is not SolveStatus.INFEASIBLE]
        per_policy[name] = {
            "total_cost": sum(r.total_cost for r in shipped),
            "shipments_per_order": round(sum(len(r.shipments) for r in shipped) / max(1, len(shipped)), 4),
            "extra_shipments": sum(max(0, len(r.shipments) - 1) for r in shipped),
            "units": sum(units(r) for r in shipped),
            "orders_shipped": len(shipped),
        }
    opt = results["optimal"]
    versus = {}
    for name in BASELINES:
        base = results[name]
        same = [
            k for k in range(len(orders)) if opt[k].shipments and base[k].shipments and units(opt[k]) == units(base[k])
        ]
        multi = [k for k in same if len(orders[k].lines) > 1]

        def saving(ks: list[int], base: list[RoutingResult] = base) -> float:
            b = sum(base[k].total_cost for k in ks)
            return round(1 - sum(opt[k].total_cost for k in ks) / b, 4) if b else 0.0

        worse = sum(1 for k in same if opt[k].total_cost > base[k].total_cost)
        extra_opt = sum(max(0, len(opt[k].shipments) - 1) for k in same)
        extra_base = sum(max(0, len(base[k].shipments) - 1) for k in same)
        versus[name] = {
            "orders_compared": len(same),
            "cost_saving": saving(same),
            "cost_saving_multi_line": saving(multi),
            "orders_where_optimal_costs_more": worse,
            "extra_shipments_removed": round(1 - extra_opt / extra_base, 4) if extra_base else 0.0,
            "orders_where_optimal_ships_more_units": sum(
                1 for k in range(len(orders)) if units(opt[k]) > units(base[k])
            ),
        }
    return {"per_policy": per_policy, "optimal_versus": versus}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.bench_engine import machine

    out: dict[str, Any] = {"machine": machine(), "seed": args.seed, "networks": {}}
    AK.warm_up()
    RK.warm_up()
    for size in args.networks:
        say(f"[{size}] generating the network")
        t0 = time.perf_counter()
        snap = make_network(size, args.seed)
        store = StockStore.from_snapshot(snap)
        positions = snap.positions
        del snap
        net: dict[str, Any] = {
            "locations": len(store.network),
            "skus": len(store.skus),
            "positions": positions,
            "build_s": round(time.perf_counter() - t0, 1),
        }
        orders = sample_orders(store, args.orders + args.warmup, args.seed)
        say(f"[{size}] timing {args.orders} orders (after {args.warmup} warm-up orders)")
        net["speed"] = time_orders(store, orders, fast_path=True, warmup=args.warmup)
        say(f"[{size}] timing again with CP-SAT deciding every order")
        net["speed_cp_sat_always"] = time_orders(store, orders, fast_path=False, warmup=args.warmup)
        say(f"[{size}] routing {args.compare} orders with every policy")
        net["quality"] = compare_policies(store, orders[args.warmup :][: args.compare])
        out["networks"][size] = net
    return out


def report(out: dict[str, Any]) -> None:
    for size, net in out["networks"].items():
        print(f"\n== {size}: {net['locations']:,} locations, {net['skus']:,} SKUs, {net['positions']:,} positions")
        for key, label in (("speed", "optimal"), ("speed_cp_sat_always", "optimal, CP-SAT always")):
            s = net[key]
            c, w = s["cpu_ms"], s["wall_ms"]
            print(
                f"  {label:<24} per order (ms) CPU p50 {c['p50']:.2f} p90 {c['p90']:.2f} p99 {c['p99']:.2f} "
                f"max {c['max']:.1f} | wall p50 {w['p50']:.2f} p99 {w['p99']:.2f}"
                f" | build {s['build_cpu_ms_median']:.2f}"
                f" solve {s['solve_cpu_ms_median']:.2f} (medians)"
            )
            lines = " ".join(f"{k}: p50 {v['p50']:.2f} p99 {v['p99']:.2f}" for k, v in s["cpu_ms_by_lines"].items())
            print(
                f"  {'':<24} by lines {lines} | solver {s['solver']} | exact pruning {s['exact_pruning_share']:.1%}"
                f" | candidates p50 {s['candidates_considered']['p50']:.0f} p99 {s['candidates_considered']['p99']:.0f}"
                f" of a pool of {s['pool_median']:.0f} | timed out {s['timed_out']}"
            )
        q = net["quality"]
        print(f"  {'policy':<18} {'total cost':>12} {'shipments/order':>16} {'extra shipments':>16} {'units':>8}")
        for name, p in q["per_policy"].items():
            print(
                f"  {name:<18} {p['total_cost'] / 100:>12,.2f} {p['shipments_per_order']:>16.3f} "
                f"{p['extra_shipments']:>16} {p['units']:>8}"
            )
        for name, v in q["optimal_versus"].items():
            print(
                f"  optimal vs {name:<17} saves {v['cost_saving']:.1%} ({v['cost_saving_multi_line']:.1%} on multi-line"
                f" orders), removes {v['extra_shipments_removed']:.0%} of its extra shipments, costs more on"
                f" {v['orders_where_optimal_costs_more']} of {v['orders_compared']} orders"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["demo", "2k"], choices=["demo", "small", "2k", "large"])
    parser.add_argument("--orders", type=int, default=1000, help="timed orders per network")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--compare", type=int, default=500, help="orders routed by every policy")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "routing.json")
    args = parser.parse_args()
    out = run(args)
    report(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    say(f"results written to {args.out}")


if __name__ == "__main__":
    main()
