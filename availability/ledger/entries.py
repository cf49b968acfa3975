"""The checks every ledger applies to a write's entries before anything is written, in one place: the
rules (and the errors, naming the field) are the same on every backend because they are this code."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidArgument
from ..model import AllocationRow, StockEvent, check_id, check_quantity
from ..store import StockStore
from .base import SafetyStockEntry

MAX_EVENT_BATCH = 50_000


def check_event_batch(events: Sequence[StockEvent]) -> None:
    """The batch's form (each event's own checks come with its outcome, not as an error)."""
    if isinstance(events, (str, bytes)):
        raise InvalidArgument("events", events, "must be a list of stock events")
    if len(events) == 0:
        raise InvalidArgument("events", [], "must contain at least one event")
    if len(events) > MAX_EVENT_BATCH:
        raise InvalidArgument("events", len(events), f"at most {MAX_EVENT_BATCH} events per batch")
    for k, e in enumerate(events):
        if not isinstance(e, StockEvent):
            raise InvalidArgument(f"events[{k}]", e, "must be a StockEvent")


def resolve_safety_entries(store: StockStore, entries: Sequence[SafetyStockEntry]) -> list[tuple[int, int, int]]:
    """(SKU index, location index, safety stock or -1 for the type's default) per entry, in order."""
    if not entries:
        raise InvalidArgument("entries", [], "must contain at least one entry")
    out: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, e in enumerate(entries):
        check_id(f"entries[{i}].sku", e.sku)
        li = store.network.index.get(e.location)
        if li is None:
            check_id(f"entries[{i}].location", e.location)
            raise InvalidArgument(f"entries[{i}].location", e.location, "unknown location")
        if e.quantity is not None:
            check_quantity(f"entries[{i}].quantity", e.quantity)
        si = store.skus.get(e.sku)
        if si is None:
            raise InvalidArgument(f"entries[{i}].sku", e.sku, "unknown SKU")
        if (si, li) in seen:
            raise InvalidArgument(f"entries[{i}]", (e.sku, e.location), "duplicate (sku, location)")
        seen.add((si, li))
        out.append((si, li, -1 if e.quantity is None else e.quantity))
    return out


def resolve_allocation_entries(store: StockStore, entries: Sequence[AllocationRow]) -> list[tuple[int, int, int, int]]:
    """(SKU index, channel index, quantity, consumed or -1) per entry, in order. Consumed 0 means "not
    given": what the channel consumed so far is kept (-1)."""
    if not entries:
        raise InvalidArgument("entries", [], "must contain at least one entry")
    out: list[tuple[int, int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, a in enumerate(entries):
        si = store.skus.get(a.sku)
        if si is None:
            check_id(f"entries[{i}].sku", a.sku)
            raise InvalidArgument(f"entries[{i}].sku", a.sku, "unknown SKU")
        ci = store.network.channels.get(a.channel)
        if ci is None:
            check_id(f"entries[{i}].channel", a.channel)
            raise InvalidArgument(f"entries[{i}].channel", a.channel, "unknown channel")
        check_quantity(f"entries[{i}].quantity", a.quantity)
        check_quantity(f"entries[{i}].consumed", a.consumed)
        if a.consumed > a.quantity:
            raise InvalidArgument(f"entries[{i}].consumed", a.consumed, "must not exceed quantity")
        if (si, ci) in seen:
            raise InvalidArgument(f"entries[{i}]", (a.sku, a.channel), "duplicate (sku, channel)")
        seen.add((si, ci))
        out.append((si, ci, a.quantity, a.consumed if a.consumed else -1))
    return out
