"""Joint batch routing's measurement protocol (issue 4, "Must show"), in-process, no gRPC.

    python benchmarks/bench_batch.py                      # demo and small networks, batches of 500 and 1,000
    python benchmarks/bench_batch.py --quick              # demo network, one batch of 300 (about 15 s)
    python benchmarks/bench_batch.py --large              # and batches of 10,000 orders (minutes)
    python benchmarks/bench_batch.py --networks medium --orders 1000 --json out.json
    python benchmarks/bench_batch.py --quick --compare-solvers 1000   # HiGHS vs CP-SAT on one joint model
    python benchmarks/bench_batch.py --scarce 400         # and 400 orders competing for little stock and capacity

Protocol, per network and batch size, in one process:
1. Network: omniroute.networkgen.generate_network(size, seed) and StockStore.from_snapshot; default cost
   model. Sizes: "demo" (64 locations, 3,000 SKUs), "small" (200, 20,000), "medium" (600, 100,000).
2. Orders: benchmarks/bench_routing.sample_orders (the single-order protocol's: 1-10 lines, SKUs drawn by
   how widely they are stocked, 1-3 units, web, standard shipping, partial fulfilment allowed, shipped
   near a random store), all released together: one batch, every location's full daily capacity.
3. One call of router.solve_batch(policy "optimal", lp_relaxation=True, seed) routes the batch jointly and,
   for comparison, in sequence (each order with the single-order policy on what the earlier ones left):
   "optimal" (the joint model's hint), "nearest", "fewest_shipments".
4. Figures: total cost, shipments per order, extra shipments (beyond one per shipped order) and units
   shipped of each; the joint plan's saving against sequential fewest_shipments (goal >= 10%) and
   sequential optimal; extra shipments removed against sequential nearest (goal >= 30%); the gap to the
   solver's bound (when one model was solved) and to the LP relaxation (goal <= 1%; the joint model with
   its valid inequalities, the cost alone given the units shipped: router.batch._relaxation_bound); wall
   time of the call without the LP relaxation, which is solved only for the record (goals: 1,000 orders
   < 10 s, 10,000 < 120 s), and the solver's share of it. And, on 300 orders each routed alone, the LP
   relaxation's own gap to the optimum with and without the valid inequalities: the floor under any
   plan's gap to it (--no-lp skips both).
Results go to a table on stdout and to JSON (--json, default bench-results/batch.json, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from availability import StockStore  # noqa: E402
from availability import _kernels as AK  # noqa: E402
from benchmarks.bench_routing import say  # noqa: E402
from router import BatchResult, BatchTotals, Order, solve_batch  # noqa: E402
from router import _kernels as RK  # noqa: E402

GOALS = {"saving_vs_fewest": 0.10, "extra_removed_vs_nearest": 0.30, "lp_gap": 0.01}
TIME_GOALS_S = {1_000: 10.0, 10_000: 120.0}


def totals_dict(t: BatchTotals, time_s: float) -> dict[str, Any]:
    return {
        "cost": t.cost,
        "shipments": t.shipments,
        "shipments_per_order": round(t.shipments_per_order, 4),
        "extra_shipments": t.extra_shipments,
        "units_shipped": t.units_shipped,
        "units_unfulfilled": t.units_unfulfilled,
        "orders_infeasible": t.orders_infeasible,
        "time_s": round(time_s, 3),
    }


def figures(result: BatchResult) -> dict[str, Any]:
    joint = result.totals
    seq = {s.policy: s for s in result.sequential}
    out: dict[str, Any] = {
        "joint": totals_dict(joint, result.time_s - result.lp_time_s),
        "sequential": {name: totals_dict(s.totals, s.time_s) for name, s in seq.items()},
        "solver": result.solver,
        "solver_status": result.solver_status,
        "status": result.status.value,
        "solve_time_s": round(result.solve_time_s, 3),
        "timed_out": result.timed_out,
        "bound": result.bound,
        "gap_to_solver_bound": result.gap,
        "lp_bound": result.lp_bound,
        "gap_to_lp_bound": _rounded(result.gap_to(result.lp_bound)),
        "lagrangian_bound": result.lagrangian_bound,
        "gap_to_lagrangian_bound": _rounded(result.gap_to(result.lagrangian_bound)),
        "lp_time_s": round(result.lp_time_s, 3),
        "message": result.message,
    }
    if result.model is not None:
        m = result.model
        out["model"] = {
            "orders": m.orders,
            "fixed_orders": m.fixed_orders,
            "competing_orders": m.competing_orders,
            "candidates_per_order": round(m.candidates_per_order, 2),
            "variables": m.variables,
            "constraints": m.constraints,
            "shared_stock_rows": m.shared_stock_rows,
            "capacity_rows": m.capacity_rows,
            "valid_rows": m.valid_rows,
        }

    def saving(name: str) -> float | None:
        s = seq.get(name)
        return round(1 - joint.cost / s.totals.cost, 5) if s and s.totals.cost else None

    def removed(name: str) -> float | None:
        s = seq.get(name)
        return (
            round(1 - joint.extra_shipments / s.totals.extra_shipments, 4) if s and s.totals.extra_shipments else None
        )

    out["saving_vs"] = {name: saving(name) for name in seq}
    out["extra_removed_vs"] = {name: removed(name) for name in seq}
    out["units_more_than"] = {name: joint.units_shipped - s.totals.units_shipped for name, s in seq.items()}
    return out


def _rounded(gap: float | None) -> float | None:
    return round(gap, 6) if gap is not None else None


FORMULATIONS = {
    "plain": (),
    "shipment counts": ("shipment_count",),
    "and flow covers": ("shipment_count", "flow_cover"),
    "and lifted counts (as solved)": ("shipment_count", "flow_cover", "lifted_count"),
}


def alone_lp_gap(store: StockStore, orders: list[Order], seed: int) -> dict[str, Any]:
    """The LP relaxation's own gap on these orders each alone (no stock shared, so no batch effect): the
    joint model's per-order part (router.batch's private builder) relaxed, against its optimum, without the
    valid inequalities ("plain") and adding each family in turn (the last as solve_batch uses it).
    However good the batch plan, its gap to the LP relaxation cannot be expected below this."""
    from router import CostModel, solve
    from router import batch as B
    from router._mip import solve_model

    problems, protection, _ = B._read(store, orders, CostModel(), None, None)
    shared = B._share(problems, protection)
    index = {lid: i for i, lid in enumerate(problems[0].network_ids)}
    # each order's optimum alone as the hint, so that the objective is the plan's cost in cents
    plans = {o: B._plan_of(p, solve(p, seed=seed), index) for o, p in enumerate(problems)}
    rows = [B._own_candidates(p, np.flatnonzero(plans[o].any(axis=1)))[0] for o, p in enumerate(problems)]
    ip = 0.0
    lp = dict.fromkeys(FORMULATIONS, 0.0)
    lp_s = dict.fromkeys(FORMULATIONS, 0.0)
    for o, p in enumerate(problems):
        if p.fulfillable().sum() == 0:
            continue
        exact = solve_model(B._build_joint(problems, shared, rows, [o], plans, 0, 0).model, time_limit_s=10,
                            seed=seed, relative_gap=0.0)  # fmt: skip
        assert exact.objective is not None
        ip += exact.objective
        for name, rows_added in FORMULATIONS.items():
            model = B._build_joint(problems, shared, rows, [o], plans, 0, 0, inequalities=rows_added).model
            relaxed = solve_model(model, time_limit_s=10, seed=seed, relative_gap=0.0, relax=True)
            assert relaxed.objective is not None
            lp[name] += relaxed.objective
            lp_s[name] += relaxed.time_s
    return {
        "orders": len(orders),
        "optimum": ip,
        "lp": lp,
        "lp_time_s": {k: round(v, 3) for k, v in lp_s.items()},
        "gap": {name: round(1 - v / ip, 6) if ip else None for name, v in lp.items()},
    }


SCARCE_SKUS = 40  # the SKUs the scarce scenario's orders draw from
SCARCE_CAPACITY = 12  # shipments each location can still take today in it


def scarce_orders(store: StockStore, n: int, seed: int) -> tuple[list[Order], dict[str, int], int]:
    """The scarce scenario: orders competing for little stock and capacity. Lines (1-4 per order, 1 unit,
    or 2 one time in five) drawn from the SCARCE_SKUS SKUs with the least network ATP among those held by
    at least 4 locations with at least 8 units in all; shipped near a random store, partial fulfilment
    allowed; every location can take SCARCE_CAPACITY more shipments today. Returns the orders, the
    capacity left, and the hot SKUs' network ATP (the supply)."""
    from availability import LocationType, Method
    from omniroute.bench.workload import CHANNEL, PLACED_AT, shopper_near
    from router import OrderLine, RoutingOptions

    rng = np.random.default_rng(seed)
    view = store.view()
    n_sku = len(view.skus)
    atp = store.atp_many(np.arange(n_sku, dtype=np.int64), store.network.channel_index(CHANNEL), Method.SHIP)
    held = view.gen.idx[:n_sku, AK.USED]
    ok = np.flatnonzero((held >= 4) & (atp >= 8))
    hot = ok[np.lexsort((ok, atp[ok]))][:SCARCE_SKUS]
    network = view.network
    stores = [i for i, loc in enumerate(network.locations) if loc.type is LocationType.STORE and loc.enabled]
    orders = []
    for i in range(n):
        k = int(rng.integers(1, 5))
        skus = rng.choice(hot, size=k, replace=False)
        home = stores[int(rng.integers(0, len(stores)))]
        dest = shopper_near(network.lat[home], network.lon[home], rng)  # drawn before the quantities
        qty = rng.choice([1, 2], size=k, p=[0.8, 0.2])
        orders.append(
            Order(
                order_id=f"S-{seed}-{i}",
                channel=CHANNEL,
                lines=tuple(OrderLine(view.skus.id(int(s)), int(q)) for s, q in zip(skus, qty, strict=True)),
                destination=dest,
                placed_at=PLACED_AT,
                options=RoutingOptions(allow_partial=True),
            )
        )
    capacity = {loc.id: SCARCE_CAPACITY for loc in network.locations}
    return orders, capacity, int(atp[hot].sum())


def compare_solvers(store: StockStore, orders: list[Order], seed: int, seconds: float) -> list[dict[str, Any]]:
    """The joint model over every order of a batch (router.batch's private builder, no order kept out),
    solved by HiGHS and by CP-SAT (two workers) through MathOpt, each with and without the sequential
    optimal plan as a hint: what chose HiGHS."""

    from ortools.math_opt.python import mathopt

    from router import CostModel
    from router import batch as B
    from router._mip import solve_model

    problems, protection, _ = B._read(store, orders, CostModel(), None, None)
    shared = B._share(problems, protection)
    index = {lid: i for i, lid in enumerate(problems[0].network_ids)}
    hint = B._route_sequentially(problems, shared, index, "optimal", seed)
    members = [o for o, p in enumerate(problems) if p.fulfillable().sum() > 0]
    rows = [B._own_candidates(p, np.flatnonzero(hint.plans[o].any(axis=1)))[0] for o, p in enumerate(problems)]
    model = B._build_joint(problems, shared, rows, members, dict(enumerate(hint.plans)), 0, 0).model
    assert model.hint is not None
    out = []
    for name, kind, threads in (("HiGHS", mathopt.SolverType.HIGHS, 0), ("CP-SAT", mathopt.SolverType.CP_SAT, 2)):
        for hinted in (True, False):
            sol = solve_model(
                model, time_limit_s=seconds, seed=seed, relative_gap=1e-3, solver=kind, threads=threads, use_hint=hinted
            )
            out.append(
                {
                    "solver": name,
                    "workers": threads or "HiGHS's default",
                    "hint": hinted,
                    "seconds": round(sol.time_s, 2),
                    "plan": sol.objective,
                    "bound": sol.bound,
                    "sequential_optimal": model.objective(model.hint),
                    "variables": model.variables,
                }
            )
            plan = "none" if sol.objective is None else f"{sol.objective:,.0f}"
            say(f"    {name} hint={hinted}: {out[-1]['seconds']} s, plan {plan}")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.bench_engine import machine
    from benchmarks.bench_routing import make_network, sample_orders

    out: dict[str, Any] = {"machine": machine(), "seed": args.seed, "networks": {}}
    AK.warm_up()
    RK.warm_up()
    for size in args.networks:
        say(f"[{size}] generating the network")
        t0 = time.perf_counter()
        store = StockStore.from_snapshot(make_network(size, args.seed))
        net: dict[str, Any] = {
            "locations": len(store.network),
            "skus": len(store.skus),
            "build_s": round(time.perf_counter() - t0, 1),
            "batches": {},
        }
        out["networks"][size] = net
        for n in args.orders:
            orders = sample_orders(store, n, args.seed)
            limit = args.time_limit or (10.0 if n <= 1_000 else 90.0)
            say(f"[{size}] {n:,} orders: jointly (time limit {limit:.0f} s) and in sequence")
            result = solve_batch(store, orders, time_limit_s=limit, seed=args.seed, lp_relaxation=not args.no_lp)
            fig = figures(result)
            fig["time_limit_s"] = limit
            net["batches"][str(n)] = fig
            save(args.json, out)  # what is measured so far survives a later failure
            say(
                f"[{size}] {n:,} orders: {fig['joint']['time_s']:.1f} s ({result.solver_status}), "
                f"saves {fig['saving_vs'].get('fewest_shipments') or 0:.1%} vs sequential fewest_shipments"
            )
        if args.scarce:
            orders, capacity, supply = scarce_orders(store, args.scarce, args.seed)
            say(f"[{size}] scarce: {args.scarce:,} orders, {SCARCE_SKUS} SKUs, {SCARCE_CAPACITY} shipments a location")
            result = solve_batch(
                store, orders, capacity_left=capacity, time_limit_s=args.time_limit or 10.0, seed=args.seed,
                lp_relaxation=not args.no_lp,
            )  # fmt: skip
            fig = figures(result)
            fig["supply"] = supply
            fig["demand"] = sum(ln.quantity for o in orders for ln in o.lines)
            fig["capacity_per_location"] = SCARCE_CAPACITY
            net["scarce"] = fig
            save(args.json, out)
        if args.compare_solvers:
            say(f"[{size}] HiGHS and CP-SAT on the joint model of {args.compare_solvers:,} orders")
            net["solvers"] = compare_solvers(
                store, sample_orders(store, args.compare_solvers, args.seed), args.seed, 10.0
            )
            save(args.json, out)
        if not args.no_lp:
            sample = sample_orders(store, 300, args.seed)
            say(f"[{size}] the LP relaxation's gap on 300 orders, each alone")
            net["lp_gap_orders_alone"] = alone_lp_gap(store, sample, args.seed)
    return out


def save(path: Path, out: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


def mark(ok: bool | None) -> str:
    return "" if ok is None else (" ok" if ok else " MISSED")


def report(out: dict[str, Any]) -> None:
    for size, net in out["networks"].items():
        print(f"\n== {size}: {net['locations']:,} locations, {net['skus']:,} SKUs")
        for n, f in net["batches"].items():
            j = f["joint"]
            print(
                f"  {int(n):,} orders | joint: {j['time_s']:.1f} s wall (solver {f['solve_time_s']:.1f} s, "
                f"{f['solver_status']}; limit {f['time_limit_s']:.0f} s){mark(_time_ok(int(n), j['time_s']))}"
            )
            if "model" in f:
                m = f["model"]
                print(
                    f"    model: {m['orders']:,} orders ({m['fixed_orders']:,} more kept their proven sequential "
                    f"plan), {m['candidates_per_order']} candidates per order, {m['variables']:,} variables, "
                    f"{m['constraints']:,} rows ({m['shared_stock_rows']:,} shared stock, {m['capacity_rows']} "
                    f"capacity, {m.get('valid_rows', 0):,} valid inequalities)"
                )
            print(f"    {'':<28}{'cost':>14}{'ship/order':>12}{'extra':>8}{'units':>8}{'short':>7}{'time s':>8}")
            rows = [("joint", j)] + [(f"sequential {k}", v) for k, v in f["sequential"].items()]
            for label, t in rows:
                print(
                    f"    {label:<28}{t['cost'] / 100:>14,.2f}{t['shipments_per_order']:>12.3f}"
                    f"{t['extra_shipments']:>8}{t['units_shipped']:>8}{t['units_unfulfilled']:>7}{t['time_s']:>8.1f}"
                )
            sv, rm = f["saving_vs"], f["extra_removed_vs"]
            fewest, nearest = sv.get("fewest_shipments"), rm.get("nearest")
            print(
                f"    saves {fewest:.1%} vs sequential fewest_shipments{mark(fewest >= GOALS['saving_vs_fewest'])}, "
                f"{sv.get('optimal'):.3%} vs sequential optimal; removes {nearest:.0%} of sequential nearest's "
                f"extra shipments{mark(nearest >= GOALS['extra_removed_vs_nearest'])}"
            )
            gap, lp_gap, lag_gap = f["gap_to_solver_bound"], f["gap_to_lp_bound"], f.get("gap_to_lagrangian_bound")
            print(
                "    gap: "
                + (f"{gap:.3%} to the solver's bound" if gap is not None else "no joint solver bound")
                + (
                    f", {lp_gap:.2%} to the LP relaxation{mark(lp_gap <= GOALS['lp_gap'])}"
                    if lp_gap is not None
                    else ""
                )
                + (
                    f", {lag_gap:.2%} to the Lagrangian bound at its prices ({f['lp_time_s']:.1f} s for both)"
                    if lag_gap is not None
                    else ""
                )
            )
            if f["message"]:
                print(f"    note: {f['message'][:300]}")
        scarce = net.get("scarce")
        if scarce:
            j, seq = scarce["joint"], scarce["sequential"]
            print(
                f"  scarce: {scarce['demand']:,} units wanted of {scarce['supply']:,} in the network, "
                f"{scarce['capacity_per_location']} shipments a location | joint {j['time_s']:.1f} s"
            )
            for label, t in [("joint", j)] + [(f"sequential {k}", v) for k, v in seq.items()]:
                per_unit = t["cost"] / max(1, t["units_shipped"]) / 100
                print(
                    f"    {label:<28}{t['cost'] / 100:>14,.2f}{t['units_shipped']:>8} units{per_unit:>10,.2f} a unit"
                    f"{t['shipments_per_order']:>8.3f} ship/order"
                )
            gap, lp_gap, lag_gap = (
                scarce["gap_to_solver_bound"], scarce["gap_to_lp_bound"], scarce.get("gap_to_lagrangian_bound")
            )
            print(
                f"    vs sequential optimal: {scarce['units_more_than'].get('optimal'):+} units, cost "
                f"{scarce['saving_vs'].get('optimal'):.2%} lower; gap "
                + (f"{gap:.3%} to the solver's bound" if gap is not None else "none")
                + (f", {lp_gap:.2%} to the LP relaxation" if lp_gap is not None else "")
                + (f", {lag_gap:.2%} to the Lagrangian bound" if lag_gap is not None else "")
            )
        for row in net.get("solvers", []):
            plan, bound, seq = row["plan"], row["bound"], row["sequential_optimal"]
            print(
                f"  {row['solver']} (workers: {row['workers']}), hint {row['hint']}: {row['seconds']} s, plan "
                f"{(plan - seq) / seq:+.3%} vs sequential optimal, gap {(plan - bound) / abs(plan):.3%} "
                f"({row['variables']:,} variables)"
            )
        alone = net.get("lp_gap_orders_alone")
        if alone and all(gap is not None for gap in alone["gap"].values()):
            gaps = ", ".join(f"{name} {gap:.2%}" for name, gap in alone["gap"].items())
            print(f"  the LP relaxation's own gap on {alone['orders']} orders each alone (nothing shared): {gaps}")


def _time_ok(n: int, seconds: float) -> bool | None:
    goal = TIME_GOALS_S.get(n)
    return None if goal is None else seconds < goal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=None, choices=["demo", "small", "medium"])
    parser.add_argument("--orders", type=int, nargs="+", default=None, help="batch sizes (default 500 1000)")
    parser.add_argument("--large", action="store_true", help="also batches of 10,000 orders")
    parser.add_argument("--quick", action="store_true", help="demo network, one batch of 300 orders")
    parser.add_argument("--time-limit", type=float, default=None, help="the call's limit (10 s; 90 s above 1,000)")
    parser.add_argument("--no-lp", action="store_true", help="skip the LP relaxation's bound")
    parser.add_argument("--compare-solvers", type=int, default=0, metavar="N", help="HiGHS vs CP-SAT on N orders")
    parser.add_argument("--scarce", type=int, default=0, metavar="N", help="the scarce scenario with N orders (400)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "batch.json")
    args = parser.parse_args()
    if args.quick:
        args.networks = args.networks or ["demo"]
        args.orders = args.orders or [300]
    args.networks = args.networks or ["demo", "small"]
    args.orders = args.orders or [500, 1_000]
    if args.large and 10_000 not in args.orders:
        args.orders = [*args.orders, 10_000]
    out = run(args)
    report(out)
    save(args.json, out)
    say(f"results written to {args.json}")


if __name__ == "__main__":
    main()
