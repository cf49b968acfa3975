"""The comparison policies: each one's documented semantics, and the registry."""

from __future__ import annotations

import pytest

from availability import InvalidArgument
from router import POLICIES, Policy, RoutingResult, SolveStatus, build_problem, get_policy, route, route_order
from tests.router.scenarios import PLACED_AT, boston, order


def plan(result: RoutingResult) -> dict[tuple[str, str], int]:
    return result.shipped()


def test_registry_holds_the_five_policies_checked_at_import() -> None:
    assert list(POLICIES) == ["optimal", "nearest", "priority", "high_stock", "fewest_shipments"]
    for name, policy in POLICIES.items():
        assert isinstance(policy, Policy) and policy.name == name and policy.description
    assert get_policy("nearest") is POLICIES["nearest"]
    with pytest.raises(InvalidArgument) as err:
        get_policy("cheapest")
    assert err.value.field == "policy"


def test_nearest_takes_each_line_from_the_closest_location_then_the_next() -> None:
    # ST-BOS (0 km) has ATP 2, DC-EAST (47 km) 5, ST-NYC (306 km) 9
    store = boston({("A", "ST-BOS"): 3, ("A", "DC-EAST"): 5, ("A", "ST-NYC"): 10, ("B", "ST-NYC"): 10})
    r = route(build_problem(store, order(("A", 4), ("B", 1))), policy="nearest")
    assert plan(r) == {("ST-BOS", "A"): 2, ("DC-EAST", "A"): 2, ("ST-NYC", "B"): 1}
    assert r.status is SolveStatus.FEASIBLE and r.solver == "greedy" and r.policy == "nearest"


def test_priority_takes_locations_in_ascending_priority_skipping_disabled_and_empty_ones() -> None:
    # priorities: DC-WEST 5, DC-EAST 10, ST-CHI 30, ST-NYC 40, ST-BOS 50; ST-OFF is disabled (priority 50)
    store = boston({("A", "DC-WEST"): 0, ("A", "DC-EAST"): 2, ("A", "ST-NYC"): 10, ("A", "ST-OFF"): 50})
    r = route(build_problem(store, order(("A", 5))), policy="priority")
    assert plan(r) == {("DC-EAST", "A"): 2, ("ST-NYC", "A"): 3}


def test_high_stock_takes_each_line_from_the_location_with_the_most_first() -> None:
    store = boston({("A", "DC-EAST"): 3, ("A", "ST-NYC"): 10, ("A", "ST-CHI"): 6})
    r = route(build_problem(store, order(("A", 2))), policy="high_stock")
    assert plan(r) == {("ST-NYC", "A"): 2}
    r = route(build_problem(store, order(("A", 12))), policy="high_stock")
    assert plan(r) == {("ST-NYC", "A"): 9, ("ST-CHI", "A"): 3}


def test_fewest_shipments_prefers_one_location_for_the_whole_order_nearest_first() -> None:
    store = boston(
        {("A", "ST-BOS"): 5, ("A", "DC-WEST"): 5, ("B", "DC-WEST"): 5, ("B", "DC-EAST"): 5,
         ("A", "ST-CHI"): 5, ("B", "ST-CHI"): 5}
    )  # fmt: skip
    r = route(build_problem(store, order(("A", 1), ("B", 1))), policy="fewest_shipments")
    assert plan(r) == {("ST-CHI", "A"): 1, ("ST-CHI", "B"): 1}  # Chicago is nearer than Los Angeles


def test_fewest_shipments_without_a_whole_order_location_covers_the_most_first() -> None:
    store = boston({("A", "DC-EAST"): 5, ("B", "DC-EAST"): 5, ("C", "ST-NYC"): 5, ("A", "ST-BOS"): 5})
    r = route(build_problem(store, order(("A", 1), ("B", 1), ("C", 1))), policy="fewest_shipments")
    assert plan(r) == {("DC-EAST", "A"): 1, ("DC-EAST", "B"): 1, ("ST-NYC", "C"): 1}


@pytest.mark.parametrize("name", ["nearest", "priority", "high_stock", "fewest_shipments"])
def test_baselines_keep_the_hard_constraints(name: str) -> None:
    store = boston({("A", "ST-BOS"): 3, ("A", "DC-EAST"): 5, ("B", "ST-NYC"): 10, ("B", "DC-WEST"): 5})
    o = order(("A", 1), ("B", 1), max_shipments=1, allow_partial=True, excluded_locations=("DC-WEST",))
    r = route(build_problem(store, o, capacity_left={"ST-BOS": 0}), policy=name)
    assert len(r.shipments) == 1
    assert not {s.location for s in r.shipments} & {"DC-WEST", "ST-BOS"}
    assert r.unfulfilled  # one shipment cannot carry both lines


def test_baselines_are_never_a_silent_fallback() -> None:
    store = boston({("A", "DC-EAST"): 5})
    r = route(build_problem(store, order(("A", 1))))
    assert r.policy == "optimal" and r.solver in ("bound", "cp-sat")


def test_route_order_builds_and_routes() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 5})
    r = route_order(store, order(("A", 1)), policy="fewest_shipments", now=PLACED_AT)
    assert plan(r) == {("DC-EAST", "A"): 1}
    with pytest.raises(InvalidArgument, match="policy"):
        route_order(store, order(("A", 1)), policy="random")
