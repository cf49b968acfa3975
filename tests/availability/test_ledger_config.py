"""Configuration writes through the memory ledger (safety stock, ring-fences, locations, snapshots):
all-or-nothing, each with its change record, and bad input of every kind leaving the state unchanged."""

from __future__ import annotations

import dataclasses

import pytest

from availability import AllocationRow, InvalidArgument, Location, LocationType, Method, StockStore
from availability.ledger import ChangeBatch, MemoryLedger, SafetyStockEntry
from availability.model import MAX_QUANTITY
from tests.scenarios import (
    everyday_stock,
    full_state,
    ledger_over,
    marketplace_ring_fence,
    north_east,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)


@pytest.fixture
def store() -> StockStore:
    """everyday_stock plus the LAMP ring-fences of marketplace_ring_fence."""
    base = everyday_stock()
    fence = marketplace_ring_fence()
    return north_east(
        dataclasses.replace(base, on_hand={**base.on_hand, **fence.on_hand}, allocations=fence.allocations)
    )


@pytest.fixture
def ledger(store: StockStore) -> MemoryLedger:
    return ledger_over(store)


def test_each_configuration_write_publishes_what_it_touched(ledger: MemoryLedger, store: StockStore) -> None:
    seen: list[ChangeBatch] = []
    ledger.subscribe(seen.append)
    ledger.set_safety_stock([SafetyStockEntry("TEE", "DC-EAST", 3), SafetyStockEntry("MUG", "DC-WEST", 1)])
    ledger.set_allocations([AllocationRow("TEE", "app", 4)])
    ledger.upsert_locations([north_east_locations()[0]])
    ledger.load_snapshot(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))
    assert [b.sequence for b in seen] == [1, 2, 3, 4]
    tee, mug = store.skus.index("TEE"), store.skus.index("MUG")
    assert sorted(seen[0].skus_touched.tolist()) == sorted([tee, mug])
    assert seen[1].skus_touched.tolist() == [tee]
    assert [b.everything for b in seen] == [False, False, True, True]
    assert ledger.sequence == store.sequence == 4


def test_a_location_type_change_moves_its_default_safety_stock(
    ledger: MemoryLedger, store: StockStore
) -> None:
    web = store.network.channel_index("web")
    tee = store.skus.index("TEE")
    assert store.atp(tee, web, Method.SHIP) == 48
    nyc = next(lo for lo in store.network.locations if lo.id == "ST-NYC")
    ledger.upsert_locations([dataclasses.replace(nyc, type=LocationType.DISTRIBUTION_CENTER)])
    assert store.atp(tee, web, Method.SHIP) == 49  # DCs default to 0, stores to 1


def test_a_new_location_and_a_changed_one_in_one_upsert(ledger: MemoryLedger, store: StockStore) -> None:
    nyc = next(lo for lo in store.network.locations if lo.id == "ST-NYC")
    new = Location("ST-PVD", "Providence", LocationType.STORE, 41.82, -71.41, channels=frozenset({"web"}))
    ledger.upsert_locations([dataclasses.replace(nyc, methods=frozenset({Method.PICKUP})), new])
    assert store.network.index.index("ST-PVD") == 7  # appended: existing indices never move
    web = store.network.channel_index("web")
    assert store.atp(store.skus.index("TEE"), web, Method.SHIP) == 39


def test_a_snapshot_load_replaces_everything(ledger: MemoryLedger, store: StockStore) -> None:
    from tests.scenarios import Stock

    ledger.load_snapshot(snapshot_of(north_east_locations(), Stock(on_hand={("NEW", "DC-EAST"): 3})))
    assert list(store.skus.ids) == ["NEW"]
    assert store.totals() == (3, 0)
    assert store.position_count == 1


# ---------------------------------------------------------------------------------------------- bad input
def _bad_safety() -> list[tuple[list[SafetyStockEntry], str]]:
    ok = SafetyStockEntry("TEE", "DC-EAST", 2)
    return [
        ([], "entries"),
        ([ok, SafetyStockEntry("bad sku", "DC-EAST", 2)], "entries[1].sku"),
        ([ok, SafetyStockEntry("NOPE", "DC-EAST", 2)], "entries[1].sku"),
        ([ok, SafetyStockEntry("TEE", "NOWHERE", 2)], "entries[1].location"),
        ([ok, SafetyStockEntry("TEE", "bad loc", 2)], "entries[1].location"),
        ([ok, SafetyStockEntry("TEE", "DC-WEST", -1)], "entries[1].quantity"),
        ([ok, SafetyStockEntry("TEE", "DC-WEST", MAX_QUANTITY + 1)], "entries[1].quantity"),
        ([ok, SafetyStockEntry("TEE", "DC-WEST", 2.5)], "entries[1].quantity"),  # type: ignore[arg-type]
        ([ok, SafetyStockEntry("TEE", "DC-EAST", 3)], "entries[1]"),  # the same position twice
    ]


@pytest.mark.parametrize(("entries", "field"), _bad_safety())
def test_bad_safety_stock_entries_change_nothing(
    ledger: MemoryLedger, store: StockStore, entries: list[SafetyStockEntry], field: str
) -> None:
    before = full_state(store)
    with pytest.raises(InvalidArgument) as err:
        ledger.set_safety_stock(entries)
    assert err.value.field == field
    assert full_state(store) == before


def _bad_allocations() -> list[tuple[list[AllocationRow], str]]:
    ok = AllocationRow("TEE", "web", 2)
    return [
        ([], "entries"),
        ([ok, AllocationRow("NOPE", "web", 2)], "entries[1].sku"),
        ([ok, AllocationRow("bad sku", "web", 2)], "entries[1].sku"),
        ([ok, AllocationRow("TEE", "tiktok", 2)], "entries[1].channel"),
        ([ok, AllocationRow("TEE", "", 2)], "entries[1].channel"),
        ([ok, AllocationRow("TEE", "app", -2)], "entries[1].quantity"),
        ([ok, AllocationRow("TEE", "app", MAX_QUANTITY * 2)], "entries[1].quantity"),
        ([ok, AllocationRow("TEE", "app", 2, -1)], "entries[1].consumed"),
        ([ok, AllocationRow("TEE", "app", 2, 3)], "entries[1].consumed"),
        ([ok, AllocationRow("TEE", "web", 5)], "entries[1]"),
    ]


@pytest.mark.parametrize(("entries", "field"), _bad_allocations())
def test_bad_allocations_change_nothing(
    ledger: MemoryLedger, store: StockStore, entries: list[AllocationRow], field: str
) -> None:
    before = full_state(store)
    with pytest.raises(InvalidArgument) as err:
        ledger.set_allocations(entries)
    assert err.value.field == field
    assert full_state(store) == before


def test_bad_location_upserts_change_nothing(ledger: MemoryLedger, store: StockStore) -> None:
    first = north_east_locations()[0]
    unknown_channel = dataclasses.replace(first, channels=frozenset({"tiktok"}))
    for bad in ([], [first, first], [unknown_channel]):
        before = full_state(store)
        with pytest.raises(InvalidArgument):
            ledger.upsert_locations(bad)
        assert full_state(store) == before
    with pytest.raises(InvalidArgument):
        Location("bad id", "x", LocationType.STORE, 0, 0)
    with pytest.raises(InvalidArgument):
        Location("L", "x", LocationType.STORE, 95, 0)


def test_a_bad_snapshot_changes_nothing(ledger: MemoryLedger, store: StockStore) -> None:
    good = snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups())
    import numpy as np

    bad_index = dataclasses.replace(good, stock_loc=good.stock_loc + 100)
    negative_safety = dataclasses.replace(good, stock_safety=np.full_like(good.stock_safety, -7))
    ragged = dataclasses.replace(good, stock_on_hand=good.stock_on_hand[:-1])
    twice = dataclasses.replace(
        good,
        stock_sku=np.concatenate([good.stock_sku, good.stock_sku[:1]]),
        stock_loc=np.concatenate([good.stock_loc, good.stock_loc[:1]]),
        stock_on_hand=np.concatenate([good.stock_on_hand, good.stock_on_hand[:1]]),
        stock_safety=np.concatenate([good.stock_safety, good.stock_safety[:1]]),
    )
    huge = dataclasses.replace(good, stock_on_hand=np.full_like(good.stock_on_hand, MAX_QUANTITY + 1))
    bad_inbound = dataclasses.replace(
        good,
        inbound_sku=np.array([0], np.int32),
        inbound_loc=np.array([0], np.int32),
        inbound_qty=np.array([5], np.int32),
        inbound_day=np.array([20_000], np.int32),
        inbound_type=np.array([7], np.int32),
    )
    for bad in (bad_index, negative_safety, ragged, twice, huge, bad_inbound):
        before = full_state(store)
        with pytest.raises(InvalidArgument):
            ledger.load_snapshot(bad)
        assert full_state(store) == before
    assert ledger.sequence == 0
