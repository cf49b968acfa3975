"""The standard set's in-process rows: ATP kernels, the embedded ledger, routing one order, checkout
quotes and a wave of orders routed jointly. Each measurement builds its own StockStore from the
benchmark's network, so what one changes (events, holds) does not move another's figures.

In-process times are the measuring thread's CPU time (on a shared machine, robust to other processes
taking the cores; the wall times are in each row's detail), except for the wave (wall time, the solver
may use threads) and the Redis ledger (redis_rows: wall time, most of it spent in redis-server).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from availability import Method, Scope, StockStore
from availability import _kernels as AK
from availability.ledger import Ledger, MemoryLedger
from availability.model import Snapshot
from availability.reservations import HoldLine, ReserveRequest
from router import BatchResult, build_problem, solve, solve_batch
from router.promise import SHIP_METHODS, STORE_METHODS, quote_fulfillment_options

from .budget import EVENT_BATCH, Budget, percentiles
from .network import BenchNetwork
from .progress import Report
from .results import Goal, Row
from .workload import CHANNEL, PLACED_AT, Place, sample_orders, stock_event_batches

LARGE_POSITIONS = 50_000_000  # issue 2's goals for 10,000 SKUs a call are stated at 50 million positions
ROUTING_LOCATIONS = 2_000  # issue 4's single-order goals are stated for 2,000 locations


def dense_store(snap: Snapshot, n_locations: int = 2_000, n_skus: int = 16, seed: int = 7) -> StockStore:
    """SKUs stocked at every one of `n_locations` locations (the network's locations repeated under new
    ids): the worst case for one SKU's network ATP, whatever the size of the benchmark's network."""
    base = snap.locations
    locs = [
        dataclasses.replace(base[i % len(base)], id=f"{base[i % len(base)].id}-{i // len(base)}")
        for i in range(n_locations)
    ]
    rng = np.random.default_rng(seed)
    sku_idx = np.repeat(np.arange(n_skus, dtype=np.int32), n_locations)
    loc_idx = np.tile(np.arange(n_locations, dtype=np.int32), n_skus)
    dense = Snapshot(
        locations=locs,
        channels=snap.channels,
        skus=snap.skus[:n_skus],
        stock_sku=sku_idx,
        stock_loc=loc_idx,
        stock_on_hand=rng.integers(0, 41, size=sku_idx.shape[0]).astype(np.int32),
        stock_safety=np.full(sku_idx.shape[0], -1, dtype=np.int32),
    )
    return StockStore.from_snapshot(dense)


def _per_call_loops(fn: Callable[[], object], calls: int, loops: int) -> list[float]:
    """Thread CPU seconds per call of each loop of `calls` calls."""
    out = []
    for _ in range(loops):
        c0 = time.thread_time()
        for _ in range(calls):
            fn()
        out.append((time.thread_time() - c0) / calls)
    return out


def atp_rows(net: BenchNetwork, budget: Budget, report: Report) -> list[Row]:
    snap = net.snapshot
    report("ATP: one SKU over 2,000 locations", 0.0)
    dense = dense_store(snap)
    web = dense.network.channel_index(CHANNEL)
    network = Scope()
    assert int(dense.generation.idx[3, AK.USED]) == 2_000
    loops = _per_call_loops(lambda: dense.atp(3, web, Method.SHIP, network), budget.atp_calls, budget.atp_loops)
    p50, p99 = percentiles(loops, 1e6)
    one = Row(
        key="atp.one_sku_2000_locations",
        suite="atp",
        title="network ATP of one SKU stocked at 2,000 locations, in-process",
        unit="µs CPU a call",
        higher_is_better=False,
        figure=p50,
        p50=p50,
        p99=p99,
        latency_unit="µs (loops)",
        goals=(Goal("figure", "<", 3.0, "< 3 µs"),),
        detail={"calls_per_loop": budget.atp_calls, "loops": budget.atp_loops, "calls_per_s": round(1 / (p50 / 1e6))},
    )

    report("ATP: 10,000 random SKUs a call", 0.5)
    store = StockStore.from_snapshot(snap)
    web = store.network.channel_index(CHANNEL)
    n_sku = len(store.skus)
    rng = np.random.default_rng(net.seed)
    draws = [rng.integers(0, n_sku, 10_000) for _ in range(budget.atp_draws + 2)]
    for d in draws[:2]:  # caches and kernels warm
        store.atp_many(d, web, Method.SHIP, network)
    times = []
    for d in draws[2:]:
        c0 = time.thread_time()
        store.atp_many(d, web, Method.SHIP, network)
        times.append(time.thread_time() - c0)
    p50, p99 = percentiles(times, 1e3)
    big = snap.positions >= LARGE_POSITIONS
    many = Row(
        key="atp.many_10k_skus",
        suite="atp",
        title=f"network ATP of 10,000 random SKUs in one call ({snap.positions / 1e6:.1f}M positions), in-process",
        unit="SKUs/s",
        higher_is_better=True,
        figure=round(10_000 / (p50 / 1e3)),
        p50=p50,
        p99=p99,
        latency_unit="ms CPU a call",
        goals=(Goal("p50", "<", 5.0, "p50 < 5 ms", applies=big, scale="at 50M positions"),),
        detail={"calls": budget.atp_draws, "positions": snap.positions},
    )
    return [one, many]


def memory_ledger_rows(net: BenchNetwork, places: list[Place], budget: Budget, report: Report) -> list[Row]:
    snap = net.snapshot
    ledger = MemoryLedger(StockStore.from_snapshot(snap))
    # holds first: every hold is given back, while stock events move stock away from the places picked
    report("embedded ledger: one-line holds", 0.0)
    reserve, cycle = hold_cycles(ledger, places, budget.hold_cycles, "bench-mem")
    wall, _ = hold_cycles(ledger, places, budget.hold_cycles // 5, "bench-mem-wall", time.perf_counter)
    p50, p99 = percentiles(reserve, 1e6)
    holds = Row(
        key="holds.memory",
        suite="ledger",
        title="one-line holds on the embedded ledger (reserve, then release), in-process",
        unit="holds/s (CPU)",
        higher_is_better=True,
        figure=round(len(reserve) / sum(reserve)),
        p50=p50,
        p99=p99,
        latency_unit="µs CPU a reserve",
        detail={
            "holds": len(reserve),
            "cycles_per_s_cpu": round(len(cycle) / sum(cycle)),
            "holds_per_s_wall": round(len(wall) / sum(wall)),  # a fifth as many, timed by the clock
        },
    )

    report("embedded ledger: stock events", 0.5)
    batches = stock_event_batches(snap, budget.event_batches + 1, EVENT_BATCH, net.seed, "bench-mem")
    ledger.apply_stock_events(batches[0])  # warm-up
    walls = []
    cpus = []
    for b in batches[1:]:
        c0, w0 = time.thread_time(), time.perf_counter()
        ledger.apply_stock_events(b)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.thread_time() - c0)
    n_events = EVENT_BATCH * len(walls)
    p50, p99 = percentiles(cpus, 1e3)
    events = Row(
        key="events.memory",
        suite="ledger",
        title=f"stock events on the embedded ledger, batches of {EVENT_BATCH:,}, in-process",
        unit="events/s (CPU)",
        higher_is_better=True,
        figure=round(n_events / sum(cpus)),
        p50=p50,
        p99=p99,
        latency_unit="ms CPU a batch",
        goals=(Goal("figure", ">=", 200_000, "≥ 200,000/s"),),
        detail={"events": n_events, "events_per_s_wall": round(n_events / sum(walls))},
    )
    return [events, holds]


def hold_cycles(
    ledger: Ledger, places: list[Place], n: int, tag: str, clock: Callable[[], float] = time.thread_time
) -> tuple[list[float], list[float]]:
    """`n` one-line holds of one unit, each reserved then released under a new id, round robin over the
    places; seconds (of `clock`) of each reserve and of each whole cycle. A tenth as many first, untimed."""
    res: list[float] = []
    cyc: list[float] = []
    warm = max(20, n // 10)
    for k in range(warm + n):
        p = places[k % len(places)]
        req = ReserveRequest(f"{tag}-{k}", CHANNEL, (HoldLine(p.sku, 1, location=p.location),))
        t0 = clock()
        ledger.reserve(req)
        t1 = clock()
        ledger.release(req.reservation_id)
        t2 = clock()
        if k >= warm:
            res.append(t1 - t0)
            cyc.append(t2 - t0)
    return res, cyc


def routing_rows(net: BenchNetwork, budget: Budget, report: Report) -> list[Row]:
    report("routing one order at a time", 0.0)
    store = StockStore.from_snapshot(net.snapshot)
    orders = sample_orders(store, budget.routing_orders + budget.routing_warmup, net.seed)
    cpu: list[float] = []
    wall: list[float] = []
    solvers: dict[str, int] = {}
    for i, o in enumerate(orders):
        c0, w0 = time.thread_time(), time.perf_counter()
        r = solve(build_problem(store, o))
        c1, w1 = time.thread_time(), time.perf_counter()
        if i >= budget.routing_warmup:
            cpu.append(c1 - c0)
            wall.append(w1 - w0)
            solvers[r.solver] = solvers.get(r.solver, 0) + 1
    p50, p99 = percentiles(cpu, 1e3)
    locations = len(net.snapshot.locations)
    at_scale = locations >= ROUTING_LOCATIONS
    scale = f"at {ROUTING_LOCATIONS:,} locations"
    wall50, wall99 = percentiles(wall, 1e3)
    return [
        Row(
            key="routing.single",
            suite="routing",
            title=f"routing one order of 1-10 lines over {locations:,} locations (policy optimal), in-process",
            unit="ms CPU p50",
            higher_is_better=False,
            figure=p50,
            p50=p50,
            p99=p99,
            latency_unit="ms CPU an order",
            goals=(
                Goal("p50", "<", 5.0, "p50 < 5 ms", applies=at_scale, scale=scale),
                Goal("p99", "<", 25.0, "p99 < 25 ms", applies=at_scale, scale=scale),
            ),
            detail={"orders": len(cpu), "wall_ms_p50": wall50, "wall_ms_p99": wall99, "solver": solvers},
        )
    ]


def quote_rows(net: BenchNetwork, budget: Budget, report: Report) -> list[Row]:
    report("checkout quotes of 5-line carts", 0.0)
    store = StockStore.from_snapshot(net.snapshot)
    carts = sample_orders(store, budget.quote_carts + 5, net.seed + 1, lines=5)
    methods = (*SHIP_METHODS, *STORE_METHODS)
    cpu = []
    for i, o in enumerate(carts):
        c0 = time.thread_time()
        quote_fulfillment_options(store, o.lines, o.destination, channel=o.channel, now=PLACED_AT, methods=methods)
        if i >= 5:
            cpu.append(time.thread_time() - c0)
    p50, p99 = percentiles(cpu, 1e3)
    return [
        Row(
            key="quote.cart_5_lines",
            suite="quote",
            title="checkout quote of a 5-line cart, every method (ship levels, pickup and curbside stores)",
            unit="ms CPU p50",
            higher_is_better=False,
            figure=p50,
            p50=p50,
            p99=p99,
            latency_unit="ms CPU a quote",
            goals=(Goal("p50", "<", 10.0, "p50 < 10 ms"),),
            detail={"carts": len(cpu), "methods": [m.value for m in methods]},
        )
    ]


def batch_rows(net: BenchNetwork, budget: Budget, report: Report) -> list[Row]:
    n = budget.batch_orders
    report(f"routing a wave of {n:,} orders jointly", 0.0)
    store = StockStore.from_snapshot(net.snapshot)
    orders = sample_orders(store, n, net.seed + 2)
    t0 = time.perf_counter()
    result: BatchResult = solve_batch(
        store, orders, time_limit_s=budget.batch_time_limit_s, seed=net.seed, lp_relaxation=True
    )
    wall = time.perf_counter() - t0
    joint = result.totals
    fewest = result.sequential_by("fewest_shipments")
    seq_optimal = result.sequential_by("optimal")
    saving = round(100 * (1 - joint.cost / fewest.totals.cost), 2) if fewest and fewest.totals.cost else None
    lp_gap, lagrangian_gap = (
        None if gap is None else round(100 * gap, 3)
        for gap in (result.gap_to(result.lp_bound), result.gap_to(result.lagrangian_bound))
    )
    seq_cost = seq_optimal.totals.cost if seq_optimal else 0
    detail = {
        "orders": n,
        "joint_cost": joint.cost,
        "sequential_cost": {s.policy: s.totals.cost for s in result.sequential},
        "saving_vs_sequential_optimal_pct": round(100 * (1 - joint.cost / seq_cost), 3) if seq_cost else None,
        "solver": result.solver,
        "solver_status": result.solver_status,
        "timed_out": result.timed_out,
        "time_limit_s": budget.batch_time_limit_s,
        "lp_time_s": round(result.lp_time_s, 2),
        "gap_to_lagrangian_bound_pct": lagrangian_gap,
        "call_wall_s": round(wall, 2),
    }
    seconds = round(result.time_s - result.lp_time_s, 2)  # the LP relaxation is solved for the record only
    title = f"a wave of {n:,} orders on {len(net.snapshot.locations):,} locations, routed jointly"
    return [
        Row(
            key="batch.wave_time",
            suite="batch",
            title=title + ": wall time (without the LP bound)",
            unit="s",
            higher_is_better=False,
            figure=seconds,
            goals=(Goal("figure", "<", 10.0, "< 10 s", applies=n >= 1_000, scale="for 1,000 orders"),),
            detail=detail,
        ),
        Row(
            key="batch.saving_vs_fewest_shipments",
            suite="batch",
            title=title + ": cost saved against sequential fewest_shipments",
            unit="%",
            higher_is_better=True,
            figure=saving,
            ratio=round(joint.cost / fewest.totals.cost, 4) if fewest and fewest.totals.cost else None,
            ratio_of="joint cost / sequential fewest_shipments' cost",
            goals=(Goal("figure", ">=", 10.0, "≥ 10%"),),
            skipped="" if saving is not None else "skipped: sequential fewest_shipments shipped nothing to compare",
        ),
        Row(
            key="batch.lp_gap",
            suite="batch",
            title=title + ": gap to the LP relaxation's bound",
            unit="%",
            higher_is_better=False,
            figure=lp_gap,
            goals=(Goal("figure", "<=", 1.0, "≤ 1%"),),
            skipped="" if lp_gap is not None else f"skipped: no LP bound ({result.message or result.solver_status})",
        ),
        Row(
            key="batch.lagrangian_gap",
            suite="batch",
            title=title + ": gap to the Lagrangian bound at the LP's prices",
            unit="%",
            higher_is_better=False,
            figure=lagrangian_gap,
            skipped="" if lagrangian_gap is not None else "skipped: no Lagrangian bound (no LP optimum)",
        ),
    ]
