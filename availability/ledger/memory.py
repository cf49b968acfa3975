"""The embedded ledger: one process, a lock, and the read model's arrays themselves.

Stock event rules (shared with the Redis backend, see README "Stock events"):
- a malformed event (id, type, quantity, time, channel), or one naming an unknown location or channel,
  is REJECTED with the field named; nothing of it is kept, so a corrected event may reuse its id;
- an event id seen before is a DUPLICATE (same payload) or REJECTED (different payload), never re-applied;
  that holds for applied and for stale events, and inside one batch (a later copy of an id follows the
  first copy: DUPLICATE, or REJECTED like the first when the first was rejected);
- deltas (receipt +q, sale -q, return to stock +q, return damaged 0, adjustment +/-q, transfer out -q,
  transfer in +q) are added to on hand; on hand may go negative (a POS sale is a fact), ATP floors at 0;
- a cycle count at time T sets on hand to its quantity plus every delta applied with a time at or after
  T; deltas that happened before the last count are STALE (acknowledged, not applied), and so is a count
  no newer than the last one. Ties go to the delta, whatever the arrival order;
- a count older than the reconciliation window is REJECTED, since the deltas after it may no longer be
  known. The window ends at the newest event time applied, but never later than the ledger's clock (so
  one event stamped in the future cannot push every count out of the window);
- a result outside +/-MAX_QUANTITY on hand REJECTS the event that would cause it;
- a sale with a channel consumes that channel's ring-fence of the SKU (up to what is left of it);
- an event for a SKU the store does not know creates the SKU; one at a location where the SKU has no
  position creates the position (readers are not blocked).

The common path is vectorised: the batch is turned into columns, checked with whole-batch tests (one
regular expression over all event ids, type sets, numpy range checks), and applied by one numba kernel
that also keeps the count times and the journal of recent deltas. Only suspicious events take the
per-event Python checks, which produce the exact reasons.

Durability (optional, see statedir.py): with a state directory attached, every write that changed the
ledger is appended to its journal under the lock, with the clock the write saw (pinned for the write's
whole duration) and the sequence it ended at, and the call returns only once the entry is on disk
(fdatasync, shared by concurrent writers; with fsync off, once the OS has it). A replay applies each
entry through the same code as the original write, at the recorded clock.
"""

from __future__ import annotations

import gc
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import repeat
from operator import attrgetter
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .. import _kernels as K
from ..errors import FailedPrecondition, InvalidArgument
from ..locations import LocationTable
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
    stock_event_problem,
)
from ..reservations import Inconsistency, LineMove, LineQuantity, ReconcileReport, Reservation, ReserveRequest
from ..store import Generation, StockStore, StoreView
from . import journal as J
from .base import ChangeBatch, ChangeListener, SafetyStockEntry
from .entries import check_event_batch, resolve_allocation_entries, resolve_safety_entries
from .holdbook import Fix, HoldBook
from .onhand import KEY as _AUDIT_KEY
from .onhand import BaseTable, OnHandAudit, position_table

_KEY = 1 << 20  # position key = sku * _KEY + location; locations are far fewer than 2**20
assert _KEY == _AUDIT_KEY

I64 = npt.NDArray[np.int64]

_TYPES = list(EventType)
_TYPE_CODE = {t: i for i, t in enumerate(_TYPES)}
_SIGN = np.array([EVENT_SIGN.get(t, 0) for t in _TYPES], dtype=np.int64)
_ADJ = _TYPE_CODE[EventType.ADJUSTMENT]
_COUNT = _TYPE_CODE[EventType.CYCLE_COUNT]
assert _COUNT == K.E_CYCLE_COUNT and _TYPE_CODE[EventType.SALE] == K.E_SALE
_OUTCOMES = list(EventOutcome)
_APPLIED = EventOutcome.APPLIED
# An applied event's result, built through the slot descriptors: a frozen dataclass's __init__ goes
# through object.__setattr__ per field, 0.73 us a result against 0.40 us here, 8% of a batch of
# 5,000. Only valid while EventResult has nothing to run at construction: checked here.
assert not hasattr(EventResult, "__post_init__") and EventResult.__slots__ == (
    "event_id",
    "outcome",
    "reason",
    "sequence",
)
_new_result = object.__new__
_slot = vars(EventResult)
_set_id: Callable[[EventResult, str], None] = _slot["event_id"].__set__
_set_outcome: Callable[[EventResult, EventOutcome], None] = _slot["outcome"].__set__
_set_reason: Callable[[EventResult, str], None] = _slot["reason"].__set__
_set_sequence: Callable[[EventResult, int], None] = _slot["sequence"].__set__


def _applied(event_id: str, sequence: int) -> EventResult:
    r: EventResult = _new_result(EventResult)
    _set_id(r, event_id)
    _set_outcome(r, _APPLIED)
    _set_reason(r, "")
    _set_sequence(r, sequence)
    return r


_get_id = attrgetter("event_id")
_get_type = attrgetter("type")
_get_location = attrgetter("location")
_get_sku = attrgetter("sku")
_get_quantity = attrgetter("quantity")
_get_time = attrgetter("occurred_at")
_get_channel = attrgetter("channel")
assert [int(o) for o in _OUTCOMES] == list(range(len(_OUTCOMES)))

_ID = r"[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,127}"
# every id of a batch in one match; \x00 cannot occur in a valid id, so a joined string matches only
# when each piece is a valid id (the piece count is checked too)
_IDS_RE = re.compile(rf"{_ID}(?:\x00{_ID})*")


def _reject(e: StockEvent, reason: str) -> EventResult:
    return EventResult(e.event_id if isinstance(e.event_id, str) else "", EventOutcome.REJECTED, reason)


def _all_ids_valid(ids: list[str]) -> bool:
    try:
        joined = "\x00".join(ids)
    except TypeError:
        return False
    return joined.count("\x00") == len(ids) - 1 and _IDS_RE.fullmatch(joined) is not None


@dataclass(frozen=True, slots=True)
class _Columns:
    ids: list[str]
    payloads: list[tuple[object, ...]]
    strings: tuple[list[str], list[str], list[str], list[str]]  # types, locations, SKUs, channels (journal)
    code: I64
    qty: I64
    tms: I64
    li: I64
    ci: I64
    si: I64
    suspects: list[int]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is applied. A batch makes thousands of short-lived
    objects (results, payloads), and each collection that meets them mid-batch promotes them, so full
    collections (40 ms here, with numba loaded) ran every few batches: 200k events/s with the
    collector running, 310k paused. Nothing in a batch makes reference cycles. Restores the previous
    state, so nested or concurrent use never leaves the collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _pow2_at_least(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


EVENT_TYPE_NAMES = tuple(t.value for t in _TYPES)  # the type code of a remembered payload names this


class WriteAhead(Protocol):
    """A state directory as the ledger sees it (statedir.StateDir)."""

    @property
    def fsync(self) -> bool: ...

    def check_writable(self) -> None:
        """Raise Unavailable when writes cannot be journaled (a failed disk write, closed)."""

    def append(self, kind: J.Kind, now_ms: int, sequence: int, payload: bytes) -> int:
        """Journal one applied write (under the ledger's lock); returns a ticket for sync."""
        ...

    def sync(self, ticket: int) -> None:
        """Return once the entry of `ticket` is durable (after the lock is released: group commit)."""

    def checkpoint_now(self) -> None:
        """Write a checkpoint of the current state before returning (under the ledger's lock)."""

    def checkpoint(self) -> int:
        """Write a checkpoint now, holding the ledger's lock only to copy the state; its number."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LedgerState:
    """Everything a restart needs, copied under the ledger's lock so that it can be written while writes
    go on (statedir.py writes and reads it). `seen_ids` / `seen_payloads` are the remembered event ids
    in the order they were remembered, `seen_batches` the (arrival time, count) of each remembered batch
    over that order; `event_types` names the type codes of the payloads."""

    sequence: int
    window_start: int
    network: LocationTable
    sku_ids: list[str]
    sku_weights: list[int | None]
    arrays: dict[str, npt.NDArray[Any]]
    seen_ids: list[str]
    seen_payloads: list[tuple[Any, ...]]
    seen_batches: list[tuple[int, int]]
    holds: dict[str, Any]
    event_types: tuple[str, ...] = EVENT_TYPE_NAMES


# the ledger's own arrays in a LedgerState, besides the store's generation (idx, pos, inb, alloc)
_LEDGER_ARRAYS = ("_ht_keys", "_ht_vals", "_j_key", "_j_time", "_j_delta", "_j_prev", "_meta")


class MemoryLedger:
    # the ledger is this process's own state: never behind anything, and writes do no I/O
    stale = False
    blocking_io = False

    def __init__(
        self,
        store: StockStore,
        *,
        count_window_ms: int = 24 * 3600 * 1000,
        event_retention_ms: int = 7 * 24 * 3600 * 1000,
        max_future_ms: int = 24 * 3600 * 1000,
        max_remembered_events: int = 5_000_000,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        sweep_interval_s: float = 0.5,
        on_hand_base: bool = True,
    ) -> None:
        """`on_hand_base`: keep a copy of every position's on hand as it is now (12 bytes a position),
        the base from which reconcile recomputes on hand when no state directory is attached. False
        saves the memory, and reconcile then checks on hand only once a state directory is attached
        (its checkpoint is the base)."""
        self._store = store
        self._lock = threading.RLock()
        self._listeners: list[ChangeListener] = []
        self.count_window_ms = count_window_ms
        self.event_retention_ms = event_retention_ms
        self.max_future_ms = max_future_ms
        self.max_remembered_events = max_remembered_events
        self._wall_clock = clock_ms
        self._pinned: int | None = None  # the clock of the write in progress (see _pinned_now)
        self._wal: WriteAhead | None = None
        # event id -> payload, and the ids of each batch with its arrival time, oldest first: forgetting
        # pops whole batches from the left instead of scanning every id
        self._seen: dict[str, tuple[object, ...]] = {}
        self._seen_batches: deque[tuple[int, list[str]]] = deque()
        self._sequence = store.sequence
        # holds expired by this ledger's sweeper (or expire_due calls) since it was made: the service's
        # metrics read it; journal replay does not count
        self.expired_total = 0
        self._meta = np.zeros(4, dtype=np.int64)
        self._window_start = -(2**62)
        self._reset_positions_state()
        self.audit: OnHandAudit | None = None
        if on_hand_base:
            self.audit = OnHandAudit.in_memory(self._position_table())
        self.holds = HoldBook(self, self._clock_ms)
        self.start_sweeper(sweep_interval_s)

    def _clock_ms(self) -> int:
        pinned = self._pinned
        return self._wall_clock() if pinned is None else pinned

    @contextmanager
    def _pinned_now(self) -> Iterator[int]:
        """The clock of one write, fixed for the whole write: the journal records this value, and a
        replay gives the write exactly the time it saw (creation times, deadlines, retention)."""
        if self._pinned is not None:  # nested in another write, or a replay
            yield self._pinned
            return
        now = self._pinned = self._wall_clock()
        try:
            yield now
        finally:
            self._pinned = None

    def _position_table(self) -> BaseTable:
        g = self._store.generation
        return position_table(g.idx, g.pos, len(self._store.skus))

    def start_sweeper(self, interval_s: float) -> None:
        """Expire held reservations past their deadline every interval (0: never, tests drive it)."""
        self.holds.start_sweeper(interval_s)

    @property
    def write_lock(self) -> threading.RLock:
        """The lock every write holds (statedir takes it to capture a consistent checkpoint)."""
        return self._lock

    # ------------------------------------------------------------------ durability (statedir.py)
    def attach_write_ahead(self, wal: WriteAhead) -> None:
        """Journal every write from now on; the caller holds the lock and has just checkpointed."""
        self._wal = wal
        # a write then waits for its fdatasync: the service runs it on a worker thread, not its event loop
        self.blocking_io = wal.fsync

    @property
    def state_dir(self) -> WriteAhead | None:
        """The attached state directory, if any."""
        return self._wal

    def checkpoint(self) -> int:
        """Write a checkpoint of the state directory now (e.g. before copying the directory for a
        backup) and return its number; FailedPrecondition without a state directory."""
        wal = self._wal
        if wal is None:
            raise FailedPrecondition("this ledger has no state directory to checkpoint")
        return wal.checkpoint()

    def _check_writable(self) -> None:
        if self._wal is not None:
            self._wal.check_writable()

    def _log(self, kind: J.Kind, now: int, payload: Callable[[], bytes]) -> int:
        wal = self._wal
        return 0 if wal is None else wal.append(kind, now, self._sequence, payload())

    def _settle(self, ticket: int) -> None:
        """Wait for the write's journal entry to be durable (outside the lock, so writers share syncs)."""
        wal = self._wal
        if ticket and wal is not None:
            wal.sync(ticket)

    def export_state(self) -> LedgerState:
        """A copy of the whole state (the caller holds the lock); restore with `from_state`."""
        store = self._store
        view = store.view()
        g = view.gen
        arrays: dict[str, npt.NDArray[Any]] = {
            "idx": g.idx.copy(),
            "pos": g.pos.copy(),
            "inb": g.inb.copy(),
            "alloc": g.alloc.copy(),
        }
        for name in _LEDGER_ARRAYS:
            arrays[name.lstrip("_")] = getattr(self, name).copy()
        # the kernel's sequence slot is scratch, set from the ledger's sequence before every batch
        arrays["meta"][K.M_SEQ] = self._sequence
        return LedgerState(
            sequence=self._sequence,
            window_start=self._window_start,
            network=view.network,
            sku_ids=list(view.skus.ids),
            sku_weights=list(view.sku_weights),
            arrays=arrays,
            seen_ids=list(self._seen),
            seen_payloads=list(self._seen.values()),
            seen_batches=[(t, len(ids)) for t, ids in self._seen_batches],
            holds=self.holds.export_state(),
        )

    @classmethod
    def from_state(cls, state: LedgerState, **kwargs: Any) -> MemoryLedger:
        """A ledger in exactly the state `export_state` captured: the same arrays (slot layout included),
        remembered event ids, count times, reservations and sequence, so that replaying a journal on it
        takes the same paths as the original writes. No sweeper and no on-hand base: the caller starts
        the sweeper and sets the base once the journal is replayed."""
        a = state.arrays
        # payload type codes are positions in EventType: read the stored names as this version's codes
        known = {t.value: _TYPE_CODE[t] for t in _TYPES}
        try:
            recode = [known[v] for v in state.event_types]
        except KeyError as err:
            raise J.StateDirError(f"remembered events of unknown type {err.args[0]!r}") from None
        payloads = state.seen_payloads
        if recode != list(range(len(recode))):
            payloads = [(recode[p[0]], *p[1:]) for p in payloads]
        gen = Generation(a["idx"], a["pos"], a["inb"], a["alloc"])
        skus = [Sku(i, w) for i, w in zip(state.sku_ids, state.sku_weights, strict=True)]
        store = StockStore(state.network, skus, gen, state.sequence)
        kwargs = {**kwargs, "sweep_interval_s": 0, "on_hand_base": False}
        led = cls(store, **kwargs)
        for name in _LEDGER_ARRAYS:
            setattr(led, name, a[name.lstrip("_")])
        led._sequence = state.sequence
        led._window_start = state.window_start
        led._seen = dict(zip(state.seen_ids, payloads, strict=True))
        batches: deque[tuple[int, list[str]]] = deque()
        at = 0
        for t, count in state.seen_batches:
            batches.append((t, state.seen_ids[at : at + count]))
            at += count
        if at != len(state.seen_ids):
            raise J.StateDirError(f"remembered event batches cover {at} ids, not {len(state.seen_ids)}")
        led._seen_batches = batches
        led.holds.import_state(state.holds)
        return led

    def replay(self, entry: J.Entry) -> None:
        """Apply one journal entry as the write it records, at the clock it recorded (recovery; no state
        directory is attached yet). The caller checks the sequence it ends at."""
        with self._lock:
            self._pinned = entry.now_ms
            try:
                self._replay_locked(entry)
            finally:
                self._pinned = None

    def _replay_locked(self, entry: J.Entry) -> None:
        kind, data, holds = entry.kind, entry.payload, self.holds
        if kind is J.Kind.EVENTS:
            with _gc_paused():
                self._apply_locked(J.decode_events(data))
        elif kind is J.Kind.SAFETY:
            self._set_safety_locked(J.decode_safety(data))
        elif kind is J.Kind.ALLOCATIONS:
            self._set_allocations_locked(J.decode_allocations(data))
        elif kind is J.Kind.LOCATIONS:
            self._upsert_locations_locked(J.decode_locations(data))
        elif kind is J.Kind.RESERVE:
            holds.reserve(J.decode_reserve(data))
        elif kind is J.Kind.CONFIRM:
            holds.confirm(*J.decode_confirm(data))
        elif kind is J.Kind.EXTEND:
            holds.extend(*J.decode_extend(data))
        elif kind is J.Kind.RELEASE:
            holds.release(*J.decode_lines(data))
        elif kind is J.Kind.FULFILL:
            holds.fulfill(*J.decode_lines(data))
        elif kind is J.Kind.EXPIRE:
            holds.expire_due(entry.now_ms)
        elif kind is J.Kind.FORGET:
            holds.forget_closed(entry.now_ms)
        elif kind is J.Kind.REPAIR:
            self._repair([(str(c), int(s), int(p), int(v)) for c, s, p, v in J.decode_json(data)])
        else:  # pragma: no cover - Kind is closed
            raise J.StateDirError(f"no replay for journal entries of kind {kind!r}")

    def _reset_positions_state(self) -> None:
        """Count times and the journal of recent deltas (see _kernels.apply_events). The newest event
        time survives a snapshot load: the window keeps moving forward."""
        self._ht_keys = np.full(1024, -1, dtype=np.int64)
        self._ht_vals = np.zeros((2, 1024), dtype=np.int64)
        self._j_key = np.zeros(4096, dtype=np.int64)
        self._j_time = np.zeros(4096, dtype=np.int64)
        self._j_delta = np.zeros(4096, dtype=np.int64)
        self._j_prev = np.zeros(4096, dtype=np.int64)
        high = int(self._meta[K.M_HIGH_WATER])
        self._meta = np.zeros(4, dtype=np.int64)
        self._meta[K.M_HIGH_WATER] = high

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
        self.holds.stop_sweeper()
        if self._wal is not None:
            self._wal.close()  # not under the lock: its checkpointer may be waiting for it
        with self._lock:
            self._listeners.clear()

    def _publish(self, batch: ChangeBatch) -> None:
        for listener in list(self._listeners):
            listener(batch)

    # ------------------------------------------------------------------ stock events
    def apply_stock_events(self, events: Sequence[StockEvent]) -> EventBatchResult:
        check_event_batch(events)
        with self._lock, _gc_paused(), self._pinned_now():
            self._check_writable()
            result, ticket = self._apply_locked(events)
        self._settle(ticket)
        return result

    def _validate(self, e: StockEvent, now: int) -> str:
        """Reason the event is malformed, or '' when it is well formed."""
        return stock_event_problem(e, now, self.max_future_ms)

    def _columns(self, events: Sequence[StockEvent], view: StoreView, now: int, *, checked: bool) -> _Columns | None:
        """The events as columns with names resolved to indices, and the indices of suspects: events that
        may be malformed or name something unknown. Unless `checked`, whole-batch tests come first and
        any doubt (a bad id, a stray type) answers None: every event then takes the per-event checks."""
        try:
            # attrgetter over map stays in C: about half the cost of list comprehensions
            ids = list(map(_get_id, events))
            types = list(map(_get_type, events))
            locs = list(map(_get_location, events))
            skus = list(map(_get_sku, events))
            qtys = list(map(_get_quantity, events))
            times = list(map(_get_time, events))
            chans = list(map(_get_channel, events))
            if not checked and (
                not _all_ids_valid(ids)
                or set(map(type, types)) != {EventType}
                or set(map(type, qtys)) != {int}
                or set(map(type, times)) != {int}
            ):
                return None
            code = np.fromiter(map(_TYPE_CODE.__getitem__, types), dtype=np.int64, count=len(types))
            qty = np.array(qtys, dtype=np.int64)
            tms = np.array(times, dtype=np.int64)
            li = view.network.index.lookup_many(locs)
            si = view.skus.lookup_many(skus)
            chan_of = {"": -1, **{c: i for i, c in enumerate(view.network.channels.ids)}}
            ci = np.fromiter(map(chan_of.get, chans, repeat(-2)), dtype=np.int64, count=len(chans))
        except (TypeError, OverflowError, ValueError, KeyError):
            return None
        bad = (np.abs(qty) > MAX_QUANTITY) | (tms <= 0) | (tms > now + self.max_future_ms)
        bad |= (qty < 0) & (code != _ADJ)
        bad |= (qty == 0) & (code != _COUNT)  # only a count may be zero
        # known names were checked when they were added; unknown ones need the form check
        bad |= (li < 0) | (si < 0) | (ci == -2)
        # the type as its code, not the enum member: a tuple of only str and int is one the garbage
        # collector untracks, so millions of remembered payloads cost nothing in later collections
        codes = code.tolist()
        payloads = list(zip(codes, locs, skus, qtys, times, chans, strict=True))
        strings = (types, locs, skus, chans)
        return _Columns(ids, payloads, strings, code, qty, tms, li, ci, si, np.flatnonzero(bad).tolist())

    def _apply_locked(self, events: Sequence[StockEvent]) -> tuple[EventBatchResult, int]:
        """The batch's results and its journal ticket (0 without a state directory)."""
        store = self._store
        view = store.view()
        now = self._clock_ms()
        n = len(events)
        results: list[EventResult | None] = [None] * n
        window_before, batches_before = self._window_start, len(self._seen_batches)

        # 1. form: only suspects take the per-event checks, which give the exact reasons
        cols = self._columns(events, view, now, checked=False)
        suspects = cols.suspects if cols is not None else range(n)
        rejected: list[int] = []
        for k in suspects:
            why = self._validate(events[k], now)
            if why:
                results[k] = _reject(events[k], why)
                rejected.append(k)
        live: Sequence[int] = range(n)
        if rejected or cols is None:
            dropped = set(rejected)
            live = [k for k in range(n) if k not in dropped]
            cols = self._columns([events[k] for k in live], view, now, checked=True)
            assert cols is not None  # every remaining event is well formed
        ids, payloads = cols.ids, cols.payloads
        li, ci, si, code, qty, tms = cols.li, cols.ci, cols.si, cols.code, cols.qty, cols.tms

        # 2. idempotency, then unknown locations and channels (in that order, as the rules say)
        todo = np.ones(len(live), dtype=np.bool_)
        first_of: dict[int, int] = {}  # a later copy of an id in this batch -> its first copy
        seen = self._seen
        if len(set(ids)) != len(ids) or not seen.keys().isdisjoint(ids):
            in_batch: dict[str, int] = {}
            for j, eid in enumerate(ids):
                prior = seen.get(eid)
                if prior is not None:
                    todo[j] = False
                    if prior == payloads[j]:
                        results[live[j]] = EventResult(eid, EventOutcome.DUPLICATE, "event id already applied")
                    else:
                        results[live[j]] = _reject(
                            events[live[j]], f"event_id={eid!r}: reused with a different payload"
                        )
                    continue
                f = in_batch.get(eid)
                if f is not None:
                    first_of[j] = f
                    todo[j] = False
                else:
                    in_batch[eid] = j
        for j in np.flatnonzero(todo & (li < 0)).tolist():
            todo[j] = False
            results[live[j]] = _reject(events[live[j]], f"location={events[live[j]].location!r}: unknown location")
        for j in np.flatnonzero(todo & (ci == -2)).tolist():
            todo[j] = False
            results[live[j]] = _reject(events[live[j]], f"channel={events[live[j]].channel!r}: unknown channel")

        # 3. positions (and SKUs), made only for events that can apply: not for counts older than the window
        window_start = max(self._window_start, min(int(self._meta[K.M_HIGH_WATER]), now) - self.count_window_ms)
        self._window_start = window_start
        sel = np.flatnonzero(todo)
        e_code, e_loc, e_qty, e_tms, e_chan = code[sel], li[sel], qty[sel], tms[sel], ci[sel]
        e_sku = si[sel]
        needs = (e_code != _COUNT) | (e_tms >= window_start)
        fresh = needs & (e_sku < 0)
        if fresh.any():
            for r in np.flatnonzero(fresh).tolist():
                e_sku[r] = store.add_sku(Sku(events[live[int(sel[r])]].sku))
        slots = np.full(sel.shape[0], -1, dtype=np.int64)
        if needs.any():
            slots[needs] = store.ensure_slots(e_sku[needs], e_loc[needs])
        keys = np.where(e_sku >= 0, e_sku * _KEY + e_loc, -1)

        # 4. the rules, in one kernel call: readers see the whole batch or none of it
        m = sel.shape[0]
        self._make_room(m, window_start)
        outcome = np.zeros(m, dtype=np.int8)
        reason = np.zeros(m, dtype=np.int8)
        info = np.zeros(m, dtype=np.int64)
        delta = np.zeros(m, dtype=np.int64)
        seqs = np.zeros(m, dtype=np.int64)
        self._meta[K.M_SEQ] = self._sequence
        g = store.generation
        K.apply_events(
            g.idx,
            g.pos,
            g.alloc,
            self._ht_keys,
            self._ht_vals,
            self._j_key,
            self._j_time,
            self._j_delta,
            self._j_prev,
            self._meta,
            _SIGN,
            e_code,
            slots,
            keys,
            e_sku,
            e_qty,
            e_tms,
            e_chan,
            window_start,
            MAX_QUANTITY,
            outcome,
            reason,
            info,
            delta,
            seqs,
        )
        seq = int(self._meta[K.M_SEQ])
        store.sequence = seq
        self._sequence = seq

        # 5. outcomes, remembered ids, change records
        applied = outcome == K.O_APPLIED
        rows_applied = np.flatnonzero(applied)
        if rows_applied.shape[0] == n:  # the common case: every event applied, in order
            results = list(map(_applied, ids, seqs.tolist()))
            self._remember(ids, payloads, now)
        else:
            ev_rows = sel[rows_applied].tolist()
            for j, sq in zip(ev_rows, seqs[rows_applied].tolist(), strict=True):
                results[live[j]] = _applied(ids[j], sq)
            self._remember_rows(ids, payloads, ev_rows, outcome, sel, now)
        for r in np.flatnonzero(~applied).tolist():
            j = int(sel[r])
            e = events[live[j]]
            if outcome[r] == K.O_STALE:
                if reason[r] == K.R_STALE_COUNT:
                    why = f"a newer count (at {int(info[r])}) was applied"
                else:
                    why = f"happened before the count at {int(info[r])}; not applied"
                results[live[j]] = EventResult(ids[j], EventOutcome.STALE, why)
            elif reason[r] == K.R_WINDOW:
                results[live[j]] = _reject(
                    e, f"occurred_at={e.occurred_at}: count older than the reconciliation window"
                )
            else:
                results[live[j]] = _reject(
                    e, f"quantity={e.quantity}: on hand would leave [-{MAX_QUANTITY}, {MAX_QUANTITY}]"
                )
        for j, f in first_of.items():
            first = results[live[f]]
            assert first is not None
            if first.outcome is EventOutcome.REJECTED:
                results[live[j]] = _reject(events[live[j]], first.reason)
            elif payloads[j] == payloads[f]:
                results[live[j]] = EventResult(ids[j], EventOutcome.DUPLICATE, "event id already in this batch")
            else:
                results[live[j]] = _reject(events[live[j]], f"event_id={ids[j]!r}: reused with a different payload")

        moved = applied & (delta != 0)
        audit = self.audit
        if audit is not None:
            counted = applied & (e_code == _COUNT)
            rows = np.flatnonzero(moved | counted)
            if rows.shape[0]:
                audit.record_events(
                    keys[rows], delta[rows], counted[rows], g.pos[K.ON_HAND, slots[rows]].astype(np.int64)
                )
        sold = applied & (e_code == K.E_SALE) & (e_chan >= 0)
        if moved.any() or sold.any():
            self._publish(
                ChangeBatch(
                    sequence=seq,
                    sku=e_sku[moved],
                    loc=e_loc[moved],
                    d_on_hand=delta[moved],
                    d_reserved=np.zeros(int(moved.sum()), dtype=np.int64),
                    seq=seqs[moved],
                    skus_touched=np.unique(e_sku[sold]),
                )
            )
        if None in results:  # pragma: no cover - every path above gives every event an outcome
            raise AssertionError("an event without an outcome")
        ticket = 0
        changed = sel.shape[0] or self._window_start != window_before or len(self._seen_batches) != batches_before
        if self._wal is not None and changed:
            # only the events that reached the rules: the others changed nothing, and a replay of these
            # alone, at this clock, takes every step this batch took (SKUs and positions made, the
            # window moved, old ids forgotten), even when none of them applied. A batch of duplicates
            # and rejects that moved nothing is not journaled at all.
            if sel.shape[0] == n:  # every event reached them: the columns are at hand already
                types, locs, skus, chans = cols.strings
                payload = J.encode_columns(cols.ids, types, locs, skus, chans, cols.qty, cols.tms)
            else:
                payload = J.encode_events([events[live[j]] for j in sel.tolist()])
            ticket = self._wal.append(J.Kind.EVENTS, now, seq, payload)
        return EventBatchResult(results, seq), ticket  # type: ignore[arg-type]

    def _make_room(self, m: int, window_start: int) -> None:
        """Table and journal room for m more events; old journal entries are dropped on the way."""
        meta = self._meta
        j_cap = self._j_time.shape[0]
        if int(meta[K.M_J_USED]) + m > j_cap:
            live_ct = int(np.count_nonzero(self._ht_vals[K.CT] > 0))
            used = int(meta[K.M_J_USED])
            kept = int(np.count_nonzero(self._j_time[:used] >= window_start))
            cap = _pow2_at_least(2 * (live_ct + kept + m) + 16)
            keys = np.full(cap, -1, dtype=np.int64)
            vals = np.zeros((2, cap), dtype=np.int64)
            K.journal_prune(
                self._ht_keys,
                self._ht_vals,
                keys,
                vals,
                self._j_key,
                self._j_time,
                self._j_delta,
                self._j_prev,
                meta,
                window_start,
            )
            self._ht_keys, self._ht_vals = keys, vals
            need = int(meta[K.M_J_USED]) + m
            if need > j_cap // 2:
                new_cap = _pow2_at_least(2 * need)
                for name in ("_j_key", "_j_time", "_j_delta", "_j_prev"):
                    old = getattr(self, name)
                    grown = np.zeros(new_cap, dtype=np.int64)
                    grown[: old.shape[0]] = old
                    setattr(self, name, grown)
        if 2 * (int(meta[K.M_HT_USED]) + m) > self._ht_keys.shape[0]:
            cap = _pow2_at_least(4 * (int(meta[K.M_HT_USED]) + m))
            keys = np.full(cap, -1, dtype=np.int64)
            vals = np.zeros((2, cap), dtype=np.int64)
            K.ht_rehash(self._ht_keys, self._ht_vals, keys, vals)
            self._ht_keys, self._ht_vals = keys, vals

    def _remember_rows(
        self, ids: list[str], payloads: list[tuple[object, ...]], applied: list[int], outcome: np.ndarray,
        sel: I64, now: int,
    ) -> None:  # fmt: skip
        """Remember applied and stale events (rows of sel), in batch order."""
        stale = sel[outcome == K.O_STALE].tolist()
        rows = sorted([*applied, *stale])
        self._remember([ids[j] for j in rows], [payloads[j] for j in rows], now)

    def _remember(self, ids: list[str], payloads: list[tuple[object, ...]], now: int) -> None:
        seen = self._seen
        seen.update(zip(ids, payloads, strict=True))
        if ids:
            self._seen_batches.append((now, ids))
        horizon = now - self.event_retention_ms
        batches = self._seen_batches
        while batches and (batches[0][0] < horizon or len(seen) > self.max_remembered_events):
            for eid in batches.popleft()[1]:
                seen.pop(eid, None)

    # ------------------------------------------------------------------ configuration writes
    def set_safety_stock(self, entries: Sequence[SafetyStockEntry]) -> int:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            seq = self._set_safety_locked(entries)
            ticket = self._log(J.Kind.SAFETY, now, lambda: J.encode_safety(entries))
        self._settle(ticket)
        return seq

    def _set_safety_locked(self, entries: Sequence[SafetyStockEntry]) -> int:
        store = self._store
        rows = resolve_safety_entries(store, entries)
        skus = [r[0] for r in rows]
        locs = [r[1] for r in rows]
        values = [r[2] for r in rows]
        sku_arr = np.array(skus, np.int64)
        slots = store.ensure_slots(sku_arr, np.array(locs, np.int64))
        store.set_safety_many(slots, np.array(values, np.int64))
        return self._bump(sku_arr)

    def set_allocations(self, entries: Sequence[AllocationRow]) -> int:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            seq = self._set_allocations_locked(entries)
            ticket = self._log(J.Kind.ALLOCATIONS, now, lambda: J.encode_allocations(entries))
        self._settle(ticket)
        return seq

    def _set_allocations_locked(self, entries: Sequence[AllocationRow]) -> int:
        store = self._store
        resolved = resolve_allocation_entries(store, entries)
        arr = np.array(resolved, dtype=np.int64).reshape(-1, 4)
        store.set_allocations(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        return self._bump(arr[:, 0].copy())

    def upsert_locations(self, locations: Sequence[Location]) -> int:
        if not locations:
            raise InvalidArgument("locations", [], "must contain at least one location")
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            seq = self._upsert_locations_locked(locations)
            ticket = self._log(J.Kind.LOCATIONS, now, lambda: J.encode_locations(locations))
        self._settle(ticket)
        return seq

    def _upsert_locations_locked(self, locations: Sequence[Location]) -> int:
        network = self._store.network.with_locations(locations)
        self._store.set_network(network)
        return self._bump(np.zeros(0, np.int64), everything=True)

    def load_snapshot(self, snapshot: Snapshot) -> int:
        with self._lock, self._pinned_now():
            self._check_writable()
            fresh = StockStore.from_snapshot(snapshot, self._store.network.config, sequence=self._sequence + 1)
            self._store.replace_contents(fresh)
            self._reset_positions_state()
            self.holds.reapply()
            seq = self._bump(np.zeros(0, np.int64), everything=True)
            if self._wal is not None:
                # not journaled: the loaded state is checkpointed before the call returns, and becomes
                # the base of the journal and of the on-hand reconcile
                self._wal.checkpoint_now()
            elif self.audit is not None:
                self.audit.reset(self._position_table())
            return seq

    # ------------------------------------------------------------------ reservations
    # Each write is journaled only when it changed something (it bumped the sequence): an idempotent
    # retry and a rejected call change nothing, so there is nothing to replay.
    def reserve(self, request: ReserveRequest) -> Reservation:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            before = self._sequence
            out = self.holds.reserve(request)
            changed = self._sequence != before
            ticket = self._log(J.Kind.RESERVE, now, lambda: J.encode_reserve(request)) if changed else 0
        self._settle(ticket)
        return out

    def confirm(self, reservation_id: str, moves: tuple[LineMove, ...] = ()) -> Reservation:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            before = self._sequence
            out = self.holds.confirm(reservation_id, moves)
            changed = self._sequence != before
            ticket = self._log(J.Kind.CONFIRM, now, lambda: J.encode_confirm(reservation_id, moves)) if changed else 0
        self._settle(ticket)
        return out

    def extend(self, reservation_id: str, ttl_ms: int) -> Reservation:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            before = self._sequence
            out = self.holds.extend(reservation_id, ttl_ms)
            changed = self._sequence != before
            ticket = self._log(J.Kind.EXTEND, now, lambda: J.encode_extend(reservation_id, ttl_ms)) if changed else 0
        self._settle(ticket)
        return out

    def release(self, reservation_id: str, lines: tuple[LineQuantity, ...] = (), operation_id: str = "") -> Reservation:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            before = self._sequence
            out = self.holds.release(reservation_id, lines, operation_id)
            changed = self._sequence != before
            ticket = (
                self._log(J.Kind.RELEASE, now, lambda: J.encode_lines(reservation_id, lines, operation_id))
                if changed
                else 0
            )
        self._settle(ticket)
        return out

    def fulfill(self, reservation_id: str, lines: tuple[LineQuantity, ...], operation_id: str = "") -> Reservation:
        with self._lock, self._pinned_now() as now:
            self._check_writable()
            before = self._sequence
            out = self.holds.fulfill(reservation_id, lines, operation_id)
            changed = self._sequence != before
            ticket = (
                self._log(J.Kind.FULFILL, now, lambda: J.encode_lines(reservation_id, lines, operation_id))
                if changed
                else 0
            )
        self._settle(ticket)
        return out

    def get_reservation(self, reservation_id: str) -> Reservation:
        with self._lock:
            return self.holds.get(reservation_id)

    def expire_due(self, now_ms: int | None = None) -> int:
        """Expire every held reservation whose deadline is at or before `now_ms` (default: the clock)."""
        with self._lock, self._pinned_now() as now:
            at = now if now_ms is None else now_ms
            if not self.holds.has_due(at):
                return 0
            self._check_writable()
            n = self.holds.expire_due(at)
            self.expired_total += n
            ticket = self._log(J.Kind.EXPIRE, at, lambda: b"") if n else 0
        self._settle(ticket)
        return n

    def forget_closed(self, now_ms: int | None = None) -> int:
        """Forget closed reservations created more than a day before `now_ms` (the sweeper calls this)."""
        with self._lock, self._pinned_now() as now:
            at = now if now_ms is None else now_ms
            self._check_writable()
            n = self.holds.forget_closed(at)
            ticket = self._log(J.Kind.FORGET, at, lambda: b"") if n else 0
        self._settle(ticket)
        return n

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, *, repair: bool = False, skus: frozenset[str] = frozenset()) -> ReconcileReport:
        """Reserved counters and group holds against the reservation records (holdbook.check), and on
        hand against its base plus the changes applied since (onhand.py); with `repair`, every difference
        is set to what is expected, as one recorded change (a sequence, change records, a journal entry
        holding the values set, so a replay sets the same values)."""
        with self._lock, self._pinned_now() as now:
            if repair:
                self._check_writable()
            found, fixes, checked, n_records = self.holds.check(skus)
            on_hand_found, on_hand_fixes = self._check_on_hand(skus)
            found += on_hand_found
            fixes += on_hand_fixes
            ticket = 0
            if repair and fixes:
                self._repair(fixes)
                found = [replace(i, repaired=True) for i in found]
                ticket = self._log(J.Kind.REPAIR, now, lambda: J.encode_json([list(f) for f in fixes]))
            report = ReconcileReport(found, checked, n_records, self._sequence)
        self._settle(ticket)
        return report

    def _check_on_hand(self, skus: frozenset[str]) -> tuple[list[Inconsistency], list[Fix]]:
        audit = self.audit
        if audit is None:
            return [], []
        store = self._store
        keys, on_hand = self._position_table()
        only = None
        if skus:
            only = np.array([i for i in (store.skus.get(x) for x in skus) if i is not None], np.int64)
        drift = audit.check(keys, on_hand, only)
        net = store.network
        found: list[Inconsistency] = []
        fixes: list[Fix] = []
        for k, e, f in zip(drift.keys.tolist(), drift.expected.tolist(), drift.found.tolist(), strict=True):
            s, li = divmod(k, _KEY)
            found.append(Inconsistency(store.skus.id(s), net.index.id(li), "on_hand", e, f, (), False))
            fixes.append(("on_hand", s, li, e))
        return found, fixes

    def _repair(self, fixes: Sequence[Fix]) -> None:
        """Set each counter to its expected value (absolute, so a replay on a state without the drift
        changes nothing), then one sequence and one change batch for all of them."""
        store = self._store
        rows: list[tuple[int, int, int, int]] = []
        touched: list[int] = []
        for counter, s, place, target in fixes:
            if counter == "group_hold":
                held = store.group_holds(s).get(place, 0)
                if target != held:
                    store.add_group_hold(s, place, target - held)
                touched.append(s)
                continue
            slot = store.ensure_slots(np.array([s], np.int64), np.array([place], np.int64))
            pos = store.generation.pos
            on_hand = int(pos[K.ON_HAND, slot[0]])
            reserved = on_hand - int(pos[K.FREE, slot[0]])
            if counter == "reserved":
                d_on_hand, d_reserved = 0, target - reserved
            else:
                d_on_hand, d_reserved = target - on_hand, 0
                if self.audit is not None:
                    key = np.array([s * _KEY + place], np.int64)
                    self.audit.record(key, np.zeros(1, np.int64), np.array([target], np.int64))
            store.apply_deltas(slot, np.array([d_on_hand], np.int64), np.array([d_reserved], np.int64), self._sequence)
            rows.append((s, place, d_on_hand, d_reserved))
        self._sequence += 1
        seq = self._sequence
        store.sequence = seq
        self._publish(
            ChangeBatch(
                sequence=seq,
                sku=np.array([r[0] for r in rows], np.int64),
                loc=np.array([r[1] for r in rows], np.int64),
                d_on_hand=np.array([r[2] for r in rows], np.int64),
                d_reserved=np.array([r[3] for r in rows], np.int64),
                seq=np.full(len(rows), seq, np.int64),
                skus_touched=np.array(touched, np.int64),
            )
        )

    def _bump(self, skus: I64, everything: bool = False) -> int:
        self._sequence += 1
        self._store.sequence = self._sequence
        self._publish(ChangeBatch(sequence=self._sequence, skus_touched=skus, everything=everything))
        return self._sequence
