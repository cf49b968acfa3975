"""Helpers for stock-event tests, shared by the contract suite and the embedded ledger's own tests."""

from __future__ import annotations

from availability import EventOutcome, EventType, StockEvent, StockStore
from availability.ledger import Ledger
from tests.scenarios import T0

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


def outcomes(ledger: Ledger, *events: StockEvent) -> list[EventOutcome]:
    return [r.outcome for r in ledger.apply_stock_events(list(events)).results]
