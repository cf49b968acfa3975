"""The per-subscriber diff behind WatchAvailability, without gRPC: coalescing, overflow, reloads."""

from __future__ import annotations

import asyncio

import numpy as np

from availability.ledger import ChangeBatch
from availability.model import EventType, StockEvent, StockStatus
from omniroute.watch import AvailabilityWatch, Subscription

from .fixtures import now_ms, tiny_ledger, tiny_network


def sale(event_id: str, location: str, sku: str, quantity: int) -> StockEvent:
    return StockEvent(event_id, EventType.SALE, location, sku, quantity, now_ms())


def test_changes_only_for_touched_watched_skus() -> None:
    ledger = tiny_ledger()
    watch = AvailabilityWatch(ledger.store, ["SKU-1", "SKU-5", "SKU-1"], channel="web")
    assert watch.sku_ids == ["SKU-1", "SKU-5"]  # de-duplicated
    ledger.apply_stock_events([sale("a", "DC-EAST", "SKU-5", 2)])
    s5 = ledger.store.skus.get("SKU-5")
    assert s5 is not None
    (change,) = watch.changes(np.array([s5], dtype=np.int64))
    assert (change.sku, change.location, change.previous_quantity, change.quantity) == ("SKU-5", "", 7, 5)
    assert watch.changes(np.array([s5], dtype=np.int64)) == []  # nothing new since the last diff


def test_a_sku_created_after_subscribing_is_reported() -> None:
    ledger = tiny_ledger()
    watch = AvailabilityWatch(ledger.store, ["SKU-LATER"], channel="web", locations=["DC-EAST"])
    ledger.apply_stock_events([StockEvent("r", EventType.RECEIPT, "DC-EAST", "SKU-LATER", 20, now_ms())])
    s = ledger.store.skus.get("SKU-LATER")
    assert s is not None
    changes = watch.changes(np.array([s], dtype=np.int64))
    got = {(c.location, c.previous_quantity, c.quantity) for c in changes}
    assert got == {("", 0, 20), ("DC-EAST", 0, 20)}
    assert all(c.previous_status is StockStatus.OUT_OF_STOCK for c in changes)


def test_a_reload_re_resolves_ids_and_diffs_everything() -> None:
    ledger = tiny_ledger()
    watch = AvailabilityWatch(ledger.store, ["SKU-5"], channel="web", locations=["DC-EAST"])
    snap = tiny_network()
    snap.stock_on_hand = snap.stock_on_hand * 3
    ledger.load_snapshot(snap)
    changes = watch.changes(None)
    got = {(c.location, c.previous_quantity, c.quantity) for c in changes}
    assert got == {("", 7, 21), ("DC-EAST", 7, 21)}


def test_subscription_merges_pending_batches_and_collapses_on_overflow() -> None:
    async def scenario() -> None:
        sub = Subscription(asyncio.get_running_loop(), max_pending=3)
        sub.on_change(ChangeBatch(1, sku=np.array([1, 2], dtype=np.int64)))
        sub.on_change(ChangeBatch(2, sku=np.array([2, 4], dtype=np.int64)))
        await asyncio.wait_for(sub.wait(), 1)
        everything, touched = sub.take()
        assert not everything and touched.tolist() == [1, 2, 4]
        for seq in range(10):  # a subscriber that does not keep up
            sub.on_change(ChangeBatch(seq, sku=np.array([seq], dtype=np.int64)))
        everything, touched = sub.take()
        assert everything and sub.overflows == 1
        sub.on_change(ChangeBatch(20, everything=True))
        assert sub.take()[0]

    asyncio.run(scenario())
