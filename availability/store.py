"""The read model: stock positions in per-SKU CSR slices of columnar int32 arrays, updated in place.

Each SKU owns a contiguous slice of slots sorted by location, with a little slack at its end so that a
SKU appearing at a new location is inserted in place. A full slice moves to a spare tail of the arrays
with 1.5x its room; when that tail (or the SKU table) is used up, a new generation of arrays is built and
swapped in with one reference assignment.

Writes come only from a ledger (the write model), which serialises them. Reads take no lock. Every
in-place write is one numba kernel call, which holds the GIL, so a reader's kernel sees it entirely or
not at all. A write that swaps arrays (a rebuild, new ring-fences or inbound, a location upsert, a
snapshot) bumps `version` after the swap; a reader notes the version before taking the state and retries
if it changed, because its captured arrays may have stopped being the live ones mid-read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from . import _kernels as K
from .catalog import IdIndex
from .errors import InvalidArgument
from .locations import LocationTable, Scope
from .model import MAX_QUANTITY, AtpConfig, InboundType, Method, Sku, Snapshot

NETWORK = Scope()

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
T = TypeVar("T")

# ring-fence key = sku * 2**20 + channel + 2**19: channels are 0..63, group holds -1 - hold group
_MAX_CHANNEL_KEY = 1 << 20
_CHANNEL_OFFSET = 1 << 19


def _resolve_sku_atp(*args: Any) -> int:
    """First call: swap in sku_atp's entry point (see _kernels.entry_point), resolved for canonical
    argument types rather than the caller's, so a stray bool or numpy scalar cannot pick the signature."""
    global _SKU_ATP
    _SKU_ATP = K.sku_atp_entry()
    return _SKU_ATP(*args)


_SKU_ATP: Callable[..., int] = _resolve_sku_atp


def _slack(counts: I64) -> I64:
    """Free slots left at the end of each SKU's slice: about 1.5%, at least one. A slice that overflows
    gets far more room at the rebuild (see _rebuild), so steady growth stays amortised."""
    return 1 + counts // 64


def _spare(n_skus: int) -> int:
    return max(64, n_skus // 8)


def _layout(counts: I64, spare_skus: int) -> tuple[I64, I64]:
    """(slice starts, slice capacities) for SKUs with these position counts, plus spare empty SKUs;
    starts has one more entry: the first slot of the spare tail."""
    caps = counts + _slack(counts)
    caps = np.concatenate([caps, np.full(spare_skus, 2, dtype=np.int64)])
    starts = np.zeros(caps.shape[0] + 1, dtype=np.int64)
    np.cumsum(caps, out=starts[1:])
    return starts, caps


def _tail_slots(used_slots: int) -> int:
    """Spare slots after the slices, where full slices move (0.5%; pages never written cost no RSS)."""
    return max(1_024, used_slots // 200)


def _new_index(starts: I64, caps: I64, counts: I64) -> tuple[I64, I32]:
    """A zeroed index and position array for this layout (inbound and ring-fence columns left 0)."""
    idx = np.zeros((starts.shape[0], 5), dtype=np.int64)
    idx[:, K.START] = starts
    idx[:-1, K.CAP] = caps
    idx[: counts.shape[0], K.USED] = counts
    pos = np.zeros((4, int(starts[-1]) + _tail_slots(int(starts[-1]))), dtype=np.int32)
    return idx, pos


def _empty_rows(n_rows: int) -> I32:
    return np.zeros((n_rows, 0), dtype=np.int32)


@dataclass(frozen=True, slots=True)
class Generation:
    """One set of arrays (see _kernels.py for the layout)."""

    idx: I64
    pos: I32
    inb: I32
    alloc: I32

    @property
    def sku_capacity(self) -> int:
        return int(self.idx.shape[0] - 1)

    def nbytes(self) -> int:
        return int(self.idx.nbytes + self.pos.nbytes + self.inb.nbytes + self.alloc.nbytes)


@dataclass(frozen=True, slots=True)
class PositionView:
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    safety_explicit: bool
    inbound: tuple[tuple[int, int, InboundType, int], ...]  # (day, quantity, type, promisable)


@dataclass(frozen=True, slots=True)
class StoreView:
    """What a reader needs, taken as one reference: a network never pairs with another's arrays."""

    network: LocationTable
    skus: IdIndex
    sku_weights: list[int | None]
    gen: Generation

    def atp(self, s: int, chan: int, method: Method, scope: Scope, day: int) -> int:
        g = self.gen
        q: int = K.sku_atp(g.idx, g.pos, g.inb, g.alloc, self.network.mask(chan, method, scope), s, chan, day)
        return q

    def atp_many(self, skus: I64, chan: int, method: Method, scope: Scope, day: int) -> I64:
        g = self.gen
        out = np.empty(skus.shape[0], dtype=np.int64)
        mask = self.network.mask(chan, method, scope)
        K.many_skus_atp(g.idx, g.pos, g.inb, g.alloc, mask, skus, chan, day, out)
        return out

    def atp_rows(
        self, skus: I64, chan: int, method: Method, scope: Scope, day: int, per_location: bool
    ) -> AtpRows:
        g = self.gen
        mask = self.network.mask(chan, method, scope)
        qty = np.empty(skus.shape[0], dtype=np.int64)
        if not per_location:
            K.many_skus_atp(g.idx, g.pos, g.inb, g.alloc, mask, skus, chan, day, qty)
            return AtpRows(qty, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64))
        known = skus[(skus >= 0) & (skus < g.sku_capacity)]
        n = -1
        while n < 0:  # a writer may insert positions between the sizing and the kernel: size again
            room = int(g.idx[known, K.USED].sum()) + 16
            rows = np.empty(room, dtype=np.int64)
            locs = np.empty(room, dtype=np.int32)
            lq = np.empty(room, dtype=np.int64)
            n = K.many_skus_atp_by_location(
                g.idx, g.pos, g.inb, g.alloc, mask, skus, chan, day, qty, rows, locs, lq
            )
        return AtpRows(qty, rows[:n], locs[:n], lq[:n])

    def inbound_days(self, s: int) -> I64:
        """The distinct expected days of SKU s's inbound supply, ascending (empty: none, or unknown SKU)."""
        g = self.gen
        if not 0 <= s < g.sku_capacity:
            return np.zeros(0, dtype=np.int64)
        lo, hi = int(g.idx[s, K.INB]), int(g.idx[s + 1, K.INB])
        return np.unique(g.inb[K.I_DAY, lo:hi].astype(np.int64))

    def position(self, s: int, loc: int) -> PositionView | None:
        g = self.gen
        p = int(K.find_slot(g.idx, g.pos, s, loc))
        if p < 0:
            return None
        inb = g.inb
        lo, hi = int(g.idx[s, K.INB]), int(g.idx[s + 1, K.INB])
        inbound = tuple(
            (
                int(inb[K.I_DAY, j]),
                int(inb[K.I_QTY, j]),
                InboundType(int(inb[K.I_TYPE, j])),
                int(inb[K.I_PROMISABLE, j]),
            )
            for j in range(lo, hi)
            if inb[K.I_LOC, j] == loc
        )
        raw = int(g.pos[K.SAFETY, p])
        return PositionView(
            sku=self.skus.id(s),
            location=self.network.index.id(loc),
            on_hand=int(g.pos[K.ON_HAND, p]),
            reserved=int(g.pos[K.ON_HAND, p]) - int(g.pos[K.FREE, p]),
            safety_stock=raw if raw >= 0 else int(self.network.default_safety[loc]),
            safety_explicit=raw >= 0,
            inbound=inbound,
        )


@dataclass(frozen=True, slots=True)
class AtpRows:
    """Network (or scope) figures and, optionally, per-location rows of many SKUs from one kernel call."""

    quantity: I64
    sku_row: I64  # row k of the per-location part belongs to skus[sku_row[k]]
    location: I32
    location_quantity: I64


class StockStore:
    def __init__(
        self, network: LocationTable, skus: Sequence[Sku], gen: Generation, sequence: int = 0
    ) -> None:
        self._state = StoreView(
            network, IdIndex("sku", (_own_copy(s.id) for s in skus)), [s.unit_weight_g for s in skus], gen
        )
        self._version = 0
        self.sequence = sequence

    @property
    def _g(self) -> Generation:
        return self._state.gen

    def _swap(self, state: StoreView) -> None:
        # Order matters: swap first, bump after, so a reader that took the old state also saw the old
        # version and retries.
        self._state = state
        self._version += 1

    @property
    def version(self) -> int:
        """Changes whenever arrays are swapped (never for in-place writes)."""
        return self._version

    def view(self) -> StoreView:
        return self._state

    def read(self, fn: Callable[[StoreView], T]) -> T:
        """fn(view) on a state that stayed live for the whole call (retried after a swap)."""
        while True:
            v = self._version
            out = fn(self._state)
            if self._version == v:
                return out

    @property
    def _network(self) -> LocationTable:
        return self._state.network

    @property
    def skus(self) -> IdIndex:
        return self._state.skus

    @property
    def sku_weights(self) -> list[int | None]:
        return self._state.sku_weights

    def replace_contents(self, other: StockStore) -> None:
        """Take another store's whole state in one swap (a snapshot load)."""
        self._swap(other._state)
        self.sequence = max(self.sequence, other.sequence)

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, network: LocationTable) -> StockStore:
        snap = Snapshot(list(network.locations), list(network.channel_list), [], list(network.group_list))
        return cls.from_snapshot(snap, network.config)

    @classmethod
    def from_snapshot(cls, snap: Snapshot, config: AtpConfig | None = None, sequence: int = 0) -> StockStore:
        network = LocationTable(snap.locations, snap.channels, snap.groups, config or snap.config)
        n_sku = len(snap.skus)
        n_loc = len(network)
        sku = np.asarray(snap.stock_sku, dtype=np.int32)
        loc = np.asarray(snap.stock_loc, dtype=np.int32)
        on_hand = np.asarray(snap.stock_on_hand, dtype=np.int32)
        safety = np.asarray(snap.stock_safety, dtype=np.int32)
        _check_rows("stock", sku, loc, n_sku, n_loc)
        if not sku.shape[0] == loc.shape[0] == on_hand.shape[0] == safety.shape[0]:
            raise InvalidArgument("stock", "columns", "stock columns differ in length")
        if on_hand.shape[0] and int(np.abs(on_hand.astype(np.int64)).max()) > MAX_QUANTITY:
            raise InvalidArgument(
                "stock.on_hand", int(np.abs(on_hand).max()), f"magnitude above {MAX_QUANTITY}"
            )
        if safety.shape[0] and int(safety.min()) < -1:
            raise InvalidArgument(
                "stock.safety_stock", int(safety.min()), "must be >= 0 (or -1: type default)"
            )
        i_sku = np.asarray(snap.inbound_sku, dtype=np.int32)
        i_loc = np.asarray(snap.inbound_loc, dtype=np.int32)
        _check_rows("inbound", i_sku, i_loc, n_sku, n_loc)
        sku, loc, on_hand, safety = _sorted_unique_positions(sku, loc, on_hand, safety, n_loc)
        # Inbound to a location without stock still needs a position to be promised from. Positions are
        # sorted by key now, so the missing pairs are found by binary search (np.setdiff1d's hashing
        # takes minutes at 50 million positions).
        if i_sku.shape[0]:
            ikey = np.sort(i_sku.astype(np.int64) * n_loc + i_loc)
            ikey = ikey[np.concatenate([[True], ikey[1:] != ikey[:-1]])]
            skey = sku.astype(np.int64) * n_loc + loc
            at = np.searchsorted(skey, ikey)
            present = at < skey.shape[0]
            present[present] = skey[at[present]] == ikey[present]
            new = ikey[~present]
            del ikey, skey, at, present
            if new.shape[0]:
                sku, loc, on_hand, safety = _sorted_unique_positions(
                    np.concatenate([sku, (new // n_loc).astype(np.int32)]),
                    np.concatenate([loc, (new % n_loc).astype(np.int32)]),
                    np.concatenate([on_hand, np.zeros(new.shape[0], dtype=np.int32)]),
                    np.concatenate([safety, np.full(new.shape[0], -1, dtype=np.int32)]),
                    n_loc,
                )
        # sku is sorted now: each SKU's run is found by binary search, without an intp-sized bincount
        bounds = np.searchsorted(sku, np.arange(n_sku + 1, dtype=np.int32)).astype(np.int64)
        counts = np.diff(bounds)
        starts, caps = _layout(counts, _spare(n_sku))
        idx, pos = _new_index(starts, caps, counts)
        K.scatter_positions(bounds, starts, loc, on_hand, safety, pos)
        del sku, loc, on_hand, safety
        gen = Generation(idx, pos, _empty_rows(5), _empty_rows(4))
        store = cls(network, snap.skus, gen, sequence)
        store._set_inbound_arrays(i_sku, i_loc, snap.inbound_qty, snap.inbound_day, snap.inbound_type)
        store._set_alloc_arrays(snap.alloc_sku, snap.alloc_channel, snap.alloc_qty, snap.alloc_consumed)
        return store

    # ------------------------------------------------------------------ properties
    @property
    def network(self) -> LocationTable:
        return self._network

    @property
    def generation(self) -> Generation:
        return self._g

    @property
    def position_count(self) -> int:
        st = self._state
        return int(st.gen.idx[: len(st.skus), K.USED].sum())

    def nbytes(self) -> int:
        return self._g.nbytes()

    # ------------------------------------------------------------------ reads (lock-free)
    def atp(self, s: int, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1) -> int:
        """ATP of SKU index s for a channel index and method over a scope; 0 for an unknown index.
        The hot path: one attribute walk, a cached mask and one kernel call."""
        v = self._version
        st = self._state
        g = st.gen
        q = _SKU_ATP(g.idx, g.pos, g.inb, g.alloc, st.network.mask(chan, method, scope), s, chan, day)
        if self._version == v:
            return q
        return self.read(lambda view: view.atp(s, chan, method, scope, day))

    def atp_many(self, skus: I64, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1) -> I64:
        """ATP of many SKU indices (-1: unknown, answers 0) in one kernel call."""
        skus = np.ascontiguousarray(skus, dtype=np.int64)
        return self.read(lambda view: view.atp_many(skus, chan, method, scope, day))

    def atp_rows(
        self,
        skus: I64,
        chan: int,
        method: Method,
        scope: Scope = NETWORK,
        day: int = -1,
        *,
        per_location: bool,
    ) -> AtpRows:
        """Scope figures of many SKUs and, on request, their per-location rows, all from one consistent
        state (one kernel call, so no write lands between the totals and the rows)."""
        skus = np.ascontiguousarray(skus, dtype=np.int64)
        return self.read(lambda view: view.atp_rows(skus, chan, method, scope, day, per_location))

    def atp_by_location(
        self, s: int, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1
    ) -> tuple[I32, I64]:
        """(location indices, ATP) at every in-scope eligible location where SKU s has a position."""
        rows = self.atp_rows(np.array([s], dtype=np.int64), chan, method, scope, day, per_location=True)
        return rows.location, rows.location_quantity

    def slot(self, s: int, loc: int) -> int:
        g = self._g
        return int(K.find_slot(g.idx, g.pos, s, loc))

    def position(self, s: int, loc: int) -> PositionView | None:
        return self.read(lambda view: view.position(s, loc))

    def sku_locations(self, s: int) -> I32:
        g = self._g
        if not 0 <= s < g.sku_capacity:
            return np.zeros(0, dtype=np.int32)
        a = int(g.idx[s, K.START])
        return g.pos[K.LOC, a : a + int(g.idx[s, K.USED])].copy()

    def allocations(self, s: int) -> list[tuple[int, int, int]]:
        """(channel index, quantity, consumed) ring-fences of SKU s."""
        g = self._g
        if not 0 <= s < g.sku_capacity:
            return []
        alloc = g.alloc
        lo, hi = int(g.idx[s, K.ALLOC]), int(g.idx[s + 1, K.ALLOC])
        return [
            (int(alloc[K.A_CHANNEL, k]), int(alloc[K.A_QUANTITY, k]), int(alloc[K.A_CONSUMED, k]))
            for k in range(lo, hi)
            if alloc[K.A_CHANNEL, k] >= 0
        ]

    def group_holds(self, s: int) -> dict[int, int]:
        """Units held per hold group (see LocationTable.hold_group_index) of SKU s."""
        g = self._g
        if not 0 <= s < g.sku_capacity:
            return {}
        alloc = g.alloc
        lo, hi = int(g.idx[s, K.ALLOC]), int(g.idx[s + 1, K.ALLOC])
        return {
            -1 - int(alloc[K.A_CHANNEL, k]): int(alloc[K.A_QUANTITY, k])
            for k in range(lo, hi)
            if alloc[K.A_CHANNEL, k] < 0 and alloc[K.A_QUANTITY, k] > 0
        }

    def group_hold_rows(self) -> tuple[I32, I32, I32]:
        """(sku, hold group, units held) of every group hold."""
        a = self._g.alloc
        sel = (a[K.A_CHANNEL] < 0) & (a[K.A_QUANTITY] > 0)
        return a[K.A_SKU, sel].copy(), (-1 - a[K.A_CHANNEL, sel]).astype(np.int32), a[K.A_QUANTITY, sel].copy()

    def hold_atp(self, s: int, chan: int, scope: Scope = NETWORK) -> int:
        """What a hold for a channel may take over a scope: like atp() but with every enabled location
        that serves the channel eligible, whatever its methods (a hold is not a delivery promise)."""
        st = self._state
        g = st.gen
        if not 0 <= s < g.sku_capacity:
            return 0
        return int(K.sku_atp(g.idx, g.pos, g.inb, g.alloc, st.network.hold_mask(chan, scope), s, chan, -1))

    def add_group_hold(self, s: int, group: int, delta: int) -> None:
        """Units held at a hold group go up (or down) by delta: in place when the row exists."""
        g = self._g
        if int(K.add_hold(g.idx, g.alloc, s, -1 - group, delta)):
            return
        if delta < 0:
            raise InvalidArgument("hold", delta, "releasing a group hold that does not exist")
        self.set_allocations(
            np.array([s], np.int64), np.array([-1 - group], np.int64), np.array([delta], np.int64),
            np.array([0], np.int64),
        )

    def totals(self) -> tuple[int, int]:
        """(sum of on hand, sum of reserved) over every position: for invariant checks."""
        st = self._state
        oh, rs = K.totals(st.gen.idx, st.gen.pos, len(st.skus))
        return int(oh), int(rs)

    def inbound_rows(self) -> tuple[I32, I32, I32, I32, I32]:
        """(sku, location, quantity, expected day, type) of every inbound entry."""
        g = self._g
        inb = g.inb
        sku = np.repeat(np.arange(g.sku_capacity, dtype=np.int32), np.diff(g.idx[:, K.INB]))
        return (
            sku,
            inb[K.I_LOC].copy(),
            inb[K.I_QTY].copy(),
            inb[K.I_DAY].copy(),
            inb[K.I_TYPE].copy(),
        )

    def allocation_rows(self) -> tuple[I32, I32, I32, I32]:
        """(sku, channel, quantity, consumed) of every ring-fence (group holds excluded)."""
        a = self._g.alloc
        sel = a[K.A_CHANNEL] >= 0
        return a[K.A_SKU, sel], a[K.A_CHANNEL, sel], a[K.A_QUANTITY, sel], a[K.A_CONSUMED, sel]

    # ------------------------------------------------------------------ writes (callers serialise)
    def add_sku(self, sku: Sku) -> int:
        s = self.skus.get(sku.id)
        if s is not None:
            return s
        if len(self.skus) >= self._g.sku_capacity:
            self._rebuild({}, extra_skus=1)
        # weights first: a reader that finds the new id also finds its weight
        self.sku_weights.append(sku.unit_weight_g)
        return self.skus.add(sku.id)

    def ensure_slots(self, skus: I64, locs: I64) -> I64:
        """Slots for (sku, location) pairs, creating zero positions for new pairs."""
        skus = np.ascontiguousarray(skus, dtype=np.int64)
        locs = np.ascontiguousarray(locs, dtype=np.int64)
        slots = np.empty(skus.shape[0], dtype=np.int64)
        if skus.shape[0] == 0:
            return slots
        n_sku = len(self.skus)
        if int(skus.min()) < 0 or int(skus.max()) >= n_sku:
            raise InvalidArgument("skus", int(skus.max()), f"SKU indices must be in [0, {n_sku})")
        n_loc = len(self._network)
        if int(locs.min()) < 0 or int(locs.max()) >= n_loc:
            raise InvalidArgument("locations", int(locs.max()), f"location indices must be in [0, {n_loc})")
        g = self._g
        if K.find_slots(g.idx, g.pos, skus, locs, slots) == 0:
            return slots
        # only the missing pairs are inserted, and only the slots of SKUs that gained positions are
        # searched again (each search is a cache miss or two on a big store)
        miss = slots < 0
        new_skus, new_locs = skus[miss], locs[miss]
        if K.insert_slots(g.idx, g.pos, new_skus, new_locs):
            left = np.empty(new_skus.shape[0], dtype=np.int64)
            K.find_slots(g.idx, g.pos, new_skus, new_locs, left)
            need, n_need = np.unique(new_skus[left < 0], return_counts=True)
            self._rebuild(dict(zip(need.tolist(), n_need.tolist(), strict=True)))
            g = self._g
            if K.insert_slots(g.idx, g.pos, new_skus, new_locs):
                raise AssertionError("rebuild left no slack")  # pragma: no cover
            miss[:] = True  # a rebuild moved every slot
        else:
            miss = np.isin(skus, new_skus)
        again = np.empty(int(miss.sum()), dtype=np.int64)
        K.find_slots(g.idx, g.pos, skus[miss], locs[miss], again)
        slots[miss] = again
        return slots

    def apply_deltas(self, slots: I64, d_on_hand: I64, d_reserved: I64, sequence: int) -> None:
        K.apply_deltas(self._g.pos, slots, d_on_hand, d_reserved)
        self.sequence = sequence

    def set_safety(self, slot: int, value: int | None) -> None:
        self.set_safety_many(np.array([slot], np.int64), np.array([-1 if value is None else value], np.int64))

    def set_safety_many(self, slots: I64, values: I64) -> None:
        """Explicit safety stock per slot (-1: back to the location type's default), in one kernel call."""
        K.set_safety(
            self._g.pos, np.ascontiguousarray(slots, np.int64), np.ascontiguousarray(values, np.int64)
        )

    def set_network(self, network: LocationTable) -> None:
        """Swap in a new location table (upserts, config). Default safety stock is read through the
        table's masks, so this is one swap; promisable inbound is recomputed if the shares changed."""
        if len(network) < len(self._network):
            raise InvalidArgument("locations", len(network), "locations can be disabled, never removed")
        st = self._state
        g = st.gen
        if network.config.inbound_share_bp != st.network.config.inbound_share_bp and g.inb.shape[1]:
            inb = g.inb.copy()
            inb[K.I_PROMISABLE] = _promisable(inb[K.I_QTY], inb[K.I_TYPE], network.config)
            g = replace(g, inb=inb)
        self._swap(replace(st, network=network, gen=g))

    def set_allocation(self, s: int, chan: int, quantity: int, consumed: int | None = None) -> None:
        """Set (or, with quantity 0, remove) the ring-fence of SKU s for a channel. Without `consumed`,
        what was consumed so far is kept (capped at the new quantity)."""
        self.set_allocations(
            np.array([s], np.int64),
            np.array([chan], np.int64),
            np.array([quantity], np.int64),
            np.array([-1 if consumed is None else consumed], np.int64),
        )

    def set_allocations(self, skus: I64, chans: I64, quantities: I64, consumed: I64) -> None:
        """Many ring-fences in one swap; consumed -1 keeps what was consumed (capped at the quantity)."""
        a = self._g.alloc
        old_key = a[K.A_SKU].astype(np.int64) * _MAX_CHANNEL_KEY + a[K.A_CHANNEL] + _CHANNEL_OFFSET
        new_key = np.asarray(skus, np.int64) * _MAX_CHANNEL_KEY + np.asarray(chans, np.int64) + _CHANNEL_OFFSET
        if np.unique(new_key).shape[0] != new_key.shape[0]:
            raise InvalidArgument("allocations", "duplicate", "a (sku, channel) pair appears twice")
        qty = np.asarray(quantities, np.int64)
        used = np.asarray(consumed, np.int64).copy()
        keep_old = used < 0
        if keep_old.any():
            at = np.searchsorted(old_key, new_key[keep_old])
            found = at < old_key.shape[0]
            found[found] = old_key[at[found]] == new_key[keep_old][found]
            prior = np.zeros(at.shape[0], np.int64)
            prior[found] = a[K.A_CONSUMED, at[found]]
            used[keep_old] = np.minimum(prior, qty[keep_old])
        stay = ~np.isin(old_key, new_key)
        add = qty > 0
        self._set_alloc_arrays(
            np.concatenate([a[K.A_SKU, stay], np.asarray(skus, np.int64)[add].astype(np.int32)]),
            np.concatenate([a[K.A_CHANNEL, stay], np.asarray(chans, np.int64)[add].astype(np.int32)]),
            np.concatenate([a[K.A_QUANTITY, stay], qty[add].astype(np.int32)]),
            np.concatenate([a[K.A_CONSUMED, stay], used[add].astype(np.int32)]),
        )

    def consume_allocation(self, s: int, chan: int, quantity: int) -> int:
        """Count `quantity` sold or held by `chan` against its ring-fence; returns the part consumed."""
        g = self._g
        return int(K.consume_allocation(g.idx, g.alloc, s, chan, quantity))

    def release_allocation(self, s: int, chan: int, quantity: int) -> None:
        """Give back part of a channel's consumed ring-fence (a cancelled hold)."""
        g = self._g
        K.release_allocation(g.idx, g.alloc, s, chan, quantity)

    # ------------------------------------------------------------------ internals
    def _set_inbound_arrays(self, sku: Any, loc: Any, qty: Any, day: Any, typ: Any) -> None:
        st = self._state
        cols = [np.asarray(c, dtype=np.int32) for c in (sku, loc, qty, day, typ)]
        n = cols[0].shape[0]
        if any(c.shape[0] != n for c in cols):
            raise InvalidArgument("inbound", "columns", "inbound columns differ in length")
        if n and (int(cols[2].min()) < 0 or int(cols[4].min()) < 0 or int(cols[4].max()) >= len(InboundType)):
            raise InvalidArgument("inbound", "quantity/type", "quantities must be >= 0 and types known")
        order = np.lexsort((cols[3], cols[1], cols[0])) if n else np.zeros(0, np.int64)
        inb = np.zeros((5, n), dtype=np.int32)
        inb[K.I_LOC] = cols[1][order]
        inb[K.I_DAY] = cols[3][order]
        inb[K.I_QTY] = cols[2][order]
        inb[K.I_TYPE] = cols[4][order]
        inb[K.I_PROMISABLE] = _promisable(inb[K.I_QTY], inb[K.I_TYPE], st.network.config)
        self._swap(
            replace(st, gen=replace(st.gen, idx=_with_starts(st.gen.idx, K.INB, cols[0][order]), inb=inb))
        )

    def _set_alloc_arrays(self, sku: Any, chan: Any, qty: Any, consumed: Any) -> None:
        st = self._state
        cols = [np.asarray(c, dtype=np.int32) for c in (sku, chan, qty, consumed)]
        n = cols[0].shape[0]
        if any(c.shape[0] != n for c in cols):
            raise InvalidArgument("allocations", "columns", "allocation columns differ in length")
        order = np.lexsort((cols[1], cols[0])) if n else np.zeros(0, np.int64)
        alloc = np.zeros((4, n), dtype=np.int32)
        for r in range(4):
            alloc[r] = cols[r][order]
        self._swap(
            replace(
                st, gen=replace(st.gen, idx=_with_starts(st.gen.idx, K.ALLOC, alloc[K.A_SKU]), alloc=alloc)
            )
        )

    def _rebuild(self, extra: dict[int, int], extra_skus: int = 0) -> None:
        """A new generation with room for `extra[s]` more positions of SKU s and more SKUs."""
        st = self._state
        g = st.gen
        n_sku = len(st.skus)
        counts = g.idx[:n_sku, K.USED].copy()
        grown = counts.copy()
        for s, n in extra.items():
            grown[s] += n + max(n, int(counts[s]) // 4)  # a SKU that overflowed is likely to grow on
        spare = max(_spare(n_sku + extra_skus) + extra_skus, g.sku_capacity - n_sku + extra_skus)
        starts, caps = _layout(grown, spare)
        idx, pos = _new_index(starts, caps, counts)
        # inbound and ring-fence starts keep their values; SKUs past the old table have empty ranges
        old = g.idx.shape[0]
        for col in (K.INB, K.ALLOC):
            idx[:old, col] = g.idx[:, col]
            idx[old:, col] = g.idx[-1, col]
        K.move_slices(g.idx, g.pos, idx, pos, n_sku)
        self._swap(replace(st, gen=Generation(idx, pos, g.inb, g.alloc)))


def _sorted_unique_positions(
    sku: I32, loc: I32, on_hand: I32, safety: I32, n_loc: int
) -> tuple[I32, I32, I32, I32]:
    """The position columns sorted by (sku, location); a pair present twice is an error. Sorted input
    (what the generator and the loader produce) costs one comparison pass."""
    key = sku.astype(np.int64) * max(n_loc, 1) + loc
    if key.shape[0] > 1 and not bool(np.all(key[1:] > key[:-1])):
        order = np.argsort(key, kind="stable")
        key = key[order]
        sku, loc, on_hand, safety = sku[order], loc[order], on_hand[order], safety[order]
        del order
        dup = np.flatnonzero(key[1:] == key[:-1])
        if dup.shape[0]:
            k = int(dup[0])
            raise InvalidArgument("stock", (int(sku[k]), int(loc[k])), "a (sku, location) pair appears twice")
    return sku, loc, on_hand, safety


def _with_starts(idx: I64, col: int, sku_col: I32) -> I64:
    """A copy of idx whose column `col` holds CSR starts for entries sorted by SKU (a copy, not an
    in-place write: readers of the old generation must keep a matching index)."""
    out = idx.copy()
    counts = np.bincount(sku_col, minlength=idx.shape[0] - 1)[: idx.shape[0] - 1]
    out[0, col] = 0
    np.cumsum(counts, out=out[1:, col])
    return out


def _own_copy(ident: str) -> str:
    """A new string object with the same text. The store keeps its ids in allocations of its own: shared
    with the snapshot's Sku objects they pin half-empty allocator pools once the snapshot is dropped
    (measured: 0.37 bytes per position, 18 MB, at 50 million positions)."""
    return ident.encode().decode()


def _check_rows(table: str, sku: I32, loc: I32, n_sku: int, n_loc: int) -> None:
    if sku.shape[0] != loc.shape[0]:
        raise InvalidArgument(table, "columns", f"{table} columns differ in length")
    if sku.shape[0] == 0:
        return
    if int(sku.min()) < 0 or int(sku.max()) >= n_sku:
        raise InvalidArgument(f"{table}.sku", int(sku.max()), f"SKU indices must be in [0, {n_sku})")
    if int(loc.min()) < 0 or int(loc.max()) >= n_loc:
        raise InvalidArgument(
            f"{table}.location", int(loc.max()), f"location indices must be in [0, {n_loc})"
        )


def _promisable(qty: I32, typ: I32, config: AtpConfig) -> I32:
    share = np.array(config.inbound_share_bp, dtype=np.int64)
    out: I32 = ((qty.astype(np.int64) * share[typ]) // 10_000).astype(np.int32)
    return out
