"""quote_fulfillment_options on the Boston network (tests/router/scenarios.py): for each ship service level
the earliest delivery date with its cost and whether it is one parcel, the nearest stores for pickup and
curbside with their ready times, partial and unavailable options, unknown SKUs flagged, and agreement
with routing (the quoted cost is what the optimiser spends delivering by the quoted date)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from availability import LocationType, Method, StockStore
from availability.errors import InvalidArgument
from router import build_problem, solve
from router.model import DeliveryMethod, Destination, UnfulfilledReason
from router.promise import earliest_full_day, quote_fulfillment_options
from tests.scenarios import Stock, snapshot_of

from .scenarios import BOSTON, CHANNELS, ORDER_DAY, PLACED_AT, boston, boston_locations, order, place

STD, EXP, SAME, PICKUP, CURB = (
    DeliveryMethod.STANDARD,
    DeliveryMethod.EXPRESS,
    DeliveryMethod.SAME_DAY,
    DeliveryMethod.PICKUP,
    DeliveryMethod.CURBSIDE,
)


def test_each_ship_level_gets_its_earliest_date_cost_and_parcel_count() -> None:
    store = boston({("A", "DC-EAST"): 10, ("B", "DC-EAST"): 10, ("A", "ST-BOS"): 5, ("B", "ST-BOS"): 5})
    q = quote_fulfillment_options(store, [("A", 1), ("B", 2)], BOSTON, channel="web", now=PLACED_AT)
    std, exp, same = q.option(STD), q.option(EXP), q.option(SAME)
    # the Boston store ships today (ready in 2 h, before its 18:00 cut-off) and arrives tomorrow; the DC
    # needs 24 h and arrives the day after
    assert std.available and std.delivery_date == ORDER_DAY + timedelta(days=1)
    assert std.locations == ("ST-BOS",) and std.single_parcel and std.shipments == 1 and not std.partial
    assert exp.delivery_date == ORDER_DAY + timedelta(days=1) and exp.cost > std.cost
    assert same.available and same.delivery_date == ORDER_DAY and same.locations == ("ST-BOS",)
    for opt in (std, exp, same):
        # the quoted cost is routing's: the optimiser's cheapest plan arriving by the quoted date
        o = order(("A", 1), ("B", 2), method=opt.method, deliver_by=opt.delivery_date, allow_partial=True)
        assert solve(build_problem(store, o)).total_cost == opt.cost
    assert q.unknown_skus == () and q.sequence == store.sequence


def test_the_earliest_date_can_cost_more_than_the_cheapest_plan() -> None:
    """The DC is cheaper but a day later than the Boston store: the quote promises the earlier date."""
    store = boston({("A", "DC-EAST"): 10, ("A", "ST-BOS"): 5})
    q = quote_fulfillment_options(store, [("A", 1)], BOSTON, channel="web", now=PLACED_AT, methods=[STD])
    cheapest = solve(build_problem(store, order(("A", 1))))
    assert cheapest.shipments[0].location == "DC-EAST"
    assert q.option(STD).locations == ("ST-BOS",) and q.option(STD).cost > cheapest.total_cost


def test_a_cart_split_over_two_locations_is_not_one_parcel() -> None:
    store = boston({("A", "DC-EAST"): 10, ("B", "ST-NYC"): 10})
    std = quote_fulfillment_options(store, [("A", 1), ("B", 1)], BOSTON, channel="web", now=PLACED_AT).option(STD)
    assert std.shipments == 2 and not std.single_parcel
    assert sorted(std.locations) == ["DC-EAST", "ST-NYC"]
    # New York ships today and is two days away by standard service: the later parcel sets the date
    assert std.delivery_date == ORDER_DAY + timedelta(days=2)


def test_partial_and_unavailable_levels_say_what_is_missing_and_why() -> None:
    store = boston({("A", "DC-EAST"): 10, ("B", "DC-WEST"): 1})
    q = quote_fulfillment_options(store, [("A", 1), ("B", 2), ("NOPE", 1)], BOSTON, channel="web", now=PLACED_AT)
    std = q.option(STD)
    assert std.available and std.partial
    assert [(m.sku, m.missing, m.reason) for m in std.missing] == [
        ("B", 1, UnfulfilledReason.NO_STOCK),
        ("NOPE", 1, UnfulfilledReason.UNKNOWN_SKU),
    ]
    same = q.option(SAME)  # nothing in Boston's same-day range holds any of it
    assert not same.available and same.delivery_date is None and same.reason
    assert q.unknown_skus == ("NOPE",)


def with_cambridge(on_hand: dict[tuple[str, str], int]) -> StockStore:
    """The Boston network plus a Cambridge store (4.4 km from Boston) offering pickup only."""
    cambridge = place(
        "ST-CAM", LocationType.STORE, 42.3736, -71.1097, methods=(Method.SHIP, Method.PICKUP), processing_hours=3,
        cutoff=time(18, 0), channels=("web", "app", "pos"),
    )  # fmt: skip
    snap = snapshot_of([*boston_locations(), cambridge], Stock(on_hand=on_hand), channels=CHANNELS)
    return StockStore.from_snapshot(snap)


def test_pickup_and_curbside_list_the_nearest_whole_cart_stores_first_then_partial_ones() -> None:
    # ST-BOS: 3 of A and 0 of B sellable (a store keeps a safety stock of 1); ST-CAM has the whole cart
    store = with_cambridge({("A", "ST-BOS"): 4, ("B", "ST-BOS"): 1, ("A", "ST-CAM"): 9, ("B", "ST-CAM"): 9})
    q = quote_fulfillment_options(store, [("A", 2), ("B", 1)], BOSTON, channel="web", now=PLACED_AT)
    pickup = q.stores_for(PICKUP)
    assert [(s.store, s.partial) for s in pickup] == [("ST-CAM", False), ("ST-BOS", True)]
    assert pickup[0].distance_km == pytest.approx(4.4, abs=0.1) and pickup[0].missing == ()
    assert [(m.sku, m.missing) for m in pickup[1].missing] == [("B", 1)]
    assert pickup[0].ready_at == PLACED_AT + timedelta(hours=3)
    assert [(s.store, s.partial) for s in q.stores_for(CURB)] == [("ST-BOS", True)]  # Cambridge: no curbside
    one = quote_fulfillment_options(store, [("A", 2), ("B", 1)], BOSTON, channel="web", now=PLACED_AT, max_stores=1)
    assert [s.store for s in one.stores_for(PICKUP)] == ["ST-CAM"]
    near = quote_fulfillment_options(
        store, [("A", 2)], BOSTON, channel="web", now=PLACED_AT, methods=[PICKUP], store_radius_km=2.0
    )
    assert [s.store for s in near.stores] == ["ST-BOS"] and near.ship == ()


def test_a_store_is_ready_after_its_processing_time_or_the_next_day_after_its_cut_off() -> None:
    store = boston({("A", "ST-BOS"): 4})
    morning = quote_fulfillment_options(store, [("A", 1)], BOSTON, channel="web", now=PLACED_AT, methods=[PICKUP])
    s = morning.stores[0]
    assert s.store == "ST-BOS" and s.ready_date == ORDER_DAY and s.distance_km == 0.0
    assert s.ready_at == PLACED_AT + timedelta(hours=2)  # 10:00 + 2 h processing, before the 18:00 cut-off
    assert (
        s.cost
        == solve(
            build_problem(store, order(("A", 1), method=PICKUP, destination=Destination.at_store("ST-BOS")))
        ).total_cost
    )
    evening = PLACED_AT + timedelta(hours=7)  # 17:00 in Boston: ready at 19:00, after the cut-off
    late = quote_fulfillment_options(store, [("A", 1)], BOSTON, channel="web", now=evening, methods=[PICKUP])
    assert late.stores[0].ready_date == ORDER_DAY + timedelta(days=1)
    assert late.stores[0].ready_at == datetime(2026, 1, 6, 23, 0, tzinfo=UTC)  # 18:00 the next day, Boston time


def test_the_earliest_full_day_is_the_first_day_the_usable_locations_hold_everything() -> None:
    store = boston({("A", "ST-BOS"): 2, ("A", "DC-EAST"): 5})
    p = build_problem(store, order(("A", 3), allow_partial=True))
    # ST-BOS alone (1 sellable, tomorrow) cannot, with the DC (the day after) it can
    assert earliest_full_day(p) == p.order_day + 2
    empty = build_problem(boston({("A", "DC-EAST"): 0}), order(("A", 1), allow_partial=True))
    assert earliest_full_day(empty) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": Destination.at_store("ST-BOS")}, "destination"),
        ({"max_stores": 0}, "max_stores"),
        ({"store_radius_km": 0.0}, "store_radius_km"),
        ({"lines": [("A", 0)]}, "lines[0].quantity"),
        ({"lines": [("A", 1), ("A", 2)]}, "lines[1].sku"),
        ({"lines": []}, "lines"),
        ({"channel": "nope"}, "channel"),
        ({"methods": ["ship"]}, "methods[0]"),
        ({"now": datetime(2026, 1, 5, 10, 0)}, "now"),
    ],
)
def test_malformed_quotes_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"lines": [("A", 1)], "destination": BOSTON, "channel": "web", "now": PLACED_AT}
    args.update(kwargs)
    store = boston({("A", "DC-EAST"): 1})
    with pytest.raises(InvalidArgument) as err:
        quote_fulfillment_options(store, **args)  # type: ignore[arg-type]
    assert err.value.field == field


def test_a_quote_is_deterministic() -> None:
    store = boston({("A", "DC-EAST"): 10, ("B", "ST-NYC"): 3, ("A", "ST-BOS"): 3})
    a = quote_fulfillment_options(store, [("A", 2), ("B", 1)], BOSTON, channel="web", now=PLACED_AT)
    b = quote_fulfillment_options(store, [("A", 2), ("B", 1)], BOSTON, channel="web", now=PLACED_AT)
    assert a == b
    assert replace(a, sequence=0) == replace(b, sequence=0)
    assert isinstance(a.option(STD).delivery_date, date)
