"""Stock events through the memory ledger: every event type, idempotency, ordering against cycle counts,
new positions and SKUs, ring-fence consumption, change records, and bad input that changes nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from availability import EventOutcome, EventType, InvalidArgument, Method, Scope, StockEvent, StockStore
from availability.ledger import MAX_EVENT_BATCH, ChangeBatch, MemoryLedger
from availability.model import MAX_QUANTITY
from tests.scenarios import (
    HOUR,
    T0,
    FakeClock,
    everyday_stock,
    full_state,
    grid_store,
    ledger_over,
    marketplace_ring_fence,
    north_east,
)

A = EventOutcome.APPLIED
D = EventOutcome.DUPLICATE
S = EventOutcome.STALE
R = EventOutcome.REJECTED


def ev(
    eid: str, kind: EventType, sku: str, qty: int, at: int, location: str = "DC-EAST", channel: str = ""
) -> StockEvent:
    """An event `at` ms after T0."""
    return StockEvent(eid, kind, location, sku, qty, T0 + at, channel)


def on_hand(store: StockStore, sku: str, location: str = "DC-EAST") -> int:
    p = store.position(store.skus.index(sku), store.network.index.index(location))
    assert p is not None
    return p.on_hand


def outcomes(ledger: MemoryLedger, *events: StockEvent) -> list[EventOutcome]:
    return [r.outcome for r in ledger.apply_stock_events(list(events)).results]


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


def test_a_sale_may_take_on_hand_negative_and_atp_floors_at_zero(
    ledger: MemoryLedger, store: StockStore
) -> None:
    assert outcomes(ledger, ev("s", EventType.SALE, "MUG", 8, 0)) == [A]
    assert on_hand(store, "MUG") == -3
    web = store.network.channel_index("web")
    # DC-EAST counts 0 (not -3), DC-WEST still gives its 7
    assert store.atp(store.skus.index("MUG"), web, Method.SHIP) == 7


def test_transfer_out_and_in_in_one_batch_keep_the_network_total(
    ledger: MemoryLedger, store: StockStore
) -> None:
    res = ledger.apply_stock_events(
        [
            ev("o", EventType.TRANSFER_OUT, "MUG", 4, 0, "DC-EAST"),
            ev("i", EventType.TRANSFER_IN, "MUG", 4, 1, "DC-WEST"),
        ]
    )
    assert [r.outcome for r in res.results] == [A, A]
    assert [r.sequence for r in res.results] == [1, 2]
    assert (on_hand(store, "MUG"), on_hand(store, "MUG", "DC-WEST")) == (1, 11)


# ---------------------------------------------------------------------------------------------- idempotency
def test_replaying_an_event_is_a_duplicate_and_changes_nothing(
    ledger: MemoryLedger, store: StockStore
) -> None:
    e = ev("r1", EventType.RECEIPT, "TEE", 5, 0)
    assert outcomes(ledger, e) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([e])
    assert [r.outcome for r in res.results] == [D]
    assert res.results[0].sequence == 0
    assert full_state(store) == before


def test_an_id_reused_with_another_payload_is_rejected(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("r1", EventType.RECEIPT, "TEE", 5, 0)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("r1", EventType.RECEIPT, "TEE", 6, 0)])
    assert res.results[0].outcome is R
    assert "different payload" in res.results[0].reason
    assert full_state(store) == before


def test_duplicates_inside_one_batch_follow_the_first_copy(ledger: MemoryLedger, store: StockStore) -> None:
    e = ev("x", EventType.RECEIPT, "TEE", 5, 0)
    other = ev("x", EventType.RECEIPT, "TEE", 9, 0)
    assert outcomes(ledger, e, e, other) == [A, D, R]
    assert on_hand(store, "TEE") == 15


def test_a_copy_of_a_rejected_event_in_the_same_batch_is_rejected_too(
    ledger: MemoryLedger, store: StockStore
) -> None:
    big = ev("big", EventType.RECEIPT, "TEE", MAX_QUANTITY, 0)  # 10 + 1e9 leaves the allowed range
    res = ledger.apply_stock_events([big, big])
    assert [r.outcome for r in res.results] == [R, R]
    assert res.results[1].reason == res.results[0].reason
    assert on_hand(store, "TEE") == 10
    # rejected events are not remembered: the corrected event may reuse the id
    assert outcomes(ledger, ev("big", EventType.RECEIPT, "TEE", 1, 0)) == [A]


def test_a_malformed_event_does_not_claim_its_id(ledger: MemoryLedger) -> None:
    assert outcomes(ledger, ev("m", EventType.SALE, "TEE", -1, 0), ev("m", EventType.SALE, "TEE", 1, 0)) == [
        R,
        A,
    ]


def test_a_stale_event_is_remembered_like_an_applied_one(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 10)) == [A]
    late = ev("late", EventType.SALE, "TEE", 1, 5)
    assert outcomes(ledger, late) == [S]
    assert outcomes(ledger, late) == [D]
    assert outcomes(ledger, dataclasses.replace(late, quantity=2)) == [R]
    assert on_hand(store, "TEE") == 20


# ---------------------------------------------------------------------------------------------- ordering
def test_deltas_before_the_last_count_are_stale(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    res = ledger.apply_stock_events(
        [ev("old", EventType.SALE, "TEE", 3, 99), ev("new", EventType.SALE, "TEE", 3, 101)]
    )
    assert [r.outcome for r in res.results] == [S, A]
    assert "before the count" in res.results[0].reason
    assert on_hand(store, "TEE") == 17


def test_a_late_count_adds_the_deltas_applied_after_its_time(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(
        ledger,
        ev("a", EventType.SALE, "TEE", 2, 50),  # before the count: the count already reflects it
        ev("b", EventType.RECEIPT, "TEE", 7, 150),  # after the count: added on top of it
        ev("c", EventType.SALE, "TEE", 1, 160),
    ) == [A, A, A]
    assert outcomes(ledger, ev("count", EventType.CYCLE_COUNT, "TEE", 30, 100)) == [A]
    assert on_hand(store, "TEE") == 30 + 7 - 1


def test_a_delta_at_the_count_time_counts_whatever_the_arrival_order(store: StockStore) -> None:
    first = ledger_over(store)
    assert outcomes(
        first, ev("d", EventType.SALE, "TEE", 4, 100), ev("c", EventType.CYCLE_COUNT, "TEE", 30, 100)
    ) == [
        A,
        A,
    ]
    other = north_east(everyday_stock())
    second = ledger_over(other)
    assert outcomes(
        second, ev("c", EventType.CYCLE_COUNT, "TEE", 30, 100), ev("d", EventType.SALE, "TEE", 4, 100)
    ) == [
        A,
        A,
    ]
    assert on_hand(store, "TEE") == on_hand(other, "TEE") == 26


def test_a_count_no_newer_than_the_last_is_stale(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c1", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    res = ledger.apply_stock_events(
        [ev("c0", EventType.CYCLE_COUNT, "TEE", 5, 99), ev("c-same", EventType.CYCLE_COUNT, "TEE", 6, 100)]
    )
    assert [r.outcome for r in res.results] == [S, S]
    assert "newer count" in res.results[0].reason
    assert on_hand(store, "TEE") == 20


def test_counts_are_per_position(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100, "DC-EAST")) == [A]
    assert outcomes(ledger, ev("s", EventType.SALE, "TEE", 1, 50, "DC-WEST")) == [A]
    assert on_hand(store, "TEE", "DC-WEST") == 9


def test_a_count_older_than_the_window_is_rejected(store: StockStore) -> None:
    clock = FakeClock()
    ledger = ledger_over(store, clock, count_window_ms=HOUR)
    assert outcomes(ledger, ev("now", EventType.SALE, "TEE", 1, 10 * HOUR)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("old", EventType.CYCLE_COUNT, "TEE", 50, 8 * HOUR)])
    assert res.results[0].outcome is R
    assert "reconciliation window" in res.results[0].reason
    assert full_state(store) == before
    # inside the window it applies, with the later delta on top
    assert outcomes(ledger, ev("ok", EventType.CYCLE_COUNT, "TEE", 50, 9 * HOUR + 1)) == [A]
    assert on_hand(store, "TEE") == 49


def test_a_count_outside_the_window_for_a_new_sku_creates_nothing(store: StockStore) -> None:
    ledger = ledger_over(store, count_window_ms=HOUR)
    assert outcomes(ledger, ev("now", EventType.SALE, "TEE", 1, 10 * HOUR)) == [A]
    before = full_state(store)
    assert outcomes(ledger, ev("old", EventType.CYCLE_COUNT, "NEWSKU", 5, HOUR)) == [R]
    assert full_state(store) == before


def test_an_event_stamped_in_the_future_does_not_push_counts_out_of_the_window(store: StockStore) -> None:
    clock = FakeClock(T0 + 10 * HOUR)
    ledger = ledger_over(store, clock, count_window_ms=2 * HOUR)
    # allowed (within max_future_ms), but the window still ends at the ledger's clock
    assert outcomes(ledger, ev("future", EventType.RECEIPT, "MUG", 1, 30 * HOUR)) == [A]
    assert outcomes(ledger, ev("count", EventType.CYCLE_COUNT, "TEE", 3, 9 * HOUR)) == [A]
    assert on_hand(store, "TEE") == 3


def test_old_journal_entries_are_pruned_without_changing_any_rule(store: StockStore) -> None:
    """More deltas than the journal holds: entries older than the window go, recent ones stay."""
    clock = FakeClock(T0 + 100 * HOUR)
    ledger = ledger_over(store, clock, count_window_ms=HOUR)
    t = 0
    for b in range(4):
        batch = [ev(f"b{b}-{i}", EventType.RECEIPT, "TEE", 1, t + i) for i in range(3000)]
        t += 10 * HOUR
        assert ledger.apply_stock_events(batch).count(A) == 3000
    last = t - 10 * HOUR
    assert on_hand(store, "TEE") == 10 + 12_000
    # a count 1000 ms into the last batch's range adds the 2000 receipts after it
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 0, last + 1000)) == [A]
    assert on_hand(store, "TEE") == 2000


# ---------------------------------------------------------------------------------------------- new positions
def test_a_sku_at_a_new_location_becomes_a_position(ledger: MemoryLedger, store: StockStore) -> None:
    mug = store.skus.index("MUG")
    web = store.network.channel_index("web")
    before = store.atp(mug, web, Method.SHIP)
    assert store.position(mug, store.network.index.index("ST-NYC")) is None
    assert outcomes(ledger, ev("r", EventType.RECEIPT, "MUG", 6, 0, "ST-NYC")) == [A]
    p = store.position(mug, store.network.index.index("ST-NYC"))
    assert p is not None
    assert (p.on_hand, p.reserved, p.safety_stock, p.safety_explicit) == (6, 0, 1, False)  # store default
    assert store.atp(mug, web, Method.SHIP) == before + 5
    assert store.sku_locations(mug).tolist() == [0, 1, 4]  # still sorted by location


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
    ledger.apply_stock_events(
        [StockEvent(f"r{i}", EventType.RECEIPT, f"L{i:04d}", "P", 1, T0 + i) for i in range(400)]
    )
    assert store.generation.pos is not old.gen.pos
    ledger.apply_stock_events([StockEvent("s", EventType.SALE, "L0399", "Q", 2, T0 + 500)])
    assert old.atp(1, 0, Method.SHIP, Scope(), -1) == 5
    assert store.atp(1, 0, Method.SHIP) == 3


def test_a_brand_new_sku_is_created_by_its_first_event(ledger: MemoryLedger, store: StockStore) -> None:
    n = len(store.skus)
    assert outcomes(ledger, ev("n", EventType.RECEIPT, "NEW-1", 4, 0, "DC-WEST")) == [A]
    assert len(store.skus) == n + 1
    assert on_hand(store, "NEW-1", "DC-WEST") == 4
    web = store.network.channel_index("web")
    assert store.atp(store.skus.index("NEW-1"), web, Method.SHIP) == 4


def test_thousands_of_new_skus_grow_the_sku_table(store: StockStore) -> None:
    ledger = ledger_over(store)
    cap_before = store.generation.sku_capacity
    events = [
        ev(f"n{i}", EventType.RECEIPT, f"NEW-{i}", 1 + i % 5, i, "DC-WEST") for i in range(cap_before + 100)
    ]
    assert ledger.apply_stock_events(events).count(A) == len(events)
    assert store.generation.sku_capacity > cap_before
    assert on_hand(store, f"NEW-{cap_before + 99}", "DC-WEST") == 1 + (cap_before + 99) % 5
    assert on_hand(store, "TEE") == 10


# ---------------------------------------------------------------------------------------------- channels
def test_a_channel_sale_consumes_its_ring_fence() -> None:
    store = north_east(marketplace_ring_fence())
    ledger = ledger_over(store)
    lamp = store.skus.index("LAMP")
    market = store.network.channel_index("marketplace")
    web = store.network.channel_index("web")
    assert outcomes(ledger, ev("s", EventType.SALE, "LAMP", 4, 0, "DC-EAST", "marketplace")) == [A]
    assert (market, 8, 7) in store.allocations(lamp)
    # more than what is left: only the rest is consumed
    assert outcomes(ledger, ev("s2", EventType.SALE, "LAMP", 4, 1, "DC-EAST", "marketplace")) == [A]
    assert (market, 8, 8) in store.allocations(lamp)
    # a sale without a channel, or a web sale, leaves the marketplace fence alone
    assert outcomes(ledger, ev("s3", EventType.SALE, "LAMP", 1, 2, "DC-WEST")) == [A]
    assert outcomes(ledger, ev("s4", EventType.SALE, "LAMP", 1, 3, "DC-WEST", "web")) == [A]
    assert (market, 8, 8) in store.allocations(lamp)
    assert (web, 2, 1) in store.allocations(lamp)


def test_an_unknown_channel_is_rejected(ledger: MemoryLedger, store: StockStore) -> None:
    before = full_state(store)
    res = ledger.apply_stock_events([ev("u", EventType.SALE, "TEE", 1, 0, "DC-EAST", "tiktok")])
    assert res.results[0].outcome is R
    assert "unknown channel" in res.results[0].reason
    assert full_state(store) == before


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


def test_nothing_is_published_for_a_batch_that_changed_nothing(ledger: MemoryLedger) -> None:
    seen: list[ChangeBatch] = []
    ledger.subscribe(seen.append)
    ledger.apply_stock_events([ev("x", EventType.SALE, "TEE", -1, 0)])
    assert seen == []


# ---------------------------------------------------------------------------------------------- bad input
GOOD = ev("good", EventType.SALE, "TEE", 1, 0)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (dataclasses.replace(GOOD, event_id=""), "event_id"),
        (dataclasses.replace(GOOD, event_id="has space"), "event_id"),
        (dataclasses.replace(GOOD, event_id="x" * 129), "event_id"),
        (dataclasses.replace(GOOD, event_id="-leading"), "event_id"),
        (dataclasses.replace(GOOD, event_id="trailing\n"), "event_id"),
        (dataclasses.replace(GOOD, event_id=7), "event_id"),  # type: ignore[arg-type]
        (dataclasses.replace(GOOD, sku="bad sku"), "sku"),
        (dataclasses.replace(GOOD, sku=""), "sku"),
        (dataclasses.replace(GOOD, location="DC EAST"), "location"),
        (dataclasses.replace(GOOD, location="NOWHERE"), "location"),
        (dataclasses.replace(GOOD, channel="we b"), "channel"),
        (dataclasses.replace(GOOD, type="sale"), "type"),  # type: ignore[arg-type]
        (dataclasses.replace(GOOD, quantity=-1), "quantity"),
        (dataclasses.replace(GOOD, quantity=0), "quantity"),
        (dataclasses.replace(GOOD, quantity=MAX_QUANTITY + 1), "quantity"),
        (dataclasses.replace(GOOD, quantity=2**80), "quantity"),
        (dataclasses.replace(GOOD, quantity=1.5), "quantity"),  # type: ignore[arg-type]
        (dataclasses.replace(GOOD, quantity=True), "quantity"),
        (dataclasses.replace(GOOD, type=EventType.ADJUSTMENT, quantity=0), "quantity"),
        (dataclasses.replace(GOOD, type=EventType.CYCLE_COUNT, quantity=-5), "quantity"),
        (dataclasses.replace(GOOD, occurred_at=0), "occurred_at"),
        (dataclasses.replace(GOOD, occurred_at=-5), "occurred_at"),
        (dataclasses.replace(GOOD, occurred_at=T0 + 10_000 * HOUR), "occurred_at"),
        (dataclasses.replace(GOOD, occurred_at="2024-01-01"), "occurred_at"),  # type: ignore[arg-type]
        (dataclasses.replace(GOOD, occurred_at=1.0e12), "occurred_at"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_event_is_rejected_naming_its_field_and_changes_nothing(
    ledger: MemoryLedger, store: StockStore, bad: StockEvent, field: str
) -> None:
    before = full_state(store)
    res = ledger.apply_stock_events([bad])
    assert res.results[0].outcome is R
    assert res.results[0].reason.startswith(field)
    assert full_state(store) == before
    assert ledger.sequence == 0


def test_good_events_of_a_mixed_batch_apply_and_bad_ones_are_rejected(
    ledger: MemoryLedger, store: StockStore
) -> None:
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


def test_a_quantity_that_would_leave_the_range_is_rejected(ledger: MemoryLedger, store: StockStore) -> None:
    assert outcomes(ledger, ev("a", EventType.ADJUSTMENT, "TEE", MAX_QUANTITY - 10, 0)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("b", EventType.RECEIPT, "TEE", 1, 1)])
    assert res.results[0].outcome is R
    assert "would leave" in res.results[0].reason
    assert full_state(store) == before


@pytest.mark.parametrize(
    "events",
    [[], [GOOD] * (MAX_EVENT_BATCH + 1), "not a list", [GOOD, None], [GOOD, (1, 2)]],
    ids=["empty", "oversized", "string", "none-inside", "tuple-inside"],
)
def test_a_malformed_batch_raises_and_changes_nothing(
    ledger: MemoryLedger, store: StockStore, events: object
) -> None:
    before = full_state(store)
    with pytest.raises(InvalidArgument) as err:
        ledger.apply_stock_events(events)  # type: ignore[arg-type]
    assert err.value.field.startswith("events")
    assert full_state(store) == before


def test_a_batch_of_the_maximum_size_applies() -> None:
    store = grid_store(50, {("P", f"L{i:04d}"): 0 for i in range(50)})
    ledger = ledger_over(store)
    events = [
        StockEvent(f"e{i}", EventType.RECEIPT, f"L{i % 50:04d}", "P", 1, T0 + i)
        for i in range(MAX_EVENT_BATCH)
    ]
    res = ledger.apply_stock_events(events)
    assert res.count(A) == MAX_EVENT_BATCH
    assert store.totals() == (MAX_EVENT_BATCH, 0)


# ---------------------------------------------------------------------------------------------- memory of ids
def test_ids_are_forgotten_after_the_retention_period(store: StockStore) -> None:
    clock = FakeClock()
    ledger = ledger_over(store, clock, event_retention_ms=HOUR)
    e = ev("r", EventType.RECEIPT, "TEE", 1, 0)
    assert outcomes(ledger, e) == [A]
    clock.now += HOUR // 2
    assert outcomes(ledger, e) == [D]
    clock.now += 2 * HOUR
    ledger.apply_stock_events([ev("other", EventType.RECEIPT, "MUG", 1, 0)])  # forgetting runs per batch
    assert outcomes(ledger, e) == [A]


def test_the_oldest_ids_go_first_past_the_memory_cap(store: StockStore) -> None:
    ledger = ledger_over(store, max_remembered_events=3)
    first = ev("first", EventType.RECEIPT, "TEE", 1, 0)
    ledger.apply_stock_events([first])
    ledger.apply_stock_events([ev(f"n{i}", EventType.RECEIPT, "TEE", 1, 1 + i) for i in range(3)])
    assert outcomes(ledger, ev("n2", EventType.RECEIPT, "TEE", 1, 3)) == [D]
    assert outcomes(ledger, first) == [A]


def test_a_snapshot_load_keeps_ids_but_forgets_count_times(ledger: MemoryLedger, store: StockStore) -> None:
    from tests.scenarios import north_east_groups, north_east_locations, snapshot_of

    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    ledger.load_snapshot(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))
    assert on_hand(store, "TEE") == 10
    # the count time went with the old picture: an older delta applies now
    assert outcomes(ledger, ev("old", EventType.SALE, "TEE", 1, 50)) == [A]
    # but the ids are still known
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [D]


def test_counts_and_deltas_on_many_positions_in_one_batch(store: StockStore) -> None:
    """The position table grows while a batch runs: counts and journals of thousands of positions."""
    grid = grid_store(40, {(f"P{s}", f"L{i:04d}"): 5 for s in range(60) for i in range(40)})
    ledger = ledger_over(grid)
    events = []
    for s in range(60):
        for i in range(40):
            events.append(StockEvent(f"d{s}-{i}", EventType.SALE, f"L{i:04d}", f"P{s}", 1, T0 + 200))
            events.append(StockEvent(f"c{s}-{i}", EventType.CYCLE_COUNT, f"L{i:04d}", f"P{s}", 7, T0 + 100))
    res = ledger.apply_stock_events(events)
    assert res.count(A) == len(events)
    assert grid.totals() == (60 * 40 * 6, 0)
    np.testing.assert_array_equal(grid.sku_locations(0), np.arange(40, dtype=np.int32))
