"""The embedded ledger: one process, a lock, and the read model's arrays themselves.

Stock event rules (shared with the Redis backend, see README "Stock events"):
- an event id seen before is a DUPLICATE (same payload) or REJECTED (different payload), never re-applied;
- a cycle count at time T sets on hand to its quantity plus every delta applied with a time after T;
  deltas that happened before the last count are STALE (acknowledged, not applied), and so is a count
  no newer than the last one;
- a count older than the reconciliation window (measured from the newest event time seen) is REJECTED,
  since the deltas after it may no longer be known.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InvalidArgument
from ..model import (
    EVENT_SIGN,
    MAX_QUANTITY,
    AllocationRow,
    EventBatchResult,
    EventOutcome,
    EventResult,
    EventType,
    Location,
    Sku,
    Snapshot,
    StockEvent,
    check_id,
    check_quantity,
)
from ..store import StockStore
from .base import ChangeBatch, ChangeListener, SafetyStockEntry

MAX_EVENT_BATCH = 50_000
_KEY = 1 << 20  # position key = sku * _KEY + location; locations are far fewer than 2**20
_INT32 = 2**31 - 1


def _reject(e: StockEvent, reason: str) -> EventResult:
    return EventResult(e.event_id if isinstance(e.event_id, str) else "", EventOutcome.REJECTED, reason)


class MemoryLedger:
    def __init__(
        self,
        store: StockStore,
        *,
        count_window_ms: int = 24 * 3600 * 1000,
        event_retention_ms: int = 7 * 24 * 3600 * 1000,
        max_future_ms: int = 24 * 3600 * 1000,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._listeners: list[ChangeListener] = []
        self.count_window_ms = count_window_ms
        self.event_retention_ms = event_retention_ms
        self.max_future_ms = max_future_ms
        self._clock_ms = clock_ms
        self._seen: dict[str, tuple[int, tuple[object, ...]]] = {}  # event id -> (arrival ms, payload)
        self._count_time: dict[int, int] = {}  # position key -> time of the last applied count
        self._journal: dict[int, list[tuple[int, int]]] = {}  # position key -> recent (time, delta)
        self._journal_size = 0
        self._high_water = 0  # newest event time applied
        self._sequence = store.sequence

    # ------------------------------------------------------------------ Ledger protocol
    @property
    def store(self) -> StockStore:
        return self._store

    @property
    def sequence(self) -> int:
        return self._sequence

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            self._listeners.clear()

    def _publish(self, batch: ChangeBatch) -> None:
        for listener in list(self._listeners):
            listener(batch)

    # ------------------------------------------------------------------ stock events
    def apply_stock_events(self, events: Sequence[StockEvent]) -> EventBatchResult:
        if len(events) == 0:
            raise InvalidArgument("events", [], "must contain at least one event")
        if len(events) > MAX_EVENT_BATCH:
            raise InvalidArgument("events", len(events), f"at most {MAX_EVENT_BATCH} events per batch")
        with self._lock:
            return self._apply_locked(events)

    def _validate(self, e: StockEvent, now: int) -> str:
        """Reason the event is malformed, or '' when it is well formed."""
        try:
            check_id("event_id", e.event_id)
            check_id("sku", e.sku)
            check_id("location", e.location)
            if not isinstance(e.type, EventType):
                return f"type={e.type!r}: unknown event type"
            if e.type is EventType.ADJUSTMENT:
                check_quantity("quantity", e.quantity, allow_zero=False, allow_negative=True)
            elif e.type is EventType.CYCLE_COUNT:
                check_quantity("quantity", e.quantity)
            else:
                check_quantity("quantity", e.quantity, allow_zero=False)
            if e.channel:
                check_id("channel", e.channel)
        except InvalidArgument as err:
            return str(err)
        if isinstance(e.occurred_at, bool) or not isinstance(e.occurred_at, int) or e.occurred_at <= 0:
            return f"occurred_at={e.occurred_at!r}: must be a positive epoch time in milliseconds"
        if e.occurred_at > now + self.max_future_ms:
            return f"occurred_at={e.occurred_at}: more than {self.max_future_ms // 3_600_000}h in the future"
        return ""

    def _apply_locked(self, events: Sequence[StockEvent]) -> EventBatchResult:
        store = self._store
        network = store.network
        now = self._clock_ms()
        n = len(events)
        results: list[EventResult | None] = [None] * n
        batch_seen: dict[str, tuple[object, ...]] = {}
        todo: list[int] = []
        sku_idx: list[int] = []
        loc_idx: list[int] = []
        new_skus: dict[str, int] = {}
        for k, e in enumerate(events):
            reason = self._validate(e, now)
            if reason:
                results[k] = _reject(e, reason)
                continue
            payload = e.payload_key()
            prior = self._seen.get(e.event_id)
            prior_payload = prior[1] if prior is not None else batch_seen.get(e.event_id)
            if prior_payload is not None:
                if prior_payload == payload:
                    results[k] = EventResult(e.event_id, EventOutcome.DUPLICATE, "event id already applied")
                else:
                    results[k] = _reject(e, f"event_id={e.event_id!r}: reused with a different payload")
                continue
            li = network.index.get(e.location)
            if li is None:
                results[k] = _reject(e, f"location={e.location!r}: unknown location")
                continue
            if e.channel and network.channels.get(e.channel) is None:
                results[k] = _reject(e, f"channel={e.channel!r}: unknown channel")
                continue
            si = store.skus.get(e.sku)
            if si is None:
                # a receipt of a brand-new product creates the SKU; the index is assigned below
                si = new_skus.setdefault(e.sku, -1 - len(new_skus))
            batch_seen[e.event_id] = payload
            todo.append(k)
            sku_idx.append(si)
            loc_idx.append(li)
        for sku_id in new_skus:
            new_skus[sku_id] = store.add_sku(Sku(sku_id))
        if new_skus:
            sku_idx = [new_skus[events[todo[j]].sku] if s < 0 else s for j, s in enumerate(sku_idx)]
        skus = np.array(sku_idx, dtype=np.int64)
        locs = np.array(loc_idx, dtype=np.int64)
        slots = store.ensure_slots(skus, locs) if todo else np.zeros(0, np.int64)
        pos = store.generation.pos
        pending: dict[int, int] = {}  # slot -> on hand after the events so far in this batch
        out_slot: list[int] = []
        out_delta: list[int] = []
        out_seq: list[int] = []
        consumed: list[tuple[int, int, int]] = []
        seq = self._sequence
        window_start = self._high_water - self.count_window_ms
        count_time = self._count_time
        journal = self._journal
        for j, k in enumerate(todo):
            e = events[k]
            s = sku_idx[j]
            p = int(slots[j])
            key = s * _KEY + loc_idx[j]
            t = e.occurred_at
            last = count_time.get(key)
            cur = pending.get(p)
            if cur is None:
                cur = int(pos[1, p])
            if e.type is EventType.CYCLE_COUNT:
                if last is not None and t <= last:
                    results[k] = EventResult(e.event_id, EventOutcome.STALE, f"a newer count (at {last}) was applied")
                    continue
                if t < window_start:
                    results[k] = _reject(e, f"occurred_at={t}: count older than the reconciliation window")
                    continue
                later = sum(d for (tt, d) in journal.get(key, ()) if tt > t)
                delta = e.quantity + later - cur
                count_time[key] = t
            else:
                if last is not None and t < last:
                    results[k] = EventResult(
                        e.event_id, EventOutcome.STALE, f"happened before the count at {last}; not applied"
                    )
                    continue
                delta = EVENT_SIGN[e.type] * e.quantity
            if not (-_INT32 <= cur + delta <= _INT32) or abs(cur + delta) > MAX_QUANTITY:
                results[k] = _reject(e, f"quantity={e.quantity}: on hand would leave the int32 range")
                continue
            if e.type is not EventType.CYCLE_COUNT and delta:
                lst = journal.get(key)
                if lst is None:
                    journal[key] = [(t, delta)]
                else:
                    lst.append((t, delta))
                self._journal_size += 1
            if e.type is EventType.SALE and e.channel:
                consumed.append((s, network.channels.index(e.channel), e.quantity))
            seq += 1
            pending[p] = cur + delta
            if t > self._high_water:
                self._high_water = t
            results[k] = EventResult(e.event_id, EventOutcome.APPLIED, "", seq)
            if delta:
                out_slot.append(p)
                out_delta.append(delta)
                out_seq.append(seq)
            self._seen[e.event_id] = (now, e.payload_key())
        if out_slot:
            slot_arr = np.array(out_slot, dtype=np.int64)
            d_oh = np.array(out_delta, dtype=np.int64)
            store.apply_deltas(slot_arr, d_oh, np.zeros_like(d_oh), seq)
        for s, c, q in consumed:
            store.consume_allocation(s, c, q)
        store.sequence = seq
        self._sequence = seq
        if self._journal_size > 1_000_000:
            self._prune()
        if len(self._seen) > 2_000_000:
            self._forget_old_events(now)
        if out_slot or consumed:
            gpos = store.generation.pos
            slot_arr = np.array(out_slot, dtype=np.int64)
            loc_of_slot = gpos[0, slot_arr].astype(np.int64) if out_slot else np.zeros(0, np.int64)
            sku_of_slot = self._skus_of_slots(slot_arr)
            self._publish(
                ChangeBatch(
                    sequence=seq,
                    sku=sku_of_slot,
                    loc=loc_of_slot,
                    d_on_hand=np.array(out_delta, dtype=np.int64),
                    d_reserved=np.zeros(len(out_slot), dtype=np.int64),
                    seq=np.array(out_seq, dtype=np.int64),
                    skus_touched=np.array([c[0] for c in consumed], dtype=np.int64),
                )
            )
        final = [r if r is not None else _reject(events[i], "internal: no outcome") for i, r in enumerate(results)]
        return EventBatchResult(final, seq)

    def _skus_of_slots(self, slots: np.ndarray) -> np.ndarray:
        g = self._store.generation
        n = len(self._store.skus)
        starts = g.idx[0, : n + 1]
        return (np.searchsorted(starts, slots, side="right") - 1).astype(np.int64)

    def _prune(self) -> None:
        horizon = self._high_water - self.count_window_ms
        size = 0
        for key in list(self._journal):
            kept = [x for x in self._journal[key] if x[0] >= horizon]
            if kept:
                self._journal[key] = kept
                size += len(kept)
            else:
                del self._journal[key]
        self._journal_size = size

    def _forget_old_events(self, now: int) -> None:
        horizon = now - self.event_retention_ms
        self._seen = {k: v for k, v in self._seen.items() if v[0] >= horizon}

    # ------------------------------------------------------------------ configuration writes
    def set_safety_stock(self, entries: Sequence[SafetyStockEntry]) -> int:
        if not entries:
            raise InvalidArgument("entries", [], "must contain at least one entry")
        with self._lock:
            store = self._store
            skus: list[int] = []
            locs: list[int] = []
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
                skus.append(si)
                locs.append(li)
            slots = store.ensure_slots(np.array(skus, np.int64), np.array(locs, np.int64))
            for e, p in zip(entries, slots, strict=True):
                store.set_safety(int(p), e.quantity)
            return self._bump(np.array(skus, np.int64))

    def set_allocations(self, entries: Sequence[AllocationRow]) -> int:
        if not entries:
            raise InvalidArgument("entries", [], "must contain at least one entry")
        with self._lock:
            store = self._store
            resolved: list[tuple[int, int, AllocationRow]] = []
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
                resolved.append((si, ci, a))
            for si, ci, a in resolved:
                store.set_allocation(si, ci, a.quantity, a.consumed if a.consumed else None)
            return self._bump(np.array([r[0] for r in resolved], np.int64))

    def upsert_locations(self, locations: Sequence[Location]) -> int:
        if not locations:
            raise InvalidArgument("locations", [], "must contain at least one location")
        with self._lock:
            network = self._store.network.with_locations(locations)
            self._store.set_network(network)
            return self._bump(np.zeros(0, np.int64), everything=True)

    def load_snapshot(self, snapshot: Snapshot) -> int:
        with self._lock:
            fresh = StockStore.from_snapshot(snapshot, self._store.network.config, sequence=self._sequence + 1)
            self._store.replace_contents(fresh)
            self._count_time.clear()
            self._journal.clear()
            self._journal_size = 0
            return self._bump(np.zeros(0, np.int64), everything=True)

    def _bump(self, skus: np.ndarray, everything: bool = False) -> int:
        self._sequence += 1
        self._store.sequence = self._sequence
        self._publish(ChangeBatch(sequence=self._sequence, skus_touched=skus, everything=everything))
        return self._sequence
