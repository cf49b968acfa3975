"""The read model: stock positions in per-SKU CSR slices of columnar int32 arrays, updated in place.

Each SKU owns a contiguous slice of slots sorted by location, with a little slack at its end so that a
SKU appearing at a new location is inserted in place. When a slice (or the SKU table) is full, a new
generation of arrays is built and swapped in with one reference assignment: readers holding the old
generation finish on a consistent picture and never wait.

Writes come only from a ledger (the write model), which serialises them. Reads take no lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from . import _kernels as K
from .catalog import IdIndex
from .errors import InvalidArgument
from .locations import LocationTable, Scope
from .model import AtpConfig, InboundType, Method, Snapshot, Sku

NETWORK = Scope()

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


def _slack(counts: I64) -> I64:
    return 1 + counts // 32


@dataclass(frozen=True, slots=True)
class Generation:
    """One consistent set of arrays (see _kernels.py for the layout)."""

    idx: I64
    pos: I32
    explicit: U8
    inb: I32
    alloc: I32

    @property
    def sku_capacity(self) -> int:
        return int(self.idx.shape[1] - 1)

    def nbytes(self) -> int:
        return int(self.idx.nbytes + self.pos.nbytes + self.explicit.nbytes + self.inb.nbytes + self.alloc.nbytes)


@dataclass(frozen=True, slots=True)
class PositionView:
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    safety_explicit: bool
    inbound: tuple[tuple[int, int, InboundType, int], ...]  # (day, quantity, type, promisable)


def _layout(counts: I64, spare_skus: int) -> I64:
    """Slot boundaries for SKUs with these position counts, plus spare empty SKUs with slack."""
    caps = counts + _slack(counts)
    caps = np.concatenate([caps, np.full(spare_skus, 2, dtype=np.int64)])
    starts = np.zeros(caps.shape[0] + 1, dtype=np.int64)
    np.cumsum(caps, out=starts[1:])
    return starts


def _spare(n_skus: int) -> int:
    return max(64, n_skus // 8)


def _group_starts(keys: I64, n: int) -> I64:
    """CSR starts for sorted keys in [0, n)."""
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n)[:n], out=starts[1:])
    return starts


@dataclass(frozen=True, slots=True)
class _State:
    """Swapped as one reference, so a reader never pairs one snapshot's SKUs with another's arrays."""

    network: LocationTable
    skus: IdIndex
    sku_weights: list[int | None]
    gen: Generation


class StockStore:
    def __init__(self, network: LocationTable, skus: Sequence[Sku], gen: Generation, sequence: int = 0) -> None:
        self._state = _State(
            network, IdIndex("sku", (s.id for s in skus)), [s.unit_weight_g for s in skus], gen
        )
        self.sequence = sequence

    @property
    def _g(self) -> Generation:
        return self._state.gen

    @_g.setter
    def _g(self, gen: Generation) -> None:
        self._state = replace(self._state, gen=gen)

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
        self._state = other._state
        self.sequence = max(self.sequence, other.sequence)

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, network: LocationTable) -> StockStore:
        return cls.from_snapshot(Snapshot(list(network.locations), list(network.channel_list), [], list(network.group_list)))

    @classmethod
    def from_snapshot(cls, snap: Snapshot, config: AtpConfig | None = None, sequence: int = 0) -> StockStore:
        network = LocationTable(snap.locations, snap.channels, snap.groups, config)
        n_sku = len(snap.skus)
        n_loc = len(network)
        sku = snap.stock_sku.astype(np.int64)
        loc = snap.stock_loc.astype(np.int64)
        on_hand = snap.stock_on_hand
        safety = snap.stock_safety
        # Inbound to a location without stock still needs a position to be promised from.
        if snap.inbound_sku.shape[0]:
            ikey = np.unique(snap.inbound_sku.astype(np.int64) * n_loc + snap.inbound_loc)
            skey = sku * n_loc + loc
            new = np.setdiff1d(ikey, skey, assume_unique=False)
            if new.shape[0]:
                sku = np.concatenate([sku, new // n_loc])
                loc = np.concatenate([loc, new % n_loc])
                on_hand = np.concatenate([on_hand, np.zeros(new.shape[0], dtype=np.int32)])
                safety = np.concatenate([safety, np.full(new.shape[0], -1, dtype=np.int32)])
        key = sku * max(n_loc, 1) + loc
        if key.shape[0] > 1 and not bool(np.all(key[1:] > key[:-1])):
            order = np.argsort(key, kind="stable")
            key = key[order]
            sku, loc, on_hand, safety = sku[order], loc[order], on_hand[order], safety[order]
            del order
        if key.shape[0] > 1 and bool(np.any(key[1:] == key[:-1])):
            raise InvalidArgument("stock", "duplicate", "a (sku, location) pair appears twice")
        del key
        counts = np.bincount(sku, minlength=n_sku).astype(np.int64) if n_sku else np.zeros(0, np.int64)
        starts = _layout(counts, _spare(n_sku))
        s_cap = starts.shape[0] - 1
        idx = np.zeros((4, s_cap + 1), dtype=np.int64)
        idx[0] = starts
        idx[1, :n_sku] = counts
        n_slots = int(starts[-1])
        pos = np.zeros((4, n_slots), dtype=np.int32)
        explicit = np.zeros(n_slots, dtype=np.uint8)
        used_start = np.zeros(n_sku, dtype=np.int64)
        if n_sku:
            np.cumsum(counts[:-1], out=used_start[1:])
        dest = np.repeat(starts[:n_sku] - used_start, counts) + np.arange(sku.shape[0], dtype=np.int64)
        pos[K.LOC, dest] = loc
        pos[K.ON_HAND, dest] = on_hand
        pos[K.RESERVED, dest] = 0
        has = safety >= 0
        explicit[dest] = has
        pos[K.SAFETY, dest] = np.where(has, safety, network.default_safety[loc] if n_loc else 0)
        del dest, sku, loc, on_hand, safety, has
        gen = Generation(idx, pos, explicit, np.zeros((5, 0), np.int32), np.zeros((3, 0), np.int32))
        store = cls(network, snap.skus, gen, sequence)
        store._set_inbound_arrays(snap.inbound_sku, snap.inbound_loc, snap.inbound_qty, snap.inbound_day, snap.inbound_type)
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
        return int(self._g.idx[1, : len(self.skus)].sum())

    def nbytes(self) -> int:
        return self._g.nbytes()

    # ------------------------------------------------------------------ reads (lock-free)
    def atp(self, s: int, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1) -> int:
        """ATP of SKU index s for a channel index and method over a scope; 0 for an unknown index."""
        st = self._state
        g = st.gen
        if not 0 <= s < g.sku_capacity:
            return 0
        mask = st.network.mask(chan, method, scope)
        return int(K.sku_atp(g.idx, g.pos, g.inb, g.alloc, mask, s, chan, day))

    def atp_many(self, skus: I64, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1) -> I64:
        st = self._state
        g = st.gen
        mask = st.network.mask(chan, method, scope)
        out = np.empty(skus.shape[0], dtype=np.int64)
        K.many_skus_atp(g.idx, g.pos, g.inb, g.alloc, mask, skus, chan, day, out)
        return out

    def atp_by_location(
        self, s: int, chan: int, method: Method, scope: Scope = NETWORK, day: int = -1
    ) -> tuple[I32, I64]:
        """(location indices, ATP) at every in-scope eligible location where SKU s has a position."""
        st = self._state
        g = st.gen
        if not 0 <= s < g.sku_capacity:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        mask = st.network.mask(chan, method, scope)
        n = int(g.idx[1, s])
        locs = np.empty(n, dtype=np.int32)
        qty = np.empty(n, dtype=np.int64)
        k = K.sku_atp_by_location(g.idx, g.pos, g.inb, g.alloc, mask, s, chan, day, locs, qty)
        return locs[:k], qty[:k]

    def slot(self, s: int, loc: int) -> int:
        g = self._g
        if s < 0 or s >= len(self.skus):
            return -1
        return int(K.find_slot(g.idx, g.pos, s, loc))

    def position(self, s: int, loc: int) -> PositionView | None:
        g = self._g
        p = self.slot(s, loc)
        if p < 0:
            return None
        inbound = []
        for j in range(int(g.idx[2, s]), int(g.idx[2, s + 1])):
            if g.inb[0, j] == loc:
                inbound.append((int(g.inb[1, j]), int(g.inb[2, j]), InboundType(int(g.inb[3, j])), int(g.inb[4, j])))
        return PositionView(
            sku=self.skus.id(s),
            location=self._network.index.id(loc),
            on_hand=int(g.pos[K.ON_HAND, p]),
            reserved=int(g.pos[K.RESERVED, p]),
            safety_stock=int(g.pos[K.SAFETY, p]),
            safety_explicit=bool(g.explicit[p]),
            inbound=tuple(inbound),
        )

    def sku_locations(self, s: int) -> I32:
        g = self._g
        a = int(g.idx[0, s])
        return g.pos[K.LOC, a : a + int(g.idx[1, s])].copy()

    def allocations(self, s: int) -> list[tuple[int, int, int]]:
        """(channel index, quantity, consumed) ring-fences of SKU s."""
        g = self._g
        return [
            (int(g.alloc[0, k]), int(g.alloc[1, k]), int(g.alloc[2, k]))
            for k in range(int(g.idx[3, s]), int(g.idx[3, s + 1]))
        ]

    def totals(self) -> tuple[int, int]:
        """(sum of on hand, sum of reserved) over every position: for invariant checks."""
        g = self._g
        oh = 0
        rs = 0
        for s in range(len(self.skus)):
            a = int(g.idx[0, s])
            b = a + int(g.idx[1, s])
            oh += int(g.pos[K.ON_HAND, a:b].sum())
            rs += int(g.pos[K.RESERVED, a:b].sum())
        return oh, rs

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
        g = self._g
        slots = np.empty(skus.shape[0], dtype=np.int64)
        missing = K.find_slots(g.idx, g.pos, skus, locs, slots)
        if missing == 0:
            return slots
        miss = np.flatnonzero(slots < 0)
        need: dict[int, set[int]] = {}
        for k in miss:
            need.setdefault(int(skus[k]), set()).add(int(locs[k]))
        default = self._network.default_safety
        pending: list[tuple[int, int]] = []
        for s, ls in need.items():
            for loc in sorted(ls):
                if int(K.insert_slot(g.idx, g.pos, s, loc, int(default[loc]))) < 0:
                    pending.append((s, loc))
        if pending:
            extra: dict[int, int] = {}
            for s, _ in pending:
                extra[s] = extra.get(s, 0) + 1
            self._rebuild(extra)
            g = self._g
            for s, loc in pending:
                if int(K.insert_slot(g.idx, g.pos, s, loc, int(default[loc]))) < 0:
                    raise AssertionError("rebuild left no slack")  # pragma: no cover
        K.find_slots(g.idx, g.pos, skus, locs, slots)
        return slots

    def apply_deltas(self, slots: I64, d_on_hand: I64, d_reserved: I64, sequence: int) -> None:
        K.apply_deltas(self._g.pos, slots, d_on_hand, d_reserved)
        self.sequence = sequence

    def set_safety(self, slot: int, value: int | None) -> None:
        g = self._g
        if value is None:
            g.explicit[slot] = 0
            g.pos[K.SAFETY, slot] = self._network.default_safety[g.pos[K.LOC, slot]]
        else:
            g.explicit[slot] = 1
            g.pos[K.SAFETY, slot] = value

    def set_network(self, network: LocationTable) -> None:
        """Swap in a new location table (upserts, config); re-derive default safety stock."""
        if len(network) < len(self._network):
            raise InvalidArgument("locations", len(network), "locations can be disabled, never removed")
        self._state = replace(self._state, network=network)
        g = self._g
        K.reset_default_safety(g.idx, g.pos, g.explicit, network.default_safety)

    def set_allocation(self, s: int, chan: int, quantity: int, consumed: int | None = None) -> None:
        """Set (or, with quantity 0 and nothing consumed, remove) the ring-fence of SKU s for a channel."""
        rows = [(ss, c, q, u) for ss, c, q, u in self._alloc_rows() if not (ss == s and c == chan)]
        old = [a for a in self.allocations(s) if a[0] == chan]
        used = consumed if consumed is not None else (min(old[0][2], quantity) if old else 0)
        if quantity > 0:
            rows.append((s, chan, quantity, used))
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        self._set_alloc_arrays(
            arr[:, 0].astype(np.int32), arr[:, 1].astype(np.int32), arr[:, 2].astype(np.int32), arr[:, 3].astype(np.int32)
        )

    def consume_allocation(self, s: int, chan: int, quantity: int) -> int:
        """Count `quantity` sold or held by `chan` against its ring-fence; returns the part consumed."""
        g = self._g
        for k in range(int(g.idx[3, s]), int(g.idx[3, s + 1])):
            if g.alloc[0, k] == chan:
                room = int(g.alloc[1, k] - g.alloc[2, k])
                take = max(0, min(room, quantity))
                g.alloc[2, k] += take
                return take
        return 0

    def release_allocation(self, s: int, chan: int, quantity: int) -> None:
        """Give back part of a channel's consumed ring-fence (a cancelled hold)."""
        g = self._g
        for k in range(int(g.idx[3, s]), int(g.idx[3, s + 1])):
            if g.alloc[0, k] == chan:
                g.alloc[2, k] = max(0, int(g.alloc[2, k]) - quantity)
                return

    # ------------------------------------------------------------------ internals
    def _alloc_rows(self) -> list[tuple[int, int, int, int]]:
        g = self._g
        out = []
        for s in range(len(self.skus)):
            for k in range(int(g.idx[3, s]), int(g.idx[3, s + 1])):
                out.append((s, int(g.alloc[0, k]), int(g.alloc[1, k]), int(g.alloc[2, k])))
        return out

    def _set_inbound_arrays(self, sku: I32, loc: I32, qty: I32, day: I32, typ: I32) -> None:
        g = self._g
        n = sku.shape[0]
        order = np.lexsort((day, loc, sku)) if n else np.zeros(0, np.int64)
        inb = np.zeros((5, n), dtype=np.int32)
        inb[0] = loc[order]
        inb[1] = day[order]
        inb[2] = qty[order]
        inb[3] = typ[order]
        share = np.array(self._network.config.inbound_share_bp, dtype=np.int64)
        inb[4] = (inb[2].astype(np.int64) * share[inb[3]]) // 10_000
        idx = g.idx.copy()
        starts = _group_starts(sku[order].astype(np.int64), g.sku_capacity)
        idx[2] = starts
        self._g = replace(g, idx=idx, inb=inb)

    def _set_alloc_arrays(self, sku: I32, chan: I32, qty: I32, consumed: I32) -> None:
        g = self._g
        n = sku.shape[0]
        order = np.lexsort((chan, sku)) if n else np.zeros(0, np.int64)
        alloc = np.zeros((3, n), dtype=np.int32)
        alloc[0] = chan[order]
        alloc[1] = qty[order]
        alloc[2] = consumed[order]
        idx = g.idx.copy()
        idx[3] = _group_starts(sku[order].astype(np.int64), g.sku_capacity)
        self._g = replace(g, idx=idx, alloc=alloc)

    def inbound_rows(self) -> tuple[I32, I32, I32, I32, I32]:
        g = self._g
        sku = np.repeat(np.arange(g.sku_capacity, dtype=np.int32), np.diff(g.idx[2]).astype(np.int64))
        return sku, g.inb[0].copy(), g.inb[2].copy(), g.inb[1].copy(), g.inb[3].copy()

    def _rebuild(self, extra: dict[int, int], extra_skus: int = 0) -> None:
        """A new generation with room for `extra[s]` more positions of SKU s and more SKUs."""
        g = self._g
        n_sku = len(self.skus)
        counts = g.idx[1, :n_sku].copy()
        grown = counts.copy()
        for s, n in extra.items():
            grown[s] += n
        n_target = n_sku + extra_skus
        spare = max(_spare(n_target) + extra_skus, g.sku_capacity - n_sku + extra_skus)
        starts = _layout(grown, spare)
        s_cap = starts.shape[0] - 1
        idx = np.zeros((4, s_cap + 1), dtype=np.int64)
        idx[0] = starts
        idx[1, :n_sku] = counts
        n_slots = int(starts[-1])
        pos = np.zeros((4, n_slots), dtype=np.int32)
        explicit = np.zeros(n_slots, dtype=np.uint8)
        used_start = np.zeros(n_sku, dtype=np.int64)
        if n_sku:
            np.cumsum(counts[:-1], out=used_start[1:])
        total = int(counts.sum())
        ar = np.arange(total, dtype=np.int64)
        src = np.repeat(g.idx[0, :n_sku] - used_start, counts) + ar
        dst = np.repeat(starts[:n_sku] - used_start, counts) + ar
        pos[:, dst] = g.pos[:, src]
        explicit[dst] = g.explicit[src]
        # inbound and allocation starts keep their values for existing SKUs, flat after them
        for row in (2, 3):
            old = g.idx[row]
            idx[row, : old.shape[0]] = old
            idx[row, old.shape[0] :] = old[-1]
        self._g = Generation(idx, pos, explicit, g.inb, g.alloc)
