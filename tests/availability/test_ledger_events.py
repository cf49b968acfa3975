"""Stock events through the memory ledger, where it promises more than the contract suite
(tests/contract/test_stock_events.py, which also runs on this ledger) can ask of every backend: exact
sequence numbers and change batches, slice moves and rebuilds of the position arrays, SKU table growth,
and the cap on remembered ids."""

from __future__ import annotations

import dataclasses

import pytest

from availability import EventType, Method, Scope, StockEvent, StockStore
from availability.ledger import ChangeBatch, MemoryLedger
from tests.contract.events import A, D, R, ev, on_hand, outcomes
from tests.scenarios import (
    T0,
    everyday_stock,
    grid_store,
    ledger_over,
    north_east,
)


@pytest.fixture
def store() -> StockStore:
    """everyday_stock: TEE has 10 everywhere, MUG 5 at DC-EAST and 7 at DC-WEST, CAP 3 at ST-CAM."""
    return north_east(everyday_stock())


@pytest.fixture
def ledger(store: StockStore) -> MemoryLedger:
    return ledger_over(store)


# ---------------------------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    ("kind", "qty", "after"),
    [
        (EventType.RECEIPT, 4, 14),
        (EventType.SALE, 3, 7),
        (EventType.RETURN_SELLABLE, 2, 12),
        (EventType.RETURN_DAMAGED, 2, 10),  # recorded, never sellable stock
        (EventType.ADJUSTMENT, 5, 15),
        (EventType.ADJUSTMENT, -4, 6),
        (EventType.CYCLE_COUNT, 8, 8),  # absolute
        (EventType.CYCLE_COUNT, 0, 0),
        (EventType.TRANSFER_OUT, 6, 4),
        (EventType.TRANSFER_IN, 6, 16),
    ],
)
def test_each_event_type_moves_on_hand_by_its_rule(
    ledger: MemoryLedger, store: StockStore, kind: EventType, qty: int, after: int
) -> None:
    res = ledger.apply_stock_events([ev("e1", kind, "TEE", qty, 0)])
    assert [r.outcome for r in res.results] == [A]
    assert res.results[0].sequence == res.sequence == store.sequence == 1
    assert on_hand(store, "TEE") == after
    # nothing else moved
    assert on_hand(store, "TEE", "DC-WEST") == 10
    assert on_hand(store, "MUG") == 5


def test_transfer_out_and_in_in_one_batch_keep_the_network_total(ledger: MemoryLedger, store: StockStore) -> None:
    res = ledger.apply_stock_events(
        [
            ev("o", EventType.TRANSFER_OUT, "MUG", 4, 0, "DC-EAST"),
            ev("i", EventType.TRANSFER_IN, "MUG", 4, 1, "DC-WEST"),
        ]
    )
    assert [r.outcome for r in res.results] == [A, A]
    assert [r.sequence for r in res.results] == [1, 2]
    assert (on_hand(store, "MUG"), on_hand(store, "MUG", "DC-WEST")) == (1, 11)


# ---------------------------------------------------------------------------------------------- new positions
def test_many_new_positions_force_a_rebuild_and_keep_every_position() -> None:
    """P starts at one of 400 locations; receipts at all of them overflow its slice again and again: it
    moves to the spare tail until the tail is used up, then the arrays are rebuilt."""
    store = grid_store(400, {("P", "L0000"): 1, ("Q", "L0399"): 5})
    ledger = ledger_over(store)
    old = store.view()
    before = old.atp(1, 0, Method.SHIP, Scope(), -1)
    events = [StockEvent(f"r{i}", EventType.RECEIPT, f"L{i:04d}", "P", 1 + i % 7, T0 + i) for i in range(400)]
    assert ledger.apply_stock_events(events).count(A) == 400
    assert store.generation.pos is not old.gen.pos  # a new generation was swapped in
    assert store.sku_locations(0).tolist() == list(range(400))
    for i in range(400):
        assert on_hand(store, "P", f"L{i:04d}") == 1 + i % 7 + (1 if i == 0 else 0)
    assert on_hand(store, "Q", "L0399") == 5
    assert old.atp(1, 0, Method.SHIP, Scope(), -1) == before == store.atp(1, 0, Method.SHIP)


def test_new_positions_of_several_skus_in_one_batch(ledger: MemoryLedger, store: StockStore) -> None:
    """CAP (one location) and MUG (two) appear everywhere: their slices move; nothing else changes."""
    names = [lo.id for lo in store.network.locations]
    res = ledger.apply_stock_events(
        [ev(f"c{i}", EventType.RECEIPT, "CAP", i + 1, i, n) for i, n in enumerate(names)]
        + [ev(f"m{i}", EventType.RECEIPT, "MUG", 1, i, n) for i, n in enumerate(names)]
    )
    assert res.count(A) == 2 * len(names)
    cap, mug = store.skus.index("CAP"), store.skus.index("MUG")
    assert store.sku_locations(cap).tolist() == store.sku_locations(mug).tolist() == list(range(len(names)))
    assert on_hand(store, "CAP", "ST-CAM") == 3 + 4
    assert on_hand(store, "MUG", "DC-WEST") == 8
    assert store.totals()[0] == 70 + 12 + 3 + sum(range(1, len(names) + 1)) + len(names)


def test_readers_of_the_old_generation_keep_a_consistent_picture() -> None:
    """A reader holding the state from before a rebuild keeps answering from it, unchanged by later
    writes; new readers see the writes."""
    store = grid_store(400, {("P", "L0000"): 1, ("Q", "L0399"): 5})
    ledger = ledger_over(store)
    old = store.view()
    ledger.apply_stock_events([StockEvent(f"r{i}", EventType.RECEIPT, f"L{i:04d}", "P", 1, T0 + i) for i in range(400)])
    assert store.generation.pos is not old.gen.pos
    ledger.apply_stock_events([StockEvent("s", EventType.SALE, "L0399", "Q", 2, T0 + 500)])
    assert old.atp(1, 0, Method.SHIP, Scope(), -1) == 5
    assert store.atp(1, 0, Method.SHIP) == 3


def test_thousands_of_new_skus_grow_the_sku_table(store: StockStore) -> None:
    ledger = ledger_over(store)
    cap_before = store.generation.sku_capacity
    events = [ev(f"n{i}", EventType.RECEIPT, f"NEW-{i}", 1 + i % 5, i, "DC-WEST") for i in range(cap_before + 100)]
    assert ledger.apply_stock_events(events).count(A) == len(events)
    assert store.generation.sku_capacity > cap_before
    assert on_hand(store, f"NEW-{cap_before + 99}", "DC-WEST") == 1 + (cap_before + 99) % 5
    assert on_hand(store, "TEE") == 10


# ------------------------------------------------------------------------------------------ change records
def test_change_records_follow_the_write(ledger: MemoryLedger, store: StockStore) -> None:
    seen: list[ChangeBatch] = []
    unsubscribe = ledger.subscribe(seen.append)
    res = ledger.apply_stock_events(
        [
            ev("a", EventType.SALE, "TEE", 2, 0, "ST-BOS"),
            ev("b", EventType.RETURN_DAMAGED, "TEE", 1, 1, "ST-BOS"),  # applied, no delta: no record
            ev("c", EventType.CYCLE_COUNT, "MUG", 9, 2, "DC-WEST"),
        ]
    )
    assert [r.sequence for r in res.results] == [1, 2, 3]
    (batch,) = seen
    assert batch.sequence == 3
    assert [store.skus.id(int(s)) for s in batch.sku] == ["TEE", "MUG"]
    assert [store.network.index.id(int(li)) for li in batch.loc] == ["ST-BOS", "DC-WEST"]
    assert batch.d_on_hand.tolist() == [-2, 2]
    assert batch.d_reserved.tolist() == [0, 0]
    assert batch.seq.tolist() == [1, 3]
    unsubscribe()
    ledger.apply_stock_events([ev("d", EventType.SALE, "TEE", 1, 3)])
    assert len(seen) == 1


# ---------------------------------------------------------------------------------------------- bad input
GOOD = ev("good", EventType.SALE, "TEE", 1, 0)


def test_good_events_of_a_mixed_batch_apply_and_bad_ones_are_rejected(ledger: MemoryLedger, store: StockStore) -> None:
    res = ledger.apply_stock_events(
        [
            ev("g1", EventType.SALE, "TEE", 1, 0),
            dataclasses.replace(GOOD, event_id="b1", quantity=-3),
            ev("g2", EventType.RECEIPT, "TEE", 5, 1),
            dataclasses.replace(GOOD, event_id="b2", location="NOWHERE"),
            ev("g3", EventType.RECEIPT, "MUG", 1, 2),
        ]
    )
    assert [r.outcome for r in res.results] == [A, R, A, R, A]
    assert [r.event_id for r in res.results] == ["g1", "b1", "g2", "b2", "g3"]
    assert [r.sequence for r in res.results] == [1, 0, 2, 0, 3]
    assert on_hand(store, "TEE") == 14


# ---------------------------------------------------------------------------------------------- memory of ids
def test_the_oldest_ids_go_first_past_the_memory_cap(store: StockStore) -> None:
    ledger = ledger_over(store, max_remembered_events=3)
    first = ev("first", EventType.RECEIPT, "TEE", 1, 0)
    ledger.apply_stock_events([first])
    ledger.apply_stock_events([ev(f"n{i}", EventType.RECEIPT, "TEE", 1, 1 + i) for i in range(3)])
    assert outcomes(ledger, ev("n2", EventType.RECEIPT, "TEE", 1, 3)) == [D]
    assert outcomes(ledger, first) == [A]
