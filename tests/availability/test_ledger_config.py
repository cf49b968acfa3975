"""Configuration writes through the memory ledger, where it promises more than the contract suite
(tests/contract/test_configuration.py, which also runs on this ledger): one change batch per write with
consecutive sequences. Also: a bad Location is refused when it is made, before any ledger sees it."""

from __future__ import annotations

import dataclasses

import pytest

from availability import AllocationRow, InvalidArgument, Location, LocationType, StockStore
from availability.ledger import ChangeBatch, MemoryLedger, SafetyStockEntry
from tests.scenarios import (
    everyday_stock,
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


# ---------------------------------------------------------------------------------------------- bad input
def test_a_bad_location_is_refused_where_it_is_made() -> None:
    with pytest.raises(InvalidArgument):
        Location("bad id", "x", LocationType.STORE, 0, 0)
    with pytest.raises(InvalidArgument):
        Location("L", "x", LocationType.STORE, 95, 0)
