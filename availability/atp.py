"""Available-to-promise questions over the read model.

ATP(sku, location, channel, method, date) = max(0, on hand - reserved - safety stock + promisable inbound
due by the date), at enabled locations that serve the channel and offer the method. Over a scope (the
network, a group, listed locations, a radius) the location figures are summed, then capped by the
channel's network headroom: what the whole network has free once other channels' unconsumed ring-fences
are kept back. A single location's figure is capped the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from .catalog import IdIndex
from .errors import InvalidArgument
from .locations import Scope
from .model import Method, StockStatus, check_id, day_number, today_number
from .store import StockStore, StoreView

MAX_SKUS_PER_QUERY = 10_000
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
BOOL = npt.NDArray[np.bool_]


def statuses(qty: I64, low_at_most: int) -> I8:
    """OUT_OF_STOCK at 0, LOW_STOCK up to the threshold, IN_STOCK above."""
    out = np.full(qty.shape[0], int(StockStatus.IN_STOCK), dtype=np.int8)
    out[qty <= low_at_most] = int(StockStatus.LOW_STOCK)
    out[qty <= 0] = int(StockStatus.OUT_OF_STOCK)
    return out


def status_of(qty: int, low_at_most: int) -> StockStatus:
    if qty <= 0:
        return StockStatus.OUT_OF_STOCK
    return StockStatus.LOW_STOCK if qty <= low_at_most else StockStatus.IN_STOCK


def as_of_day(as_of: date | None, today: int | None = None) -> int:
    """-1 (on-hand only) for no date; otherwise the day number, which must not be in the past."""
    if as_of is None:
        return -1
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if not isinstance(as_of, date):
        raise InvalidArgument("as_of", as_of, "must be a date")
    day = day_number(as_of)
    if day < (today_number() if today is None else today):
        raise InvalidArgument("as_of", as_of.isoformat(), "must be today or later")
    return day


@dataclass(frozen=True, slots=True)
class AvailabilityQuery:
    skus: Sequence[str]
    channel: str
    method: Method = Method.SHIP
    scope: Scope = field(default_factory=Scope)
    as_of: date | None = None
    per_location: bool = False


@dataclass(frozen=True, slots=True)
class LocationAvailability:
    """Per-location rows, columnar: row k belongs to skus[sku_row[k]]."""

    sku_row: I64
    location: list[str]
    quantity: I64
    status: I8


@dataclass(frozen=True, slots=True)
class AvailabilityResult:
    skus: list[str]
    quantity: I64
    status: I8
    unknown: BOOL
    sequence: int
    locations: LocationAvailability | None = None


def resolve_skus(store: StockStore, skus: Sequence[str]) -> tuple[I64, BOOL]:
    """Dense indices (-1 unknown) and the unknown flags."""
    return _resolve_skus(store.skus, skus)


def _resolve_skus(index: IdIndex, skus: Sequence[str]) -> tuple[I64, BOOL]:
    """Only ids not found are checked for form, so a known id costs one dict lookup."""
    if isinstance(skus, str):
        raise InvalidArgument("skus", skus, "must be a list of SKU ids, not one string")
    if len(skus) == 0:
        raise InvalidArgument("skus", [], "must name at least one SKU")
    if len(skus) > MAX_SKUS_PER_QUERY:
        raise InvalidArgument("skus", len(skus), f"at most {MAX_SKUS_PER_QUERY} SKUs per query")
    try:
        idx = index.lookup_many(skus)
    except TypeError:
        idx = np.full(len(skus), -1, dtype=np.int64)
    unknown = idx < 0
    if unknown.any():
        for k in np.flatnonzero(unknown).tolist():
            check_id(f"skus[{k}]", skus[k])
    return idx, unknown


def get_availability(store: StockStore, query: AvailabilityQuery) -> AvailabilityResult:
    """ATP of up to 10,000 SKUs for one channel, method, scope and date. Every figure of one answer
    comes from one state of the store: at least `sequence`."""
    if not isinstance(query.method, Method):
        raise InvalidArgument("method", query.method, "unknown fulfilment method")
    if not isinstance(query.scope, Scope):
        raise InvalidArgument("scope", query.scope, "must be a Scope")
    day = as_of_day(query.as_of)
    sequence = store.sequence
    return store.read(lambda view: _answer(view, query, day, sequence))


def _answer(view: StoreView, query: AvailabilityQuery, day: int, sequence: int) -> AvailabilityResult:
    network = view.network
    chan = network.channel_index(query.channel)
    idx, unknown = _resolve_skus(view.skus, query.skus)
    rows = view.atp_rows(idx, chan, query.method, query.scope, day, bool(query.per_location))
    cfg = network.config
    result_locs: LocationAvailability | None = None
    if query.per_location:
        ids = network.index.ids
        result_locs = LocationAvailability(
            sku_row=rows.sku_row,
            location=[ids[i] for i in rows.location.tolist()],
            quantity=rows.location_quantity,
            status=statuses(rows.location_quantity, cfg.low_stock_location),
        )
    return AvailabilityResult(
        skus=list(query.skus),
        quantity=rows.quantity,
        status=statuses(rows.quantity, cfg.low_stock_network),
        unknown=unknown,
        sequence=sequence,
        locations=result_locs,
    )


def sku_atp(
    store: StockStore, sku: str, channel: str, method: Method = Method.SHIP, scope: Scope | None = None
) -> int:
    """ATP of one SKU (0 when unknown): the convenient form; hot paths call store.atp with indices."""
    s = store.skus.get(sku)
    if s is None:
        return 0
    return store.atp(s, store.network.channel_index(channel), method, scope or Scope())
