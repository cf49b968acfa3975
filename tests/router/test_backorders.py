"""Back orders dated by inbound supply (router/backorders.py) on the Boston network: the earliest inbound
that covers a line's missing units at one location that may serve the order, less what the plan already
takes there, with the delivery date that follows (calendar included); no date, and why, when no supply
covers them."""

from __future__ import annotations

from datetime import date

from availability import StockStore
from availability.model import InboundType
from router import (
    Calendar,
    CostModel,
    RoutingResult,
    UnfulfilledLine,
    build_problem,
    date_backorders,
    route_order,
    solve,
)
from router.model import DeliveryMethod, Destination
from tests.scenarios import Stock, snapshot_of

from .scenarios import CHANNELS, PLACED_AT, boston_locations, order

T = InboundType.IN_TRANSIT  # 95% of in-transit units count for promises (AtpConfig's default share)


def store_with(
    on_hand: dict[tuple[str, str], int], inbound: list[tuple[str, str, int, date, InboundType]]
) -> StockStore:
    return StockStore.from_snapshot(
        snapshot_of(boston_locations(), Stock(on_hand=on_hand, inbound=inbound), channels=CHANNELS)
    )


def short(result: RoutingResult, sku: str) -> UnfulfilledLine:
    (u,) = [u for u in result.unfulfilled if u.sku == sku]
    return u


def test_the_earliest_inbound_covering_the_missing_units_at_one_location_dates_the_line() -> None:
    store = store_with(
        {("B", "DC-EAST"): 0},
        [
            ("B", "DC-EAST", 2, date(2026, 1, 6), T),  # too little: 1 promisable unit
            ("B", "DC-WEST", 100, date(2026, 1, 7), T),
            ("B", "DC-EAST", 100, date(2026, 1, 9), T),
        ],
    )
    r = route_order(store, order(("B", 3), allow_backorder=True))
    u = short(r, "B")
    assert u.backordered and u.missing == 3
    # Los Angeles has it on the 7th and ships it then; 4,200 km is 6 days of standard transit
    assert (u.expected_date, u.expected_location, u.expected_delivery_date) == (
        date(2026, 1, 7),
        "DC-WEST",
        date(2026, 1, 13),
    )
    assert "DC-WEST on 2026-01-07" in u.backorder_note


def test_what_the_plan_ships_now_does_not_count_twice() -> None:
    # DC-EAST ships its 2 units now; the 3 missing need 3 more there: 2 on hand + 2 of 3 in transit on
    # the 8th would be 4, but the plan took 2 of them; the 10th brings enough
    store = store_with(
        {("A", "DC-EAST"): 2},
        [("A", "DC-EAST", 3, date(2026, 1, 8), T), ("A", "DC-EAST", 10, date(2026, 1, 10), T)],
    )
    r = route_order(store, order(("A", 5), allow_backorder=True))
    assert r.shipped() == {("DC-EAST", "A"): 2}
    u = short(r, "A")
    assert (u.missing, u.expected_date, u.expected_delivery_date) == (3, date(2026, 1, 10), date(2026, 1, 11))


def test_no_inbound_or_not_enough_is_a_back_order_without_a_date() -> None:
    store = store_with({("A", "DC-EAST"): 0, ("B", "DC-EAST"): 0}, [("B", "DC-EAST", 2, date(2026, 1, 8), T)])
    r = route_order(store, order(("A", 1), ("B", 5), ("Z", 1), allow_backorder=True))
    a, b, z = short(r, "A"), short(r, "B"), short(r, "Z")
    assert a.backordered and a.expected_date is None and a.backorder_note == "no inbound supply of A: no date"
    assert b.expected_date is None and "does not cover the 5 missing units" in b.backorder_note
    assert z.expected_date is None and "unknown SKU" in z.backorder_note


def test_excluded_locations_and_orders_without_back_orders_get_no_date() -> None:
    store = store_with({("A", "DC-EAST"): 0}, [("A", "DC-WEST", 50, date(2026, 1, 7), T)])
    excluded = route_order(store, order(("A", 1), allow_backorder=True, excluded_locations=("DC-WEST",)))
    assert short(excluded, "A").expected_date is None
    partial = route_order(store, order(("A", 1), allow_partial=True))
    u = short(partial, "A")
    assert not u.backordered and u.expected_date is None and u.backorder_note == ""


def test_pickup_back_orders_wait_for_supply_at_the_pickup_store() -> None:
    store = store_with(
        {("A", "ST-BOS"): 0},
        [("A", "DC-EAST", 50, date(2026, 1, 6), T), ("A", "ST-BOS", 20, date(2026, 1, 8), T)],
    )
    o = order(("A", 2), method=DeliveryMethod.PICKUP, destination=Destination.at_store("ST-BOS"), allow_backorder=True)
    u = short(route_order(store, o), "A")
    assert (u.expected_location, u.expected_date, u.expected_delivery_date) == (
        "ST-BOS",
        date(2026, 1, 8),
        date(2026, 1, 8),
    )


def test_the_calendar_dates_the_back_order_too() -> None:
    workweek = ("mon", "tue", "wed", "thu", "fri")
    model = CostModel(calendar=Calendar(ship_days=workweek, delivery_days=workweek))
    store = store_with({("A", "DC-EAST"): 0}, [("A", "DC-EAST", 50, date(2026, 1, 10), T)])  # a Saturday
    o = order(("A", 1), allow_backorder=True)
    u = short(route_order(store, o, cost_model=model), "A")
    assert (u.expected_date, u.expected_delivery_date) == (date(2026, 1, 10), date(2026, 1, 13))
    assert "ships 2026-01-12" in u.backorder_note


def test_dating_is_a_no_op_without_back_orders() -> None:
    store = store_with({("A", "DC-EAST"): 5}, [])
    o = order(("A", 1), allow_backorder=True)
    r = solve(build_problem(store, o))
    assert not r.unfulfilled and date_backorders(store, o, r) is r


def test_overdue_inbound_counts_from_the_order_day() -> None:
    # supply expected before the order was placed and not yet received: it dates the line as of today
    store = store_with({("A", "DC-EAST"): 0}, [("A", "DC-EAST", 50, date(2026, 1, 2), T)])
    o = order(("A", 1), allow_backorder=True)
    u = short(route_order(store, o), "A")
    assert u.expected_date == PLACED_AT.date()
    assert u.expected_delivery_date == date(2026, 1, 7)  # ships on its usual day (ready in 24 h), 1 day
