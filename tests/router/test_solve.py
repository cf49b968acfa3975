"""The optimiser, constraint by constraint, on the Boston network (see scenarios.boston_locations).

Costs with the default cost model, 500 g units, a shopper in Boston (F: fixed cost of a shipment, u: cost
per unit): DC-EAST F 750 u 35, arrives in 2 days; ST-BOS F 1150 u 100, 1 day; ST-NYC F 1370 u 115, 2
days; ST-CHI F 1650 u 135, 4 days; DC-WEST F 1520 u 90, 7 days. Every shipment after the first adds 500;
each unit taken inside a store's protection level (2 units above its safety stock of 1) adds 400.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from ortools.sat.python import cp_model

from availability import InvalidArgument, StockStore
from router import (
    CostModel,
    Destination,
    RoutingResult,
    SolveStatus,
    UnfulfilledReason,
    build_problem,
    plan_cost,
    route,
    solve,
)
from router.model import DeliveryMethod
from tests.router.scenarios import ORDER_DAY, boston, demo_orders, order, plan_of


def shipped(result: RoutingResult) -> dict[tuple[str, str], int]:
    return result.shipped()


def both_ways(store: StockStore, o: object, **kwargs: object) -> RoutingResult:
    """Solve with and without the bound's fast path; both must agree on the cost and the plan's validity."""
    problem = build_problem(store, o, **kwargs)  # type: ignore[arg-type]
    fast = solve(problem)
    model = solve(problem, fast_path=False)
    assert model.solver in ("cp-sat", "none")
    assert (fast.status, fast.total_cost) == (model.status, model.total_cost)
    return fast


def test_one_location_with_everything_ships_alone_from_the_cheapest() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 5, ("A", "DC-WEST"): 5})
    r = both_ways(store, order(("A", 2)))
    assert r.status is SolveStatus.OPTIMAL
    assert shipped(r) == {("DC-EAST", "A"): 2}
    (s,) = r.shipments
    assert (s.cost.parcel, s.cost.weight, s.cost.handling, s.cost.extra_shipment) == (600, 30, 190, 0)
    assert r.total_cost == 820
    assert (s.ship_date, s.delivery_date) == (date(2026, 1, 6), date(2026, 1, 7))


def test_lines_no_single_location_has_are_split() -> None:
    store = boston({("A", "DC-EAST"): 5, ("B", "ST-NYC"): 5})
    r = both_ways(store, order(("A", 1), ("B", 1)))
    assert shipped(r) == {("DC-EAST", "A"): 1, ("ST-NYC", "B"): 1}
    assert r.total_cost == 785 + 1485 + 500
    assert sorted(s.cost.extra_shipment for s in r.shipments) == [0, 500]
    assert r.cost.extra_shipment == 500


@pytest.mark.parametrize(("extra", "plan"), [(500, "split"), (1000, "single")])
def test_the_extra_shipment_cost_decides_between_a_split_and_one_far_parcel(extra: int, plan: str) -> None:
    store = boston(
        {("A", "DC-EAST"): 5, ("B", "ST-BOS"): 10, ("A", "DC-WEST"): 5, ("B", "DC-WEST"): 5},
        weights={"A": 5000, "B": 5000},
    )
    model = CostModel(extra_shipment_cost=extra)
    r = both_ways(store, order(("A", 1), ("B", 1)), cost_model=model)
    if plan == "split":
        assert shipped(r) == {("DC-EAST", "A"): 1, ("ST-BOS", "B"): 1}
        assert r.total_cost == 920 + 1385 + 500
        assert "single shipment from DC-WEST: 2.45 more" in r.explanation
    else:
        assert shipped(r) == {("DC-WEST", "A"): 1, ("DC-WEST", "B"): 1}
        assert r.total_cost == 3050


@pytest.mark.parametrize(("penalty", "where"), [(400, "DC-WEST"), (0, "ST-BOS")])
def test_protection_penalty_keeps_walk_in_stock(penalty: int, where: str) -> None:
    # ST-BOS: 3 on hand, ATP 2, both units inside its protection level
    store = boston({("A", "ST-BOS"): 3, ("A", "DC-WEST"): 5})
    r = both_ways(store, order(("A", 1)), cost_model=CostModel(protection_penalty_per_unit=penalty))
    assert shipped(r) == {(where, "A"): 1}
    if where == "ST-BOS":
        assert r.total_cost == 1250 and r.cost.protection == 0


def test_protection_penalty_is_charged_per_unit_below_the_level() -> None:
    store = boston({("A", "DC-EAST"): 3, ("A", "ST-NYC"): 10})
    r = both_ways(store, order(("A", 12)))
    assert shipped(r) == {("DC-EAST", "A"): 3, ("ST-NYC", "A"): 9}  # all there is (NYC: 10 - safety 1)
    assert r.cost.protection == 2 * 400  # NYC's last 2 units are inside its protection level
    assert r.total_cost == (750 + 3 * 35) + (1370 + 9 * 115 + 800) + 500


def test_never_more_than_a_locations_atp() -> None:
    store = boston({("A", "DC-EAST"): 3, ("A", "ST-NYC"): 10})
    r = both_ways(store, order(("A", 5)))
    assert shipped(r) == {("ST-NYC", "A"): 5}  # 1945, against 2955 for 3 + 2
    r = both_ways(store, order(("A", 13), allow_partial=True))
    assert shipped(r) == {("DC-EAST", "A"): 3, ("ST-NYC", "A"): 9}
    (u,) = r.unfulfilled
    assert (u.missing, u.reason) == (1, UnfulfilledReason.NO_STOCK)


def test_capacity_is_hard() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 5, ("A", "DC-WEST"): 5})
    r = both_ways(store, order(("A", 2)), capacity_left={"DC-EAST": 0})
    assert shipped(r) == {("ST-NYC", "A"): 2}
    only = boston({("A", "DC-EAST"): 5})
    r = both_ways(only, order(("A", 2)), capacity_left={"DC-EAST": 0})
    assert r.status is SolveStatus.INFEASIBLE and r.shipments == ()
    assert [u.reason for u in r.unfulfilled] == [UnfulfilledReason.CAPACITY]


def test_max_shipments() -> None:
    store = boston({("A", "DC-EAST"): 5, ("B", "ST-NYC"): 5})
    r = both_ways(store, order(("A", 1), ("B", 1), max_shipments=1))
    assert r.status is SolveStatus.INFEASIBLE and r.shipments == ()
    assert [(u.sku, u.reason) for u in r.unfulfilled] == [("B", UnfulfilledReason.MAX_SHIPMENTS)]
    assert "1 of 2 units can ship" in r.message
    r = both_ways(store, order(("A", 1), ("B", 1), max_shipments=1, allow_partial=True))
    assert r.status is SolveStatus.OPTIMAL
    assert shipped(r) == {("DC-EAST", "A"): 1}  # the cheaper of the two single shipments
    assert [(u.sku, u.missing, u.backordered) for u in r.unfulfilled] == [("B", 1, False)]


def test_deliver_by_is_hard() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "DC-WEST"): 5})
    r = both_ways(store, order(("A", 1), deliver_by=date(2026, 1, 7)))
    assert shipped(r) == {("DC-EAST", "A"): 1}
    west = boston({("A", "DC-WEST"): 5})
    r = both_ways(west, order(("A", 1), deliver_by=date(2026, 1, 9)))
    assert r.status is SolveStatus.INFEASIBLE
    assert [u.reason for u in r.unfulfilled] == [UnfulfilledReason.DELIVER_BY]


def test_a_deliver_by_date_nobody_can_meet() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "DC-WEST"): 5, ("B", "ST-NYC"): 5})
    r = both_ways(store, order(("A", 1), ("B", 1), deliver_by=ORDER_DAY, allow_partial=True))
    assert r.status is SolveStatus.INFEASIBLE
    assert r.shipments == () and r.message == "nothing can ship"
    assert [u.reason for u in r.unfulfilled] == [UnfulfilledReason.DELIVER_BY] * 2
    assert "after the deliver-by date" not in r.explanation  # nothing was chosen, nothing to compare


def test_excluded_locations() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 5})
    r = both_ways(store, order(("A", 1), excluded_locations=("DC-EAST",)))
    assert shipped(r) == {("ST-NYC", "A"): 1}
    assert "DC-EAST is excluded" in r.explanation
    r = both_ways(store, order(("A", 1), excluded_locations=("DC-EAST", "ST-NYC")))
    assert [u.reason for u in r.unfulfilled] == [UnfulfilledReason.EXCLUDED]


def test_unknown_skus_and_shortfalls_with_partial_and_backorder() -> None:
    store = boston({("A", "DC-EAST"): 5})
    r = both_ways(store, order(("A", 1), ("GHOST", 2), ("A2", 1), allow_partial=True))
    assert r.status is SolveStatus.OPTIMAL and shipped(r) == {("DC-EAST", "A"): 1}
    assert [(u.sku, u.reason, u.missing, u.backordered) for u in r.unfulfilled] == [
        ("GHOST", UnfulfilledReason.UNKNOWN_SKU, 2, False),
        ("A2", UnfulfilledReason.UNKNOWN_SKU, 1, False),
    ]
    r = both_ways(store, order(("A", 7), allow_backorder=True))
    assert shipped(r) == {("DC-EAST", "A"): 5}
    assert [(u.reason, u.missing, u.backordered) for u in r.unfulfilled] == [(UnfulfilledReason.NO_STOCK, 2, True)]
    r = both_ways(store, order(("A", 7)))
    assert r.status is SolveStatus.INFEASIBLE and r.cost.total == 0


def test_same_day_from_the_cheapest_local_location() -> None:
    store = boston({("A", "ST-BOS"): 10, ("A", "DK-BOS"): 10, ("A", "DC-EAST"): 10})
    r = both_ways(store, order(("A", 1), method=DeliveryMethod.SAME_DAY))
    assert shipped(r) == {("DK-BOS", "A"): 1}
    (s,) = r.shipments
    assert s.ship_date == s.delivery_date == ORDER_DAY


def test_pickup_and_curbside_serve_from_the_store() -> None:
    store = boston({("A", "ST-BOS"): 10, ("A", "DC-EAST"): 10, ("B", "DC-EAST"): 10})
    for method in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
        r = both_ways(store, order(("A", 2), method=method, destination=Destination.at_store("ST-BOS")))
        assert shipped(r) == {("ST-BOS", "A"): 2}
        assert r.total_cost == 550 + 2 * 85 and r.shipments[0].delivery_date == ORDER_DAY
    r = both_ways(store, order(("B", 1), method=DeliveryMethod.PICKUP, destination=Destination.at_store("ST-BOS")))
    assert [u.reason for u in r.unfulfilled] == [UnfulfilledReason.NO_STOCK]


def test_express_arrives_sooner_and_costs_more() -> None:
    store = boston({("A", "DC-WEST"): 5})
    std = both_ways(store, order(("A", 1)))
    exp = both_ways(store, order(("A", 1), method=DeliveryMethod.EXPRESS))
    assert (std.shipments[0].delivery_date - ORDER_DAY).days == 7
    assert (exp.shipments[0].delivery_date - ORDER_DAY).days == 4
    assert exp.total_cost > std.total_cost


def test_ring_fenced_stock_is_capped_by_the_network_figure() -> None:
    store = boston({("A", "DC-EAST"): 10, ("A", "DC-WEST"): 10}, allocations=[("A", "app", 15, 0)])
    r = both_ways(store, order(("A", 8), allow_partial=True))
    assert sum(s.units for s in r.shipments) == 5
    assert [u.missing for u in r.unfulfilled] == [3]


def test_explanation_names_what_is_missing() -> None:
    store = boston({("A", "DC-EAST"): 5, ("B", "ST-NYC"): 5, ("A", "ST-BOS"): 9})
    r = both_ways(store, order(("A", 1), ("B", 1)))
    assert "ST-BOS lacks B" in r.explanation
    assert all(a.extra_cost is None for a in r.alternatives)


def test_same_seed_same_answer(demo_store: StockStore) -> None:
    for o in demo_orders(demo_store, 12, seed=5):
        p = build_problem(demo_store, o)
        a = solve(p, seed=3, fast_path=False)
        b = solve(build_problem(demo_store, o), seed=3, fast_path=False)
        assert replace(a, solve_time_s=0) == replace(b, solve_time_s=0)


def test_time_out_without_a_solution_answers_the_greedy_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    store = boston({("A", "DC-EAST"): 5, ("B", "ST-NYC"): 5, ("A", "ST-BOS"): 9, ("B", "ST-BOS"): 9})
    problem = build_problem(store, order(("A", 1), ("B", 1)))
    monkeypatch.setattr(cp_model.CpSolver, "solve", lambda self, model, *a, **k: cp_model.UNKNOWN)
    r = solve(problem, fast_path=False)
    assert r.status is SolveStatus.FEASIBLE and r.timed_out and r.solver == "cp-sat"
    assert "time limit" in r.message
    assert sum(s.units for s in r.shipments) == 2


def test_short_time_limits_still_answer_a_valid_plan(demo_store: StockStore) -> None:
    for o in demo_orders(demo_store, 5, seed=11, lines=10):
        p = build_problem(demo_store, o)
        r = solve(p, time_limit_s=1e-4, fast_path=False)
        assert r.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.INFEASIBLE)
        if r.status is SolveStatus.FEASIBLE:
            assert r.timed_out and "time limit" in r.message


def test_bad_arguments() -> None:
    p = build_problem(boston({("A", "DC-EAST"): 5}), order(("A", 1)))
    with pytest.raises(InvalidArgument, match="time_limit_s"):
        solve(p, time_limit_s=0)
    with pytest.raises(InvalidArgument, match="seed"):
        solve(p, seed=-1)
    with pytest.raises(InvalidArgument, match="limit"):
        solve(p, limit=0)
    with pytest.raises(InvalidArgument, match="policy"):
        route(p, policy="cheapest")


def test_costs_reported_are_the_plans_costs(demo_store: StockStore) -> None:
    for o in demo_orders(demo_store, 10, seed=2):
        p = build_problem(demo_store, o)
        r = solve(p)
        if r.shipments:
            assert r.total_cost == plan_cost(p, plan_of(p, r))
            assert r.total_cost == sum(s.cost.total for s in r.shipments)
            assert np.all(plan_of(p, r) <= p.atp)


def test_absurd_quantities_are_refused_not_overflowed() -> None:
    store = boston({("A", "DC-EAST"): 1_000_000_000, ("B", "ST-NYC"): 1_000_000_000})
    problem = build_problem(store, order(("A", 1_000_000_000), ("B", 1_000_000_000), allow_partial=True))
    with pytest.raises(InvalidArgument, match=r"lines\.quantity"):
        solve(problem, fast_path=False)
