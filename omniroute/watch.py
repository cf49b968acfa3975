"""Availability changes for one subscriber: what it was last told, diffed against the read model now.

The ledger calls listeners on the writing thread while it holds its lock, so the listener only records
which SKUs were touched and wakes the subscriber's task; the ATP work happens on the subscriber's side.
Because every diff is taken against the current read model, pending notifications can be merged freely:
when a slow subscriber falls more than `max_pending` batches behind, they collapse into one "recompute
everything" and memory stays bounded. The subscriber then skips intermediate figures but never reports a
wrong final one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from availability.atp import MAX_SKUS_PER_QUERY, statuses
from availability.errors import InvalidArgument
from availability.ledger import ChangeBatch, Ledger
from availability.locations import Scope
from availability.model import Method, StockStatus, check_id
from availability.store import NETWORK, StockStore

I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
DEFAULT_MAX_PENDING = 256
MAX_WATCHED_LOCATIONS = 2_000


@dataclass(frozen=True, slots=True)
class Change:
    sku: str
    location: str  # "" for the network total
    quantity: int
    previous_quantity: int
    status: StockStatus
    previous_status: StockStatus
    sequence: int


class AvailabilityWatch:
    """The watched items of one subscriber and the figures last reported for them."""

    def __init__(
        self,
        store: StockStore,
        skus: Sequence[str],
        *,
        channel: str,
        method: Method = Method.SHIP,
        locations: Sequence[str] = (),
        status_changes_only: bool = False,
    ) -> None:
        if len(skus) == 0:
            raise InvalidArgument("skus", [], "must name at least one SKU to watch")
        if len(skus) > MAX_SKUS_PER_QUERY:
            raise InvalidArgument("skus", len(skus), f"at most {MAX_SKUS_PER_QUERY} SKUs per watch")
        for k, sku in enumerate(skus):
            check_id(f"skus[{k}]", sku)
        self.store = store
        self.sku_ids: list[str] = list(dict.fromkeys(skus))  # de-duplicated, order kept
        self.channel = channel
        self.method = method
        self.location_refs = tuple(locations)
        self.status_changes_only = status_changes_only
        self._resolve()
        n = len(self.sku_ids)
        # figures as last reported: the baseline the first diff is taken against
        self.last_total = self._totals(np.arange(n))
        self.last_local = self._locals(np.arange(n))

    def _resolve(self) -> None:
        """(Re)map ids to indices; needed at start and whenever the whole picture is replaced."""
        network = self.store.network
        self.chan = network.channel_index(self.channel)
        self.sku_idx = self.store.skus.lookup_many(self.sku_ids)
        self.loc_idx = np.zeros(0, dtype=np.int64)
        self.scope: Scope = NETWORK
        self.loc_ids: list[str] = []
        if self.location_refs:
            self.loc_idx = network.resolve_locations("locations", self.location_refs)
            if self.loc_idx.shape[0] > MAX_WATCHED_LOCATIONS:
                raise InvalidArgument(
                    "locations", len(self.loc_idx), f"at most {MAX_WATCHED_LOCATIONS} locations"
                )
            ids = network.index.ids
            self.scope = Scope.of_locations(ids[i] for i in self.loc_idx.tolist())
            self.loc_ids = [ids[i] for i in self.loc_idx.tolist()]
        self.col_of = np.full(len(network), -1, dtype=np.int64)
        self.col_of[self.loc_idx] = np.arange(self.loc_idx.shape[0])

    def _totals(self, rows: I64) -> I64:
        return self.store.atp_many(self.sku_idx[rows], self.chan, self.method, NETWORK)

    def _locals(self, rows: I64) -> I64:
        out = np.zeros((rows.shape[0], self.loc_idx.shape[0]), dtype=np.int64)
        if self.loc_idx.shape[0] == 0:
            return out
        for r, s in enumerate(self.sku_idx[rows].tolist()):
            if s < 0:
                continue
            locs, qty = self.store.atp_by_location(s, self.chan, self.method, self.scope)
            out[r, self.col_of[locs]] = qty
        return out

    def initial(self) -> list[Change]:
        """The current figure of every watched item (network totals, then per location)."""
        rows = np.arange(len(self.sku_ids))
        return self._emit(
            rows, self.last_total, self.last_total, self.last_local, self.last_local, force=True
        )

    def changes(self, touched: I64 | None) -> list[Change]:
        """Changes since the last call for SKU indices `touched` (None: the whole picture was replaced)."""
        if touched is None:
            self._refresh_after_reload()
            rows = np.arange(len(self.sku_ids))
        else:
            if (self.sku_idx < 0).any():
                # a receipt can create a SKU that a subscriber was already waiting for
                self.sku_idx = self.store.skus.lookup_many(self.sku_ids)
            rows = np.flatnonzero(np.isin(self.sku_idx, touched) & (self.sku_idx >= 0))
        if rows.shape[0] == 0:
            return []
        total = self._totals(rows)
        local = self._locals(rows)
        old_total = self.last_total[rows]
        old_local = self.last_local[rows]
        self.last_total[rows] = total
        self.last_local[rows] = local
        return self._emit(rows, old_total, total, old_local, local, force=False)

    def _refresh_after_reload(self) -> None:
        old_locs = self.loc_ids
        old_local = self.last_local
        self._resolve()
        # carry figures over by location id: indices may differ in the new picture
        new_local = np.zeros((len(self.sku_ids), self.loc_idx.shape[0]), dtype=np.int64)
        pos = {lid: c for c, lid in enumerate(self.loc_ids)}
        for c_old, lid in enumerate(old_locs):
            c_new = pos.get(lid)
            if c_new is not None:
                new_local[:, c_new] = old_local[:, c_old]
        self.last_local = new_local

    def _emit(
        self, rows: I64, old_t: I64, new_t: I64, old_l: I64, new_l: I64, *, force: bool
    ) -> list[Change]:
        cfg = self.store.network.config
        seq = self.store.sequence
        out: list[Change] = []
        st_new = statuses(new_t, cfg.low_stock_network)
        st_old = statuses(old_t, cfg.low_stock_network)
        changed = self._changed(old_t, new_t, st_old, st_new, force)
        for k in np.flatnonzero(changed).tolist():
            out.append(
                Change(
                    self.sku_ids[int(rows[k])],
                    "",
                    int(new_t[k]),
                    int(old_t[k]),
                    StockStatus(int(st_new[k])),
                    StockStatus(int(st_old[k])),
                    seq,
                )
            )
        if self.loc_idx.shape[0]:
            flat_new = new_l.reshape(-1)
            flat_old = old_l.reshape(-1)
            ls_new = statuses(flat_new, cfg.low_stock_location)
            ls_old = statuses(flat_old, cfg.low_stock_location)
            changed = self._changed(flat_old, flat_new, ls_old, ls_new, force)
            n_loc = self.loc_idx.shape[0]
            for k in np.flatnonzero(changed).tolist():
                r, c = divmod(k, n_loc)
                out.append(
                    Change(
                        self.sku_ids[int(rows[r])],
                        self.loc_ids[c],
                        int(flat_new[k]),
                        int(flat_old[k]),
                        StockStatus(int(ls_new[k])),
                        StockStatus(int(ls_old[k])),
                        seq,
                    )
                )
        return out

    def _changed(self, old: I64, new: I64, st_old: I8, st_new: I8, force: bool) -> npt.NDArray[np.bool_]:
        if force:
            return np.ones(old.shape[0], dtype=np.bool_)
        if self.status_changes_only:
            return np.not_equal(st_old, st_new)
        return np.not_equal(old, new)


class Subscription:
    """Bridges ledger notifications (any thread) to one subscriber's asyncio task."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: list[I64] = []
        self._everything = False
        self._signalled = False
        self._wake = asyncio.Event()
        self.max_pending = max_pending
        self.overflows = 0

    def on_change(self, batch: ChangeBatch) -> None:
        """The ledger's listener: cheap, never blocks, never raises into the writer."""
        with self._lock:
            if batch.everything:
                self._everything = True
                self._pending.clear()
            elif not self._everything:
                if len(self._pending) >= self.max_pending:
                    self._everything = True
                    self._pending.clear()
                    self.overflows += 1
                else:
                    self._pending.append(batch.affected_skus())
            if self._signalled:
                return
            self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server and subscriber are gone
            self._loop.call_soon_threadsafe(self._wake.set)

    def take(self) -> tuple[bool, I64]:
        """(everything, touched SKU indices) accumulated since the last take."""
        with self._lock:
            everything = self._everything
            pending = self._pending
            self._pending = []
            self._everything = False
            self._signalled = False
            self._wake.clear()
        if everything or not pending:
            return everything, np.zeros(0, dtype=np.int64)
        touched = pending[0] if len(pending) == 1 else np.unique(np.concatenate(pending))
        return False, touched

    async def wait(self) -> None:
        await self._wake.wait()


async def watch_changes(
    ledger: Ledger,
    watch: AvailabilityWatch,
    *,
    include_initial: bool,
    stop: asyncio.Event,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> AsyncIterator[list[Change]]:
    """Lists of changes for one subscriber until `stop` is set or the consumer stops iterating;
    unsubscribes from the ledger however it ends."""
    sub = Subscription(asyncio.get_running_loop(), max_pending)
    unsubscribe = ledger.subscribe(sub.on_change)
    try:
        if include_initial:
            yield watch.initial()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waiting = asyncio.ensure_future(sub.wait())
                try:
                    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                if stop.is_set():
                    break
                everything, touched = sub.take()
                if not everything and touched.shape[0] == 0:
                    continue
                changes = watch.changes(None if everything else touched)
                if changes:
                    yield changes
        finally:
            stopping.cancel()
    finally:
        unsubscribe()
