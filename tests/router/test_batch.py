"""Joint batch routing (router.solve_batch): shared stock and capacity across the orders of a wave.

Scenarios on the Boston network (tests/router/scenarios.py; costs in test_solve.py's docstring: DC-EAST
F 750 u 35, ST-NYC F 1370 u 115, every extra shipment 500), properties over random tiny networks
(hypothesis), and a batch of demo orders on the generated network.
"""

from __future__ import annotations

import time as time_module
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from availability import InvalidArgument, Location, LocationType, Method, StockStore
from router import (
    BatchResult,
    Order,
    OrderLine,
    RoutingOptions,
    RoutingResult,
    SolveStatus,
    UnfulfilledReason,
    build_problem,
    compute_bounds,
    plan_violations,
    solve,
    solve_batch,
)
from router import batch as B
from router._mip import LinearModel, lagrangian_bound, solve_model
from router.greedy import plan_cost_greedy
from router.network import DEFAULT_COST_MODEL
from router.solve import solve_with_bounds
from tests.router.scenarios import BOSTON, PLACED_AT, boston, demo_orders, order, plan_of
from tests.scenarios import Stock, snapshot_of

SPOTS = [(42.05, -71.45), (40.71, -74.0), (41.88, -87.63), (34.05, -118.24), (42.36, -71.06)]
SKUS = ("A", "B", "C")


def named(o: Order, order_id: str) -> Order:
    return replace(o, order_id=order_id)


def shipped(result: RoutingResult) -> dict[tuple[str, str], int]:
    return result.shipped()


def units(results: Sequence[RoutingResult]) -> int:
    return sum(s.units for r in results for s in r.shipments)


def check_batch(
    store: StockStore,
    orders: Sequence[Order],
    result: BatchResult,
    capacity_left: Mapping[str, int] | None = None,
) -> None:
    """Every invariant a batch answer (joint and each sequential routing) must keep: per (sku, location)
    never more than the ATP the batch read, per location never more shipments than capacity left, every
    plan valid for its order alone (exclusions, dates, shipment limit, its own ATP), and every result
    saying exactly what it ships and what it does not."""
    problems = [build_problem(store, o, capacity_left=capacity_left) for o in orders]
    atp: dict[tuple[str, str], int] = {}
    capacity: dict[str, int] = {}
    for p in problems:
        for row, lid in enumerate(p.location_ids):
            capacity[lid] = int(p.capacity[row])
            for j, sku in enumerate(p.line_skus):
                atp[(lid, sku)] = max(atp.get((lid, sku), 0), int(p.raw_atp[row, j]))
    for results in (result.results, *(s.results for s in result.sequential)):
        assert [r.order_id for r in results] == [o.order_id for o in orders]
        taken: Counter[tuple[str, str]] = Counter()
        shipments: Counter[str] = Counter()
        for p, r in zip(problems, results, strict=True):
            x = plan_of(p, r)
            assert plan_violations(p, x) == []
            missing = {u.line: u.missing for u in r.unfulfilled}
            if r.status is SolveStatus.INFEASIBLE:
                assert r.shipments == () and r.unfulfilled
            else:
                for j in range(p.lines):
                    assert int(x[:, j].sum()) + missing.get(j, 0) == int(p.requested[j])
                assert r.total_cost == sum(s.cost.total for s in r.shipments)
            taken.update(r.shipped())
            shipments.update(s.location for s in r.shipments)
        assert all(q <= atp[key] for key, q in taken.items()), (taken, atp)
        assert all(n <= capacity[lid] for lid, n in shipments.items()), (shipments, capacity)
    totals = result.totals
    assert totals.cost == sum(r.total_cost for r in result.results)
    assert totals.units_shipped == units(result.results)
    assert totals.units_shipped + totals.units_unfulfilled == sum(ln.quantity for o in orders for ln in o.lines)
    assert totals.shipments == sum(len(r.shipments) for r in result.results)


def check_never_worse_than_sequential(result: BatchResult) -> None:
    """The joint plan ships at least the sequential optimal routing's units, and at most its cost when it
    ships as many."""
    seq = result.sequential_by("optimal")
    assert seq is not None
    assert result.totals.units_shipped >= seq.totals.units_shipped
    if result.totals.units_shipped == seq.totals.units_shipped:
        assert result.totals.cost <= seq.totals.cost


# ------------------------------------------------------------------------------------------ scenarios


def test_joint_routing_gives_the_scarce_cheap_stock_to_the_order_that_needs_it() -> None:
    """DC-EAST has one A and plenty of B. Order 1 wants A; order 2 wants A and B. In sequence, order 1
    takes DC-EAST's A and order 2 splits (A from ST-NYC, B from DC-EAST); jointly, order 1 takes A from
    ST-NYC and order 2 ships whole from DC-EAST."""
    store = boston({("A", "DC-EAST"): 1, ("B", "DC-EAST"): 5, ("A", "ST-NYC"): 6})
    orders = [named(order(("A", 1)), "O-1"), named(order(("A", 1), ("B", 1)), "O-2")]
    result = solve_batch(store, orders, time_limit_s=5)
    check_batch(store, orders, result)
    one, two = result.results
    assert shipped(one) == {("ST-NYC", "A"): 1}
    assert shipped(two) == {("DC-EAST", "A"): 1, ("DC-EAST", "B"): 1}
    assert result.totals.cost == (1370 + 115) + (750 + 2 * 35)
    seq = result.sequential_by("optimal")
    assert seq is not None
    assert shipped(seq.results[0]) == {("DC-EAST", "A"): 1}
    assert seq.totals.cost == (750 + 35) + (1370 + 115) + (750 + 35) + 500
    assert result.status is SolveStatus.OPTIMAL and result.solver == "highs"
    assert result.gap is not None and result.gap <= 1e-4
    assert result.bound is not None and result.bound <= result.totals.cost
    assert result.totals.extra_shipments == 0 and seq.totals.extra_shipments == 1
    # each order's answer is that of a single order, FEASIBLE with the batch's gap
    assert all(r.status is SolveStatus.FEASIBLE and r.solver == "highs" for r in result.results)
    assert all(r.gap == result.gap for r in result.results)


def test_capacity_exhausted_mid_batch_goes_where_it_saves_most() -> None:
    """DC-EAST can take one more shipment today. Two orders would both like it; the second (two lines)
    saves more there, so jointly it gets DC-EAST and the first goes to ST-NYC. In sequence the first takes
    it and the second finds DC-EAST without capacity."""
    store = boston({("A", "DC-EAST"): 5, ("B", "DC-EAST"): 5, ("A", "ST-NYC"): 6, ("B", "ST-NYC"): 6})
    orders = [named(order(("A", 1)), "O-1"), named(order(("A", 1), ("B", 1)), "O-2")]
    capacity = {"DC-EAST": 1}
    result = solve_batch(store, orders, capacity_left=capacity, time_limit_s=5)
    check_batch(store, orders, result, capacity)
    check_never_worse_than_sequential(result)
    assert shipped(result.results[1]) == {("DC-EAST", "A"): 1, ("DC-EAST", "B"): 1}
    assert shipped(result.results[0]) == {("ST-NYC", "A"): 1}
    seq = result.sequential_by("optimal")
    assert seq is not None and shipped(seq.results[0]) == {("DC-EAST", "A"): 1}
    assert all(s.location == "ST-NYC" for s in seq.results[1].shipments)
    assert result.totals.cost < seq.totals.cost


def test_capacity_left_for_one_order_only_the_other_is_short_with_the_reason() -> None:
    store = boston({("A", "DC-EAST"): 5})
    orders = [
        named(order(("A", 1), allow_partial=True), "O-1"),
        named(order(("A", 2), allow_partial=True), "O-2"),
    ]
    result = solve_batch(store, orders, capacity_left={"DC-EAST": 1}, time_limit_s=5)
    check_batch(store, orders, result, {"DC-EAST": 1})
    # the most units ship first: the order for two gets the only shipment left
    one, two = result.results
    assert shipped(two) == {("DC-EAST", "A"): 2}
    assert one.status is SolveStatus.INFEASIBLE and one.shipments == ()
    assert [u.reason for u in one.unfulfilled] == [UnfulfilledReason.CAPACITY]
    assert result.totals.units_unfulfilled == 1


def test_an_all_or_nothing_order_is_dropped_whole_and_says_why() -> None:
    """Three A in the network; the first order wants two and accepts a shortfall, the second wants two and
    does not. Shipping the most units: the second gets its two, the first one."""
    store = boston({("A", "DC-EAST"): 3})
    orders = [
        named(order(("A", 2), allow_partial=True), "O-1"),
        named(order(("A", 2)), "O-2"),
        named(order(("A", 5)), "O-3"),  # more than the network has: infeasible on its own
    ]
    result = solve_batch(store, orders, time_limit_s=5)
    check_batch(store, orders, result)
    check_never_worse_than_sequential(result)
    one, two, three = result.results
    assert shipped(two) == {("DC-EAST", "A"): 2}
    assert shipped(one) == {("DC-EAST", "A"): 1}
    assert [(u.missing, u.reason) for u in one.unfulfilled] == [(1, UnfulfilledReason.NO_STOCK)]
    assert three.status is SolveStatus.INFEASIBLE
    assert [u.reason for u in three.unfulfilled] == [UnfulfilledReason.NO_STOCK]
    assert result.totals.orders_infeasible == 1 and result.totals.units_unfulfilled == 1 + 5


def test_each_orders_exclusions_and_shipment_limit_hold_in_the_batch() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 6, ("B", "ST-CHI"): 6, ("B", "DC-EAST"): 5})
    orders = [
        named(order(("A", 1), excluded_locations=("DC-EAST",)), "O-1"),
        named(order(("A", 1), ("B", 1), max_shipments=1), "O-2"),
    ]
    result = solve_batch(store, orders, time_limit_s=5)
    check_batch(store, orders, result)
    assert all(s.location != "DC-EAST" for s in result.results[0].shipments)
    assert len(result.results[1].shipments) == 1


def test_greedy_policies_route_the_batch_in_sequence() -> None:
    store = boston({("A", "DC-EAST"): 1, ("A", "ST-NYC"): 6, ("B", "DC-EAST"): 5})
    orders = [named(order(("A", 1)), "O-1"), named(order(("A", 1), ("B", 1)), "O-2")]
    result = solve_batch(store, orders, policy="nearest")
    check_batch(store, orders, result)
    assert result.solver == "sequential" and result.bound is None and result.model is None
    nearest = result.sequential_by("nearest")
    assert nearest is not None and nearest.results == result.results
    assert {s.policy for s in result.sequential} == {"nearest", "optimal", "fewest_shipments"}
    alone = solve_batch(store, orders, policy="nearest", compare_sequential=False)
    assert [s.policy for s in alone.sequential] == ["nearest"]


def test_nothing_can_ship() -> None:
    store = boston({("A", "DC-EAST"): 1})
    orders = [named(order(("Z", 1)), "O-1"), named(order(("A", 3)), "O-2")]
    result = solve_batch(store, orders, time_limit_s=5)
    assert result.status is SolveStatus.INFEASIBLE
    assert [r.status for r in result.results] == [SolveStatus.INFEASIBLE] * 2
    assert [u.reason for u in result.results[0].unfulfilled] == [UnfulfilledReason.UNKNOWN_SKU]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"orders": []}, "orders"),
        ({"orders": "O-1"}, "orders"),
        ({"orders": [order(("A", 1)), order(("A", 2))]}, "orders[1].order_id"),
        ({"orders": [order(("A", 1)), "not an order"]}, "orders[1]"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"time_limit_s": float("nan")}, "time_limit_s"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"policy": "cheapest"}, "policy"),
        ({"relative_gap": 1.0}, "relative_gap"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    store = boston({("A", "DC-EAST"): 1})
    args: dict[str, object] = {"orders": [order(("A", 1))], **kwargs}
    with pytest.raises(InvalidArgument) as err:
        solve_batch(store, **args)  # type: ignore[arg-type]
    assert err.value.field == field


# ------------------------------------------------------------------------------------------ properties


@dataclass(frozen=True)
class Case:
    store: StockStore
    orders: tuple[Order, ...]
    capacity: dict[str, int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """2-5 locations (DCs and stores) with 0-4 units of three SKUs each, some with little capacity left,
    and 2-5 orders from Boston competing for them: 1-3 lines of 1-3 units, random shipment limits,
    shortfall options and exclusions."""
    n_loc = draw(st.integers(2, 5))
    locations = []
    for i in range(n_loc):
        lat, lon = SPOTS[draw(st.integers(0, len(SPOTS) - 1))]
        locations.append(
            Location(
                id=f"L{i}",
                name=f"L{i}",
                type=draw(st.sampled_from([LocationType.DISTRIBUTION_CENTER, LocationType.STORE])),
                latitude=lat + 0.01 * i,
                longitude=lon,
                timezone="America/New_York",
                methods=frozenset({Method.SHIP}),
                channels=frozenset({"web"}),
                processing_hours=24,
                cutoff=time(15, 0),
                handling_cost_per_order=draw(st.integers(0, 600)),
                handling_cost_per_unit=draw(st.integers(0, 80)),
            )
        )
    on_hand = {(s, loc.id): draw(st.integers(0, 5)) for s in SKUS for loc in locations if draw(st.booleans())}
    store = StockStore.from_snapshot(snapshot_of(locations, Stock(on_hand=on_hand, skus=SKUS), channels=("web",)))
    orders = []
    for k in range(draw(st.integers(2, 5))):
        skus = draw(st.permutations(SKUS))[: draw(st.integers(1, 3))]
        options = RoutingOptions(
            max_shipments=draw(st.integers(0, 2)),
            allow_partial=draw(st.booleans()),
            excluded_locations=tuple(draw(st.sets(st.sampled_from([loc.id for loc in locations]), max_size=1))),
        )
        lines = tuple(OrderLine(s, draw(st.integers(1, 3))) for s in skus)
        orders.append(Order(f"P-{k}", "web", lines, BOSTON, placed_at=PLACED_AT, options=options))
    capacity = {loc.id: draw(st.integers(0, 2)) for loc in locations if draw(st.integers(0, 2)) == 0}
    return Case(store, tuple(orders), capacity)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_shared_stock_and_capacity_are_never_over_allocated(case: Case) -> None:
    result = solve_batch(case.store, case.orders, capacity_left=case.capacity, time_limit_s=10, lp_relaxation=True)
    check_batch(case.store, case.orders, result, case.capacity)
    check_never_worse_than_sequential(result)
    assert result.status is not SolveStatus.FEASIBLE or result.timed_out or result.gap is not None
    # both bounds hold for the answer itself (the LP's, on the cost alone given the units, may pass the
    # solver's, which counts missing units at M)
    if result.bound is not None:
        assert result.bound <= result.totals.cost + 1e-6
    if result.lp_bound is not None:
        assert result.lp_bound <= result.totals.cost + 1e-6
        gap = result.gap_to(result.lp_bound)
        assert gap is None or gap == pytest.approx((result.totals.cost - result.lp_bound) / result.totals.cost)
        assert result.lagrangian_bound is not None
        assert result.lp_bound - 1e-6 <= result.lagrangian_bound <= result.totals.cost + 1e-6


# ------------------------------------------------------------------------------------------ the LP bound


def _models(store: StockStore, orders: Sequence[Order], capacity: Mapping[str, int] | None = None) -> tuple[
    LinearModel, LinearModel]:  # fmt: skip
    """The joint model over every order that can ship (as the LP relaxation sees it), with and without
    the valid inequalities, from the sequential optimal plan."""
    problems, protection, _ = B._read(store, orders, DEFAULT_COST_MODEL, capacity, None)
    shared = B._share(problems, protection)
    index = {lid: i for i, lid in enumerate(problems[0].network_ids)}
    hint = B._route_sequentially(problems, shared, index, "optimal", 0)
    members = [o for o, p in enumerate(problems) if shared.fulfil[o].sum() > 0]
    rows = [B._own_candidates(p, np.flatnonzero(hint.plans[o].any(axis=1)))[0] for o, p in enumerate(problems)]
    plans = dict(enumerate(hint.plans))
    tight = B._build_joint(problems, shared, rows, members, plans, 0, 0).model
    plain = B._build_joint(problems, shared, rows, members, plans, 0, 0, inequalities=()).model
    return tight, plain


def _optimum(model: LinearModel, *, relax: bool) -> float:
    solution = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=relax)
    assert solution.optimal and solution.objective is not None
    return solution.objective


def test_flow_cover_and_shipment_count_rows_make_the_lp_bound_the_optimum() -> None:
    """Two A and one B from Boston; DC-EAST has one A and the B, ST-NYC has the A. Every plan ships from
    both (2,805: DC-EAST 750 + 2 x 35, ST-NYC 1,370 + 115 + 500). The plain LP relaxation opens DC-EAST
    and half of ST-NYC for the second A (its cap is 2): 1,870. The flow cover row (the A from DC-EAST is
    1 short of 2: ST-NYC must open) and the shipment counts (no single location ships it all) close it."""
    store = boston({("A", "DC-EAST"): 1, ("B", "DC-EAST"): 5, ("A", "ST-NYC"): 10})
    orders = [order(("A", 2), ("B", 1), allow_partial=True)]
    result = solve_batch(store, orders, time_limit_s=5, lp_relaxation=True)
    assert result.totals.cost == 750 + 2 * 35 + 1370 + 115 + 500
    assert result.lp_bound == pytest.approx(result.totals.cost)
    tight, plain = _models(store, orders)
    # one flow cover, one count, and each location essential (the other alone cannot ship the order)
    assert tight.constraints == plain.constraints + 4
    assert _optimum(plain, relax=True) == pytest.approx(1870)
    assert _optimum(tight, relax=True) == pytest.approx(2805)
    assert _optimum(plain, relax=False) == _optimum(tight, relax=False) == pytest.approx(2805)


def test_fewest_shipments_counts_pairs_of_two_different_locations() -> None:
    """Want 4 of one line: A holds 2, B 2, C 3. No single location ships it, A with B or C does: 2. With
    want 5, only B and C together (A with B is 4): 2. With only A and a 3rd location holding 1: A counted
    twice would reach 4, but no pair of different ones does, and all three: 3 (no bound: 0 if short)."""
    cases = [([2, 2, 3], 4, 2), ([2, 2, 3], 5, 2), ([2, 1, 1], 4, 3), ([2, 1], 4, 0), ([4, 1], 4, 1)]
    for held, want, fewest in cases:
        cap = np.asarray(held, dtype=np.int64)[:, None]
        want_a = np.asarray([want], dtype=np.int64)
        single, pair = B._covers(cap, want_a)
        assert not pair.diagonal().any()
        assert B._fewest_shipments(cap, want_a, single, pair) == fewest, (held, want)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_valid_rows_keep_every_plan_and_only_tighten_the_lp(case: Case) -> None:
    """On random tiny batches solved exactly: the same optimum with and without the valid inequalities,
    the LP relaxation with them between the plain one and the optimum, and the hint (a plan) keeps them."""
    if not any(build_problem(case.store, o, capacity_left=case.capacity).fulfillable().any() for o in case.orders):
        return
    tight, plain = _models(case.store, case.orders, case.capacity)
    assert tight.hint is not None and tight.violation(tight.hint) < 1e-9
    best = _optimum(tight, relax=False)
    assert best == pytest.approx(_optimum(plain, relax=False), abs=1e-6)
    assert _optimum(plain, relax=True) - 1e-6 <= _optimum(tight, relax=True) <= best + 1e-6


def test_valid_rows_keep_the_optimum_of_demo_orders(demo_store: StockStore) -> None:
    """Orders of the demo network, with their many candidate locations and lines: solved exactly, the same
    optimum with and without the valid inequalities; the LP relaxation with them tighter, and below it."""
    tight, plain = _models(demo_store, demo_orders(demo_store, 200, seed=9))
    best = _optimum(tight, relax=False)
    assert best == pytest.approx(_optimum(plain, relax=False), abs=1e-6)
    assert _optimum(plain, relax=True) + 1.0 < _optimum(tight, relax=True) <= best + 1e-6


def test_lagrangian_bound_closes_most_of_the_lp_gap_of_demo_orders(demo_store: StockStore) -> None:
    """200 demo orders (the joint model with its valid inequalities, solved exactly): the Lagrangian bound
    at the LP's prices lies between the LP relaxation and the optimum, and closes at least half of the
    gap between them here (each order's own integrality gap is most of it)."""
    tight, _ = _models(demo_store, demo_orders(demo_store, 200, seed=9))
    best = _optimum(tight, relax=False)
    relaxed = solve_model(tight, time_limit_s=10, seed=0, relative_gap=0.0, relax=True)
    assert relaxed.objective is not None
    bound = lagrangian_bound(tight, relaxed, time_limit_s=30, seed=0)
    assert bound is not None and bound.blocks == 200 and bound.solved > 0
    assert relaxed.objective + 1.0 < bound.bound <= best + 1e-6
    assert bound.bound - relaxed.objective >= 0.5 * (best - relaxed.objective)


def test_windowed_batch_bound_is_the_lagrangian_one_above_the_tightened_lp_below_the_plan(
    demo_store: StockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows forced small (WINDOW 12) on 60 demo orders with little capacity left, so that most of them
    compete: the batch's bound is then the Lagrangian one at the prices of the LP relaxation solved with
    the valid inequalities, so at least that LP's bound, itself above the plain LP relaxation over the
    same orders and plans here, and at most the plan's cost; the second pass's windows are drawn at
    random: other windows of the same orders."""
    orders = demo_orders(demo_store, 60, seed=4)
    capacity = {loc.id: 3 for loc in demo_store.network.locations}
    plain: list[float | None] = []
    passes: list[list[list[int]]] = []
    relaxation_bound, windows = B._relaxation_bound, B._windows

    def relaxation_bound_too_without(*args: Any, **kwargs: Any) -> tuple[float | None, float | None]:
        plain.append(relaxation_bound(*args, **{**kwargs, "inequalities": ()})[0])
        return relaxation_bound(*args, **kwargs)

    def recorded_windows(*args: Any, **kwargs: Any) -> list[list[int]]:
        passes.append(windows(*args, **kwargs))
        return passes[-1]

    monkeypatch.setattr(B, "WINDOW", 12)
    monkeypatch.setattr(B, "IMPROVEMENT_PASSES", 1)
    monkeypatch.setattr(B, "_relaxation_bound", relaxation_bound_too_without)
    monkeypatch.setattr(B, "_windows", recorded_windows)
    result = solve_batch(demo_store, orders, capacity_left=capacity, time_limit_s=30, seed=1, lp_relaxation=True)
    check_batch(demo_store, orders, result, capacity)
    check_never_worse_than_sequential(result)
    assert "windows of at most 12" in result.message and "(2 passes)" in result.message
    assert result.bound is not None and result.bound == result.lagrangian_bound
    assert result.lp_bound is not None and result.lp_bound <= result.bound <= result.totals.cost + 1e-6
    assert len(plain) == 1 and plain[0] is not None
    assert plain[0] + 1.0 < result.lp_bound
    first, second = passes
    assert len(first) > 2 and all(len(w) <= 12 for w in first)
    assert sorted(o for w in first for o in w) == sorted(o for w in second for o in w)
    assert len(second) == len(first) and all(len(w) <= 12 for w in second)
    assert sorted(first) != sorted(second)


def test_the_time_limit_is_the_calls_the_solver_has_what_the_hint_left(
    demo_store: StockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sequential routing (the hint) made 0.5 s slower: the joint solver, given a 2 s time limit for
    the call, is handed at most the 1.5 s left of it (no timing is asserted: only what the solver is given)."""
    orders = demo_orders(demo_store, 40, seed=4)
    capacity = {loc.id: 3 for loc in demo_store.network.locations}
    given: list[float] = []
    route_sequentially, solve = B._route_sequentially, solve_model

    def slow_hint(*args: Any, **kwargs: Any) -> Any:
        if args[3] == "optimal":
            time_module.sleep(0.5)
        return route_sequentially(*args, **kwargs)

    def recorded(model: LinearModel, **kwargs: Any) -> Any:
        if not kwargs.get("relax"):
            given.append(kwargs["time_limit_s"])
        return solve(model, **kwargs)

    monkeypatch.setattr(B, "_route_sequentially", slow_hint)
    monkeypatch.setattr(B, "solve_model", recorded)
    solve_batch(demo_store, orders, capacity_left=capacity, time_limit_s=2.0, seed=1, compare_sequential=False)
    assert given and given[0] <= 1.5


def test_solve_with_bounds_is_solve_and_its_bounds_are_the_orders_alone(demo_store: StockStore) -> None:
    """The batch reuses the bounds of the sequential routing's solves for the orders' candidates alone:
    they must be the ones _own_candidates would compute, and the plan the one `solve` answers."""
    for o in demo_orders(demo_store, 25, seed=5):
        problem = build_problem(demo_store, o)
        result, bounds = solve_with_bounds(problem, seed=0)
        assert result == replace(solve(problem, seed=0), solve_time_s=result.solve_time_s)
        fresh = compute_bounds(problem, plans=(plan_cost_greedy(problem),))
        for name in ("fulfil", "alone_ok", "alone_cost", "lower", "upper_plan"):
            assert np.array_equal(getattr(bounds, name), getattr(fresh, name)), name
        assert bounds.upper == fresh.upper


# ------------------------------------------------------------------------------------------ demo network


def test_demo_batch_is_valid_cheaper_than_the_baselines_and_deterministic(demo_store: StockStore) -> None:
    orders = demo_orders(demo_store, 60, seed=11)
    first = solve_batch(demo_store, orders, time_limit_s=20, seed=3)
    check_batch(demo_store, orders, first)
    check_never_worse_than_sequential(first)
    fewest = first.sequential_by("fewest_shipments")
    nearest = first.sequential_by("nearest")
    assert fewest is not None and nearest is not None
    assert first.totals.cost < fewest.totals.cost
    assert first.totals.extra_shipments < nearest.totals.extra_shipments
    assert first.model is not None and first.model.orders + first.model.fixed_orders <= len(orders)
    again = solve_batch(demo_store, orders, time_limit_s=20, seed=3)
    if not first.timed_out and not again.timed_out:
        assert [r.shipments for r in again.results] == [r.shipments for r in first.results]
        assert again.totals == first.totals


def test_each_order_answer_sees_what_the_batch_left_it() -> None:
    """The joint plan's reasons and costs are those of the stock the other orders left: the order that
    gets no A hears NO_STOCK, not that the network lacks it."""
    store = boston({("A", "DC-EAST"): 2})
    orders = [named(order(("A", 2), allow_partial=True), "O-1"), named(order(("A", 1), allow_partial=True), "O-2")]
    result = solve_batch(store, orders, time_limit_s=5)
    check_batch(store, orders, result)
    got = [units([r]) for r in result.results]
    assert sum(got) == 2
    short = [r for r in result.results if r.unfulfilled]
    assert short and all(u.reason is UnfulfilledReason.NO_STOCK for r in short for u in r.unfulfilled)
    assert np.isclose(result.totals.cost, sum(r.total_cost for r in result.results))
