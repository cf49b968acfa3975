"""A slow, obvious, pure-Python model of the engine's rules, for property tests to compare against.

It is written from the rules as documented (atp.py, ledger/memory.py, docs/readme-parts/engine.md), one
dict entry per position and one loop per event, sharing no code with the engine beyond the domain types.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from availability import (
    AtpConfig,
    EventOutcome,
    EventType,
    Location,
    LocationGroup,
    Method,
    Scope,
    StockEvent,
)
from availability.model import MAX_QUANTITY

NETWORK = Scope()
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,127}")
SIGN = {
    EventType.RECEIPT: 1,
    EventType.SALE: -1,
    EventType.RETURN_SELLABLE: 1,
    EventType.RETURN_DAMAGED: 0,
    EventType.ADJUSTMENT: 1,
    EventType.TRANSFER_OUT: -1,
    EventType.TRANSFER_IN: 1,
}


def examples(n: int) -> int:
    """Hypothesis examples for a property: n normally, 20n under HYPOTHESIS_PROFILE=thorough."""
    return n * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else n


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(a, 1.0)))


@dataclass
class RefPosition:
    on_hand: int
    reserved: int = 0
    safety: int | None = None  # None: the location type's default


@dataclass
class RefStock:
    """What the ATP rules read: positions, inbound (sku, loc) -> [(day, qty, type)], ring-fences
    (sku, channel) -> [quantity, consumed]."""

    locations: Sequence[Location]
    groups: Sequence[LocationGroup] = ()
    config: AtpConfig = field(default_factory=AtpConfig)
    positions: dict[tuple[str, str], RefPosition] = field(default_factory=dict)
    inbound: dict[tuple[str, str], list[tuple[int, int, int]]] = field(default_factory=dict)
    fences: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def location(self, ident: str) -> Location:
        return next(lo for lo in self.locations if lo.id == ident)

    def in_scope(self, lo: Location, scope: Scope) -> bool:
        if scope.kind == "network":
            return True
        if scope.kind == "group":
            return lo.id in next(g.locations for g in self.groups if g.id == scope.group)
        if scope.kind == "locations":
            members = set()
            for ident in scope.locations:
                group = [g for g in self.groups if g.id == ident]
                members |= set(group[0].locations) if group else {ident}
            return lo.id in members
        return haversine_km(scope.latitude, scope.longitude, lo.latitude, lo.longitude) <= scope.radius_km

    def free(self, sku: str, lo: Location, day: int) -> int:
        """Free stock of a position, floored at zero; 0 where the SKU has no position."""
        p = self.positions.get((sku, lo.id))
        if p is None:
            return 0
        safety = p.safety if p.safety is not None else self.config.default_safety[int(lo.type)]
        f = p.on_hand - p.reserved - safety
        if day >= 0:
            for d, q, t in self.inbound.get((sku, lo.id), []):
                if d <= day:
                    f += q * self.config.inbound_share_bp[t] // 10_000
        return max(0, f)

    def atp(
        self, sku: str, channel: str, method: Method, scope: Scope = NETWORK, day: int = -1
    ) -> tuple[int, dict[str, int]]:
        """(scope total, per-location figures at eligible in-scope locations holding a position)."""
        eligible = [
            lo
            for lo in self.locations
            if lo.enabled and channel in lo.channels and method in lo.methods and self.in_scope(lo, scope)
        ]
        per = {lo.id: self.free(sku, lo, day) for lo in eligible if (sku, lo.id) in self.positions}
        total = sum(per.values())
        other = sum(
            max(0, q - used) for (s, c), (q, used) in self.fences.items() if s == sku and c != channel
        )
        if other > 0:
            net = sum(self.free(sku, lo, day) for lo in self.locations if lo.enabled)
            head = max(0, net - other)
            total = min(total, head)
            per = {k: min(v, head) for k, v in per.items()}
        return total, per


@dataclass
class RefLedger:
    """The stock event rules, event by event."""

    stock: RefStock
    channels: Sequence[str]
    now: int
    count_window_ms: int = 24 * 3_600_000
    max_future_ms: int = 24 * 3_600_000
    sequence: int = 0
    seen: dict[str, tuple[object, ...]] = field(default_factory=dict)
    count_time: dict[tuple[str, str], int] = field(default_factory=dict)
    journal: list[tuple[tuple[str, str], int, int]] = field(default_factory=list)
    high_water: int = 0
    window_start: int = -(2**62)

    def well_formed(self, e: StockEvent) -> bool:
        if not all(isinstance(x, str) and _ID.fullmatch(x) for x in (e.event_id, e.sku, e.location)):
            return False
        if not isinstance(e.type, EventType) or type(e.quantity) is not int or type(e.occurred_at) is not int:
            return False
        q = e.quantity
        if abs(q) > MAX_QUANTITY:
            return False
        if e.type is EventType.ADJUSTMENT:
            ok = q != 0
        elif e.type is EventType.CYCLE_COUNT:
            ok = q >= 0
        else:
            ok = q > 0
        if not ok or not isinstance(e.channel, str) or (e.channel and not _ID.fullmatch(e.channel)):
            return False
        return 0 < e.occurred_at <= self.now + self.max_future_ms

    def apply(self, events: Sequence[StockEvent]) -> list[EventOutcome]:
        out: list[EventOutcome | None] = [None] * len(events)
        self.window_start = max(self.window_start, min(self.high_water, self.now) - self.count_window_ms)
        first: dict[str, int] = {}
        copies: list[tuple[int, int]] = []
        remember: list[int] = []
        known = {lo.id for lo in self.stock.locations}
        for k, e in enumerate(events):
            if not self.well_formed(e):
                out[k] = EventOutcome.REJECTED
                continue
            payload = e.payload_key()
            if e.event_id in self.seen:
                out[k] = EventOutcome.DUPLICATE if self.seen[e.event_id] == payload else EventOutcome.REJECTED
                continue
            if e.event_id in first:
                copies.append((k, first[e.event_id]))
                continue
            first[e.event_id] = k
            if e.location not in known or (e.channel and e.channel not in self.channels):
                out[k] = EventOutcome.REJECTED
                continue
            out[k] = self._one(e)
            if out[k] in (EventOutcome.APPLIED, EventOutcome.STALE):
                remember.append(k)
        for k, f in copies:
            if out[f] is EventOutcome.REJECTED:
                out[k] = EventOutcome.REJECTED
            elif events[k].payload_key() == events[f].payload_key():
                out[k] = EventOutcome.DUPLICATE
            else:
                out[k] = EventOutcome.REJECTED
        for k in remember:
            self.seen[events[k].event_id] = events[k].payload_key()
        return [o if o is not None else EventOutcome.REJECTED for o in out]

    def _one(self, e: StockEvent) -> EventOutcome:
        key = (e.sku, e.location)
        last = self.count_time.get(key)
        t = e.occurred_at
        pos = self.stock.positions.get(key)
        cur = pos.on_hand if pos is not None else 0
        if e.type is EventType.CYCLE_COUNT:
            if last is not None and t <= last:
                return EventOutcome.STALE
            if t < self.window_start:
                return EventOutcome.REJECTED
            later = sum(d for k, tt, d in self.journal if k == key and tt >= t)
            delta = e.quantity + later - cur
        else:
            if last is not None and t < last:
                return EventOutcome.STALE
            delta = SIGN[e.type] * e.quantity
        if abs(cur + delta) > MAX_QUANTITY:
            return EventOutcome.REJECTED
        if pos is None:
            pos = self.stock.positions[key] = RefPosition(0)
        if e.type is EventType.CYCLE_COUNT:
            self.count_time[key] = t
        elif delta:
            self.journal.append((key, t, delta))
        if e.type is EventType.SALE and e.channel:
            fence = self.stock.fences.get((e.sku, e.channel))
            if fence is not None:
                fence[1] += max(0, min(fence[0] - fence[1], e.quantity))
        pos.on_hand += delta
        self.sequence += 1
        self.high_water = max(self.high_water, t)
        return EventOutcome.APPLIED
