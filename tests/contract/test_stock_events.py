"""The stock-event contract, on every backend: each event type, idempotency (duplicates, payload reuse,
in-batch copies, retention), ordering against cycle counts and the count window, new SKUs and
positions, ring-fence consumption, change records, and bad input that changes nothing. Ported from
tests/availability/test_ledger_events.py (which keeps testing the embedded ledger's internals)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from availability import EventType, InvalidArgument, Method, Snapshot, StockEvent, StockStore
from availability.ledger import MAX_EVENT_BATCH, ChangeBatch, Ledger
from availability.model import MAX_QUANTITY
from tests.contract.conftest import LedgerFactory
from tests.contract.events import A, D, R, S, ev, on_hand, outcomes
from tests.scenarios import (
    HOUR,
    T0,
    FakeClock,
    Stock,
    everyday_stock,
    full_state,
    grid_network,
    marketplace_ring_fence,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)


def north_east_snapshot(stock: Stock | None = None) -> Snapshot:
    return snapshot_of(north_east_locations(), stock or everyday_stock(), groups=north_east_groups())


@pytest.fixture
def ledger(ledger_factory: LedgerFactory) -> Ledger:
    """everyday_stock: TEE has 10 everywhere, MUG 5 at DC-EAST and 7 at DC-WEST, CAP 3 at ST-CAM."""
    return ledger_factory(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))


@pytest.fixture
def store(ledger: Ledger) -> StockStore:
    return ledger.store


def grid_ledger(make: LedgerFactory, n: int, on_hand_by_id: dict[tuple[str, str], int]) -> Ledger:
    from availability import AtpConfig

    snap = snapshot_of(grid_network(n), Stock(on_hand=on_hand_by_id), channels=("web", "app"))
    return make(snap, config=AtpConfig(default_safety=(0, 0, 0, 0)))


# ---------------------------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    ("kind", "qty", "after"),
    [
        (EventType.RECEIPT, 4, 14),
        (EventType.SALE, 3, 7),
        (EventType.RETURN_SELLABLE, 2, 12),
        (EventType.RETURN_DAMAGED, 2, 10),
        (EventType.ADJUSTMENT, 5, 15),
        (EventType.ADJUSTMENT, -4, 6),
        (EventType.CYCLE_COUNT, 8, 8),
        (EventType.CYCLE_COUNT, 0, 0),
        (EventType.TRANSFER_OUT, 6, 4),
        (EventType.TRANSFER_IN, 6, 16),
    ],
)
def test_each_event_type_moves_on_hand_by_its_rule(
    ledger: Ledger, store: StockStore, kind: EventType, qty: int, after: int
) -> None:
    before = store.sequence
    res = ledger.apply_stock_events([ev("e1", kind, "TEE", qty, 0)])
    assert [r.outcome for r in res.results] == [A]
    assert res.results[0].sequence > 0
    assert res.sequence == store.sequence == ledger.sequence == before + 1
    assert on_hand(store, "TEE") == after
    assert on_hand(store, "TEE", "DC-WEST") == 10
    assert on_hand(store, "MUG") == 5


def test_a_sale_may_take_on_hand_negative_and_atp_floors_at_zero(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("s", EventType.SALE, "MUG", 8, 0)) == [A]
    assert on_hand(store, "MUG") == -3
    web = store.network.channel_index("web")
    assert store.atp(store.skus.index("MUG"), web, Method.SHIP) == 7


def test_transfer_out_and_in_in_one_batch_keep_the_network_total(ledger: Ledger, store: StockStore) -> None:
    res = ledger.apply_stock_events(
        [
            ev("o", EventType.TRANSFER_OUT, "MUG", 4, 0, "DC-EAST"),
            ev("i", EventType.TRANSFER_IN, "MUG", 4, 1, "DC-WEST"),
        ]
    )
    assert [r.outcome for r in res.results] == [A, A]
    # one SKU, so one partition: its events are numbered in request order
    assert 0 < res.results[0].sequence < res.results[1].sequence
    assert (on_hand(store, "MUG"), on_hand(store, "MUG", "DC-WEST")) == (1, 11)


# ---------------------------------------------------------------------------------------------- idempotency
def test_replaying_an_event_is_a_duplicate_and_changes_nothing(ledger: Ledger, store: StockStore) -> None:
    e = ev("r1", EventType.RECEIPT, "TEE", 5, 0)
    assert outcomes(ledger, e) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([e])
    assert [(r.outcome, r.reason) for r in res.results] == [(D, "event id already applied")]
    assert res.results[0].sequence == 0
    assert full_state(store) == before


def test_an_id_reused_with_another_payload_is_rejected(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("r1", EventType.RECEIPT, "TEE", 5, 0)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("r1", EventType.RECEIPT, "TEE", 6, 0)])
    assert res.results[0].outcome is R
    assert res.results[0].reason == "event_id='r1': reused with a different payload"
    assert full_state(store) == before


@pytest.mark.parametrize("other_sku", ["MUG", "CAP", "BRAND-NEW"])
def test_an_id_reused_for_another_sku_is_rejected_whatever_its_partition(
    ledger: Ledger, store: StockStore, other_sku: str
) -> None:
    assert outcomes(ledger, ev("shared", EventType.RECEIPT, "TEE", 5, 0)) == [A]
    before = full_state(store)
    for _ in range(2):
        res = ledger.apply_stock_events([ev("shared", EventType.RECEIPT, other_sku, 5, 0, "DC-WEST")])
        assert res.results[0].outcome is R
        assert "reused with a different payload" in res.results[0].reason
    assert full_state(store) == before
    assert outcomes(ledger, ev("shared", EventType.RECEIPT, "TEE", 5, 0)) == [D]


def test_an_id_reused_at_an_unknown_location_is_a_reuse_first(ledger: Ledger, store: StockStore) -> None:
    """Idempotency comes before the location check, as the rules order them."""
    assert outcomes(ledger, ev("r1", EventType.RECEIPT, "TEE", 5, 0)) == [A]
    res = ledger.apply_stock_events([ev("r1", EventType.RECEIPT, "TEE", 5, 0, "NOWHERE")])
    assert res.results[0].reason == "event_id='r1': reused with a different payload"
    res = ledger.apply_stock_events([ev("fresh", EventType.RECEIPT, "TEE", 5, 0, "NOWHERE")])
    assert res.results[0].reason == "location='NOWHERE': unknown location"
    # an unknown location claims nothing: the id stays free
    assert outcomes(ledger, ev("fresh", EventType.RECEIPT, "TEE", 5, 0)) == [A]


def test_duplicates_inside_one_batch_follow_the_first_copy(ledger: Ledger, store: StockStore) -> None:
    e = ev("x", EventType.RECEIPT, "TEE", 5, 0)
    other = ev("x", EventType.RECEIPT, "TEE", 9, 0)
    res = ledger.apply_stock_events([e, e, other])
    assert [(r.outcome, r.reason) for r in res.results] == [
        (A, ""),
        (D, "event id already in this batch"),
        (R, "event_id='x': reused with a different payload"),
    ]
    assert on_hand(store, "TEE") == 15


def test_copies_of_an_id_known_before_the_batch_compare_with_what_is_stored(ledger: Ledger) -> None:
    first = ev("k", EventType.RECEIPT, "TEE", 5, 0)
    assert outcomes(ledger, first) == [A]
    changed = ev("k", EventType.RECEIPT, "TEE", 6, 0)
    changed_again = ev("k", EventType.RECEIPT, "MUG", 7, 0)
    res = ledger.apply_stock_events([changed, first, changed_again, first])
    assert [r.outcome for r in res.results] == [R, D, R, D]
    assert res.results[1].reason == "event id already applied"


def test_a_copy_of_a_rejected_event_in_the_same_batch_is_rejected_too(ledger: Ledger, store: StockStore) -> None:
    big = ev("big", EventType.RECEIPT, "TEE", MAX_QUANTITY, 0)  # 10 + 1e9 leaves the allowed range
    res = ledger.apply_stock_events([big, big])
    assert [r.outcome for r in res.results] == [R, R]
    assert res.results[1].reason == res.results[0].reason
    assert on_hand(store, "TEE") == 10
    # rejected events are not remembered: the corrected event may reuse the id
    assert outcomes(ledger, ev("big", EventType.RECEIPT, "TEE", 1, 0)) == [A]


def test_a_malformed_event_does_not_claim_its_id(ledger: Ledger) -> None:
    assert outcomes(ledger, ev("m", EventType.SALE, "TEE", -1, 0), ev("m", EventType.SALE, "TEE", 1, 0)) == [R, A]


def test_a_stale_event_is_remembered_like_an_applied_one(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 10)) == [A]
    late = ev("late", EventType.SALE, "TEE", 1, 5)
    assert outcomes(ledger, late) == [S]
    assert outcomes(ledger, late) == [D]
    assert outcomes(ledger, dataclasses.replace(late, quantity=2)) == [R]
    assert on_hand(store, "TEE") == 20


def test_ids_are_forgotten_after_the_retention_period(ledger_factory: LedgerFactory) -> None:
    clock = FakeClock()
    ledger = ledger_factory(north_east_snapshot(), clock=clock, event_retention_ms=HOUR)
    e = ev("r", EventType.RECEIPT, "TEE", 1, 0)
    assert outcomes(ledger, e) == [A]
    clock.now += HOUR // 2
    assert outcomes(ledger, e) == [D]
    clock.now += 2 * HOUR
    ledger.apply_stock_events([ev("other", EventType.RECEIPT, "MUG", 1, 0)])  # forgetting may run per batch
    assert outcomes(ledger, e) == [A]


# ---------------------------------------------------------------------------------------------- ordering
def test_deltas_before_the_last_count_are_stale(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    res = ledger.apply_stock_events([ev("old", EventType.SALE, "TEE", 3, 99), ev("new", EventType.SALE, "TEE", 3, 101)])
    assert [r.outcome for r in res.results] == [S, A]
    assert res.results[0].reason == f"happened before the count at {T0 + 100}; not applied"
    assert res.results[0].sequence == 0
    assert on_hand(store, "TEE") == 17


def test_a_late_count_adds_the_deltas_applied_after_its_time(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(
        ledger,
        ev("a", EventType.SALE, "TEE", 2, 50),
        ev("b", EventType.RECEIPT, "TEE", 7, 150),
        ev("c", EventType.SALE, "TEE", 1, 160),
    ) == [A, A, A]
    assert outcomes(ledger, ev("count", EventType.CYCLE_COUNT, "TEE", 30, 100)) == [A]
    assert on_hand(store, "TEE") == 30 + 7 - 1


def test_a_late_count_in_the_same_batch_as_its_later_deltas(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(
        ledger,
        ev("b", EventType.RECEIPT, "TEE", 7, 150),
        ev("x", EventType.RECEIPT, "TEE", 100, 150, "DC-WEST"),  # another position: not counted
        ev("count", EventType.CYCLE_COUNT, "TEE", 30, 100),
        ev("c", EventType.SALE, "TEE", 1, 160),
    ) == [A, A, A, A]
    assert on_hand(store, "TEE") == 30 + 7 - 1


def test_a_delta_at_the_count_time_counts_whatever_the_arrival_order(ledger_factory: LedgerFactory) -> None:
    first = ledger_factory(north_east_snapshot())
    assert outcomes(first, ev("d", EventType.SALE, "TEE", 4, 100), ev("c", EventType.CYCLE_COUNT, "TEE", 30, 100)) == [
        A,
        A,
    ]
    second = ledger_factory(north_east_snapshot())
    assert outcomes(second, ev("c", EventType.CYCLE_COUNT, "TEE", 30, 100), ev("d", EventType.SALE, "TEE", 4, 100)) == [
        A,
        A,
    ]
    assert on_hand(first.store, "TEE") == on_hand(second.store, "TEE") == 26


def test_a_count_no_newer_than_the_last_is_stale(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c1", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    res = ledger.apply_stock_events(
        [ev("c0", EventType.CYCLE_COUNT, "TEE", 5, 99), ev("c-same", EventType.CYCLE_COUNT, "TEE", 6, 100)]
    )
    assert [r.outcome for r in res.results] == [S, S]
    assert res.results[0].reason == f"a newer count (at {T0 + 100}) was applied"
    assert on_hand(store, "TEE") == 20


def test_counts_are_per_position(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100, "DC-EAST")) == [A]
    assert outcomes(ledger, ev("s", EventType.SALE, "TEE", 1, 50, "DC-WEST")) == [A]
    assert on_hand(store, "TEE", "DC-WEST") == 9


def test_a_count_older_than_the_window_is_rejected(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(north_east_snapshot(), count_window_ms=HOUR)
    store = ledger.store
    assert outcomes(ledger, ev("now", EventType.SALE, "TEE", 1, 10 * HOUR)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("old", EventType.CYCLE_COUNT, "TEE", 50, 8 * HOUR)])
    assert res.results[0].outcome is R
    assert res.results[0].reason == f"occurred_at={T0 + 8 * HOUR}: count older than the reconciliation window"
    assert full_state(store) == before
    assert outcomes(ledger, ev("ok", EventType.CYCLE_COUNT, "TEE", 50, 9 * HOUR + 1)) == [A]
    assert on_hand(store, "TEE") == 49
    # the rejected count's id was not remembered
    assert outcomes(ledger, ev("old", EventType.CYCLE_COUNT, "TEE", 50, 9 * HOUR + 2)) == [A]


def test_the_window_follows_the_newest_event_of_any_sku(ledger_factory: LedgerFactory) -> None:
    """The window ends at the newest event time applied anywhere in the ledger, not per SKU (with
    partitions: not per partition either)."""
    ledger = ledger_factory(north_east_snapshot(), count_window_ms=HOUR)
    for sku in ("MUG", "CAP"):
        other = ledger_factory(north_east_snapshot(), count_window_ms=HOUR)
        assert outcomes(other, ev("now", EventType.RECEIPT, sku, 1, 10 * HOUR, "ST-CAM")) == [A]
        res = other.apply_stock_events([ev("old", EventType.CYCLE_COUNT, "TEE", 50, 8 * HOUR)])
        assert res.results[0].outcome is R
    assert outcomes(ledger, ev("old", EventType.CYCLE_COUNT, "TEE", 50, 8 * HOUR)) == [A]


def test_a_count_outside_the_window_for_a_new_sku_creates_nothing(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(north_east_snapshot(), count_window_ms=HOUR)
    assert outcomes(ledger, ev("now", EventType.SALE, "TEE", 1, 10 * HOUR)) == [A]
    before = full_state(ledger.store)
    assert outcomes(ledger, ev("old", EventType.CYCLE_COUNT, "NEWSKU", 5, HOUR)) == [R]
    assert full_state(ledger.store) == before


def test_an_event_stamped_in_the_future_does_not_push_counts_out_of_the_window(
    ledger_factory: LedgerFactory,
) -> None:
    clock = FakeClock(T0 + 10 * HOUR)
    ledger = ledger_factory(north_east_snapshot(), clock=clock, count_window_ms=2 * HOUR)
    assert outcomes(ledger, ev("future", EventType.RECEIPT, "MUG", 1, 30 * HOUR)) == [A]
    assert outcomes(ledger, ev("count", EventType.CYCLE_COUNT, "TEE", 3, 9 * HOUR)) == [A]
    assert on_hand(ledger.store, "TEE") == 3


def test_old_journal_entries_are_pruned_without_changing_any_rule(ledger_factory: LedgerFactory) -> None:
    clock = FakeClock(T0 + 100 * HOUR)
    ledger = ledger_factory(north_east_snapshot(), clock=clock, count_window_ms=HOUR)
    t = 0
    for b in range(4):
        batch = [ev(f"b{b}-{i}", EventType.RECEIPT, "TEE", 1, t + i) for i in range(3000)]
        t += 10 * HOUR
        assert ledger.apply_stock_events(batch).count(A) == 3000
    last = t - 10 * HOUR
    assert on_hand(ledger.store, "TEE") == 10 + 12_000
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 0, last + 1000)) == [A]
    assert on_hand(ledger.store, "TEE") == 2000


# ---------------------------------------------------------------------------------------------- new positions
def test_a_sku_at_a_new_location_becomes_a_position(ledger: Ledger, store: StockStore) -> None:
    mug = store.skus.index("MUG")
    web = store.network.channel_index("web")
    before = store.atp(mug, web, Method.SHIP)
    assert store.position(mug, store.network.index.index("ST-NYC")) is None
    assert outcomes(ledger, ev("r", EventType.RECEIPT, "MUG", 6, 0, "ST-NYC")) == [A]
    p = store.position(mug, store.network.index.index("ST-NYC"))
    assert p is not None
    assert (p.on_hand, p.reserved, p.safety_stock, p.safety_explicit) == (6, 0, 1, False)
    assert store.atp(mug, web, Method.SHIP) == before + 5
    assert store.sku_locations(mug).tolist() == [0, 1, 4]


def test_an_event_without_a_delta_still_creates_its_position(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("d", EventType.RETURN_DAMAGED, "MUG", 2, 0, "ST-NYC")) == [A]
    assert on_hand(store, "MUG", "ST-NYC") == 0


def test_many_new_positions_keep_every_position(ledger_factory: LedgerFactory) -> None:
    ledger = grid_ledger(ledger_factory, 400, {("P", "L0000"): 1, ("Q", "L0399"): 5})
    store = ledger.store
    events = [StockEvent(f"r{i}", EventType.RECEIPT, f"L{i:04d}", "P", 1 + i % 7, T0 + i) for i in range(400)]
    assert ledger.apply_stock_events(events).count(A) == 400
    p = store.skus.index("P")
    assert store.sku_locations(p).tolist() == list(range(400))
    for i in range(400):
        assert on_hand(store, "P", f"L{i:04d}") == 1 + i % 7 + (1 if i == 0 else 0)
    assert on_hand(store, "Q", "L0399") == 5


def test_a_brand_new_sku_is_created_by_its_first_event(ledger: Ledger, store: StockStore) -> None:
    n = len(store.skus)
    assert outcomes(ledger, ev("n", EventType.RECEIPT, "NEW-1", 4, 0, "DC-WEST")) == [A]
    assert len(store.skus) == n + 1
    assert on_hand(store, "NEW-1", "DC-WEST") == 4
    web = store.network.channel_index("web")
    assert store.atp(store.skus.index("NEW-1"), web, Method.SHIP) == 4


def test_thousands_of_new_skus(ledger: Ledger, store: StockStore) -> None:
    events = [ev(f"n{i}", EventType.RECEIPT, f"NEW-{i}", 1 + i % 5, i, "DC-WEST") for i in range(2_000)]
    assert ledger.apply_stock_events(events).count(A) == len(events)
    assert on_hand(store, "NEW-1999", "DC-WEST") == 1 + 1999 % 5
    assert on_hand(store, "TEE") == 10


def test_counts_and_deltas_on_many_positions_in_one_batch(ledger_factory: LedgerFactory) -> None:
    ledger = grid_ledger(ledger_factory, 40, {(f"P{s}", f"L{i:04d}"): 5 for s in range(60) for i in range(40)})
    events = []
    for s in range(60):
        for i in range(40):
            events.append(StockEvent(f"d{s}-{i}", EventType.SALE, f"L{i:04d}", f"P{s}", 1, T0 + 200))
            events.append(StockEvent(f"c{s}-{i}", EventType.CYCLE_COUNT, f"L{i:04d}", f"P{s}", 7, T0 + 100))
    res = ledger.apply_stock_events(events)
    assert res.count(A) == len(events)
    assert ledger.store.totals() == (60 * 40 * 6, 0)
    p0 = ledger.store.skus.index("P0")
    np.testing.assert_array_equal(ledger.store.sku_locations(p0), np.arange(40, dtype=np.int32))


# ---------------------------------------------------------------------------------------------- channels
def test_a_channel_sale_consumes_its_ring_fence(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(north_east_snapshot(marketplace_ring_fence()))
    store = ledger.store
    lamp = store.skus.index("LAMP")
    market = store.network.channel_index("marketplace")
    web = store.network.channel_index("web")
    assert outcomes(ledger, ev("s", EventType.SALE, "LAMP", 4, 0, "DC-EAST", "marketplace")) == [A]
    assert (market, 8, 7) in store.allocations(lamp)
    assert outcomes(ledger, ev("s2", EventType.SALE, "LAMP", 4, 1, "DC-EAST", "marketplace")) == [A]
    assert (market, 8, 8) in store.allocations(lamp)
    assert outcomes(ledger, ev("s3", EventType.SALE, "LAMP", 1, 2, "DC-WEST")) == [A]
    assert outcomes(ledger, ev("s4", EventType.SALE, "LAMP", 1, 3, "DC-WEST", "web")) == [A]
    assert (market, 8, 8) in store.allocations(lamp)
    assert (web, 2, 1) in store.allocations(lamp)
    # ATP per channel: the web shop may now take what the marketplace consumed, not its own fence
    assert store.atp(lamp, web, Method.SHIP) == 24 - 4 - 4 - 1 - 1


def test_an_unknown_channel_is_rejected(ledger: Ledger, store: StockStore) -> None:
    before = full_state(store)
    res = ledger.apply_stock_events([ev("u", EventType.SALE, "TEE", 1, 0, "DC-EAST", "tiktok")])
    assert res.results[0].outcome is R
    assert res.results[0].reason == "channel='tiktok': unknown channel"
    assert full_state(store) == before


# ------------------------------------------------------------------------------------------ change records
def test_change_records_follow_the_write(ledger: Ledger, store: StockStore) -> None:
    seen: list[ChangeBatch] = []
    unsubscribe = ledger.subscribe(seen.append)
    res = ledger.apply_stock_events(
        [
            ev("a", EventType.SALE, "TEE", 2, 0, "ST-BOS"),
            ev("b", EventType.RETURN_DAMAGED, "TEE", 1, 1, "ST-BOS"),  # applied, no delta: no record
            ev("c", EventType.CYCLE_COUNT, "MUG", 9, 2, "DC-WEST"),
        ]
    )
    assert [r.outcome for r in res.results] == [A, A, A]
    assert seen, "a write publishes its change records"
    assert seen[-1].sequence == res.sequence == store.sequence
    rows = sorted(
        (store.skus.id(int(s)), store.network.index.id(int(li)), int(d), int(r), int(q))
        for b in seen
        for s, li, d, r, q in zip(b.sku, b.loc, b.d_on_hand, b.d_reserved, b.seq, strict=True)
    )
    assert rows == sorted(
        [
            ("TEE", "ST-BOS", -2, 0, res.results[0].sequence),
            ("MUG", "DC-WEST", 2, 0, res.results[2].sequence),
        ]
    )
    unsubscribe()
    count = len(seen)
    ledger.apply_stock_events([ev("d", EventType.SALE, "TEE", 1, 3)])
    assert len(seen) == count


def test_a_channel_sale_publishes_its_sku_as_touched(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(north_east_snapshot(marketplace_ring_fence()))
    seen: list[ChangeBatch] = []
    ledger.subscribe(seen.append)
    ledger.apply_stock_events([ev("s", EventType.SALE, "LAMP", 1, 0, "DC-EAST", "marketplace")])
    lamp = ledger.store.skus.index("LAMP")
    assert [int(s) for b in seen for s in b.skus_touched] == [lamp]


def test_nothing_is_published_for_a_batch_that_changed_nothing(ledger: Ledger) -> None:
    seen: list[ChangeBatch] = []
    ledger.subscribe(seen.append)
    ledger.apply_stock_events([ev("x", EventType.SALE, "TEE", -1, 0)])
    assert seen == []
    e = ev("y", EventType.SALE, "TEE", 1, 0)
    ledger.apply_stock_events([e])
    seen.clear()
    ledger.apply_stock_events([e])
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
        (dataclasses.replace(GOOD, sku="SKU{1}"), "sku"),
        (dataclasses.replace(GOOD, location="DC EAST"), "location"),
        (dataclasses.replace(GOOD, location="NOWHERE"), "location"),
        (dataclasses.replace(GOOD, channel="we b"), "channel"),
        (dataclasses.replace(GOOD, channel=None), "channel"),  # type: ignore[arg-type]
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
        (dataclasses.replace(GOOD, occurred_at=2**70), "occurred_at"),
    ],
)
def test_a_bad_event_is_rejected_naming_its_field_and_changes_nothing(
    ledger: Ledger, store: StockStore, bad: StockEvent, field: str
) -> None:
    before = full_state(store)
    res = ledger.apply_stock_events([bad])
    assert res.results[0].outcome is R
    assert res.results[0].reason.startswith(field)
    assert full_state(store) == before
    assert ledger.sequence == 0


def test_good_events_of_a_mixed_batch_apply_and_bad_ones_are_rejected(ledger: Ledger, store: StockStore) -> None:
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
    seqs = [r.sequence for r in res.results]
    assert seqs[1] == seqs[3] == 0 and 0 < seqs[0] < seqs[2] and seqs[4] > 0
    assert on_hand(store, "TEE") == 14


def test_a_quantity_that_would_leave_the_range_is_rejected(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("a", EventType.ADJUSTMENT, "TEE", MAX_QUANTITY - 10, 0)) == [A]
    before = full_state(store)
    res = ledger.apply_stock_events([ev("b", EventType.RECEIPT, "TEE", 1, 1)])
    assert res.results[0].outcome is R
    assert res.results[0].reason == f"quantity=1: on hand would leave [-{MAX_QUANTITY}, {MAX_QUANTITY}]"
    assert full_state(store) == before
    # the same by a late count summing later deltas
    res = ledger.apply_stock_events([ev("c", EventType.CYCLE_COUNT, "TEE", 20, -1)])
    assert res.results[0].outcome is R and "would leave" in res.results[0].reason


@pytest.mark.parametrize(
    "events",
    [[], [GOOD] * (MAX_EVENT_BATCH + 1), "not a list", [GOOD, None], [GOOD, (1, 2)]],
    ids=["empty", "oversized", "string", "none-inside", "tuple-inside"],
)
def test_a_malformed_batch_raises_and_changes_nothing(ledger: Ledger, store: StockStore, events: object) -> None:
    before = full_state(store)
    with pytest.raises(InvalidArgument) as err:
        ledger.apply_stock_events(events)  # type: ignore[arg-type]
    assert err.value.field.startswith("events")
    assert full_state(store) == before


def test_a_batch_of_the_maximum_size_applies(ledger_factory: LedgerFactory) -> None:
    ledger = grid_ledger(ledger_factory, 50, {("P", f"L{i:04d}"): 0 for i in range(50)})
    events = [StockEvent(f"e{i}", EventType.RECEIPT, f"L{i % 50:04d}", "P", 1, T0 + i) for i in range(MAX_EVENT_BATCH)]
    res = ledger.apply_stock_events(events)
    assert res.count(A) == MAX_EVENT_BATCH
    assert ledger.store.totals() == (MAX_EVENT_BATCH, 0)
    assert res.sequence == ledger.store.sequence == MAX_EVENT_BATCH


# ---------------------------------------------------------------------------------------------- snapshots
def test_a_snapshot_load_keeps_ids_but_forgets_count_times(ledger: Ledger, store: StockStore) -> None:
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [A]
    ledger.load_snapshot(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))
    assert on_hand(store, "TEE") == 10
    assert outcomes(ledger, ev("old", EventType.SALE, "TEE", 1, 50)) == [A]
    assert outcomes(ledger, ev("c", EventType.CYCLE_COUNT, "TEE", 20, 100)) == [D]
    assert np.array_equal(store.sku_locations(store.skus.index("MUG")), np.array([0, 1], np.int32))
