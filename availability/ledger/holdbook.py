"""Reservations of the embedded ledger: the state machine of availability/reservations.py plus the stock
checks and the counter changes, all under the ledger's lock.

All-or-nothing: every line is checked and applied tentatively in request order (later lines of the same
SKU see the earlier ones); if any line is short, the applied ones are rolled back before the lock is
released and every shortfall is reported. Readers may see a tentative hold for that instant, which only
ever lowers ATP, never raises it.

Every operation here is called by the ledger under its lock; the ledger journals the ones that changed
something (see memory.py), and the sweeper goes through the ledger too, so that expiries are journaled.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AlreadyExists, InsufficientStock, NotFound, OmnirouteError, Shortfall
from ..locations import LocationTable, Scope
from ..model import check_id
from ..reservations import (
    HoldDelta,
    Inconsistency,
    LineMove,
    LineQuantity,
    LineState,
    Reservation,
    ReservationRecord,
    ReservationStatus,
    ReserveRequest,
    apply_confirm,
    apply_expire,
    apply_extend,
    apply_fulfill,
    apply_release,
    new_record,
    reserve_deltas,
)
from .base import ChangeBatch

if TYPE_CHECKING:
    from .memory import MemoryLedger

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
CLOSED_RETENTION_MS = 24 * 3600 * 1000
_Resolved = tuple[HoldDelta, int, int, int]  # a delta with its SKU index, location index, hold group
# A reconcile repair: (counter, SKU index, location index or hold group, the value to set):
# counter "reserved" or "on_hand" (a location) or "group_hold" (a hold group).
Fix = tuple[str, int, int, int]


class HoldBook:
    def __init__(self, ledger: MemoryLedger, clock_ms: Callable[[], int]) -> None:
        self._ledger = ledger
        self._clock_ms = clock_ms
        self._records: dict[str, ReservationRecord] = {}
        self._fenced: dict[tuple[str, str, str], int] = {}  # (rid, sku, place) -> ring-fence units consumed
        self._deadlines: list[tuple[int, str]] = []
        self._scopes: dict[tuple[int, int], Scope] = {}
        self._members: dict[tuple[int, int], npt.NDArray[np.bool_]] = {}
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ helpers
    def _network(self) -> LocationTable:
        return self._ledger.store.network

    def _scope_of_group(self, net: LocationTable, g: int) -> Scope:
        key = (id(net), g)
        sc = self._scopes.get(key)
        if sc is None:
            sc = Scope.of_group(net.group_list[g].id) if g < len(net.group_list) else Scope()
            self._scopes[key] = sc
        return sc

    def _scope_of_location(self, net: LocationTable, li: int) -> Scope:
        key = (id(net), -1 - li)
        sc = self._scopes.get(key)
        if sc is None:
            sc = Scope.of_locations((net.index.id(li),))
            self._scopes[key] = sc
        return sc

    def _group_members(self, net: LocationTable, g: int) -> npt.NDArray[np.bool_]:
        key = (id(net), g)
        m = self._members.get(key)
        if m is None:
            m = net.hold_group_members(g)
            self._members[key] = m
        return m

    def _group_channel(self, net: LocationTable, g: int, chan: int) -> int:
        """The channel whose eligibility defines a hold group: its own for a channel network."""
        return g - len(net.group_list) if g >= len(net.group_list) else chan

    def _available(self, s: int, chan: int, li: int, g: int) -> int:
        """What a new hold of SKU s for `chan` may take at location li (g < 0) or hold group g, leaving
        every existing group hold that encloses it coverable."""
        store = self._ledger.store
        net = store.network
        if li >= 0:
            avail = store.hold_atp(s, chan, self._scope_of_location(net, li))
        else:
            avail = store.hold_atp(s, chan, self._scope_of_group(net, g))
        for g2 in store.group_holds(s):
            if g2 == g:
                continue
            outer = self._group_members(net, g2)
            encloses = bool(outer[li]) if li >= 0 else not bool(np.any(self._group_members(net, g) & ~outer))
            if encloses:
                c2 = self._group_channel(net, g2, chan)
                avail = min(avail, store.hold_atp(s, c2, self._scope_of_group(net, g2)))
        return max(avail, 0)

    def _apply(self, s: int, li: int, g: int, d_held: int, d_on_hand: int = 0) -> None:
        store = self._ledger.store
        if li >= 0:
            slots = store.ensure_slots(np.array([s], np.int64), np.array([li], np.int64))
            store.apply_deltas(
                slots, np.array([d_on_hand], np.int64), np.array([d_held], np.int64), self._ledger._sequence
            )
            audit = self._ledger.audit
            if d_on_hand and audit is not None:  # a fulfilment: units leave the building
                audit.record(np.array([s * (1 << 20) + li], np.int64), np.array([d_on_hand], np.int64))
        else:
            store.add_group_hold(s, g, d_held)

    def _resolve(self, chan: int, sku: str, place: str, at_location: bool) -> tuple[int, int, int]:
        """(sku index or -1, location index or -1, hold group or -1) of a line."""
        s = self._ledger.store.skus.get(sku)
        li, g = self._network().hold_place(place, chan, at_location)
        return (-1 if s is None else s), li, g

    def _resolve_all(self, chan: int, deltas: list[HoldDelta]) -> list[_Resolved]:
        return [(d, *self._resolve(chan, d.sku, d.place, d.at_location)) for d in deltas]

    def _hold_or_roll_back(self, chan: int, items: list[_Resolved]) -> None:
        """Apply every item in order, checking each increase against what is available at that moment;
        if any is short, undo the applied ones and raise with every shortfall (numbered among the
        increases, i.e. by request line for a reservation)."""
        done: list[tuple[int, int, int, int]] = []
        short: list[Shortfall] = []
        k = 0
        for d, s, li, g in items:
            if d.d_held > 0:
                avail = 0 if s < 0 else self._available(s, chan, li, g)
                if d.d_held > avail:
                    short.append(Shortfall(k, d.sku, d.place, d.d_held, avail))
                k += 1
                if d.d_held > avail:
                    continue
            self._apply(s, li, g, d.d_held, d.d_on_hand)
            done.append((s, li, g, d.d_held))
        if short:
            for s, li, g, q in reversed(done):
                self._apply(s, li, g, -q)
            raise InsufficientStock(short)

    def _commit(self, rec: ReservationRecord, deltas: list[HoldDelta]) -> int:
        """Apply the counter changes of a release-like transition (nothing to check), give back the
        ring-fence of released units, and publish."""
        chan = self._network().channel_index(rec.channel)
        items = self._resolve_all(chan, deltas)
        for d, s, li, g in items:
            if s < 0:
                continue
            self._apply(s, li, g, d.d_held, d.d_on_hand)
            if d.d_held < 0 and d.d_on_hand == 0:
                self._give_back_fence(rec, d, s, chan)
        return self._publish(rec, items)

    def _publish(self, rec: ReservationRecord, items: list[_Resolved]) -> int:
        """Bump the sequence and publish the change records of counters already changed."""
        led = self._ledger
        led._sequence += 1
        seq = led._sequence
        led.store.sequence = seq
        rec.sequence = seq
        rows = [(s, li, d.d_on_hand, d.d_held) for d, s, li, _g in items if s >= 0 and li >= 0]
        n = len(rows)
        led._publish(
            ChangeBatch(
                sequence=seq,
                sku=np.array([r[0] for r in rows], np.int64),
                loc=np.array([r[1] for r in rows], np.int64),
                d_on_hand=np.array([r[2] for r in rows], np.int64),
                d_reserved=np.array([r[3] for r in rows], np.int64),
                seq=np.full(n, seq, np.int64),
                skus_touched=np.array([s for _d, s, li, _g in items if s >= 0 and li < 0], np.int64),
            )
        )
        return seq

    def _give_back_fence(self, rec: ReservationRecord, d: HoldDelta, s: int, chan: int) -> None:
        key = (rec.reservation_id, d.sku, d.place)
        fenced = self._fenced.get(key, 0)
        back = min(fenced, -d.d_held)
        if back > 0:
            self._ledger.store.release_allocation(s, chan, back)
            self._fenced[key] = fenced - back

    def _get(self, reservation_id: str) -> ReservationRecord:
        check_id("reservation_id", reservation_id)
        rec = self._records.get(reservation_id)
        if rec is None:
            raise NotFound("reservation", reservation_id)
        return rec

    # ------------------------------------------------------------------ operations (callers hold the lock)
    def reserve(self, req: ReserveRequest) -> Reservation:
        req.validate()
        prior = self._records.get(req.reservation_id)
        if prior is not None:
            if prior.payload == req.payload_key():
                return prior.view()
            raise AlreadyExists("reservation", req.reservation_id)
        net = self._network()
        store = self._ledger.store
        chan = req.check_places(net)
        rec = new_record(req, self._clock_ms(), {ln.location: True for ln in req.lines if ln.location})
        items = self._resolve_all(chan, reserve_deltas(rec))
        self._hold_or_roll_back(chan, items)
        for d, s, _li, _g in items:
            took = store.consume_allocation(s, chan, d.d_held)
            if took:
                self._fenced[(req.reservation_id, d.sku, d.place)] = took
        self._publish(rec, items)
        self._records[req.reservation_id] = rec
        heapq.heappush(self._deadlines, (rec.expires_at_ms, req.reservation_id))
        return rec.view()

    def confirm(self, reservation_id: str, moves: tuple[LineMove, ...] = ()) -> Reservation:
        rec = self._get(reservation_id)
        net = self._network()
        is_location = {loc: True for mv in moves for loc, _q in mv.to if loc in net.index}
        out, deltas = apply_confirm(rec, moves, is_location)
        if out is rec:
            return rec.view()
        chan = net.channel_index(rec.channel)
        # the group part goes first so the location holds can use the units it frees
        items = self._resolve_all(chan, [d for d in deltas if d.d_held < 0] + [d for d in deltas if d.d_held > 0])
        self._hold_or_roll_back(chan, items)
        # a moved line keeps the ring-fence it consumed: re-key it to the new lines, in order
        for mv in moves:
            fenced = self._fenced.pop((reservation_id, mv.sku, mv.place), 0)
            for loc, q in mv.to:
                take = min(fenced, q)
                if take:
                    key = (reservation_id, mv.sku, loc)
                    self._fenced[key] = self._fenced.get(key, 0) + take
                    fenced -= take
        self._publish(out, items)
        self._records[reservation_id] = out
        return out.view()

    def extend(self, reservation_id: str, ttl_ms: int) -> Reservation:
        rec = self._get(reservation_id)
        out = apply_extend(rec, ttl_ms, self._clock_ms())
        led = self._ledger
        led._sequence += 1
        out.sequence = led._sequence
        led.store.sequence = led._sequence
        self._records[reservation_id] = out
        heapq.heappush(self._deadlines, (out.expires_at_ms, reservation_id))
        return out.view()

    def release(self, reservation_id: str, lines: tuple[LineQuantity, ...] = (), operation_id: str = "") -> Reservation:
        rec = self._get(reservation_id)
        out, deltas = apply_release(rec, lines, operation_id)
        if out is rec:
            return rec.view()
        self._commit(out, deltas)
        self._records[reservation_id] = out
        return out.view()

    def fulfill(self, reservation_id: str, lines: tuple[LineQuantity, ...], operation_id: str = "") -> Reservation:
        rec = self._get(reservation_id)
        out, deltas = apply_fulfill(rec, lines, operation_id)
        if out is rec:
            return rec.view()
        self._commit(out, deltas)
        self._records[reservation_id] = out
        return out.view()

    def get(self, reservation_id: str) -> Reservation:
        return self._get(reservation_id).view()

    def has_due(self, now_ms: int) -> bool:
        """Whether a deadline at or before now_ms is queued (cheap: the sweeper asks twice a second)."""
        return bool(self._deadlines) and self._deadlines[0][0] <= now_ms

    def expire_due(self, now_ms: int | None = None) -> int:
        """Expire every held reservation whose deadline has passed; idempotent. Returns how many."""
        now = self._clock_ms() if now_ms is None else now_ms
        n = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            expires, rid = heapq.heappop(self._deadlines)
            rec = self._records.get(rid)
            if rec is None or rec.status is not ReservationStatus.HELD or rec.expires_at_ms != expires:
                continue  # confirmed, closed or extended since this deadline was queued
            out, deltas = apply_expire(rec)
            self._commit(out, deltas)
            self._records[rid] = out
            n += 1
        return n

    def forget_closed(self, now_ms: int) -> int:
        """Forget closed reservations created before the retention; returns how many."""
        horizon = now_ms - CLOSED_RETENTION_MS
        gone = [
            r
            for r, rec in self._records.items()
            if rec.status not in (ReservationStatus.HELD, ReservationStatus.CONFIRMED) and rec.created_at_ms < horizon
        ]
        for rid in gone:
            del self._records[rid]
        return len(gone)

    def open_records(self) -> list[ReservationRecord]:
        return [r for r in self._records.values() if r.status in (ReservationStatus.HELD, ReservationStatus.CONFIRMED)]

    def reapply(self) -> None:
        """After a snapshot load: put every open hold back on the fresh counters."""
        for rec in self.open_records():
            chan = self._network().channel_index(rec.channel)
            for (sku, place), st in rec.lines.items():
                if st.held:
                    s, li, g = self._resolve(chan, sku, place, rec.at_location[(sku, place)])
                    if s >= 0:
                        self._apply(s, li, g, st.held)

    # ------------------------------------------------------------------ reconcile
    def check(self, skus: frozenset[str] = frozenset()) -> tuple[list[Inconsistency], list[Fix], int, int]:
        """Recompute reserved counters and group holds from the open reservation records: every
        difference (not repaired), the fix of each, the positions and the records checked. The ledger
        applies the fixes (MemoryLedger.reconcile), so that one recorded change covers every counter."""
        store = self._ledger.store
        net = store.network
        exp_loc: dict[tuple[int, int], int] = {}
        exp_grp: dict[tuple[int, int], int] = {}
        who: dict[tuple[str, int, int], list[str]] = {}
        records = self.open_records()
        for rec in records:
            chan = net.channel_index(rec.channel)
            for (sku, place), st in rec.lines.items():
                if not st.held or (skus and sku not in skus):
                    continue
                s, li, g = self._resolve(chan, sku, place, rec.at_location[(sku, place)])
                if s < 0:
                    continue
                if li >= 0:
                    exp_loc[(s, li)] = exp_loc.get((s, li), 0) + st.held
                    who.setdefault(("l", s, li), []).append(rec.reservation_id)
                else:
                    exp_grp[(s, g)] = exp_grp.get((s, g), 0) + st.held
                    who.setdefault(("g", s, g), []).append(rec.reservation_id)
        found_loc: dict[tuple[int, int], int] = {}
        g_state = store.generation
        n_sku = len(store.skus)
        checked = 0
        for s in range(n_sku):
            if skus and store.skus.id(s) not in skus:
                continue
            a = int(g_state.idx[s, 0])
            u = int(g_state.idx[s, 1])
            checked += u
            reserved = g_state.pos[1, a : a + u].astype(np.int64) - g_state.pos[2, a : a + u]
            for k in np.flatnonzero(reserved):
                found_loc[(s, int(g_state.pos[0, a + k]))] = int(reserved[k])
        gs, gg, gq = store.group_hold_rows()
        found_grp = {
            (int(s), int(g)): int(q)
            for s, g, q in zip(gs, gg, gq, strict=True)
            if not skus or store.skus.id(int(s)) in skus
        }
        out: list[Inconsistency] = []
        fixes: list[Fix] = []
        for key in sorted(set(exp_loc) | set(found_loc)):
            e, f = exp_loc.get(key, 0), found_loc.get(key, 0)
            if e != f:
                s, li = key
                fixes.append(("reserved", s, li, e))
                out.append(
                    Inconsistency(
                        store.skus.id(s), net.index.id(li), "reserved", e, f, tuple(who.get(("l", s, li), ())), False
                    )
                )
        for key in sorted(set(exp_grp) | set(found_grp)):
            e, f = exp_grp.get(key, 0), found_grp.get(key, 0)
            if e != f:
                s, g = key
                fixes.append(("group_hold", s, g, e))
                place = net.hold_group_name(g)
                out.append(
                    Inconsistency(store.skus.id(s), place, "group_hold", e, f, tuple(who.get(("g", s, g), ())), False)
                )
        return out, fixes, checked, len(records)

    # ------------------------------------------------------------------ state directory (statedir.py)
    def export_state(self) -> dict[str, Any]:
        """Records, ring-fence consumption and deadlines as JSON-ready values (under the ledger's lock)."""
        return {
            "records": [_record_to_json(r) for r in self._records.values()],
            "fenced": [[rid, sku, place, n] for (rid, sku, place), n in self._fenced.items()],
            "deadlines": [[t, rid] for t, rid in self._deadlines],
        }

    def import_state(self, state: dict[str, Any]) -> None:
        records = [_record_from_json(d) for d in state["records"]]
        self._records = {r.reservation_id: r for r in records}
        self._fenced = {(rid, sku, place): int(n) for rid, sku, place, n in state["fenced"]}
        self._deadlines = [(int(t), str(rid)) for t, rid in state["deadlines"]]
        heapq.heapify(self._deadlines)  # stored in heap order already; cheap insurance

    # ------------------------------------------------------------------ expiry sweeper
    def start_sweeper(self, interval_s: float) -> None:
        if self._sweeper is not None or interval_s <= 0:
            return
        ledger = self._ledger

        def run() -> None:
            last_forget = 0.0
            complained = ""
            while not self._stop.wait(interval_s):
                # through the ledger, which takes its lock and journals what changed
                try:
                    ledger.expire_due()
                    # closed records only answer retries and GetReservation: keep them a day, not forever
                    if time.monotonic() - last_forget >= 60:
                        ledger.forget_closed()
                        last_forget = time.monotonic()
                except OmnirouteError as err:  # the state directory refuses writes: say so once
                    if str(err) != complained:
                        log.error("expiry sweep failed: %s", err)
                        complained = str(err)

        self._sweeper = threading.Thread(target=run, name="omniroute-expiry", daemon=True)
        self._sweeper.start()

    def stop_sweeper(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the records compare with (payloads, operation requests)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _record_to_json(r: ReservationRecord) -> dict[str, Any]:
    return {
        "id": r.reservation_id,
        "channel": r.channel,
        "status": r.status.value,
        "lines": [
            [sku, place, r.at_location[(sku, place)], st.held, st.fulfilled, st.released]
            for (sku, place), st in r.lines.items()
        ],
        "created": r.created_at_ms,
        "expires": r.expires_at_ms,
        "payload": r.payload,
        "operations": [[op, list(req)] for op, req in r.operations.items()],
        "sequence": r.sequence,
    }


def _record_from_json(d: dict[str, Any]) -> ReservationRecord:
    lines: dict[tuple[str, str], LineState] = {}
    at: dict[tuple[str, str], bool] = {}
    for sku, place, at_loc, held, fulfilled, released in d["lines"]:
        lines[(sku, place)] = LineState(held, fulfilled, released)
        at[(sku, place)] = bool(at_loc)
    return ReservationRecord(
        reservation_id=d["id"],
        channel=d["channel"],
        status=ReservationStatus(d["status"]),
        lines=lines,
        at_location=at,
        created_at_ms=d["created"],
        expires_at_ms=d["expires"],
        payload=_tuples(d["payload"]),
        operations={op: _tuples(req) for op, req in d["operations"]},
        sequence=d["sequence"],
    )
