"""A replica of the Redis ledger: this process's read model (a StockStore), kept up to date from the
partitions' change streams, so reads never wait on Redis.

- At start it rebuilds from Redis: the catalogue, every SKU's counters and ring-fences, inbound supply.
  Counters are read in chunks by a script that also answers the partition's sequence at that instant,
  so each SKU has a basis (the sequence its counters reflect). The stream is then replayed from the
  partition's sequence before the first chunk, and a row is applied to a SKU only when its sequence is
  above that SKU's basis: nothing is applied twice and nothing is missed, without stopping writers.
- One reader thread per partition tails its stream with XREAD BLOCK (one stream per command: keys of
  different partitions may sit on different Redis Cluster nodes; on a cluster the reader connects to
  the node owning its partition, and follows it when it moves) and applies what it reads, in
  sequence order, under the replica's lock. A record whose predecessor is missing is fetched with
  XRANGE first. A maintenance thread rebuilds, off to the side, and swaps the result in when a stream
  was trimmed past what this replica applied, a snapshot load switched generations, or Redis came back
  without the data it had (checked on every reconnect and once a second).
- A writer in this process applies its own records directly (same code, same lock) right after its
  script returns, so it reads its own writes without waiting for the stream.

The store's sequence is the sum of the partitions' sequences this replica has applied (plus an offset
that only moves if Redis ever loses data, so the sequence never goes back): monotone, and equal to the
partition's sequence when there is one partition. A write's token is seq * P + partition: see
`RedisLedger.reached`.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from ..locations import LocationTable
from ..model import Sku, Snapshot
from ..store import StockStore
from .base import ChangeBatch, ChangeListener, PartitionLag
from .redis_codec import (
    ALLOC_ROW,
    EVENT_ROW,
    HOLD_ROW,
    KIND_ALLOCATIONS,
    KIND_EVENTS,
    KIND_EVERYTHING,
    KIND_HOLDS,
    KIND_NETWORK,
    KIND_REPAIR,
    KIND_SAFETY,
    SAFETY_ROW,
    Record,
    decode_network,
    parse_counters,
    record_from_entry,
    unpack_inbound_chunk,
)
from .redis_connect import REDIRECTS, Client, connect_server, node_of, node_url, refresh_map, slot_of
from .redis_keys import F_ON_HAND, F_RESERVED, F_SAFETY, HOLD_BASE, Keys
from .scripts import GenerationChanged, Scripts, redacted

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
NO_WINDOW = -(2**53)
READ_SKUS_PER_CALL = 500
XREAD_COUNT = 1_000
HEARTBEAT_S = 1.0


class NeedRebuild(Exception):
    """The replica cannot follow the stream from here: it must rebuild from Redis."""


class NoData(Exception):
    """Redis holds no ledger under this prefix (never loaded, flushed, or restarted without persistence)."""


class LoadInProgress(Exception):
    """Partitions are on different generations: a snapshot load is switching them right now."""


@dataclass
class ReplicaState:
    """Everything a replica knows, swapped as a whole after a rebuild."""

    store: StockStore
    partitions: int
    gen: int
    version: int  # catalogue version
    applied: list[int]  # per partition: the sequence of the last record applied
    offset: int = 0
    high_water: int = 0  # newest event time seen in any partition (the count window's end)
    window_start: int = NO_WINDOW
    # while replaying after a rebuild: per partition, SKU -> the sequence its counters were read at
    basis: list[dict[str, int]] | None = None

    @property
    def sequence(self) -> int:
        return self.offset + sum(self.applied)


NetworkReader = Callable[[int], tuple[LocationTable, int]]


# ---------------------------------------------------------------------------------------------- applying
def apply_record(
    state: ReplicaState, rec: Record, read_network: NetworkReader, network: LocationTable | None = None
) -> ChangeBatch | None:
    """Apply one record that directly follows what `state` applied in its partition; the change batch
    to publish (None when nothing observable changed). Raises NeedRebuild."""
    p = rec.partition
    if rec.kind == KIND_EVERYTHING:
        if rec.gen > state.gen:
            raise NeedRebuild(f"partition {p} switched to generation {rec.gen} (a snapshot load)")
        state.applied[p] = rec.seq
        return None
    if rec.gen != state.gen:
        if rec.gen > state.gen:
            raise NeedRebuild(f"partition {p} wrote generation {rec.gen}, this replica has {state.gen}")
        # written to an older generation before this partition switched: already replaced by the load
        state.applied[p] = rec.seq
        return None
    store = state.store
    batch: ChangeBatch | None
    if rec.kind == KIND_EVENTS:
        state.high_water = max(state.high_water, rec.high_water)
        state.window_start = max(state.window_start, rec.window_start)
        batch = _apply_events(state, rec, read_network)
    elif rec.kind == KIND_SAFETY:
        batch = _apply_safety(state, rec)
    elif rec.kind == KIND_ALLOCATIONS:
        batch = _apply_allocations(state, rec)
    elif rec.kind in (KIND_HOLDS, KIND_REPAIR):
        batch = _apply_holds(state, rec)
    elif rec.kind == KIND_NETWORK:
        batch = None
        if rec.version > state.version:
            table, version = (network, rec.version) if network is not None else read_network(state.gen)
            if version > state.version:
                store.set_network(table)
                state.version = version
                batch = ChangeBatch(sequence=0, everything=True)
    else:
        raise NeedRebuild(f"partition {p}: unknown record kind {rec.kind!r} at sequence {rec.seq}")
    # only now: whoever sees the partition at this sequence must also see its changes
    state.applied[p] = rec.seq
    store.sequence = state.sequence
    if batch is None:
        return None
    return ChangeBatch(
        sequence=store.sequence,
        sku=batch.sku,
        loc=batch.loc,
        d_on_hand=batch.d_on_hand,
        d_reserved=batch.d_reserved,
        seq=batch.seq,
        skus_touched=batch.skus_touched,
        everything=batch.everything,
    )


def _sku_indices(store: StockStore, names: Sequence[str], used: I64) -> I64:
    """Replica indices of the record's SKU table; SKUs the rows use and the store lacks are created."""
    idx = store.skus.lookup_many(names)
    for k in np.flatnonzero(idx < 0).tolist():
        if k in used:
            idx[k] = store.add_sku(Sku(names[k]))
    return idx


def _rows_after_basis(state: ReplicaState, rec: Record, rows: Any, seqs: I64) -> Any:
    if state.basis is None:
        return np.ones(rows.shape[0], dtype=np.bool_)
    basis = state.basis[rec.partition]
    if not basis:
        return np.ones(rows.shape[0], dtype=np.bool_)
    table = np.array([basis.get(s, -1) for s in rec.skus], dtype=np.int64)
    return seqs > table[rows["sku"]]


def _ensure_locations(state: ReplicaState, locs: I64, read_network: NetworkReader) -> None:
    # the catalogue record precedes any row naming a new location; this only guards a replica that
    # missed it (its stream was trimmed past it), by reading the catalogue again
    if locs.shape[0] and int(locs.max()) >= len(state.store.network):
        table, version = read_network(state.gen)
        if len(table) > int(locs.max()):
            state.store.set_network(table)
            state.version = max(state.version, version)
        else:
            raise NeedRebuild(f"a record names location {int(locs.max())}, unknown to the catalogue")


def _apply_events(state: ReplicaState, rec: Record, read_network: NetworkReader) -> ChangeBatch | None:
    p = rec.partition
    rows = np.frombuffer(rec.rows, dtype=EVENT_ROW)
    seqs = rec.prev + 1 + np.arange(rows.shape[0], dtype=np.int64)
    keep = _rows_after_basis(state, rec, rows, seqs)
    if not keep.all():
        rows, seqs = rows[keep], seqs[keep]
    if rows.shape[0] == 0:
        return None
    store = state.store
    refs = rows["sku"].astype(np.int64)
    idx = _sku_indices(store, rec.skus, np.unique(refs))
    sku = idx[refs]
    loc = rows["loc"].astype(np.int64)
    _ensure_locations(state, loc, read_network)
    delta = rows["delta"].astype(np.int64)
    slots = store.ensure_slots(sku, loc)
    # every applied event is in the record, zero deltas too: a return to damaged stock at a new
    # location still creates the position, on every replica as on the writer
    store.apply_deltas(slots, delta, np.zeros(delta.shape[0], np.int64), store.sequence)
    chan = rows["chan"].astype(np.int64)
    sold = chan >= 0
    if sold.any():
        take = rows["take"].astype(np.int64)
        for k in np.flatnonzero(take > 0).tolist():
            store.consume_allocation(int(sku[k]), int(chan[k]), int(take[k]))
    moved = delta != 0
    if not moved.any() and not sold.any():
        return None
    return ChangeBatch(
        sequence=0,
        sku=sku[moved],
        loc=loc[moved],
        d_on_hand=delta[moved],
        d_reserved=np.zeros(int(moved.sum()), np.int64),
        seq=seqs[moved] * state.partitions + p,
        skus_touched=np.unique(sku[sold]),
    )


def _record_rows(state: ReplicaState, rec: Record, dtype: np.dtype[Any]) -> tuple[Any, I64] | None:
    """The rows of a one-sequence record (safety, ring-fences, holds) that the replica's basis has not
    seen yet, with their SKUs' replica indices (SKUs new to the replica are created); None: no rows."""
    rows = np.frombuffer(rec.rows, dtype=dtype)
    rows = rows[_rows_after_basis(state, rec, rows, np.full(rows.shape[0], rec.seq, np.int64))]
    if rows.shape[0] == 0:
        return None
    refs = rows["sku"].astype(np.int64)
    return rows, _sku_indices(state.store, rec.skus, np.unique(refs))[refs]


def _apply_safety(state: ReplicaState, rec: Record) -> ChangeBatch | None:
    got = _record_rows(state, rec, SAFETY_ROW)
    if got is None:
        return None
    rows, sku = got
    store = state.store
    slots = store.ensure_slots(sku, rows["loc"].astype(np.int64))
    store.set_safety_many(slots, rows["value"].astype(np.int64))
    return ChangeBatch(sequence=0, skus_touched=np.unique(sku))


def _apply_allocations(state: ReplicaState, rec: Record) -> ChangeBatch | None:
    got = _record_rows(state, rec, ALLOC_ROW)
    if got is None:
        return None
    rows, sku = got
    store = state.store
    store.set_allocations(
        sku,
        rows["chan"].astype(np.int64),
        rows["qty"].astype(np.int64),
        rows["consumed"].astype(np.int64),
    )
    return ChangeBatch(sequence=0, skus_touched=np.unique(sku))


def _held_now(store: StockStore, sku: I64, loc: I64, grp: I64) -> I64:
    """Units held now at each (sku, location) or (sku, hold group): what a repair's values replace."""
    out = np.zeros(sku.shape[0], np.int64)
    for k in range(sku.shape[0]):
        s = int(sku[k])
        if loc[k] >= 0:
            p = store.position(s, int(loc[k]))
            out[k] = 0 if p is None else p.reserved
        else:
            out[k] = store.group_holds(s).get(int(grp[k]), 0)
    return out


def _apply_holds(state: ReplicaState, rec: Record) -> ChangeBatch | None:
    """A hold step (lua/hold.lua): reserved units at locations, units held at hold groups, on hand
    (fulfilment) and the channel's ring-fence consumed; or a repair, which sets units held."""
    got = _record_rows(state, rec, HOLD_ROW)
    if got is None:
        return None
    rows, sku = got
    # rows that change nothing (a SKU gone with a snapshot load) must not create positions either
    live = (rows["d_held"] != 0) | (rows["d_on_hand"] != 0) | (rows["fence"] != 0)
    if not live.all():
        rows, sku = rows[live], sku[live]
        if rows.shape[0] == 0:
            return None
    store = state.store
    loc = rows["loc"].astype(np.int64)
    held = rows["d_held"].astype(np.int64)
    if rec.kind == KIND_REPAIR:
        held = held - _held_now(store, sku, loc, rows["grp"].astype(np.int64))
    on_hand = rows["d_on_hand"].astype(np.int64)
    at = (loc >= 0) & ((held != 0) | (on_hand != 0))
    if at.any():
        slots = store.ensure_slots(sku[at], loc[at])
        store.apply_deltas(slots, on_hand[at], held[at], store.sequence)
    grp = rows["grp"].astype(np.int64)
    for k in np.flatnonzero((loc < 0) & (held != 0)).tolist():
        store.add_group_hold(int(sku[k]), int(grp[k]), int(held[k]))
    fence = rows["fence"].astype(np.int64)
    chan = rows["chan"].astype(np.int64)
    for k in np.flatnonzero(fence != 0).tolist():
        if fence[k] > 0:
            store.consume_allocation(int(sku[k]), int(chan[k]), int(fence[k]))
        else:
            store.release_allocation(int(sku[k]), int(chan[k]), int(-fence[k]))
    n = int(at.sum())
    return ChangeBatch(
        sequence=0,
        sku=sku[at],
        loc=loc[at],
        d_on_hand=on_hand[at],
        d_reserved=held[at],
        seq=np.full(n, rec.seq * state.partitions + rec.partition, np.int64),
        skus_touched=np.unique(sku[~at]),
    )


# ---------------------------------------------------------------------------------------------- reading
def as_bytes(value: object) -> bytes:
    """A reply of a client that does not decode responses (redis-py types replies loosely)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"expected a bulk string reply, got {type(value).__name__}")


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def read_network(client: Client, keys: Keys, gen: int) -> tuple[LocationTable, int]:
    raw = client.get(keys.network(gen))
    if raw is None:
        raise NoData(f"no catalogue for generation {gen}")
    return decode_network(as_bytes(raw))


def read_meta(client: Client, keys: Keys) -> tuple[int, int]:
    """(partitions, live generation); NoData when the ledger does not exist."""
    meta = client.hmget(keys.meta, ["partitions", "gen"])
    if meta[0] is None or meta[1] is None:
        raise NoData("no ledger metadata")
    return int(meta[0]), int(meta[1])


def read_state(
    client: Client,
    scripts: Scripts,
    keys: Keys,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> ReplicaState:
    """A replica state rebuilt from Redis, replayed up to the streams' ends. Raises NoData,
    LoadInProgress (retry shortly) or NeedRebuild (a load switched generations meanwhile: retry)."""
    partitions, gen = read_meta(client, keys)
    start: list[int] = []
    for p in range(partitions):
        pgen, seq = client.hmget(keys.partition_meta(p), ["gen", "seq"])
        if pgen is None or int(pgen) != gen:
            raise LoadInProgress(f"partition {p} is on generation {pgen!r}, the ledger on {gen}")
        start.append(int(seq or 0))
    network, version = read_network(client, keys, gen)

    sku_ids: list[str] = []
    weights: list[int | None] = []
    basis: list[dict[str, int]] = [{} for _ in range(partitions)]
    cols: list[tuple[I64, I64, I64]] = []
    inbound: list[tuple[I64, ...]] = []
    for p in range(partitions):
        names: list[str] = []
        for raw_id, raw_w in client.hscan_iter(keys.skus(p, gen), count=10_000):
            names.append(as_bytes(raw_id).decode())
            weights.append(int(raw_w) if raw_w else None)
        first = len(sku_ids)
        sku_ids.extend(names)
        at = {s: first + i for i, s in enumerate(names)}
        for chunk in cast(list[bytes], client.lrange(keys.inbound(p, gen), 0, -1)):
            chunk_skus, rows = unpack_inbound_chunk(chunk)
            g = np.array([at[s] for s in chunk_skus], dtype=np.int64)
            inbound.append(
                (
                    g[rows["sku"]],
                    rows["loc"].astype(np.int64),
                    rows["qty"].astype(np.int64),
                    rows["day"].astype(np.int64),
                    rows["type"].astype(np.int64),
                )
            )
        for a in range(0, len(names), READ_SKUS_PER_CALL * 8):
            calls = [
                scripts.read(p, gen, names[b : b + READ_SKUS_PER_CALL])
                for b in range(a, min(a + READ_SKUS_PER_CALL * 8, len(names)), READ_SKUS_PER_CALL)
            ]
            for k, reply in enumerate(scripts.run(calls)):
                got = scripts.read_reply(reply)
                if isinstance(got, GenerationChanged):
                    raise NeedRebuild(f"partition {p} switched to generation {got.live} while reading")
                b = a + k * READ_SKUS_PER_CALL
                read_skus = names[b : b + READ_SKUS_PER_CALL]
                for name in read_skus:
                    basis[p][name] = got.seq
                f = parse_counters(got.text, np.arange(first + b, first + b + len(read_skus), dtype=np.int64))
                cols.append((f.sku, f.field, f.value))
            if progress is not None:
                progress(f"partition {p}", min(1.0, (a + READ_SKUS_PER_CALL * 8) / max(1, len(names))))

    sku = np.concatenate([c[0] for c in cols]) if cols else np.zeros(0, np.int64)
    fld = np.concatenate([c[1] for c in cols]) if cols else np.zeros(0, np.int64)
    val = np.concatenate([c[2] for c in cols]) if cols else np.zeros(0, np.int64)
    snap = _snapshot(network, sku_ids, weights, sku, fld, val, inbound)
    store = StockStore.from_snapshot(snap, network.config, sequence=sum(start))
    # reserved units (holds) are not part of a snapshot: add them to the built positions
    pos = fld >= 0
    res = pos & (fld % 4 == F_RESERVED) & (val != 0)
    if res.any():
        slots = store.ensure_slots(sku[res], fld[res] // 4)
        store.apply_deltas(slots, np.zeros(int(res.sum()), np.int64), val[res], store.sequence)
    held = (fld <= HOLD_BASE) & (val != 0)
    for s, f, v in zip(sku[held].tolist(), fld[held].tolist(), val[held].tolist(), strict=True):
        store.add_group_hold(s, HOLD_BASE - f, v)
    return ReplicaState(store, partitions, gen, version, list(start), basis=basis)


def _snapshot(
    network: LocationTable,
    sku_ids: list[str],
    weights: list[int | None],
    sku: I64,
    fld: I64,
    val: I64,
    inbound: list[tuple[I64, ...]],
) -> Snapshot:
    pos = fld >= 0
    kind = np.where(pos, fld % 4, -1)
    loc = np.where(pos, fld // 4, -1)
    on = kind == F_ON_HAND
    p_sku, p_loc, p_oh = sku[on], loc[on], val[on]
    order = np.lexsort((p_loc, p_sku))
    p_sku, p_loc, p_oh = p_sku[order], p_loc[order], p_oh[order]
    safety = np.full(p_sku.shape[0], -1, dtype=np.int64)
    sf = kind == F_SAFETY
    if sf.any() and p_sku.shape[0]:
        n_loc = max(len(network), 1)
        pkey = p_sku * n_loc + p_loc
        skey = sku[sf] * n_loc + loc[sf]
        at = np.searchsorted(pkey, skey)
        ok = at < pkey.shape[0]
        ok[ok] = pkey[at[ok]] == skey[ok]
        safety[at[ok]] = val[sf][ok]
    fence = (fld <= -2) & (fld > HOLD_BASE)
    f_sku, f_code, f_val = sku[fence], -fld[fence] - 2, val[fence]
    f_chan, f_used = f_code // 2, f_code % 2
    qty_rows = f_used == 0
    q_key = f_sku[qty_rows] * 64 + f_chan[qty_rows]
    u_key = f_sku[~qty_rows] * 64 + f_chan[~qty_rows]
    consumed = np.zeros(q_key.shape[0], dtype=np.int64)
    if u_key.shape[0] and q_key.shape[0]:
        qo = np.argsort(q_key)
        at = np.searchsorted(q_key[qo], u_key)
        ok = at < q_key.shape[0]
        ok[ok] = q_key[qo][at[ok]] == u_key[ok]
        consumed[qo[at[ok]]] = f_val[~qty_rows][ok]

    def i32(a: I64) -> npt.NDArray[np.int32]:
        return np.ascontiguousarray(a, dtype=np.int32)

    def cat(k: int) -> npt.NDArray[np.int32]:
        return i32(np.concatenate([c[k] for c in inbound])) if inbound else np.zeros(0, np.int32)

    return Snapshot(
        locations=list(network.locations),
        channels=list(network.channel_list),
        skus=[Sku(s, w) for s, w in zip(sku_ids, weights, strict=True)],
        groups=list(network.group_list),
        stock_sku=i32(p_sku),
        stock_loc=i32(p_loc),
        stock_on_hand=i32(p_oh),
        stock_safety=i32(safety),
        inbound_sku=cat(0),
        inbound_loc=cat(1),
        inbound_qty=cat(2),
        inbound_day=cat(3),
        inbound_type=cat(4),
        alloc_sku=i32(f_sku[qty_rows]),
        alloc_channel=i32(f_chan[qty_rows]),
        alloc_qty=i32(f_val[qty_rows]),
        alloc_consumed=i32(consumed),
    )


def fetch_after(client: Client, keys: Keys, partition: int, after: int, upto: str = "+") -> list[Record]:
    """Every record of a partition with a sequence above `after` (up to `upto`, inclusive)."""
    out: list[Record] = []
    lo = f"({after}-0"
    while True:
        entries = cast(Entries, client.xrange(keys.log(partition), min=lo, max=upto, count=XREAD_COUNT))
        out.extend(record_from_entry(partition, eid, fields) for eid, fields in entries)
        if len(entries) < XREAD_COUNT:
            return out
        lo = "(" + entries[-1][0].decode()


def replay(client: Client, keys: Keys, state: ReplicaState, reader: NetworkReader) -> None:
    """Apply every record after what `state` applied, to the streams' current ends."""
    for p in range(state.partitions):
        for rec in fetch_after(client, keys, p, state.applied[p]):
            follow(state, rec, lambda q, a, b: [], reader)


def follow(
    state: ReplicaState,
    rec: Record,
    fill: Callable[[int, int, int], list[Record]],
    reader: NetworkReader,
    network: LocationTable | None = None,
) -> ChangeBatch | None:
    """Apply `rec` if it is new; records missing before it are fetched with `fill(partition, after,
    upto)` and applied first. Raises NeedRebuild when they are gone from the stream."""
    p = rec.partition
    if rec.seq <= state.applied[p]:
        return None
    if rec.prev > state.applied[p]:
        for missing in fill(p, state.applied[p], rec.prev):
            if missing.seq > state.applied[p]:
                if missing.prev != state.applied[p]:
                    break
                apply_record(state, missing, reader)
        if rec.prev != state.applied[p]:
            raise NeedRebuild(f"partition {p}: the stream no longer holds records {state.applied[p] + 1}..{rec.prev}")
    elif rec.prev < state.applied[p]:
        raise NeedRebuild(f"partition {p}: record {rec.prev}..{rec.seq} overlaps what was applied")
    return apply_record(state, rec, reader, network)


# ---------------------------------------------------------------------------------------------- the replica
class Replica:
    """The live state, its lock, the reader threads and the maintenance thread."""

    def __init__(
        self,
        url: str,
        client: Client,
        scripts: Scripts,
        keys: Keys,
        state: ReplicaState,
        *,
        block_ms: int = 1_000,
        rebuild: Callable[[], ReplicaState],
    ) -> None:
        self.url = url
        self._client = client
        self._scripts = scripts
        self._keys = keys
        self._state = state
        self._block_ms = block_ms
        self._rebuild_fn = rebuild
        self._lock = threading.Lock()
        self._applied = threading.Condition(self._lock)
        self._listeners: list[ChangeListener] = []
        self._queue: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()  # for the maintenance thread
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._healthy = [True] * state.partitions
        self._reader_from: list[int] = list(state.applied)
        self._rebuild_wanted = False
        self._no_data = False
        # partitions a writer of this process is writing to, and what the readers set aside meanwhile
        self._own: dict[int, int] = {}
        self._deferred: dict[int, list[Record]] = {}
        self._id = uuid.uuid4().hex[:12]
        self.rebuilds = 0
        # Lag bookkeeping (lag()): per partition, Redis's sequence at the last look (the heartbeat's, once
        # a second), and the looks that found Redis ahead of this replica, oldest first, as (sequence,
        # monotonic time): the oldest not yet applied says since when this replica has been behind.
        self._lag_lock = threading.Lock()
        self._heads: list[int] = list(state.applied)
        self._behind: list[collections.deque[tuple[int, float]]] = [collections.deque() for _ in state.applied]

    # ------------------------------------------------------------------ reads (no Redis)
    @property
    def store(self) -> StockStore:
        return self._state.store

    @property
    def state(self) -> ReplicaState:
        return self._state

    @property
    def stale(self) -> bool:
        """True while this replica may be behind Redis and cannot tell by how much: a reader lost its
        connection, Redis has no data, or a rebuild is pending. Reads still answer from the last
        known state."""
        return self._no_data or self._rebuild_wanted or not all(self._healthy)

    def applied(self, partition: int) -> int:
        return self._state.applied[partition]

    def hints(self) -> tuple[int, int]:
        """(newest event time, count-window start) seen in any partition: what a writer passes to a
        partition's script so the window follows the whole ledger, as in the embedded one."""
        st = self._state
        return st.high_water, st.window_start

    def lag(self) -> list[PartitionLag]:
        """Per partition, how far this replica is behind Redis: no I/O, from the last look at Redis's
        sequences (the heartbeat's, at most a second old unless Redis is out of reach, when `stale`
        says so and the seconds keep growing)."""
        now = time.monotonic()
        applied = self._state.applied
        out: list[PartitionLag] = []
        with self._lag_lock:
            for p, behind in enumerate(self._behind):
                done = applied[p] if p < len(applied) else 0
                while behind and behind[0][0] <= done:
                    behind.popleft()
                head = self._heads[p] if p < len(self._heads) else done
                out.append(PartitionLag(p, max(0, head - done), now - behind[0][1] if behind else 0.0))
        return out

    def note_heads(self, parts: Sequence[int], heads: Sequence[int]) -> None:
        """Record Redis's sequences of these partitions, as just read."""
        now = time.monotonic()
        applied = self._state.applied
        with self._lag_lock:
            for p, head in zip(parts, heads, strict=True):
                if p >= len(self._heads):
                    continue  # partitions changed under a rebuild: the next look is right
                self._heads[p] = head
                behind = self._behind[p]
                # one entry per new sequence seen ahead; bounded, keeping the oldest (it sets the seconds)
                if head > applied[p] and (not behind or head > behind[-1][0]) and len(behind) < 4096:
                    behind.append((head, now))

    def look_at_heads(self) -> None:
        """Read Redis's sequence of every partition now (one round trip) for lag(). Raises redis errors."""
        parts = list(range(self._state.partitions))
        pipe = self._client.pipeline(transaction=False)
        for p in parts:
            pipe.hget(self._keys.partition_meta(p), "seq")
        self.note_heads(parts, [int(v or 0) for v in pipe.execute()])

    def note_window(self, high_water: int, window_start: int) -> None:
        st = self._state
        st.high_water = max(st.high_water, high_water)
        st.window_start = max(st.window_start, window_start)

    # ------------------------------------------------------------------ listeners
    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _publish(self, batch: ChangeBatch | None) -> None:
        if batch is None:
            return
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:  # a subscriber's bug must not stop the replica
                log.exception("change listener failed")

    # ------------------------------------------------------------------ applying (under the lock)
    def _network(self, gen: int) -> tuple[LocationTable, int]:
        return read_network(self._client, self._keys, gen)

    def _fill(self, partition: int, after: int, upto: int) -> list[Record]:
        return fetch_after(self._client, self._keys, partition, after, f"{upto}-0")

    def _apply_locked(self, rec: Record, network: LocationTable | None = None) -> None:
        batch = follow(self._state, rec, self._fill, self._network, network)
        self._publish(batch)

    def apply_own(
        self, records: Sequence[Record], *, network: LocationTable | None = None, timeout: float = 30.0
    ) -> None:
        """Apply a writer's own records now (read-your-writes). If they cannot be applied in order here,
        the maintenance thread rebuilds and this waits until the records are covered (or the timeout
        passes)."""
        if not records:
            return
        try:
            with self._lock:
                for rec in records:
                    self._apply_locked(rec, network)
                self._applied.notify_all()
            return
        except NeedRebuild as why:
            self.request_rebuild(str(why))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
            log.warning("replica: could not fetch missing records (%s); the readers will", err)
        self.wait_applied({r.partition: r.seq for r in records}, timeout)

    @contextmanager
    def writing(self, partitions: Sequence[int]) -> Iterator[None]:
        """While a writer of this process writes to these partitions, their readers set records aside;
        the writer applies its own (apply_own) and, on leaving, whatever was set aside, in stream order
        (what it already applied is skipped). A reader applying the writer's record first would only
        compete with it for the GIL: measured, a third of a one-event write went to that."""
        with self._lock:
            for p in partitions:
                self._own[p] = self._own.get(p, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for p in partitions:
                    self._own[p] -= 1
                    if self._own[p] == 0:
                        del self._own[p]
                        waiting = self._deferred.pop(p, [])
                        try:
                            for rec in waiting:
                                self._apply_locked(rec)
                        except NeedRebuild as why:
                            self.request_rebuild(str(why))
                        except (redis.ConnectionError, redis.TimeoutError, OSError):
                            # the next record of this partition fills the gap, or a rebuild does
                            log.warning("replica: could not apply set-aside records of partition %d", p)
                self._applied.notify_all()

    def wait_applied(self, targets: dict[int, int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not all(self._state.applied[p] >= s for p, s in targets.items()):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    log.warning("replica: own write not visible after %.1f s: serving stale reads", timeout)
                    return False
                self._applied.wait(min(left, 0.25))
        return True

    def wait_generation(self, gen: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._state.gen < gen:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._applied.wait(min(left, 0.25))
        return True

    def swap(self, make: Callable[[], ReplicaState]) -> None:
        """Run `make` under the apply lock and swap in the state it returns: nothing is applied to the
        old state in between (this process's own snapshot load switches the partitions in `make`)."""
        with self._lock:
            self._replace_locked(make())

    def replace(self, state: ReplicaState) -> None:
        """Swap in a whole new state (a rebuild, or this process's own snapshot load). The store object
        stays the same (subscribers hold it): its contents are replaced in one swap."""
        with self._lock:
            self._replace_locked(state)

    def _replace_locked(self, state: ReplicaState) -> None:
        old = self._state
        live = old.store
        state.offset = max(old.offset, live.sequence - sum(state.applied))
        state.store.sequence = state.sequence
        state.high_water = max(state.high_water, old.high_water)
        state.window_start = max(state.window_start, old.window_start)
        state.basis = None
        if state.store is not live:
            live.replace_contents(state.store)
            live.sequence = state.sequence
            state.store = live
        self._state = state
        self._reader_from = list(state.applied)
        self._rebuild_wanted = False
        self._no_data = False
        with self._lag_lock:  # a new picture: what was seen ahead of the old one says nothing of it
            self._heads = list(state.applied)
            self._behind = [collections.deque() for _ in state.applied]
        self._applied.notify_all()
        self._publish(ChangeBatch(sequence=live.sequence, everything=True))

    def lost_data(self, why: str) -> None:
        """A writer found the ledger gone: stale until a rebuild succeeds."""
        self._no_data = True
        self.request_rebuild(why)

    def request_rebuild(self, why: str) -> None:
        if not self._rebuild_wanted:
            log.warning("replica: rebuilding from Redis: %s", why)
        self._rebuild_wanted = True
        self._queue.put(("rebuild", -1))

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        for p in range(self._state.partitions):
            t = threading.Thread(target=self._read_loop, args=(p,), name=f"redis-ledger-read-{p}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._maintain, name="redis-ledger-maintain", daemon=True)
        t.start()
        self._threads.append(t)

    def close(self, timeout: float = 3.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._queue.put(("stop", -1))
        # wake the readers blocked in XREAD through their private wake streams
        try:
            pipe = self._client.pipeline(transaction=False)
            for p in range(self._state.partitions):
                key = self._keys.wake(p, self._id)
                pipe.xadd(key, {"stop": "1"})
                pipe.pexpire(key, 60_000)
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # Redis is down: the readers are in their back-off and see the stop flag
        for t in self._threads:
            t.join(timeout)
        with self._lock:
            self._listeners.clear()

    def _reader_client(self, p: int) -> redis.Redis:
        """A client of its own for partition p's reader: of the one server, or of the cluster node that
        owns the partition's slot (one stream per XREAD, so one node; redis-py's cluster client would
        also ask the server for the command's keys before every XREAD)."""
        timeout = self._block_ms / 1000 + 10
        if isinstance(self._client, RedisCluster):
            node = node_of(self._client, slot_of(self._keys.tag(p)))
            return connect_server(node_url(self.url, node.host, node.port), socket_timeout=timeout)
        return connect_server(self.url, socket_timeout=timeout)

    def _read_loop(self, p: int) -> None:
        keys = self._keys
        client: redis.Redis | None = None
        backoff = 0.05
        stream, wake = keys.log(p), keys.wake(p, self._id)
        try:
            while not self._stop.is_set():
                try:
                    if client is None:
                        client = self._reader_client(p)
                    after = max(self._reader_from[p], self._state.applied[p])
                    got = cast(
                        list[tuple[bytes, Entries]],
                        client.xread({stream: f"{after}-0", wake: "0-0"}, count=XREAD_COUNT, block=self._block_ms),
                    )
                except (redis.ConnectionError, redis.TimeoutError, OSError, RedisClusterException, *REDIRECTS) as err:
                    if isinstance(err, REDIRECTS):
                        log.info("replica: partition %d is moving to another cluster node (%s %s): following it",
                                 p, type(err).__name__, err)  # fmt: skip
                    elif self._healthy[p]:
                        log.warning("replica: lost %s (partition %d): %s", redacted(self.url), p, err)
                    self._healthy[p] = False
                    if isinstance(self._client, RedisCluster):
                        # the node may be gone or the slot moved (a failover, a resharding): find the
                        # partition's node again before the next attempt
                        if client is not None:
                            client.close()
                            client = None
                        try:
                            refresh_map(self._client)
                        except redis.ConnectionError as why:
                            log.info("replica: partition %d: %s", p, why)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                if not self._healthy[p]:
                    # back after an outage: Redis may have restarted without its data; maintenance checks
                    self._queue.put(("check", p))
                    log.info("replica: reconnected to %s (partition %d)", redacted(self.url), p)
                backoff = 0.05
                entries = [e for name, es in got or [] if name != wake.encode() for e in es]
                if entries:
                    self._reader_from[p] = int(entries[-1][0].split(b"-", 1)[0])
                    self._take(p, entries)
                self._healthy[p] = True
        finally:
            if client is not None:
                client.close()

    def _take(self, p: int, entries: Entries) -> None:
        """Apply what a reader fetched, on the reader's own thread: one thread woken per record, not
        two. While a writer of this process writes to the partition the entries are set aside, not even
        parsed (the writer applies its own records and then these); during a rebuild they are dropped
        (the rebuild replays the stream to its end)."""
        with self._lock:
            if self._rebuild_wanted:
                return
            if p in self._own:
                self._deferred.setdefault(p, []).extend(record_from_entry(p, eid, f) for eid, f in entries)
                return
            try:
                for eid, fields in entries:
                    self._apply_locked(record_from_entry(p, eid, fields))
            except NeedRebuild as why:
                self.request_rebuild(str(why))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
                # a gap could not be fetched: the next record fills it, or the reconnect check rebuilds
                log.warning("replica: partition %d: %s", p, err)
            except Exception:
                log.exception("replica: failed to apply records; rebuilding")
                self.request_rebuild("a record failed to apply")
            self._applied.notify_all()

    def _maintain(self) -> None:
        retry_at = 0.0
        next_check = time.monotonic() + HEARTBEAT_S
        while not self._stop.is_set():
            timeout = max(0.05, retry_at - time.monotonic()) if self._rebuild_wanted else HEARTBEAT_S
            try:
                kind, p = self._queue.get(timeout=timeout)
            except queue.Empty:
                kind, p = "tick", -1
            if kind == "stop":
                return
            try:
                if time.monotonic() >= next_check and not self._rebuild_wanted and all(self._healthy):
                    # a connected reader cannot tell that Redis lost its data (FLUSHALL, a failover to an
                    # empty replica): its XREAD just blocks. One round trip a second can.
                    next_check = time.monotonic() + HEARTBEAT_S
                    self._check_all()
                if kind == "check":
                    self._check(p)
                if self._rebuild_wanted and time.monotonic() >= retry_at:
                    self._rebuild()
            except NeedRebuild as why:
                self.request_rebuild(str(why))
            except NoData as why:
                if not self._no_data:
                    log.error(
                        "replica: the ledger at %s has no data (%s): serving the last known state; "
                        "load a snapshot (omniroute load) to recover",
                        redacted(self.url),
                        why,
                    )
                self._no_data = True
                self._rebuild_wanted = True
                retry_at = time.monotonic() + 1.0
            except (LoadInProgress, redis.ConnectionError, redis.TimeoutError, OSError) as err:
                log.info("replica: will retry (%s)", err)
                self._rebuild_wanted = True
                retry_at = time.monotonic() + 0.2
            except Exception:
                log.exception("replica: failed to apply records; rebuilding")
                self._rebuild_wanted = True
                retry_at = time.monotonic() + 1.0

    def _check(self, p: int) -> None:
        self._check_partitions([p])

    def _check_all(self) -> None:
        self._check_partitions(list(range(self._state.partitions)))

    def _check_partitions(self, parts: list[int]) -> None:
        """Compare Redis with what this replica applied: NoData when the ledger is gone, NeedRebuild when
        it moved to another generation or went back in sequence (data lost)."""
        st = self._state
        # what was applied, noted before asking Redis: a writer may apply more meanwhile, and Redis is
        # always at least where this replica was when it was asked
        applied = [st.applied[p] for p in parts]
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(self._keys.meta, ["partitions", "gen"])
        for p in parts:
            pipe.hmget(self._keys.partition_meta(p), ["gen", "seq"])
        meta, *rows = pipe.execute()
        if meta[0] is None or meta[1] is None:
            raise NoData("no ledger metadata")
        if st is not self._state:
            return  # swapped meanwhile (a rebuild or a load): nothing to compare
        if int(meta[0]) != st.partitions or int(meta[1]) > st.gen:
            raise NeedRebuild(f"the ledger is now at generation {int(meta[1])} with {int(meta[0])} partitions")
        for p, was, (pgen, seq) in zip(parts, applied, rows, strict=True):
            if pgen is None or int(seq or 0) < was:
                raise NeedRebuild(f"partition {p} is back at sequence {int(seq or 0)}, behind {was}: data lost")
        self.note_heads(parts, [int(seq or 0) for _, seq in rows])

    def _rebuild(self) -> None:
        fresh = self._rebuild_fn()
        if fresh.partitions != self._state.partitions:
            # the ledger was recreated with another partition count: the readers must change too
            log.error("replica: partition count changed (%d -> %d); restart the service",
                      self._state.partitions, fresh.partitions)  # fmt: skip
            self._no_data = True
            return
        # replay off to the side, then once more under the lock to close the gap, and swap
        replay(self._client, self._keys, fresh, lambda g: read_network(self._client, self._keys, g))
        with self._lock:
            replay(self._client, self._keys, fresh, lambda g: read_network(self._client, self._keys, g))
            self._replace_locked(fresh)
        self.rebuilds += 1
        log.info("replica: rebuilt from Redis at generation %d, sequence %d", fresh.gen, fresh.store.sequence)
