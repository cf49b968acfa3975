"""ATP rules, with figures worked out by hand from the scenarios in tests/scenarios.py.

north_east network, everyday_stock (TEE has 10 everywhere; stores default to safety stock 1):
  web/ship   DC-EAST 10, DC-WEST 10, ST-BOS 9, ST-NYC 9, DK-BOS 10 = 48 (ST-CAM does not ship, ST-OFF is off)
  web/pickup ST-BOS 9, ST-CAM 9, ST-NYC 9 = 27
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from availability import (
    AtpConfig,
    AvailabilityQuery,
    InvalidArgument,
    Method,
    Scope,
    StockStatus,
    StockStore,
    get_availability,
)
from availability.atp import MAX_SKUS_PER_QUERY, sku_atp
from availability.ledger import SafetyStockEntry
from availability.model import AllocationRow, EventType, Location, StockEvent
from tests.scenarios import (
    T0,
    Stock,
    everyday_stock,
    future_supply,
    ledger_over,
    marketplace_ring_fence,
    north_east,
    north_east_locations,
)

BOSTON = (42.3601, -71.0589)


def today() -> date:
    return datetime.now(UTC).date()


def atp(
    store: StockStore,
    sku: str,
    channel: str = "web",
    method: Method = Method.SHIP,
    scope: Scope | None = None,
    as_of: date | None = None,
) -> int:
    q = AvailabilityQuery([sku], channel, method, scope or Scope(), as_of)
    return int(get_availability(store, q).quantity[0])


def per_location(
    store: StockStore,
    sku: str,
    channel: str = "web",
    method: Method = Method.SHIP,
    scope: Scope | None = None,
    as_of: date | None = None,
) -> dict[str, int]:
    res = get_availability(
        store, AvailabilityQuery([sku], channel, method, scope or Scope(), as_of, per_location=True)
    )
    assert res.locations is not None
    return dict(zip(res.locations.location, res.locations.quantity.tolist(), strict=True))


@pytest.fixture
def store() -> StockStore:
    return north_east(everyday_stock())


# ---------------------------------------------------------------------------------------------- basics
def test_network_atp_sums_eligible_locations(store: StockStore) -> None:
    assert atp(store, "TEE") == 48
    assert per_location(store, "TEE") == {
        "DC-EAST": 10,
        "DC-WEST": 10,
        "ST-BOS": 9,
        "ST-NYC": 9,
        "DK-BOS": 10,
    }


@pytest.mark.parametrize(
    ("channel", "method", "expected"),
    [
        ("web", Method.PICKUP, 27),
        ("web", Method.CURBSIDE, 18),  # ST-BOS, ST-CAM
        ("web", Method.SAME_DAY, 19),  # ST-CAM 9, DK-BOS 10
        ("marketplace", Method.SHIP, 20),  # the DCs only
        ("callcentre", Method.SHIP, 10),  # DC-EAST only
        ("pos", Method.SHIP, 18),  # stores that ship: ST-BOS, ST-NYC
        ("pos", Method.SAME_DAY, 9),  # ST-CAM (DK-BOS does not serve the POS)
        ("marketplace", Method.PICKUP, 0),
    ],
)
def test_only_locations_serving_the_channel_and_offering_the_method_count(
    store: StockStore, channel: str, method: Method, expected: int
) -> None:
    assert atp(store, "TEE", channel, method) == expected


def test_free_stock_floors_at_zero_per_location(store: StockStore) -> None:
    """A negative position does not eat into another location's stock."""
    ledger = ledger_over(store)
    ledger.apply_stock_events([StockEvent("s", EventType.SALE, "DC-EAST", "TEE", 25, T0)])
    assert per_location(store, "TEE")["DC-EAST"] == 0
    assert atp(store, "TEE") == 38


def test_reserved_stock_is_not_available(store: StockStore) -> None:
    tee = store.skus.index("TEE")
    slots = store.ensure_slots(np.array([tee, tee]), np.array([0, 2]))
    store.apply_deltas(slots, np.zeros(2, np.int64), np.array([4, 20]), store.sequence + 1)
    p = store.position(tee, 2)
    assert p is not None and (p.on_hand, p.reserved) == (10, 20)
    assert per_location(store, "TEE") == {"DC-EAST": 6, "DC-WEST": 10, "ST-BOS": 0, "ST-NYC": 9, "DK-BOS": 10}
    assert atp(store, "TEE") == 35
    assert store.totals() == (85, 24)  # TEE 70, MUG 12, CAP 3


def test_disabled_locations_do_not_count_until_enabled(store: StockStore) -> None:
    assert "ST-OFF" not in per_location(store, "TEE", method=Method.PICKUP)
    ledger = ledger_over(store)
    off = next(lo for lo in store.network.locations if lo.id == "ST-OFF")
    import dataclasses

    ledger.upsert_locations([dataclasses.replace(off, enabled=True)])
    assert per_location(store, "TEE", method=Method.PICKUP)["ST-OFF"] == 9
    assert atp(store, "TEE", method=Method.PICKUP) == 36
    ledger.upsert_locations([dataclasses.replace(off, enabled=False)])
    assert atp(store, "TEE", method=Method.PICKUP) == 27


def test_a_new_location_serves_once_upserted(store: StockStore) -> None:
    ledger = ledger_over(store)
    new = Location(
        "ST-PVD", "Providence", north_east_locations()[2].type, 41.82, -71.41, channels=frozenset({"web"})
    )
    ledger.upsert_locations([new])
    assert per_location(store, "TEE").get("ST-PVD") is None  # no position yet
    ledger.apply_stock_events([StockEvent("r", EventType.RECEIPT, "ST-PVD", "TEE", 4, T0)])
    assert per_location(store, "TEE")["ST-PVD"] == 3
    assert atp(store, "TEE") == 51


# ---------------------------------------------------------------------------------------------- safety stock
def test_explicit_safety_stock_overrides_the_type_default() -> None:
    stock = everyday_stock()
    stock = Stock(on_hand=stock.on_hand, safety={("TEE", "DC-EAST"): 4, ("TEE", "ST-BOS"): 0})
    store = north_east(stock)
    assert per_location(store, "TEE")["DC-EAST"] == 6
    assert per_location(store, "TEE")["ST-BOS"] == 10
    assert atp(store, "TEE") == 48 - 4 + 1


def test_the_type_default_comes_from_the_config() -> None:
    store = north_east(everyday_stock(), AtpConfig(default_safety=(2, 3, 5, 0)))
    # DCs 8 each, stores 7, the dark store 5
    assert per_location(store, "TEE") == {"DC-EAST": 8, "DC-WEST": 8, "ST-BOS": 7, "ST-NYC": 7, "DK-BOS": 5}


def test_a_new_default_applies_to_every_position_without_its_own_value(store: StockStore) -> None:
    ledger = ledger_over(store)
    ledger.set_safety_stock([SafetyStockEntry("TEE", "ST-BOS", 0)])
    store.set_network(store.network.with_config(AtpConfig(default_safety=(1, 4, 0, 0))))
    got = per_location(store, "TEE")
    assert (got["DC-EAST"], got["ST-NYC"], got["ST-BOS"]) == (9, 6, 10)
    p = store.position(store.skus.index("TEE"), store.network.index.index("ST-NYC"))
    assert p is not None and (p.safety_stock, p.safety_explicit) == (4, False)


def test_set_safety_stock_sets_and_resets(store: StockStore) -> None:
    ledger = ledger_over(store)
    seq = ledger.set_safety_stock(
        [SafetyStockEntry("TEE", "DC-EAST", 7), SafetyStockEntry("TEE", "ST-NYC", 0)]
    )
    assert seq == store.sequence == 1
    assert atp(store, "TEE") == 48 - 7 + 1
    tee, east = store.skus.index("TEE"), store.network.index.index("DC-EAST")
    p = store.position(tee, east)
    assert p is not None and (p.safety_stock, p.safety_explicit) == (7, True)
    ledger.set_safety_stock([SafetyStockEntry("TEE", "DC-EAST", None)])
    p = store.position(tee, east)
    assert p is not None and (p.safety_stock, p.safety_explicit) == (0, False)
    assert atp(store, "TEE") == 49


def test_safety_stock_above_on_hand_floors_the_location_at_zero(store: StockStore) -> None:
    ledger_over(store).set_safety_stock([SafetyStockEntry("TEE", "DC-EAST", 50)])
    assert per_location(store, "TEE")["DC-EAST"] == 0
    assert atp(store, "TEE") == 38


def test_safety_stock_for_a_location_without_the_sku_creates_the_position(store: StockStore) -> None:
    ledger_over(store).set_safety_stock([SafetyStockEntry("MUG", "ST-NYC", 2)])
    p = store.position(store.skus.index("MUG"), store.network.index.index("ST-NYC"))
    assert p is not None and (p.on_hand, p.safety_stock) == (0, 2)
    assert atp(store, "MUG") == 12


# ---------------------------------------------------------------------------------------------- ring-fences
@pytest.fixture
def fenced() -> StockStore:
    """marketplace_ring_fence: 24 free over the network; marketplace fence 5 left, web fence 2 left."""
    return north_east(marketplace_ring_fence())


@pytest.mark.parametrize(
    ("channel", "method", "expected"),
    [
        ("web", Method.SHIP, 19),  # 24 in scope, headroom 24 - 5 (marketplace's)
        ("marketplace", Method.SHIP, 20),  # the DCs' 20, under headroom 24 - 2 (web's)
        ("app", Method.SHIP, 17),  # headroom 24 - 5 - 2
        ("pos", Method.PICKUP, 4),  # ST-BOS's 4, far under the headroom
        ("callcentre", Method.SHIP, 10),  # DC-EAST, under 17
    ],
)
def test_other_channels_unconsumed_ring_fences_cap_the_channel(
    fenced: StockStore, channel: str, method: Method, expected: int
) -> None:
    assert atp(fenced, "LAMP", channel, method) == expected


def test_per_location_figures_are_capped_by_the_headroom_too(fenced: StockStore) -> None:
    ledger_over(fenced).set_allocations([AllocationRow("LAMP", "marketplace", 20, 3)])  # 17 left of it
    assert per_location(fenced, "LAMP") == {"DC-EAST": 7, "DC-WEST": 7, "ST-BOS": 4}
    assert atp(fenced, "LAMP") == 7
    ledger_over(fenced).set_allocations([AllocationRow("LAMP", "marketplace", 40, 3)])  # more than exists
    assert per_location(fenced, "LAMP") == {"DC-EAST": 0, "DC-WEST": 0, "ST-BOS": 0}
    assert atp(fenced, "LAMP") == 0


def test_channel_sales_consume_the_fence_and_free_the_others(fenced: StockStore) -> None:
    ledger = ledger_over(fenced)
    ledger.apply_stock_events([StockEvent("m", EventType.SALE, "DC-EAST", "LAMP", 5, T0, "marketplace")])
    # 19 free, the marketplace fence is used up: web is capped by nothing
    assert atp(fenced, "LAMP") == 19
    # the marketplace itself is capped by the web's fence: 19 - 2
    assert atp(fenced, "LAMP", "marketplace") == 15
    assert atp(fenced, "LAMP", "app") == 17


def test_headroom_counts_enabled_locations_of_every_channel(fenced: StockStore) -> None:
    """ST-BOS does not serve the marketplace, but its free stock still leaves room for the marketplace's
    fence; disabling a DC takes its stock out of the headroom."""
    ledger = ledger_over(fenced)
    # consumed 0 means "keep what was consumed" (3): 22 left unconsumed
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 25, 0)])
    assert atp(fenced, "LAMP", "pos", Method.PICKUP) == 0  # 24 - 22 - 2 = 0 headroom for the POS
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 8, 3)])
    west = next(lo for lo in fenced.network.locations if lo.id == "DC-WEST")
    import dataclasses

    ledger.upsert_locations([dataclasses.replace(west, enabled=False)])
    assert atp(fenced, "LAMP") == 9  # 14 free, 5 kept for the marketplace


def test_a_channel_own_fence_does_not_limit_it(fenced: StockStore) -> None:
    ledger_over(fenced).set_allocations([AllocationRow("LAMP", "marketplace", 0)])
    assert atp(fenced, "LAMP", "marketplace") == 20  # only the web's 2 are kept back, far from binding
    assert fenced.allocations(fenced.skus.index("LAMP")) == [(fenced.network.channel_index("web"), 2, 0)]


def test_set_allocations_keeps_what_was_consumed_unless_told(fenced: StockStore) -> None:
    lamp = fenced.skus.index("LAMP")
    market = fenced.network.channel_index("marketplace")
    ledger = ledger_over(fenced)
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 12)])
    assert (market, 12, 3) in fenced.allocations(lamp)
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 2)])
    assert (market, 2, 2) in fenced.allocations(lamp)  # capped at the new quantity
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 9, 1)])
    assert (market, 9, 1) in fenced.allocations(lamp)


# ---------------------------------------------------------------------------------------------- future supply
def test_inbound_due_by_the_date_counts_with_its_type_share() -> None:
    d = today()
    store = north_east(future_supply(d))
    assert atp(store, "SOFA") == 2  # no date: on hand only
    assert atp(store, "SOFA", as_of=d) == 2 + 19  # the overdue in-transit 20 at 95%
    assert atp(store, "SOFA", as_of=d + timedelta(days=2)) == 21
    assert atp(store, "SOFA", as_of=d + timedelta(days=3)) == 21 + 95
    assert atp(store, "SOFA", as_of=d + timedelta(days=10)) == 116 + 20  # on order at 40%
    assert per_location(store, "SOFA", as_of=d + timedelta(days=3)) == {"DC-EAST": 116}


def test_inbound_shares_are_configuration() -> None:
    d = today()
    store = north_east(future_supply(d), AtpConfig(inbound_share_bp=(10_000, 0)))
    assert atp(store, "SOFA", as_of=d + timedelta(days=10)) == 2 + 20 + 100
    store.set_network(store.network.with_config(AtpConfig(inbound_share_bp=(5_000, 5_000))))
    assert atp(store, "SOFA", as_of=d + timedelta(days=10)) == 2 + 10 + 50 + 25
    p = store.position(store.skus.index("SOFA"), 0)
    assert p is not None
    assert sorted(p.inbound) == sorted(
        [
            ((d - date(1970, 1, 1)).days - 1, 20, p.inbound[0][2].__class__.IN_TRANSIT, 10),
            ((d - date(1970, 1, 1)).days + 3, 100, p.inbound[0][2].__class__.IN_TRANSIT, 50),
            ((d - date(1970, 1, 1)).days + 10, 50, p.inbound[0][2].__class__.ON_ORDER, 25),
        ]
    )


def test_inbound_to_a_location_without_stock_is_promisable_there() -> None:
    d = today()
    base = future_supply(d)
    inbound = [*base.inbound, ("SOFA", "DC-WEST", 10, d, base.inbound[0][4])]
    store = north_east(Stock(on_hand=base.on_hand, inbound=inbound))
    assert per_location(store, "SOFA", as_of=d) == {"DC-EAST": 21, "DC-WEST": 9}
    p = store.position(store.skus.index("SOFA"), 1)
    assert p is not None and p.on_hand == 0


def test_inbound_and_ring_fences_together() -> None:
    d = today()
    base = future_supply(d)
    store = north_east(
        Stock(on_hand=base.on_hand, inbound=base.inbound, allocations=[("SOFA", "marketplace", 30, 0)])
    )
    # in 3 days: 116 free at DC-EAST, 30 kept for the marketplace
    assert atp(store, "SOFA", as_of=d + timedelta(days=3)) == 86
    assert per_location(store, "SOFA", as_of=d + timedelta(days=3)) == {"DC-EAST": 86}
    assert atp(store, "SOFA", as_of=d) == 0  # 21 free < 30 fenced


# ---------------------------------------------------------------------------------------------- scopes
@pytest.mark.parametrize(
    ("scope", "method", "expected"),
    [
        (Scope.of_group("NE-STORES"), Method.PICKUP, 27),  # ST-OFF is a member but disabled
        (Scope.of_group("DCS"), Method.SHIP, 20),
        (Scope.of_group("BOSTON"), Method.SHIP, 19),  # ST-BOS 9 + DK-BOS 10
        (Scope.of_locations(["ST-BOS", "DCS"]), Method.SHIP, 29),  # groups work inside location lists
        (Scope.of_locations(["ST-CAM"]), Method.SHIP, 0),  # in scope but does not ship
        (Scope.of_locations(["ST-CAM", "ST-CAM"]), Method.PICKUP, 9),  # listed twice, counted once
        (Scope.within(*BOSTON, 10), Method.SHIP, 19),
        (Scope.within(*BOSTON, 10), Method.PICKUP, 18),  # ST-BOS, ST-CAM
        (Scope.within(*BOSTON, 60), Method.SHIP, 29),  # reaches DC-EAST
        (Scope.within(*BOSTON, 5_000), Method.SHIP, 48),
        (Scope.within(0.0, 0.0, 100), Method.SHIP, 0),
    ],
)
def test_scopes(store: StockStore, scope: Scope, method: Method, expected: int) -> None:
    assert atp(store, "TEE", method=method, scope=scope) == expected
    rows = per_location(store, "TEE", method=method, scope=scope)
    assert sum(rows.values()) == expected


def test_the_same_scope_value_gives_the_same_answer_through_any_object(store: StockStore) -> None:
    a = Scope.of_group("DCS")
    b = Scope.of_group("DCS")
    assert a is not b
    assert atp(store, "TEE", scope=a) == atp(store, "TEE", scope=b) == 20


# ---------------------------------------------------------------------------------------------- answers
def test_statuses_follow_the_thresholds(store: StockStore) -> None:
    res = get_availability(
        store, AvailabilityQuery(["TEE", "CAP", "MUG"], "web", Method.PICKUP, per_location=True)
    )
    assert res.quantity.tolist() == [27, 2, 0]
    assert [StockStatus(s) for s in res.status] == [
        StockStatus.IN_STOCK,
        StockStatus.LOW_STOCK,
        StockStatus.OUT_OF_STOCK,
    ]
    assert res.locations is not None
    rows = dict(zip(zip(res.locations.sku_row.tolist(), res.locations.location, strict=True),
                    res.locations.status.tolist(), strict=True))  # fmt: skip
    assert rows[(1, "ST-CAM")] == StockStatus.LOW_STOCK  # 2 <= low_stock_location (2)
    assert rows[(0, "ST-CAM")] == StockStatus.IN_STOCK


def test_thresholds_are_configuration() -> None:
    store = north_east(everyday_stock(), AtpConfig(low_stock_network=48, low_stock_location=9))
    res = get_availability(store, AvailabilityQuery(["TEE"], "web", per_location=True))
    assert StockStatus(res.status[0]) is StockStatus.LOW_STOCK
    assert res.locations is not None
    got = dict(zip(res.locations.location, [StockStatus(s) for s in res.locations.status], strict=True))
    assert got["ST-BOS"] is StockStatus.LOW_STOCK
    assert got["DC-EAST"] is StockStatus.IN_STOCK


def test_unknown_skus_answer_zero_flagged(store: StockStore) -> None:
    res = get_availability(store, AvailabilityQuery(["TEE", "NOPE", "TEE"], "web", per_location=True))
    assert res.quantity.tolist() == [48, 0, 48]
    assert res.unknown.tolist() == [False, True, False]
    assert StockStatus(res.status[1]) is StockStatus.OUT_OF_STOCK
    assert res.locations is not None
    assert 1 not in res.locations.sku_row.tolist()
    assert res.locations.sku_row.tolist().count(2) == 5


def test_answers_carry_the_sequence(store: StockStore) -> None:
    ledger = ledger_over(store)
    ledger.apply_stock_events([StockEvent("a", EventType.SALE, "DC-EAST", "TEE", 1, T0)])
    res = get_availability(store, AvailabilityQuery(["TEE"], "web"))
    assert res.sequence == 1
    assert res.quantity.tolist() == [47]


def test_a_query_of_the_maximum_size(store: StockStore) -> None:
    skus = ["TEE", "MUG", "NOPE"] * (MAX_SKUS_PER_QUERY // 3) + ["CAP"]
    res = get_availability(store, AvailabilityQuery(skus, "web"))
    assert res.quantity.shape == (MAX_SKUS_PER_QUERY,)
    assert res.quantity[:3].tolist() == [48, 12, 0]
    assert int(res.unknown.sum()) == MAX_SKUS_PER_QUERY // 3


def test_the_index_entry_points(store: StockStore) -> None:
    web = store.network.channel_index("web")
    assert store.atp(-1, web, Method.SHIP) == 0
    assert store.atp(10**6, web, Method.SHIP) == 0
    got = store.atp_many(np.array([0, -1, 2, 10**6]), web, Method.SHIP)
    assert got.tolist() == [48, 0, 0, 0]
    assert sku_atp(store, "TEE", "web") == 48
    assert sku_atp(store, "NOPE", "web") == 0
    locs, qty = store.atp_by_location(0, web, Method.PICKUP)
    assert (locs.tolist(), qty.tolist()) == ([2, 3, 4], [9, 9, 9])


# ---------------------------------------------------------------------------------------------- bad queries
@pytest.mark.parametrize(
    ("query", "field"),
    [
        (AvailabilityQuery([], "web"), "skus"),
        (AvailabilityQuery(["TEE"] * (MAX_SKUS_PER_QUERY + 1), "web"), "skus"),
        (AvailabilityQuery("TEE", "web"), "skus"),
        (AvailabilityQuery(["TEE", "bad sku"], "web"), "skus[1]"),
        (AvailabilityQuery(["TEE", ""], "web"), "skus[1]"),
        (AvailabilityQuery(["TEE", 42], "web"), "skus[1]"),  # type: ignore[list-item]
        (AvailabilityQuery(["TEE"], "tiktok"), "channel"),
        (AvailabilityQuery(["TEE"], ""), "channel"),
        (AvailabilityQuery(["TEE"], "web", "ship"), "method"),  # type: ignore[arg-type]
        (AvailabilityQuery(["TEE"], "web", scope=Scope.of_group("NOWHERE")), "scope.group"),
        (
            AvailabilityQuery(["TEE"], "web", scope=Scope.of_locations(["ST-BOS", "NOWHERE"])),
            "scope.locations",
        ),
        (AvailabilityQuery(["TEE"], "web", scope="network"), "scope"),  # type: ignore[arg-type]
        (AvailabilityQuery(["TEE"], "web", as_of=date(2000, 1, 1)), "as_of"),
        (AvailabilityQuery(["TEE"], "web", as_of="2100-01-01"), "as_of"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_query_names_its_field(store: StockStore, query: AvailabilityQuery, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        get_availability(store, query)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Scope(kind="planet"), "scope.kind"),
        (lambda: Scope.within(91, 0, 5), "scope.latitude"),
        (lambda: Scope.within(0, -181, 5), "scope.longitude"),
        (lambda: Scope.within(0, 0, 0), "scope.radius_km"),
        (lambda: Scope.within(0, 0, float("nan")), "scope.radius_km"),
        (lambda: Scope.within(0, 0, 30_000), "scope.radius_km"),
        (lambda: Scope(kind="radius", latitude=0, longitude=0, radius_km=-1), "scope.radius_km"),
        (lambda: Scope.of_locations([]), "scope.locations"),
        (lambda: Scope.of_locations("ST-BOS"), "scope.locations"),
        (lambda: Scope.of_locations(["bad id"]), "scope.locations"),
        (lambda: Scope.of_group(""), "scope.group"),
    ],
)
def test_a_bad_scope_is_refused_where_it_is_made(make: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        make()  # type: ignore[operator]
    assert err.value.field == field


def test_a_datetime_as_of_means_its_date(store: StockStore) -> None:
    d = today()
    sofa = north_east(future_supply(d))
    at = datetime.now(UTC) + timedelta(days=3)
    assert atp(sofa, "SOFA", as_of=at) == atp(sofa, "SOFA", as_of=at.date())


def test_a_bad_index_channel_is_refused(store: StockStore) -> None:
    with pytest.raises(InvalidArgument):
        store.atp(0, 99, Method.SHIP)
    with pytest.raises(InvalidArgument):
        store.atp(0, 0, 0)  # type: ignore[arg-type]
