"""plan_hold: the ledger operations that make an order's reservation hold exactly its plan."""

from __future__ import annotations

import pytest

from availability.errors import FailedPrecondition
from availability.reservations import HoldLine, LineMove, LineQuantity
from router.holds import HoldPlan, plan_hold


def test_without_a_reservation_the_plan_is_reserved_at_its_locations() -> None:
    plan = plan_hold({("DC-1", "A"): 2, ("ST-1", "B"): 1}, None)
    assert plan == HoldPlan(reserve=(HoldLine("A", 2, location="DC-1"), HoldLine("B", 1, location="ST-1")))


def test_network_and_group_lines_move_to_the_plan_and_what_is_left_is_released() -> None:
    held = [("A", "@network", False, 3), ("B", "boston", False, 2), ("C", "@network", False, 1)]
    plan = plan_hold({("DC-1", "A"): 2, ("ST-1", "B"): 1, ("DC-1", "B"): 1}, held)
    assert plan.reserve == ()
    assert plan.moves == (
        LineMove("A", "@network", (("DC-1", 2),)),
        LineMove("B", "boston", (("ST-1", 1), ("DC-1", 1))),
    )
    assert plan.release == (LineQuantity("A", "@network", 1), LineQuantity("C", "@network", 1))


def test_location_lines_stay_where_the_plan_ships_and_the_rest_goes() -> None:
    held = [("A", "ST-1", True, 2), ("A", "ST-2", True, 1), ("A", "@network", False, 2)]
    plan = plan_hold({("ST-1", "A"): 1, ("DC-1", "A"): 2}, held)
    assert plan.moves == (LineMove("A", "@network", (("DC-1", 2),)),)
    assert plan.release == (LineQuantity("A", "ST-1", 1), LineQuantity("A", "ST-2", 1))


def test_location_lines_cannot_move_to_other_locations() -> None:
    """The ledger moves group and network lines only: units held at a store the plan does not use cannot
    pay for units the plan takes elsewhere."""
    with pytest.raises(FailedPrecondition, match="ships 2 of A but the reservation holds 3"):
        plan_hold({("DC-1", "A"): 2}, [("A", "ST-2", True, 2), ("A", "@network", False, 1)])


def test_holding_again_what_is_held_changes_nothing() -> None:
    held = [("A", "ST-1", True, 2), ("B", "DC-1", True, 1)]
    assert plan_hold({("ST-1", "A"): 2, ("DC-1", "B"): 1}, held) == HoldPlan()


def test_a_plan_larger_than_the_reservation_cannot_be_held_with_it() -> None:
    with pytest.raises(FailedPrecondition, match="ships 3 of A but the reservation holds 2"):
        plan_hold({("DC-1", "A"): 3}, [("A", "@network", False, 2)])
