"""The candidate pool: what the ATP arrays say each location can give, and why a location is blocked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from availability import AvailabilityQuery, InvalidArgument, Method, StockStore, get_availability
from router import Block, CostModel, Destination, Order, OrderLine, RoutingOptions, build_problem
from router.model import DeliveryMethod
from tests.router.scenarios import BOSTON, PLACED_AT, boston, order


def rows(problem_ids: tuple[str, ...], values: np.ndarray) -> dict[str, list[int]]:
    return {lid: values[i].tolist() for i, lid in enumerate(problem_ids)}


def test_pool_is_the_engines_per_location_atp() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-BOS"): 3, ("B", "ST-NYC"): 4, ("A", "ST-OFF"): 9})
    p = build_problem(store, order(("A", 2), ("B", 1)))
    # stores keep a safety stock of 1; the disabled store and the ship-less dark store are not eligible
    assert rows(p.location_ids, p.atp) == {"DC-EAST": [5, 0], "ST-BOS": [2, 0], "ST-NYC": [0, 3]}
    per_loc = get_availability(store, AvailabilityQuery(["A", "B"], "web", Method.SHIP, per_location=True))
    assert per_loc.locations is not None
    engine = {
        (lid, int(row)): int(q)
        for lid, row, q in zip(
            per_loc.locations.location, per_loc.locations.sku_row, per_loc.locations.quantity, strict=True
        )
        if q > 0
    }
    ours = {(lid, j): int(p.atp[i, j]) for i, lid in enumerate(p.location_ids) for j in range(2) if p.atp[i, j]}
    assert ours == engine
    assert p.network_atp.tolist() == per_loc.quantity.tolist()
    assert p.sequence == store.sequence


def test_costs_and_dates_of_each_row() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 3, ("A", "DC-WEST"): 3}, weights={"A": 2000})
    p = build_problem(store, order(("A", 1)))
    got = {lid: i for i, lid in enumerate(p.location_ids)}
    east, nyc, west = got["DC-EAST"], got["ST-NYC"], got["DC-WEST"]
    assert p.parcel_cost[[east, nyc, west]].tolist() == [600, 820, 1400]
    assert p.unit_weight_cost[[east, nyc, west], 0].tolist() == [60, 120, 300]  # 2 kg at 30, 60, 150 per kg
    assert p.handling_per_order[[east, nyc]].tolist() == [150, 400 + 150]
    assert (p.delivery_day - p.order_day)[[east, nyc, west]].tolist() == [2, 2, 7]
    assert p.penalty_per_unit[[east, nyc]].tolist() == [0, 400]
    assert p.free[[east, nyc], 0].tolist() == [5, 0]  # ST-NYC: ATP 2, both within the protection level of 2


def test_unknown_weight_takes_the_default() -> None:
    store = boston({("A", "DC-EAST"): 5}, weights={"A": None})
    p = build_problem(store, order(("A", 1)), cost_model=CostModel(default_unit_weight_g=3000))
    assert p.unit_weight_cost[0, 0] == 90


def test_blocked_rows_stay_in_the_pool_with_their_reason() -> None:
    store = boston({("A", "DC-EAST"): 5, ("A", "ST-NYC"): 3, ("A", "DC-WEST"): 3, ("A", "ST-CHI"): 3})
    o = order(("A", 1), deliver_by=date(2026, 1, 7), excluded_locations=("ST-CHI",))
    p = build_problem(store, o, capacity_left={"ST-NYC": 0})
    assert dict(zip(p.location_ids, p.block.tolist(), strict=True)) == {
        "DC-EAST": Block.USABLE,
        "DC-WEST": Block.DELIVER_BY,
        "ST-NYC": Block.CAPACITY,
        "ST-CHI": Block.EXCLUDED,
    }


def test_line_exclusions_and_groups() -> None:
    from availability import LocationGroup
    from tests.router.scenarios import CHANNELS, boston_locations
    from tests.scenarios import Stock, snapshot_of

    snap = snapshot_of(
        boston_locations(),
        Stock(on_hand={("A", "DC-EAST"): 5, ("A", "ST-NYC"): 3, ("B", "ST-NYC"): 3}),
        channels=CHANNELS,
        groups=[LocationGroup("STORES", ("ST-BOS", "ST-NYC"))],
    )
    store = StockStore.from_snapshot(snap)
    o = Order(
        "O-1",
        "web",
        (OrderLine("A", 1, excluded_locations=("STORES",)), OrderLine("B", 1)),
        BOSTON,
        placed_at=PLACED_AT,
    )
    p = build_problem(store, o)
    assert rows(p.location_ids, p.atp) == {"DC-EAST": [5, 0], "ST-NYC": [0, 2]}
    assert rows(p.location_ids, p.raw_atp) == {"DC-EAST": [5, 0], "ST-NYC": [2, 2]}
    with pytest.raises(InvalidArgument, match=r"lines\[0\].excluded_locations"):
        build_problem(store, replace(o, lines=(OrderLine("A", 1, excluded_locations=("NOPE",)),)))


def test_same_day_needs_range_and_readiness_today() -> None:
    store = boston({("A", "ST-BOS"): 5, ("A", "DK-BOS"): 5, ("A", "ST-NYC"): 5})
    p = build_problem(store, order(("A", 1), method=DeliveryMethod.SAME_DAY))
    # only same-day locations are eligible at all: ST-NYC does not offer it
    assert dict(zip(p.location_ids, p.block.tolist(), strict=True)) == {"ST-BOS": 0, "DK-BOS": 0}
    assert (p.delivery_day == p.order_day).all()
    late = build_problem(
        store, order(("A", 1), method=DeliveryMethod.SAME_DAY, placed_at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    )
    # 18:30 in Boston: the store is past its cut-off, the dark store (ready 19:30, cut-off 20:00) is not
    assert dict(zip(late.location_ids, late.block.tolist(), strict=True)) == {"ST-BOS": Block.OUT_OF_RANGE, "DK-BOS": 0}
    far = Destination.point(42.9, -71.06)  # 60 km north of Boston: beyond the courier's 60 km
    p_far = build_problem(store, order(("A", 1), method=DeliveryMethod.SAME_DAY, destination=far))
    assert (p_far.block == Block.OUT_OF_RANGE).all()


def test_pickup_reads_the_pickup_store_only() -> None:
    store = boston({("A", "ST-BOS"): 5, ("A", "DC-EAST"): 5})
    p = build_problem(store, order(("A", 1), method=DeliveryMethod.PICKUP, destination=Destination.at_store("ST-BOS")))
    assert p.location_ids == ("ST-BOS",)
    assert p.parcel_cost.tolist() == [0] and p.distance_km.tolist() == [0.0]
    assert p.delivery_day.tolist() == p.ship_day.tolist() == [p.order_day]
    with pytest.raises(InvalidArgument, match=r"destination\.store"):
        build_problem(store, order(("A", 1), method=DeliveryMethod.PICKUP, destination=Destination.at_store("NOPE")))


def test_unknown_skus_have_no_rows() -> None:
    store = boston({("A", "DC-EAST"): 5})
    p = build_problem(store, order(("A", 1), ("GHOST", 2)))
    assert p.line_sku.tolist()[1] == -1
    assert p.atp[:, 1].sum() == 0 and p.network_atp.tolist() == [5, 0]


def test_network_atp_caps_what_a_ring_fenced_sku_can_give() -> None:
    # 10 + 10 free, 15 ring-fenced for the app (none consumed): the web shop may take 5 in total,
    # though each DC's own figure says 5
    store = boston({("A", "DC-EAST"): 10, ("A", "DC-WEST"): 10}, allocations=[("A", "app", 15, 0)])
    p = build_problem(store, order(("A", 8)))
    assert p.atp[:, 0].tolist() == [5, 5] and p.network_atp.tolist() == [5]
    assert p.fulfillable().tolist() == [5]


def test_order_validation() -> None:
    with pytest.raises(InvalidArgument, match="duplicate SKU"):
        order(("A", 1), ("A", 2))
    with pytest.raises(InvalidArgument, match=r"lines\[0\].quantity"):
        order(("A", 0))
    with pytest.raises(InvalidArgument, match="destination"):
        Destination(latitude=1.0)
    with pytest.raises(InvalidArgument, match=r"destination\.latitude"):
        Destination.point(91, 0)
    with pytest.raises(InvalidArgument, match="destination"):
        order(("A", 1), method=DeliveryMethod.PICKUP)
    with pytest.raises(InvalidArgument, match=r"destination\.store"):
        order(("A", 1), destination=Destination.at_store("ST-BOS"))
    with pytest.raises(InvalidArgument, match="placed_at"):
        order(("A", 1), placed_at=datetime(2026, 1, 5))
    with pytest.raises(InvalidArgument, match=r"options\.max_shipments"):
        RoutingOptions(max_shipments=-1)
    with pytest.raises(InvalidArgument, match=r"options\.excluded_locations"):
        RoutingOptions(excluded_locations="ST-BOS")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="channel"):
        build_problem(boston({("A", "DC-EAST"): 1}), order(("A", 1), channel="tv"))
    with pytest.raises(InvalidArgument, match="capacity_left"):
        build_problem(boston({("A", "DC-EAST"): 1}), order(("A", 1)), capacity_left={"NOPE": 1})
    assert DeliveryMethod.parse("Express-Ship") is DeliveryMethod.EXPRESS
    with pytest.raises(InvalidArgument, match="method"):
        DeliveryMethod.parse("teleport")


def test_problem_arrays_are_read_only() -> None:
    p = build_problem(boston({("A", "DC-EAST"): 5}), order(("A", 1)))
    with pytest.raises(ValueError, match="read-only"):
        p.atp[0, 0] = 99


def test_demo_network_pool(demo_store: StockStore) -> None:
    view = demo_store.view()
    sku = view.skus.id(0)
    o = Order("D-1", "web", (OrderLine(sku, 1),), Destination.point(40.7, -74.0), placed_at=PLACED_AT)
    p = build_problem(demo_store, o)
    assert p.pool >= 1
    assert (p.atp > 0).any(axis=1).all()
    assert set(p.location_ids) <= set(view.network.index.ids)
