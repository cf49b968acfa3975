"""The Redis ledger: the write model in Redis, shared by any number of service replicas, each with its
own read model (a replica, see redis_replica.py) kept up to date from Redis Streams.

The observable rules are exactly the embedded ledger's (ledger/memory.py: idempotency by event id with
payload comparison, absolute cycle counts with a journal of later deltas, stale deltas before the last
count, the reconciliation window, new SKUs and positions on first sight, channel sales consuming
ring-fences, per-event outcomes); the contract suite (tests/contract) runs the same tests on both.

How a batch of stock events is written (scripts in lua/, called through scripts.py):
- the client checks the form of every event and resolves copies of an id within the batch, exactly as
  the embedded ledger does, then splits the batch by partition (crc32 of the SKU mod P; why partitions:
  redis_keys.py). Each partition's events go to one call of lua/events.lua, which checks and applies
  them atomically, in request order, and appends one change record to the partition's stream;
- an event id is claimed in the partition of the id (crc32 of the id mod P), so that reusing an id for
  another SKU is caught whatever partitions the SKUs fall in. When the id and the SKU share a partition
  (always with P=1) claim and apply are one call. Otherwise the claim goes first (one pipelined round
  trip for all partitions), the apply second, with an applied-marker in the SKU's partition that makes
  a repeated or concurrent apply a duplicate; a claim whose event is then rejected is released;
- outcomes come back in request order; this replica applies its own change records before returning,
  so the writer reads its own writes. Other replicas apply them from the stream.

Sequences: each partition counts its own changes (one per applied event, one per configuration write
touching it). A write's token is seq * P + partition (EventResult.sequence; equal to seq when P=1):
`reached(token)` tells whether this replica has applied it. `store.sequence`, the basis every answer
states, is the sum of the partitions' sequences this replica applied: monotone, and comparable between
replicas only with P=1. Batch results and configuration writes return this replica's store sequence
once the write is applied here.

Guarantees and limits: each partition's part of a batch is atomic; a batch spanning partitions is not
(a connection lost midway leaves some partitions applied; sending the batch again is safe, the applied
events answer DUPLICATE). Configuration writes are absolute, so retrying them is safe too. Event ids
are remembered at least for the retention period (by the ledger's clock) and then forgotten at once;
the embedded ledger also caps how many ids it remembers, Redis bounds them by memory instead.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from ..errors import InvalidArgument, Unavailable
from ..locations import LocationTable
from ..model import (
    MAX_QUANTITY,
    AllocationRow,
    AtpConfig,
    EventBatchResult,
    EventOutcome,
    EventResult,
    EventType,
    Location,
    Snapshot,
    StockEvent,
    stock_event_problem,
)
from ..reservations import LineMove, LineQuantity, ReconcileReport, Reservation, ReserveRequest
from ..store import StockStore, StoreView
from .base import ChangeListener, Ledger, PartitionLag, SafetyStockEntry
from .entries import check_event_batch, resolve_allocation_entries, resolve_safety_entries
from .redis_codec import (
    ALLOC_ROW,
    C_APPLIED,
    C_DUPLICATE,
    C_NOT_SEEN,
    C_RANGE,
    C_REUSED,
    C_STALE_COUNT,
    C_STALE_DELTA,
    C_WINDOW,
    ENTRY,
    INBOUND_ROW,
    KIND_ALLOCATIONS,
    KIND_EVENTS,
    KIND_NETWORK,
    KIND_SAFETY,
    LOAD_ROW,
    MODE_APPLY_CLAIM,
    MODE_APPLY_MARKED,
    MODE_CLAIM,
    MODE_PEEK,
    MODE_RELEASE,
    SAFETY_ROW,
    Record,
    decode_network,
    encode_hold_catalogue,
    encode_network,
    pack_inbound_chunk,
)
from .redis_connect import Client, refuse_cluster_node
from .redis_holds import SWEEP_INTERVAL_S, RedisHolds, carry_holds
from .redis_keys import DEFAULT_PREFIX, Keys, partition_of
from .redis_replica import (
    LoadInProgress,
    NeedRebuild,
    NoData,
    Replica,
    ReplicaState,
    as_bytes,
    read_meta,
    read_state,
    replay,
)
from .redis_replica import read_network as _read_network
from .scripts import (
    Call,
    GenerationChanged,
    Scripts,
    connect,
    reachable,
    redacted,
)

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]

_TYPES = list(EventType)
_TYPE_CODE = {t: i for i, t in enumerate(_TYPES)}
_ADJ = _TYPE_CODE[EventType.ADJUSTMENT]
_COUNT = _TYPE_CODE[EventType.CYCLE_COUNT]
_ID = r"[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,127}"
_IDS_RE = re.compile(rf"{_ID}(?:\x00{_ID})*")

ENTRIES_PER_CALL = 10_000  # a call blocks Redis while it runs: about 50 ms at this size
LOAD_POSITIONS_PER_CALL = 20_000
LOAD_SKUS_PER_CALL = 2_000
LOAD_CALLS_PER_ROUND_TRIP = 8
INBOUND_ROWS_PER_CHUNK = 50_000
GENERATION_WAIT_S = 60.0


def _all_ids_valid(ids: list[str]) -> bool:
    try:
        joined = "\x00".join(ids)
    except TypeError:
        return False
    return joined.count("\x00") == len(ids) - 1 and _IDS_RE.fullmatch(joined) is not None


def _reject(e: StockEvent, reason: str) -> EventResult:
    return EventResult(e.event_id if isinstance(e.event_id, str) else "", EventOutcome.REJECTED, reason)


def _event_problem(e: StockEvent, now: int, max_future_ms: int) -> str:
    """Why the event is malformed, or '' (the rule shared with the embedded ledger)."""
    return stock_event_problem(e, now, max_future_ms)


@dataclass(frozen=True, slots=True)
class _Columns:
    ids: list[str]
    skus: list[str]
    locs: list[str]
    chans: list[str]
    code: I64
    qty: I64
    tms: I64
    li: I64
    ci: I64
    suspects: list[int]


def _columns(
    events: Sequence[StockEvent], view: StoreView, now: int, max_future_ms: int, *, checked: bool
) -> _Columns | None:
    """Events as columns with names resolved; None when a whole-batch test has doubts (then every event
    takes the per-event checks). Unknown SKUs are fine here: they are created on first sight."""
    try:
        ids = [e.event_id for e in events]
        types = [e.type for e in events]
        locs = [e.location for e in events]
        skus = [e.sku for e in events]
        qtys = [e.quantity for e in events]
        times = [e.occurred_at for e in events]
        chans = [e.channel for e in events]
        if not checked and (
            not _all_ids_valid(ids)
            or not _all_ids_valid(skus)
            or set(map(type, types)) != {EventType}
            or set(map(type, qtys)) != {int}
            or set(map(type, times)) != {int}
            or not set(map(type, chans)) <= {str}
        ):
            return None
        code = np.array([_TYPE_CODE[t] for t in types], dtype=np.int64)
        qty = np.array(qtys, dtype=np.int64)
        tms = np.array(times, dtype=np.int64)
        li = view.network.index.lookup_many(locs)
        chan_of = {"": -1, **{c: i for i, c in enumerate(view.network.channels.ids)}}
        ci = np.array([chan_of.get(c, -2) for c in chans], dtype=np.int64)
    except (TypeError, OverflowError, ValueError, KeyError):
        return None
    bad = (np.abs(qty) > MAX_QUANTITY) | (tms <= 0) | (tms > now + max_future_ms)
    bad |= (qty < 0) & (code != _ADJ)
    bad |= (qty == 0) & (code != _COUNT)
    bad |= (li < 0) | (ci == -2)
    return _Columns(ids, skus, locs, chans, code, qty, tms, li, ci, np.flatnonzero(bad).tolist())


@dataclass(slots=True)
class _Entry:
    """One event (a first copy of its id) on its way through the partitions' scripts."""

    j: int  # index among the well-formed events
    mode: int
    part: int  # the partition the entry goes to
    code: int = -1
    info: str = ""
    token: int = 0


class RedisLedger:
    """The Ledger protocol over Redis. `store` is this replica's read model."""

    blocking_io = True  # every write is at least one round trip to Redis

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        partitions: int = 1,
        snapshot: Snapshot | Callable[[], Snapshot] | None = None,
        config: AtpConfig | None = None,
        count_window_ms: int = 24 * 3600 * 1000,
        event_retention_ms: int = 7 * 24 * 3600 * 1000,
        max_future_ms: int = 24 * 3600 * 1000,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        stream_maxlen: int = 100_000,
        block_ms: int = 1_000,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        """Connect, and rebuild this replica from Redis. On a Redis without this ledger, `snapshot` (or
        an empty network) becomes its first generation, with `partitions` partitions and `config`;
        on a populated one both are ignored (use `load_snapshot` or `omniroute load` to replace it).
        `snapshot` may be a function, called only when the ledger has to be created."""
        if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= 1024:
            raise InvalidArgument("partitions", partitions, "must be an integer in [1, 1024]")
        self.url = url
        self.keys = Keys(prefix)
        self.count_window_ms = count_window_ms
        self.event_retention_ms = event_retention_ms
        self.max_future_ms = max_future_ms
        self.stream_maxlen = stream_maxlen
        self._clock_ms = clock_ms
        self._write_lock = threading.RLock()
        self._client = connect(url)
        self._scripts = Scripts(self._client, self.keys)
        try:
            with reachable(url):
                refuse_cluster_node(self._client, url)
                self._scripts.load_all()
                state = self._open(snapshot, config, partitions)
        except BaseException:
            self._scripts.close()
            self._client.close()
            raise
        self._replica = Replica(
            url, self._client, self._scripts, self.keys, state, block_ms=block_ms, rebuild=self._read_state
        )
        self._replica.start()
        self._holds = RedisHolds(self)
        self._holds.start_sweeper(sweep_interval_s)

    def _open(
        self, snapshot: Snapshot | Callable[[], Snapshot] | None, config: AtpConfig | None, partitions: int
    ) -> ReplicaState:
        try:
            read_meta(self._client, self.keys)
        except NoData:
            made = snapshot() if callable(snapshot) else snapshot
            fresh = made or Snapshot(locations=[], channels=[], skus=[])
            # validate before anything is written (raises InvalidArgument)
            store = StockStore.from_snapshot(fresh, config, sequence=0)
            with self._client.lock(self.keys.load_lock, timeout=600, blocking_timeout=600):
                try:
                    read_meta(self._client, self.keys)
                except NoData:
                    # a fresh generation number even here: an initialisation that crashed may have left
                    # keys of the one it had taken
                    gen = int(self._client.hincrby(self.keys.meta, "lastgen", 1))
                    write_generation(self._client, self._scripts, self.keys, fresh, store.network, gen, partitions)
                    seqs = go_live_first(self._client, self._scripts, self.keys, partitions, gen)
                    drop_old_generations(self._client, self.keys, partitions, gen)
                    return ReplicaState(store, partitions, gen, 1, seqs)
        return self._read_state()

    def _read_state(self) -> ReplicaState:
        deadline = time.monotonic() + GENERATION_WAIT_S
        while True:
            try:
                state = read_state(self._client, self._scripts, self.keys)
                replay(self._client, self.keys, state, self._network_reader)
                return state
            except (LoadInProgress, NeedRebuild):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _network_reader(self, gen: int) -> tuple[LocationTable, int]:
        return _read_network(self._client, self.keys, gen)

    # ------------------------------------------------------------------ Ledger protocol
    @property
    def store(self) -> StockStore:
        return self._replica.store

    @property
    def sequence(self) -> int:
        return self._replica.store.sequence

    @property
    def partitions(self) -> int:
        return self._replica.state.partitions

    @property
    def stale(self) -> bool:
        """True while this replica cannot confirm it is up to date with Redis (Redis unreachable, no
        data, a rebuild pending). Reads keep answering from the last known state meanwhile."""
        return self._replica.stale

    def stream_lag(self, *, refresh: bool = False) -> list[PartitionLag]:
        """Per partition, how far this replica's read model is behind Redis (see Replica.lag): from the
        heartbeat's last look, or, with `refresh`, from a look made now (one round trip)."""
        if refresh:
            with reachable(self.url):
                self._replica.look_at_heads()
        return self._replica.lag()

    @property
    def expired_total(self) -> int:
        """Reservations this process's sweeper (or expire_due) expired since the ledger was opened."""
        return self._holds.expired_total

    def reached(self, token: int) -> bool:
        """Whether this replica has applied the write whose token (EventResult.sequence) is given."""
        p = self._replica.state.partitions
        return self._replica.applied(token % p) >= token // p

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        return self._replica.subscribe(listener)

    def close(self) -> None:
        self._holds.stop_sweeper()
        self._replica.close()
        self._scripts.close()
        self._client.close()

    def __enter__(self) -> RedisLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ stock events
    def apply_stock_events(self, events: Sequence[StockEvent]) -> EventBatchResult:
        check_event_batch(events)
        with self._write_lock, reachable(self.url):
            return self._apply_events(events)

    def _apply_events(self, events: Sequence[StockEvent]) -> EventBatchResult:
        now = self._clock_ms()
        view = self.store.view()
        n = len(events)
        results: list[EventResult | None] = [None] * n

        # 1. form, as in the embedded ledger: per-event checks only for suspects
        cols = _columns(events, view, now, self.max_future_ms, checked=False)
        suspects = cols.suspects if cols is not None else range(n)
        rejected: list[int] = []
        for k in suspects:
            why = _event_problem(events[k], now, self.max_future_ms)
            if why:
                results[k] = _reject(events[k], why)
                rejected.append(k)
        live: Sequence[int] = range(n)
        if rejected or cols is None:
            dropped = set(rejected)
            live = [k for k in range(n) if k not in dropped]
            cols = _columns([events[k] for k in live], view, now, self.max_future_ms, checked=True)
            assert cols is not None  # every remaining event is well formed
        ids, skus, li, ci = cols.ids, cols.skus, cols.li, cols.ci
        codes = cols.code.tolist()
        qtys = cols.qty.tolist()
        times = cols.tms.tolist()
        payloads = [
            f"{c}|{lo}|{s}|{q}|{t}|{h}"
            for c, lo, s, q, t, h in zip(codes, cols.locs, skus, qtys, times, cols.chans, strict=True)
        ]

        # 2. copies of an id later in the batch follow the first copy (resolved after the scripts)
        first_of: dict[int, int] = {}
        firsts: Sequence[int] = range(len(ids))
        if len(set(ids)) != len(ids):
            seen: dict[str, int] = {}
            order: list[int] = []
            for j, eid in enumerate(ids):
                f = seen.get(eid)
                if f is None:
                    seen[eid] = j
                    order.append(j)
                else:
                    first_of[j] = f
            firsts = order

        # 3. entries per partition
        P = self.partitions
        unknown = ((li < 0) | (ci == -2)).tolist()
        sku_part: dict[str, int] = {}
        claims: dict[int, list[_Entry]] = {}
        applies: dict[int, list[_Entry]] = {}
        peeks: list[_Entry] = []
        entry_of: dict[int, _Entry] = {}
        for j in firsts:
            q = partition_of(ids[j], P)
            if unknown[j]:
                peeks.append(_Entry(j, MODE_PEEK, q))
                continue
            s = skus[j]
            p = sku_part.get(s)
            if p is None:
                p = sku_part[s] = partition_of(s, P)
            if p == q:
                entry_of[j] = e = _Entry(j, MODE_APPLY_CLAIM, p)
                applies.setdefault(p, []).append(e)
            else:
                claims.setdefault(q, []).append(_Entry(j, MODE_CLAIM, q))
                entry_of[j] = e = _Entry(j, MODE_APPLY_MARKED, p)
                applies.setdefault(p, []).append(e)
        peek_round = claims if claims else applies
        for e in peeks:
            peek_round.setdefault(e.part, []).append(e)
            entry_of[e.j] = e

        def build(part: int, entries: list[_Entry], gen: int) -> tuple[Call, list[str]]:
            return self._events_call(part, entries, gen, skus, li, ci, codes, qtys, times, ids, payloads, now)

        # 4-6 with the readers kept off these partitions (see Replica.writing): this thread applies their
        # records itself as soon as the replies are in
        with self._replica.writing(sorted(applies)):
            # 4. claims first (only when some id and SKU fall in different partitions), then applies
            if claims:
                self._run_event_calls(claims, build)
                for entries in claims.values():
                    for c in entries:
                        target = entry_of[c.j]
                        if c.mode == MODE_PEEK:
                            continue
                        if c.code == C_REUSED:
                            target.code, target.info = C_REUSED, c.info
                            applies[target.part].remove(target)
            records = self._run_event_calls({p: es for p, es in applies.items() if es}, build)

            # 5. a claim whose event was then rejected is released, so a corrected event may reuse the id
            release: dict[int, list[_Entry]] = {}
            for e in entry_of.values():
                if e.mode == MODE_APPLY_MARKED and e.code in (C_WINDOW, C_RANGE):
                    q = partition_of(ids[e.j], P)
                    release.setdefault(q, []).append(_Entry(e.j, MODE_RELEASE, q))
            if release:
                self._run_event_calls(release, build)

            # 6. this replica applies its own records before answering (read-your-writes)
            self._replica.apply_own(records)

        # 7. outcomes in request order
        def result(j: int, e: _Entry) -> EventResult:
            k = live[j]
            ev = events[k]
            c = e.code
            if c == C_APPLIED:
                return EventResult(ids[j], EventOutcome.APPLIED, "", e.token)
            if c == C_DUPLICATE:
                return EventResult(ids[j], EventOutcome.DUPLICATE, "event id already applied")
            if c == C_REUSED:
                return _reject(ev, f"event_id={ids[j]!r}: reused with a different payload")
            if c == C_STALE_COUNT:
                return EventResult(ids[j], EventOutcome.STALE, f"a newer count (at {e.info}) was applied")
            if c == C_STALE_DELTA:
                return EventResult(ids[j], EventOutcome.STALE, f"happened before the count at {e.info}; not applied")
            if c == C_WINDOW:
                return _reject(ev, f"occurred_at={ev.occurred_at}: count older than the reconciliation window")
            if c == C_RANGE:
                return _reject(ev, f"quantity={ev.quantity}: on hand would leave [-{MAX_QUANTITY}, {MAX_QUANTITY}]")
            if c == C_NOT_SEEN:
                if li[j] < 0:
                    return _reject(ev, f"location={ev.location!r}: unknown location")
                return _reject(ev, f"channel={ev.channel!r}: unknown channel")
            return _reject(ev, f"internal: no outcome (code {c})")

        for j in firsts:
            results[live[j]] = result(j, entry_of[j])
        for j, f in first_of.items():
            first = entry_of[f]
            first_result = results[live[f]]
            assert first_result is not None
            if first.code in (C_DUPLICATE, C_REUSED):
                # the id was known before this batch: compare with what is stored, like any replay
                stored = payloads[f] if first.code == C_DUPLICATE else first.info
                if payloads[j] == stored:
                    results[live[j]] = EventResult(ids[j], EventOutcome.DUPLICATE, "event id already applied")
                else:
                    results[live[j]] = _reject(events[live[j]], f"event_id={ids[j]!r}: reused with a different payload")
            elif first_result.outcome is EventOutcome.REJECTED:
                results[live[j]] = _reject(events[live[j]], first_result.reason)
            elif payloads[j] == payloads[f]:
                results[live[j]] = EventResult(ids[j], EventOutcome.DUPLICATE, "event id already in this batch")
            else:
                results[live[j]] = _reject(events[live[j]], f"event_id={ids[j]!r}: reused with a different payload")
        final = [r if r is not None else _reject(events[i], "internal: no outcome") for i, r in enumerate(results)]
        return EventBatchResult(final, self.store.sequence)

    def _events_call(
        self,
        part: int,
        entries: list[_Entry],
        gen: int,
        skus: list[str],
        li: I64,
        ci: I64,
        codes: list[int],
        qtys: list[int],
        times: list[int],
        ids: list[str],
        payloads: list[str],
        now: int,
    ) -> tuple[Call, list[str]]:
        """One events.lua call for these entries of one partition, and its SKU table (the SKUs of the
        applying entries, in order of first appearance: the rows of its change record refer to it)."""
        k = self.keys
        table: dict[str, int] = {}
        arr = np.zeros(len(entries), dtype=ENTRY)
        js = [e.j for e in entries]
        modes = [e.mode for e in entries]
        arr["mode"] = modes
        applying = [e.mode in (MODE_APPLY_CLAIM, MODE_APPLY_MARKED) for e in entries]
        if any(applying):
            refs = [table.setdefault(skus[j], len(table)) if a else 0 for j, a in zip(js, applying, strict=True)]
            sel = np.array(js, dtype=np.int64)
            arr["type"] = np.array(codes, dtype=np.int64)[sel]
            arr["sku"] = refs
            arr["loc"] = np.where(li[sel] >= 0, li[sel], 0)
            arr["qty"] = np.array(qtys, dtype=np.int64)[sel]
            arr["time"] = np.array(times, dtype=np.int64)[sel]
            arr["chan"] = np.where(ci[sel] >= 0, ci[sel], -1)
        claim, mark = k.claim_prefix(part), k.marker_prefix(part)
        entry_keys = [(mark if m == MODE_APPLY_MARKED else claim) + ids[j] for j, m in zip(js, modes, strict=True)]
        # a claim stores when it was made, so that it is forgotten by the ledger's clock
        pays = ["" if m == MODE_APPLY_MARKED else f"{now} {payloads[j]}" for j, m in zip(js, modes, strict=True)]
        hw, ws = self._replica.hints()
        names = list(table)
        call = self._scripts.events(
            part,
            gen,
            names,
            arr.tobytes(),
            entry_keys,
            pays,
            now=now,
            high_water=hw,
            window_start=ws,
            window_ms=self.count_window_ms,
            retention_ms=self.event_retention_ms,
            maxlen=self.stream_maxlen,
        )
        return call, names

    def _run_event_calls(
        self,
        by_part: dict[int, list[_Entry]],
        build: Callable[[int, list[_Entry], int], tuple[Call, list[str]]],
    ) -> list[Record]:
        """Run each partition's entries (chunked; chunk k of every partition in round trip k), store the
        codes on the entries, and return the change records written."""
        P = self.partitions
        chunks = {
            p: [es[a : a + ENTRIES_PER_CALL] for a in range(0, len(es), ENTRIES_PER_CALL)] for p, es in by_part.items()
        }
        return self._run_chunks(chunks, build, P)

    def _run_chunks(
        self,
        chunks: dict[int, list[list[_Entry]]],
        build: Callable[[int, list[_Entry], int], tuple[Call, list[str]]],
        P: int,
    ) -> list[Record]:
        records: list[Record] = []
        for r in range(max((len(c) for c in chunks.values()), default=0)):
            todo = [(p, c[r]) for p, c in chunks.items() if r < len(c)]
            for _attempt in range(3):
                gen = self._replica.state.gen
                built = [build(p, es, gen) for p, es in todo]
                replies = self._scripts.run([c for c, _ in built])
                again: list[tuple[int, list[_Entry]]] = []
                for (p, es), (_, table), raw in zip(todo, built, replies, strict=True):
                    got = self._scripts.events_reply(raw)
                    if isinstance(got, GenerationChanged):
                        self._follow_generation(got)
                        again.append((p, es))
                        continue
                    self._replica.note_window(got.high_water, got.window_start)
                    infos = iter(got.info)
                    seq = got.seq_before
                    for e, c in zip(es, got.codes, strict=True):
                        e.code = c
                        if c in (C_REUSED, C_STALE_DELTA, C_STALE_COUNT):
                            e.info = next(infos)
                        elif c == C_APPLIED and e.mode != MODE_RELEASE:
                            seq += 1
                            e.token = seq * P + p
                    if got.seq_after > got.seq_before:
                        records.append(
                            Record(
                                partition=p,
                                seq=got.seq_after,
                                prev=got.seq_before,
                                kind=KIND_EVENTS,
                                gen=gen,
                                skus=table,
                                rows=got.rows,
                                high_water=got.high_water,
                                window_start=got.window_start,
                            )
                        )
                todo = again
                if not todo:
                    break
            if todo:
                raise Unavailable(f"ledger at {redacted(self.url)}: a snapshot load keeps switching generations")
        return records

    def _follow_generation(self, changed: GenerationChanged) -> None:
        """A partition is on another generation than this replica: wait until the replica follows."""
        if changed.live == 0:
            self._replica.lost_data("a write found no ledger in Redis")
            raise Unavailable(
                f"ledger at {redacted(self.url)} has no data (flushed, or restarted without persistence?); "
                "load a snapshot with `omniroute load`"
            )
        if changed.live > self._replica.state.gen and not self._replica.wait_generation(
            changed.live, GENERATION_WAIT_S
        ):
            raise Unavailable(
                f"ledger at {redacted(self.url)}: this replica has not caught up with generation {changed.live}"
            )

    # ------------------------------------------------------------------ configuration writes
    def set_safety_stock(self, entries: Sequence[SafetyStockEntry]) -> int:
        with self._write_lock, reachable(self.url):
            for _attempt in range(3):
                resolved = resolve_safety_entries(self.store, entries)
                rows = [(e.sku, li, value) for e, (_si, li, value) in zip(entries, resolved, strict=True)]
                done = self._config_write(KIND_SAFETY, rows, SAFETY_ROW)
                if done:
                    return self.store.sequence
        raise Unavailable(f"ledger at {redacted(self.url)}: a snapshot load keeps switching generations")

    def set_allocations(self, entries: Sequence[AllocationRow]) -> int:
        with self._write_lock, reachable(self.url):
            for _attempt in range(3):
                resolved = resolve_allocation_entries(self.store, entries)
                rows = [(a.sku, ci, q, u) for a, (_si, ci, q, u) in zip(entries, resolved, strict=True)]
                done = self._config_write(KIND_ALLOCATIONS, rows, ALLOC_ROW)
                if done:
                    return self.store.sequence
        raise Unavailable(f"ledger at {redacted(self.url)}: a snapshot load keeps switching generations")

    def _config_write(self, kind: str, rows: Sequence[tuple[Any, ...]], dtype: np.dtype[Any]) -> bool:
        """One call per partition touched; False when a partition is on another generation (the caller
        validates again against the new one and retries the whole write, which is absolute)."""
        P = self.partitions
        gen = self._replica.state.gen
        by_part: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_part.setdefault(partition_of(row[0], P), []).append(row)
        calls: list[Call] = []
        built: list[tuple[int, list[str], bytes]] = []
        for p, part_rows in by_part.items():
            table: dict[str, int] = {}
            packed = np.array([(table.setdefault(r[0], len(table)), *r[1:]) for r in part_rows], dtype=dtype).tobytes()
            names = list(table)
            built.append((p, names, packed))
            if kind == KIND_SAFETY:
                calls.append(self._scripts.safety(p, gen, names, packed, maxlen=self.stream_maxlen))
            else:
                calls.append(self._scripts.allocations(p, gen, names, packed, maxlen=self.stream_maxlen))
        records: list[Record] = []
        changed: GenerationChanged | None = None
        for (p, names, packed), raw in zip(built, self._scripts.run(calls), strict=True):
            got = self._scripts.write_reply(raw)
            if isinstance(got, GenerationChanged):
                changed = got
                continue
            # ring-fences come back with what each channel consumed resolved by the script
            rows_bytes = got.rows if kind == KIND_ALLOCATIONS else packed
            records.append(Record(p, got.seq_after, got.seq_before, kind, gen, names, rows_bytes))
        self._replica.apply_own(records)
        if changed is not None:
            self._follow_generation(changed)
            return False
        return True

    def upsert_locations(self, locations: Sequence[Location]) -> int:
        if not locations:
            raise InvalidArgument("locations", [], "must contain at least one location")
        with self._write_lock, reachable(self.url):
            for _attempt in range(10):
                gen = self._replica.state.gen
                key = self.keys.network(gen)
                # the catalogue itself: compare-and-set on its one key (the version read is still there)
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        watching: Any = pipe  # redis-py leaves watch() unannotated
                        watching.watch(key)
                        raw = pipe.get(key)
                        if raw is None:
                            raise Unavailable(f"ledger at {redacted(self.url)}: no catalogue for generation {gen}")
                        table, version = decode_network(as_bytes(raw))
                        new = table.with_locations(locations)  # raises InvalidArgument: nothing written
                        pipe.multi()
                        pipe.set(key, encode_network(new, version + 1))
                        pipe.execute()
                    except redis.WatchError:
                        continue
                # then each partition's hold catalogue and version, atomically in the partition's own slot
                # (lua/network.lua; a partition may sit on another cluster node than the catalogue): a
                # hold made with the old version is refused there from that instant (hold.lua)
                catalogue = encode_hold_catalogue(new)
                calls = [
                    self._scripts.network(p, gen, version + 1, catalogue, maxlen=self.stream_maxlen)
                    for p in range(self.partitions)
                ]
                records: list[Record] = []
                changed: GenerationChanged | None = None
                for p, raw_reply in enumerate(self._scripts.run(calls)):
                    got = self._scripts.write_reply(raw_reply)
                    if isinstance(got, GenerationChanged):
                        changed = got
                        continue
                    if got.seq_after > got.seq_before:  # else a newer upsert got to this partition first
                        records.append(Record(p, got.seq_after, got.seq_before, KIND_NETWORK, gen, version=version + 1))
                self._replica.apply_own(records, network=new)
                if changed is not None:
                    # a load replaced the catalogue meanwhile, as it would have after this upsert
                    self._follow_generation(changed)
                    continue
                return self.store.sequence
        raise Unavailable(f"ledger at {redacted(self.url)}: the catalogue keeps changing; try again")

    # ------------------------------------------------------------------ reservations (redis_holds.py)
    def reserve(self, request: ReserveRequest) -> Reservation:
        return self._holds.reserve(request)

    def confirm(self, reservation_id: str, moves: tuple[LineMove, ...] = ()) -> Reservation:
        return self._holds.confirm(reservation_id, moves)

    def extend(self, reservation_id: str, ttl_ms: int) -> Reservation:
        return self._holds.extend(reservation_id, ttl_ms)

    def release(self, reservation_id: str, lines: tuple[LineQuantity, ...] = (), operation_id: str = "") -> Reservation:
        return self._holds.release(reservation_id, lines, operation_id)

    def fulfill(self, reservation_id: str, lines: tuple[LineQuantity, ...], operation_id: str = "") -> Reservation:
        return self._holds.fulfill(reservation_id, lines, operation_id)

    def get_reservation(self, reservation_id: str) -> Reservation:
        return self._holds.get(reservation_id)

    def expire_due(self, now_ms: int | None = None) -> int:
        return self._holds.expire_due(now_ms)

    def reconcile(self, *, repair: bool = False, skus: frozenset[str] = frozenset()) -> ReconcileReport:
        return self._holds.reconcile(repair=repair, skus=skus)

    # ------------------------------------------------------------------ snapshots
    def load_snapshot(self, snapshot: Snapshot) -> int:
        with self._write_lock, reachable(self.url):
            config = self.store.network.config
            fresh = StockStore.from_snapshot(snapshot, config)  # validates: raises before any write
            partitions = self.partitions
            with self._client.lock(self.keys.load_lock, timeout=600, blocking_timeout=600):
                gen = int(self._client.hincrby(self.keys.meta, "lastgen", 1))
                write_generation(self._client, self._scripts, self.keys, snapshot, fresh.network, gen, partitions)
                carry_holds(self._client, self.keys, partitions, gen, fresh)

                def switched() -> ReplicaState:
                    seqs = go_live(self._client, self._scripts, self.keys, partitions, gen, maxlen=self.stream_maxlen)
                    return ReplicaState(fresh, partitions, gen, 1, seqs)

                self._replica.swap(switched)
                drop_old_generations(self._client, self.keys, partitions, gen)
            return self.store.sequence


# ---------------------------------------------------------------------------------------------- loading
ProgressFn = Callable[[str, float], None]


def write_generation(
    client: Client,
    scripts: Scripts,
    keys: Keys,
    snapshot: Snapshot,
    network: LocationTable,
    gen: int,
    partitions: int,
    *,
    progress: ProgressFn | None = None,
) -> int:
    """Write a whole (validated) snapshot as generation `gen`, which nobody reads or writes until it goes
    live: the catalogue, each partition's SKU list, counters and ring-fences (lua/load.lua, chunked and
    pipelined: one round trip per LOAD_CALLS_PER_ROUND_TRIP chunks), and inbound supply. Returns the
    number of positions written."""
    client.set(keys.network(gen), encode_network(network, 1))
    catalogue = encode_hold_catalogue(network)
    pipe = client.pipeline(transaction=False)
    for p in range(partitions):
        pipe.set(keys.catalogue(p, gen), catalogue)
    pipe.execute()
    n_sku = len(snapshot.skus)
    part = np.fromiter((partition_of(s.id, partitions) for s in snapshot.skus), dtype=np.int64, count=n_sku)
    st_sku = np.asarray(snapshot.stock_sku, dtype=np.int64)
    al_sku = np.asarray(snapshot.alloc_sku, dtype=np.int64)
    in_sku = np.asarray(snapshot.inbound_sku, dtype=np.int64)
    total = max(1, st_sku.shape[0])
    done = 0
    for p in range(partitions):
        members = np.flatnonzero(part == p)
        names = [snapshot.skus[i].id for i in members.tolist()]
        local = np.full(n_sku, -1, dtype=np.int64)
        local[members] = np.arange(members.shape[0])
        pipe = client.pipeline(transaction=False)
        for a in range(0, len(names), 10_000):
            chunk = members[a : a + 10_000].tolist()
            weights = {snapshot.skus[i].id: snapshot.skus[i].unit_weight_g for i in chunk}
            pipe.hset(keys.skus(p, gen), mapping={s: "" if w is None else w for s, w in weights.items()})
        pipe.execute()

        sel = np.flatnonzero(part[st_sku] == p) if n_sku else np.zeros(0, np.int64)
        pos = np.zeros(sel.shape[0], dtype=LOAD_ROW)
        pos["sku"] = local[st_sku[sel]]
        pos["loc"] = np.asarray(snapshot.stock_loc)[sel]
        pos["on_hand"] = np.asarray(snapshot.stock_on_hand)[sel]
        pos["safety"] = np.asarray(snapshot.stock_safety)[sel]
        pos = pos[np.argsort(pos["sku"], kind="stable")]
        fsel = np.flatnonzero(part[al_sku] == p) if n_sku else np.zeros(0, np.int64)
        fences = np.zeros(fsel.shape[0], dtype=ALLOC_ROW)
        fences["sku"] = local[al_sku[fsel]]
        fences["chan"] = np.asarray(snapshot.alloc_channel)[fsel]
        fences["qty"] = np.asarray(snapshot.alloc_qty)[fsel]
        fences["consumed"] = np.asarray(snapshot.alloc_consumed)[fsel]
        fences = fences[np.argsort(fences["sku"], kind="stable")]

        # chunks of whole SKUs, bounded in positions and in keys
        counts = np.bincount(pos["sku"], minlength=len(names)).astype(np.int64)
        cum = np.concatenate([[0], np.cumsum(counts)])
        calls: list[Call] = []
        start = 0
        while start < len(names):
            by_pos = int(np.searchsorted(cum, cum[start] + LOAD_POSITIONS_PER_CALL, side="right")) - 1
            end = min(start + LOAD_SKUS_PER_CALL, max(by_pos, start + 1), len(names))
            lo, hi = int(cum[start]), int(cum[end])
            chunk_pos = pos[lo:hi].copy()
            chunk_pos["sku"] -= start
            f_lo, f_hi = np.searchsorted(fences["sku"], [start, end])
            chunk_fences = fences[f_lo:f_hi].copy()
            chunk_fences["sku"] -= start
            calls.append(scripts.load(p, gen, names[start:end], chunk_pos.tobytes(), chunk_fences.tobytes()))
            done += hi - lo
            start = end
            if len(calls) >= LOAD_CALLS_PER_ROUND_TRIP:
                scripts.run(calls)
                calls = []
                if progress is not None:
                    progress("positions", done / total)
        if calls:
            scripts.run(calls)
        if progress is not None:
            progress("positions", done / total)

        isel = np.flatnonzero(part[in_sku] == p) if n_sku else np.zeros(0, np.int64)
        if isel.shape[0]:
            rows = np.zeros(isel.shape[0], dtype=INBOUND_ROW)
            rows["sku"] = local[in_sku[isel]]
            rows["loc"] = np.asarray(snapshot.inbound_loc)[isel]
            rows["qty"] = np.asarray(snapshot.inbound_qty)[isel]
            rows["day"] = np.asarray(snapshot.inbound_day)[isel]
            rows["type"] = np.asarray(snapshot.inbound_type)[isel]
            pipe = client.pipeline(transaction=False)
            for a in range(0, rows.shape[0], INBOUND_ROWS_PER_CHUNK):
                # chunks carry all of the partition's SKU names: the rows refer to them by position
                pipe.rpush(keys.inbound(p, gen), pack_inbound_chunk(names, rows[a : a + INBOUND_ROWS_PER_CHUNK]))
            pipe.execute()
    return int(st_sku.shape[0])


def go_live_first(client: Client, scripts: Scripts, keys: Keys, partitions: int, gen: int) -> list[int]:
    """Make the first generation of a ledger that did not exist live, without change records; the
    partitions' sequences (0 unless an earlier, crashed initialisation got further)."""
    scripts.run([scripts.init(p, gen) for p in range(partitions)])
    pipe = client.pipeline(transaction=False)
    for p in range(partitions):
        pipe.hget(keys.partition_meta(p), "seq")
    seqs = [int(s or 0) for s in pipe.execute()]
    # last: until this field exists, the ledger does not (starting replicas wait on the load lock)
    client.hset(keys.meta, mapping={"partitions": partitions, "gen": gen})
    return seqs


def go_live(client: Client, scripts: Scripts, keys: Keys, partitions: int, gen: int, *, maxlen: int) -> list[int]:
    """Switch every partition to generation `gen` (each with an "everything" record) and then the
    ledger's metadata; the partitions' sequences after the switch."""
    seqs: list[int] = []
    for p, raw in enumerate(scripts.run([scripts.switch(p, gen, maxlen=maxlen) for p in range(partitions)])):
        got = scripts.write_reply(raw)
        if isinstance(got, GenerationChanged):  # only a load that ignored the load lock could do this
            raise Unavailable(f"partition {p} is already on generation {got.live}, newer than {gen}")
        seqs.append(got.seq_after)
    client.hset(keys.meta, "gen", gen)
    return seqs


def drop_old_generations(client: Client, keys: Keys, partitions: int, live: int) -> int:
    """Delete every key of generations older than `live` (UNLINK: freed in the background). Returns the
    number of keys dropped. SCAN runs on every master of a cluster (redis-py's cluster client scans each
    primary), one pattern for all partitions; UNLINK is split by slot there."""
    dropped = 0
    network = re.compile(rf"{re.escape(keys.prefix)}:g(\d+):network")
    generation = re.compile(r"(\d+):")

    def old(pattern: str) -> Iterator[str]:
        found = client.scan_iter(match=pattern, count=10_000)
        if pattern == keys.networks_pattern():
            for raw in found:
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                m = network.fullmatch(key)
                if m is not None and int(m.group(1)) < live:
                    yield key
            return
        for key, p, rest in keys.keys_in(found, "g"):
            m = generation.match(rest)
            if m is not None and p < partitions and int(m.group(1)) < live:
                yield key

    for pattern in (keys.generations_pattern(), keys.networks_pattern()):
        batch: list[str] = []
        for key in old(pattern):
            batch.append(key)
            if len(batch) >= 1_000:
                dropped += int(client.unlink(*batch))
                batch = []
        if batch:
            dropped += int(client.unlink(*batch))
    return dropped


@dataclass(frozen=True, slots=True)
class LoadReport:
    generation: int
    partitions: int
    positions: int
    seconds: float
    dropped_keys: int


def load_into_redis(
    url: str,
    snapshot: Snapshot,
    *,
    prefix: str = DEFAULT_PREFIX,
    partitions: int | None = None,
    config: AtpConfig | None = None,
    maxlen: int = 100_000,
    progress: ProgressFn | None = None,
) -> LoadReport:
    """Write a snapshot into Redis as the ledger's new generation (what `omniroute load` does). Running
    replicas switch to it by themselves (they rebuild on the "everything" records). The partition
    count is fixed by the first load; a later load keeps it. ATP rules: `config` if given, else the
    snapshot's own (a directory's atp.toml), else the ledger's current ones."""
    started = time.perf_counter()
    keys = Keys(prefix)
    client = connect(url, socket_timeout=60.0)
    try:
        with reachable(url):
            refuse_cluster_node(client, url)
            scripts = Scripts(client, keys)
            scripts.load_all()
            with client.lock(keys.load_lock, timeout=600, blocking_timeout=600):
                try:
                    have, live = read_meta(client, keys)
                except NoData:
                    have, live = 0, 0
                if have and partitions is not None and partitions != have:
                    raise InvalidArgument(
                        "partitions", partitions, f"the ledger was created with {have}; it cannot change"
                    )
                p_count = have or partitions or 1
                if config is None and snapshot.config is None and live:
                    config = _read_network(client, keys, live)[0].config
                fresh = StockStore.from_snapshot(snapshot, config)  # validates before any write
                gen = int(client.hincrby(keys.meta, "lastgen", 1))
                positions = write_generation(
                    client, scripts, keys, snapshot, fresh.network, gen, p_count, progress=progress
                )
                if live:
                    carry_holds(client, keys, p_count, gen, fresh)
                    go_live(client, scripts, keys, p_count, gen, maxlen=maxlen)
                else:
                    go_live_first(client, scripts, keys, p_count, gen)
                dropped = drop_old_generations(client, keys, p_count, gen)
        return LoadReport(gen, p_count, positions, time.perf_counter() - started, dropped)
    finally:
        client.close()


def _conforms(ledger: RedisLedger) -> Ledger:
    return ledger  # mypy checks here that RedisLedger implements the Ledger protocol


__all__ = [
    "LoadReport",
    "RedisLedger",
    "drop_old_generations",
    "go_live",
    "go_live_first",
    "load_into_redis",
    "write_generation",
]
