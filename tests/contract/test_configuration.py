"""The configuration-write contract, on every backend: safety stock, ring-fences, location upserts and
snapshot loads; each publishes what it touched, and bad input of every kind leaves the state unchanged.
Ported from tests/availability/test_ledger_config.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from availability import AllocationRow, InvalidArgument, Location, LocationType, Method, Snapshot
from availability.ledger import ChangeBatch, Ledger, SafetyStockEntry
from availability.model import MAX_QUANTITY
from tests.contract.conftest import LedgerFactory
from tests.scenarios import (
    Stock,
    everyday_stock,
    full_state,
    marketplace_ring_fence,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)


def fenced_snapshot() -> Snapshot:
    """everyday_stock plus the LAMP ring-fences of marketplace_ring_fence."""
    base = everyday_stock()
    fence = marketplace_ring_fence()
    stock = dataclasses.replace(base, on_hand={**base.on_hand, **fence.on_hand}, allocations=fence.allocations)
    return snapshot_of(north_east_locations(), stock, groups=north_east_groups())


@pytest.fixture
def ledger(ledger_factory: LedgerFactory) -> Ledger:
    return ledger_factory(fenced_snapshot())


def test_each_configuration_write_publishes_what_it_touched(ledger: Ledger) -> None:
    store = ledger.store
    seen: list[ChangeBatch] = []
    ledger.subscribe(seen.append)
    sequences = [store.sequence]

    def touched() -> set[str]:
        out = {store.skus.id(int(s)) for b in seen for s in b.skus_touched}
        seen.clear()
        return out

    sequences.append(
        ledger.set_safety_stock([SafetyStockEntry("TEE", "DC-EAST", 3), SafetyStockEntry("MUG", "DC-WEST", 1)])
    )
    assert touched() == {"TEE", "MUG"}
    sequences.append(ledger.set_allocations([AllocationRow("TEE", "app", 4)]))
    assert touched() == {"TEE"}
    sequences.append(ledger.upsert_locations([north_east_locations()[0]]))
    assert seen and all(b.everything for b in seen)
    seen.clear()
    sequences.append(
        ledger.load_snapshot(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))
    )
    assert seen and seen[-1].everything
    assert sequences == sorted(set(sequences)), "every write moves the sequence forward"
    assert ledger.sequence == store.sequence == sequences[-1]


def test_safety_stock_is_set_cleared_and_creates_positions(ledger: Ledger) -> None:
    store = ledger.store
    web = store.network.channel_index("web")
    mug = store.skus.index("MUG")
    nyc = store.network.index.index("ST-NYC")
    ledger.set_safety_stock([SafetyStockEntry("MUG", "DC-EAST", 2), SafetyStockEntry("MUG", "ST-NYC", 0)])
    east = store.position(mug, 0)
    assert east is not None and (east.safety_stock, east.safety_explicit) == (2, True)
    p = store.position(mug, nyc)
    assert p is not None and (p.on_hand, p.safety_stock, p.safety_explicit) == (0, 0, True)
    assert store.atp(mug, web, Method.SHIP) == 3 + 7
    ledger.set_safety_stock([SafetyStockEntry("MUG", "DC-EAST", None)])
    east = store.position(mug, 0)
    assert east is not None and (east.safety_stock, east.safety_explicit) == (0, False)  # the DC default


def test_ring_fences_keep_or_set_what_was_consumed_and_quantity_zero_removes(ledger: Ledger) -> None:
    store = ledger.store
    lamp = store.skus.index("LAMP")
    market = store.network.channel_index("marketplace")
    web = store.network.channel_index("web")
    app = store.network.channel_index("app")
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 2)])  # 3 consumed so far: capped at 2
    assert (market, 2, 2) in store.allocations(lamp)
    ledger.set_allocations([AllocationRow("LAMP", "marketplace", 9, 4), AllocationRow("LAMP", "app", 5)])
    assert sorted(store.allocations(lamp)) == sorted([(market, 9, 4), (web, 2, 0), (app, 5, 0)])
    ledger.set_allocations([AllocationRow("LAMP", "web", 0)])
    assert sorted(store.allocations(lamp)) == sorted([(market, 9, 4), (app, 5, 0)])
    assert store.atp(lamp, web, Method.SHIP) == 24 - 5 - 5


def test_a_location_type_change_moves_its_default_safety_stock(ledger: Ledger) -> None:
    store = ledger.store
    web = store.network.channel_index("web")
    tee = store.skus.index("TEE")
    assert store.atp(tee, web, Method.SHIP) == 48
    nyc = next(lo for lo in store.network.locations if lo.id == "ST-NYC")
    ledger.upsert_locations([dataclasses.replace(nyc, type=LocationType.DISTRIBUTION_CENTER)])
    assert store.atp(tee, web, Method.SHIP) == 49


def test_a_new_location_and_a_changed_one_in_one_upsert(ledger: Ledger) -> None:
    from availability import EventOutcome, EventType, StockEvent
    from tests.scenarios import T0

    store = ledger.store
    nyc = next(lo for lo in store.network.locations if lo.id == "ST-NYC")
    new = Location("ST-PVD", "Providence", LocationType.STORE, 41.82, -71.41, channels=frozenset({"web"}))
    ledger.upsert_locations([dataclasses.replace(nyc, methods=frozenset({Method.PICKUP})), new])
    assert store.network.index.index("ST-PVD") == 7
    web = store.network.channel_index("web")
    assert store.atp(store.skus.index("TEE"), web, Method.SHIP) == 39
    # the new location takes stock events at once
    res = ledger.apply_stock_events([StockEvent("pvd", EventType.RECEIPT, "ST-PVD", "TEE", 4, T0)])
    assert res.results[0].outcome is EventOutcome.APPLIED
    assert store.atp(store.skus.index("TEE"), web, Method.SHIP) == 42


def test_a_snapshot_load_replaces_everything(ledger: Ledger) -> None:
    store = ledger.store
    ledger.load_snapshot(snapshot_of(north_east_locations(), Stock(on_hand={("NEW", "DC-EAST"): 3})))
    assert list(store.skus.ids) == ["NEW"]
    assert store.totals() == (3, 0)
    assert store.position_count == 1
    assert store.allocations(0) == []


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
        ([ok, SafetyStockEntry("TEE", "DC-EAST", 3)], "entries[1]"),
    ]


@pytest.mark.parametrize(("entries", "field"), _bad_safety())
def test_bad_safety_stock_entries_change_nothing(ledger: Ledger, entries: list[SafetyStockEntry], field: str) -> None:
    before = full_state(ledger.store)
    with pytest.raises(InvalidArgument) as err:
        ledger.set_safety_stock(entries)
    assert err.value.field == field
    assert full_state(ledger.store) == before


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
def test_bad_allocations_change_nothing(ledger: Ledger, entries: list[AllocationRow], field: str) -> None:
    before = full_state(ledger.store)
    with pytest.raises(InvalidArgument) as err:
        ledger.set_allocations(entries)
    assert err.value.field == field
    assert full_state(ledger.store) == before


def test_bad_location_upserts_change_nothing(ledger: Ledger) -> None:
    first = north_east_locations()[0]
    unknown_channel = dataclasses.replace(first, channels=frozenset({"tiktok"}))
    for bad in ([], [first, first], [unknown_channel]):
        before = full_state(ledger.store)
        with pytest.raises(InvalidArgument):
            ledger.upsert_locations(bad)
        assert full_state(ledger.store) == before


def test_a_bad_snapshot_changes_nothing(ledger: Ledger) -> None:
    good = snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups())
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
        before = full_state(ledger.store)
        with pytest.raises(InvalidArgument):
            ledger.load_snapshot(bad)
        assert full_state(ledger.store) == before
    assert ledger.sequence == 0
