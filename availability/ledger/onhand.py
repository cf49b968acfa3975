"""What every position's on hand should be, recomputed from a base and the changes the ledger applied
since: the on-hand half of the embedded ledger's reconcile.

The base is the on hand of every position at one moment: the newest checkpoint of the state directory
(read from its files when a reconcile asks, so it costs no memory), or, without a state directory, a
copy taken when the ledger was made or a snapshot loaded (12 bytes a position). The changes are every
applied stock event's delta and every fulfilment, recorded by the ledger as it applies them, in order,
in numpy chunks folded together now and then (memory grows with the positions touched, not the events).

A cycle count is recorded as what it set on hand to, not as its delta: a count is the new truth for its
position (a drift before it is gone once the shelf has been counted), so it re-bases the expectation.
A repair is recorded the same way. Rows are grouped in epochs, one per journal segment, so that when a
checkpoint becomes the new base the changes it already contains are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .. import _kernels as K

I64 = npt.NDArray[np.int64]
KEY = 1 << 20  # position key = sku * KEY + location (the ledger's own key)
NOT_SET = np.iinfo(np.int64).min  # a row that adds its delta rather than setting a value
_FOLD_AT = 1 << 20  # pending rows folded once there are this many (and twice the folded ones)

I32 = npt.NDArray[np.int32]
BaseTable = tuple[I64, I32]  # (sorted keys, on hand) of every position: 12 bytes a position
# the base and the first epoch it does not contain (the changes of earlier epochs are in it already)
BaseLoader = Callable[[], tuple[BaseTable, int]]


def position_table(idx: npt.NDArray[np.int64], pos: npt.NDArray[np.int32], n_sku: int) -> BaseTable:
    """(key, on hand) of every position of the first n_sku SKUs, sorted by key: each SKU's slice is
    sorted by location, and SKUs come in index order."""
    starts = idx[:n_sku, K.START]
    used = idx[:n_sku, K.USED]
    total = int(used.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    first = np.cumsum(used) - used
    slot = np.repeat(starts - first, used) + np.arange(total, dtype=np.int64)
    sku = np.repeat(np.arange(n_sku, dtype=np.int64), used)
    keys = sku * KEY + pos[K.LOC, slot].astype(np.int64)
    on_hand: I32 = pos[K.ON_HAND, slot]  # int32, as in the arrays
    return keys, on_hand


def _fold(keys: I64, delta: I64, set_to: I64) -> tuple[I64, I64, npt.NDArray[np.bool_]]:
    """Rows in application order -> per key (sorted): the net change, and whether it is absolute (the
    last set value plus the deltas after it) or relative to the base (the sum of the deltas)."""
    n = keys.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.bool_)
    order = np.argsort(keys, kind="stable")  # by key, application order within a key
    k, d, s = keys[order], delta[order], set_to[order]
    start = np.ones(n, np.bool_)
    start[1:] = k[1:] != k[:-1]
    starts = np.flatnonzero(start)
    ends = np.append(starts[1:], n) - 1
    group = np.cumsum(start) - 1
    row = np.arange(n)
    is_set = s != NOT_SET
    last = np.maximum.accumulate(np.where(is_set, row, -1))[ends]
    last = np.where(last >= starts, last, -1)  # a set in an earlier key's group does not count
    after = row > last[group]
    sums = np.add.reduceat(np.where(after, d, 0), starts)
    absolute = last >= 0
    value = sums + np.where(absolute, s[np.maximum(last, 0)], 0)
    return k[starts], value, absolute


@dataclass(slots=True)
class _Epoch:
    number: int
    keys: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    value: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    absolute: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))
    pending: list[tuple[I64, I64, I64]] = field(default_factory=list)
    pending_rows: int = 0

    def rows(self) -> tuple[I64, I64, I64]:
        """The folded part as rows (absolute ones as sets), then the pending rows, in order."""
        keys = [self.keys, *(p[0] for p in self.pending)]
        delta = [np.where(self.absolute, 0, self.value), *(p[1] for p in self.pending)]
        set_to = [np.where(self.absolute, self.value, NOT_SET), *(p[2] for p in self.pending)]
        return np.concatenate(keys), np.concatenate(delta), np.concatenate(set_to)

    def fold(self) -> None:
        self.keys, self.value, self.absolute = _fold(*self.rows())
        self.pending = []
        self.pending_rows = 0


@dataclass(frozen=True, slots=True)
class OnHandDrift:
    """Positions whose on hand differs from base + applied changes (keys sorted)."""

    keys: I64
    expected: I64
    found: I64
    missing: npt.NDArray[np.bool_]  # the position does not exist any more (found is then 0)
    checked: int


class OnHandAudit:
    """The ledger's own record of applied on-hand changes since a base (see the module docstring).
    Callers serialise (the ledger's lock)."""

    def __init__(self, base: BaseLoader, epoch: int = 0) -> None:
        self._base = base
        self._epochs = [_Epoch(epoch)]

    @classmethod
    def in_memory(cls, table: BaseTable) -> OnHandAudit:
        """An audit whose base is `table`, held in memory (no state directory)."""
        audit = cls(lambda: (table, 0), 0)
        return audit

    def record(self, keys: I64, delta: I64, set_to: I64 | None = None) -> None:
        """Applied changes in order; set_to[i] != NOT_SET makes row i absolute."""
        if keys.shape[0] == 0:
            return
        ep = self._epochs[-1]
        st = np.full(keys.shape[0], NOT_SET, np.int64) if set_to is None else set_to.astype(np.int64)
        ep.pending.append((keys.astype(np.int64), delta.astype(np.int64), st))
        ep.pending_rows += keys.shape[0]
        if ep.pending_rows >= max(_FOLD_AT, 2 * ep.keys.shape[0]):
            ep.fold()

    def record_events(self, keys: I64, delta: I64, is_count: npt.NDArray[np.bool_], on_hand_after: I64) -> None:
        """Applied stock events in order. A count's row is absolute: what the count set on hand to, which
        is the position's on hand after the batch minus the deltas applied after the count in the batch."""
        if not is_count.any():
            self.record(keys, delta)
            return
        n = keys.shape[0]
        order = np.argsort(keys, kind="stable")
        k, d = keys[order], delta[order]
        start = np.ones(n, np.bool_)
        start[1:] = k[1:] != k[:-1]
        starts = np.flatnonzero(start)
        ends = np.append(starts[1:], n) - 1
        group = np.cumsum(start) - 1
        csum = np.cumsum(d)
        # deltas strictly after each row within its key: the group's last running sum minus this row's
        later_sorted = csum[ends][group] - csum
        later = np.empty(n, np.int64)
        later[order] = later_sorted
        set_to = np.where(is_count, on_hand_after - later, NOT_SET)
        self.record(keys, delta, set_to)

    def start_epoch(self, number: int) -> None:
        """Changes from now on belong to `number` (a new journal segment; no-op if it is the current)."""
        if self._epochs[-1].number != number:
            self._epochs.append(_Epoch(number))

    def drop_before(self, first_epoch: int) -> None:
        """Forget the changes of epochs before `first_epoch`: the base now holds them."""
        kept = [e for e in self._epochs if e.number >= first_epoch]
        self._epochs = kept or [_Epoch(first_epoch)]

    def reset(self, table: BaseTable) -> None:
        """`table` is the new base and nothing was applied since (a snapshot load, no state directory)."""
        number = self._epochs[-1].number + 1
        self._epochs = [_Epoch(number)]
        self._base = lambda: (table, number)

    def changes(self) -> tuple[I64, I64, npt.NDArray[np.bool_]]:
        """(keys, value, absolute) of every change since the base, folded."""
        parts = [e.rows() for e in self._epochs]
        return _fold(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def check(self, keys: I64, on_hand: I32, sku_filter: I64 | None = None) -> OnHandDrift:
        """Compare the current positions (sorted keys and their on hand) with base + changes; only the
        SKU indices in `sku_filter` when given."""
        (base_keys, base_oh), first_epoch = self._base()
        self.drop_before(first_epoch)
        ch_keys, ch_val, ch_abs = self.changes()
        if sku_filter is not None:
            keep = np.unique(sku_filter)

            def only(k: I64) -> npt.NDArray[np.bool_]:
                return np.isin(k // KEY, keep)

            m = only(keys)
            keys, on_hand = keys[m], on_hand[m]
            m = only(base_keys)
            base_keys, base_oh = base_keys[m], base_oh[m]
            m = only(ch_keys)
            ch_keys, ch_val, ch_abs = ch_keys[m], ch_val[m], ch_abs[m]
        every = np.union1d(np.union1d(keys, base_keys), ch_keys)
        expected = _gather(base_keys, base_oh, every)
        at = np.searchsorted(every, ch_keys)
        expected[at] = np.where(ch_abs, ch_val, expected[at] + ch_val)
        found = _gather(keys, on_hand, every)
        present = np.zeros(every.shape[0], np.bool_)
        present[np.searchsorted(every, keys)] = True
        bad = expected != found
        return OnHandDrift(every[bad], expected[bad], found[bad], ~present[bad], int(keys.shape[0]))


def _gather(keys: I64, values: I32, query: I64) -> I64:
    """values at `query` keys (0 where a key is absent); keys sorted."""
    out = np.zeros(query.shape[0], np.int64)
    if keys.shape[0] == 0:
        return out
    at = np.searchsorted(keys, query)
    ok = at < keys.shape[0]
    ok[ok] = keys[at[ok]] == query[ok]
    out[ok] = values[at[ok]]
    return out
