"""numba kernels over the read model's arrays. Private: use the typed functions of store.py, atp.py and
ledger/memory.py.

Array layout (see store.py):
  idx   int64[S+1, 5]  per SKU s: START first slot of its position slice, USED slots in use (positions
                       sorted by location), INB first inbound entry, ALLOC first ring-fence entry (both end
                       at the next SKU's value), CAP slots the slice may use. One row per SKU, so a random
                       SKU costs about one cache line of index. The last row's START is the first free slot
                       of the spare tail of pos: a full slice moves there with 1.5x its room (leaving a gap
                       until the next rebuild), so a SKU appearing at new locations never stalls the store.
  pos   int32[4, N]    rows LOC, ON_HAND, FREE (= on hand - reserved), SAFETY per position slot. ATP reads
                       LOC, FREE and SAFETY only: a quarter less memory traffic than reading on hand and
                       reserved (reserved is on hand - FREE when asked for). SAFETY < 0 means "the
                       location's default", which the query mask carries (so a location upsert or a new
                       default is one reference swap, never a pass over the positions)
  inb   int32[5, M]    rows LOC, DAY, QTY, TYPE, PROMISABLE per inbound entry, sorted by (SKU, LOC, DAY); the
                       SKU of an entry is implied by idx's INB column
  alloc int32[4, K]    rows SKU, CHANNEL, QUANTITY, CONSUMED per (SKU, channel) ring-fence, sorted
  mask  int64[L+G+1]   per location: bit 0 in the query's scope and eligible; bit 1 enabled (counted for
                       network headroom); bits 2.. the location's default safety stock. Then one word per
                       hold group g at index L+G-1-g (GROUP_WORD, and CONTAINED when the whole group lies
                       in the scope), then a zero sentinel. A location newer than the mask reads a group
                       word or the sentinel: neither has bit 0 or 1, so it is never counted.
  holds                group and network holds are rows of alloc with CHANNEL = -1 - g (g: hold group),
                       QUANTITY = units held, CONSUMED = 0: every channel's headroom loses them, and a
                       scope loses those whose group it contains

Kernels hold the GIL on purpose: each kernel call is then atomic with respect to Python reader threads,
so readers never see a half-applied batch and never take a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit

# pos rows
LOC = 0
ON_HAND = 1
FREE = 2  # on hand - reserved
SAFETY = 3
# idx columns
START = 0
USED = 1
INB = 2
ALLOC = 3
CAP = 4
# inb rows
I_LOC = 0
I_DAY = 1
I_QTY = 2
I_TYPE = 3
I_PROMISABLE = 4
# alloc rows
A_SKU = 0
A_CHANNEL = 1
A_QUANTITY = 2
A_CONSUMED = 3
# mask bits
IN_SCOPE = 1
ENABLED = 2
SAFETY_SHIFT = 2
# group words of the mask (between the location words and the sentinel): a marker bit that no location
# word has, and whether the hold group lies wholly inside the query's scope
GROUP_WORD = 1 << 62
CONTAINED = 1 << 61
GROUP_CONTAINED = GROUP_WORD | CONTAINED

NO_DAY = -(2**31)  # "no as-of date": no inbound entry is due


# ---------------------------------------------------------------------------------------------- reads
@njit(cache=True)
def _other_channels_ring_fenced(idx: np.ndarray, alloc: np.ndarray, s: int, chan: int) -> int:
    other = 0
    for k in range(idx[s, ALLOC], idx[s + 1, ALLOC]):
        if alloc[A_CHANNEL, k] != chan:
            rem = int(alloc[A_QUANTITY, k]) - int(alloc[A_CONSUMED, k])
            if rem > 0:
                other += rem
    return other


@njit(cache=True)
def _fences_and_holds(idx: np.ndarray, alloc: np.ndarray, mask: np.ndarray, s: int, chan: int) -> tuple[int, int]:
    """(other channels' unconsumed ring-fences plus every group hold, the group holds whose whole group
    lies inside the query's scope). Group holds are ring-fence rows with channel -1 - g; the mask's
    group words (counted back from the sentinel) say which hold groups the scope contains."""
    other = 0
    inside = 0
    last = mask.shape[0] - 1
    for k in range(idx[s, ALLOC], idx[s + 1, ALLOC]):
        c = alloc[A_CHANNEL, k]
        if c != chan:
            rem = int(alloc[A_QUANTITY, k]) - int(alloc[A_CONSUMED, k])
            if rem > 0:
                other += rem
                if c < 0:
                    w = last + c  # last - 1 - g with g = -1 - c
                    if w >= 0 and (mask[w] & GROUP_CONTAINED) == GROUP_CONTAINED:
                        inside += rem
    return other, inside


@njit(cache=True)
def _free_at(pos: np.ndarray, mask: np.ndarray, i: int) -> tuple[int, int]:
    """(free stock of slot i before inbound, its location's mask word)."""
    li = int(pos[LOC, i])
    last = mask.shape[0] - 1
    m = mask[li if li < last else last]
    d = int(pos[SAFETY, i])
    if d < 0:
        d = m >> SAFETY_SHIFT
    return int(pos[FREE, i]) - d, m


@njit(cache=True)
def _scope_free(pos: np.ndarray, mask: np.ndarray, a: int, n: int) -> int:
    """Free stock of the slice summed over in-scope locations, each floored at zero. This is the hot
    loop: slices first so the body is plain loads, and branch-free so LLVM vectorises it."""
    if n == 0:
        return 0
    loc = pos[LOC, a : a + n]
    if loc[n - 1] >= mask.shape[0] - 1:
        # a location newer than the mask (slices are sorted, so the last is the largest): the checked
        # loop. A bounds test inside this loop would stop it vectorising (2x slower).
        return _scope_and_network_free_checked(pos, mask, a, n)[0]
    fr = pos[FREE, a : a + n]
    sf = pos[SAFETY, a : a + n]
    total = 0
    for i in range(n):
        m = mask[loc[i]]
        d = int(sf[i])
        d = d if d >= 0 else m >> SAFETY_SHIFT
        f = int(fr[i]) - d
        f = f if f > 0 else 0
        total += f & -(m & IN_SCOPE)
    return total


@njit(cache=True)
def _scope_and_network_free(pos: np.ndarray, mask: np.ndarray, a: int, n: int) -> tuple[int, int]:
    """(free stock in scope, free stock at enabled locations) of the slice: the loop of SKUs with other
    channels' ring-fences, vectorised like _scope_free."""
    if n == 0:
        return 0, 0
    loc = pos[LOC, a : a + n]
    if loc[n - 1] >= mask.shape[0] - 1:
        return _scope_and_network_free_checked(pos, mask, a, n)
    fr = pos[FREE, a : a + n]
    sf = pos[SAFETY, a : a + n]
    scope = 0
    net = 0
    for i in range(n):
        m = mask[loc[i]]
        d = int(sf[i])
        d = d if d >= 0 else m >> SAFETY_SHIFT
        f = int(fr[i]) - d
        f = f if f > 0 else 0
        scope += f & -(m & IN_SCOPE)
        net += f & -((m >> 1) & 1)
    return scope, net


@njit(cache=True)
def _scope_and_network_free_checked(pos: np.ndarray, mask: np.ndarray, a: int, n: int) -> tuple[int, int]:
    """The same sums, bounds-checked per position (some location is newer than the mask)."""
    scope = 0
    net = 0
    for i in range(a, a + n):
        f, m = _free_at(pos, mask, i)
        if f > 0:
            scope += f & -(m & IN_SCOPE)
            net += f & -((m >> 1) & 1)
    return scope, net


@njit(cache=True)
def _inbound_due(inb: np.ndarray, j: int, hi: int, loc: int, day: int) -> tuple[int, int]:
    """Promisable inbound of `loc` due by `day`, walking the SKU's entries from j; returns (sum, next j)."""
    add = 0
    while j < hi and inb[I_LOC, j] < loc:
        j += 1
    while j < hi and inb[I_LOC, j] == loc:
        if inb[I_DAY, j] <= day:
            add += int(inb[I_PROMISABLE, j])
        j += 1
    return add, j


@njit(cache=True)
def _scope_and_network_free_inbound(
    pos: np.ndarray, inb: np.ndarray, mask: np.ndarray, a: int, n: int, lo: int, hi: int, day: int
) -> tuple[int, int]:
    scope = 0
    net = 0
    j = lo
    for i in range(a, a + n):
        f, m = _free_at(pos, mask, i)
        add, j = _inbound_due(inb, j, hi, pos[LOC, i], day)
        f += add
        if f > 0:
            if m & IN_SCOPE:
                scope += f
            if m & ENABLED:
                net += f
    return scope, net


@njit(cache=True)
def _cap(scope: int, net: int, other: int) -> int:
    head = net - other
    if head < 0:
        head = 0
    return scope if scope < head else head


@njit(cache=True)
def sku_atp(
    idx: np.ndarray,
    pos: np.ndarray,
    inb: np.ndarray,
    alloc: np.ndarray,
    mask: np.ndarray,
    s: int,
    chan: int,
    day: int,
) -> int:
    """ATP of SKU s for a channel over the scope in `mask` (0 for an index outside the table): the scope's
    free stock, capped by what the network can give this channel once other channels' unconsumed
    ring-fences and every group hold are kept back; holds on groups inside the scope come off the scope's
    own sum too. `day` < 0 counts on-hand stock only."""
    if s < 0 or s >= idx.shape[0] - 1:
        return 0
    a = idx[s, START]
    n = idx[s, USED]
    other, inside = _fences_and_holds(idx, alloc, mask, s, chan)
    if day >= 0:
        lo = idx[s, INB]
        hi = idx[s + 1, INB]
        if lo < hi:
            scope, net = _scope_and_network_free_inbound(pos, inb, mask, a, n, lo, hi, day)
            return scope if other == 0 else _cap(max(scope - inside, 0), net, other)
    if other == 0:
        return _scope_free(pos, mask, a, n)
    scope, net = _scope_and_network_free(pos, mask, a, n)
    return _cap(max(scope - inside, 0), net, other)


@njit(cache=True)
def _touch_index(idx: np.ndarray, skus: np.ndarray, k0: int, k1: int) -> int:
    sink = 0
    cap = idx.shape[0] - 1
    for k in range(k0, k1):
        s = skus[k]
        if 0 <= s < cap:
            # the next row too: a SKU's ranges end at the next SKU's starts
            sink += idx[s, START] + idx[s + 1, ALLOC]
    return sink


@njit(cache=True)
def _touch_slices(idx: np.ndarray, pos: np.ndarray, skus: np.ndarray, k0: int, k1: int) -> int:
    """Load one word per cache line of every row of these SKUs' slices: the loads are independent, so
    the memory system fetches them in parallel instead of one SKU's lines at a time."""
    sink = 0
    cap = idx.shape[0] - 1
    for k in range(k0, k1):
        s = skus[k]
        if 0 <= s < cap:
            a = idx[s, START]
            for i in range(a, a + idx[s, USED], 16):
                sink += pos[LOC, i] + pos[FREE, i] + pos[SAFETY, i]
    return sink


_GROUP = 8  # SKUs per pipeline stage (measured: 8 beats 16 and 32 on the 50M-position store)


@njit(cache=True)
def many_skus_atp(
    idx: np.ndarray,
    pos: np.ndarray,
    inb: np.ndarray,
    alloc: np.ndarray,
    mask: np.ndarray,
    skus: np.ndarray,
    chan: int,
    day: int,
    out: np.ndarray,
) -> int:
    """out[k] = ATP of skus[k]; unknown SKUs (index -1) answer 0. Random SKUs of a big store are memory
    bound, so the loop is a software pipeline: index rows two groups ahead, slices one group ahead,
    sums for the current group (3.4 ms instead of 6.9 ms for 10,000 SKUs at 50M positions). Returns a
    checksum of the touched words, only so that the touching loads are not optimised away."""
    n = skus.shape[0]
    sink = _touch_index(idx, skus, 0, min(2 * _GROUP, n))
    sink += _touch_slices(idx, pos, skus, 0, min(_GROUP, n))
    for g0 in range(0, n, _GROUP):
        g1 = min(g0 + _GROUP, n)
        sink += _touch_index(idx, skus, min(g1 + _GROUP, n), min(g1 + 2 * _GROUP, n))
        sink += _touch_slices(idx, pos, skus, g1, min(g1 + _GROUP, n))
        for k in range(g0, g1):
            out[k] = sku_atp(idx, pos, inb, alloc, mask, skus[k], chan, day)
    return sink


@njit(cache=True)
def sku_atp_by_location(
    idx: np.ndarray,
    pos: np.ndarray,
    inb: np.ndarray,
    alloc: np.ndarray,
    mask: np.ndarray,
    s: int,
    chan: int,
    day: int,
    out_loc: np.ndarray,
    out_qty: np.ndarray,
) -> int:
    """Per-location ATP of SKU s at every in-scope location that holds a position; returns the count
    written. Each location is capped by the channel's network headroom (ring-fences of other channels).
    The outputs must hold the slice's capacity, not its used count: a writer may insert between the
    caller's sizing and this call."""
    if s < 0 or s >= idx.shape[0] - 1:
        return 0
    a = idx[s, START]
    n = idx[s, USED]
    lo = 0
    hi = 0
    if day >= 0:
        lo = idx[s, INB]
        hi = idx[s + 1, INB]
    other = _other_channels_ring_fenced(idx, alloc, s, chan)
    head = -1
    if other > 0:
        if lo < hi:
            net = _scope_and_network_free_inbound(pos, inb, mask, a, n, lo, hi, day)[1]
        else:
            net = _scope_and_network_free(pos, mask, a, n)[1]
        head = net - other
        if head < 0:
            head = 0
    j = lo
    k = 0
    for i in range(a, a + n):
        f, m = _free_at(pos, mask, i)
        add, j = _inbound_due(inb, j, hi, pos[LOC, i], day)
        if m & IN_SCOPE:
            f += add
            if f < 0:
                f = 0
            if head >= 0 and f > head:
                f = head
            out_loc[k] = pos[LOC, i]
            out_qty[k] = f
            k += 1
    return k


@njit(cache=True)
def many_skus_atp_by_location(
    idx: np.ndarray,
    pos: np.ndarray,
    inb: np.ndarray,
    alloc: np.ndarray,
    mask: np.ndarray,
    skus: np.ndarray,
    chan: int,
    day: int,
    out: np.ndarray,
    out_row: np.ndarray,
    out_loc: np.ndarray,
    out_qty: np.ndarray,
) -> int:
    """Scope figures of many SKUs (out) and their per-location rows in one call, so both come from the
    same state; row r belongs to skus[out_row[r]]. Returns the number of rows written, or -1 when the
    outputs are too small (nothing past them is ever written)."""
    n = 0
    rows = idx.shape[0] - 1
    for k in range(skus.shape[0]):
        s = skus[k]
        out[k] = sku_atp(idx, pos, inb, alloc, mask, s, chan, day)
        if 0 <= s < rows and n + idx[s, USED] > out_loc.shape[0]:
            return -1  # positions were inserted after the caller sized the outputs: it retries
        w = sku_atp_by_location(idx, pos, inb, alloc, mask, s, chan, day, out_loc[n:], out_qty[n:])
        out_row[n : n + w] = k
        n += w
    return n


@njit(cache=True)
def find_slot(idx: np.ndarray, pos: np.ndarray, s: int, loc: int) -> int:
    """Slot of (s, loc), or -1. Binary search: each slice is sorted by location."""
    if s < 0 or s >= idx.shape[0] - 1:
        return -1
    lo = idx[s, START]
    hi = lo + idx[s, USED]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = pos[LOC, mid]
        if v < loc:
            lo = mid + 1
        elif v > loc:
            hi = mid
        else:
            return int(mid)
    return -1


@njit(cache=True)
def find_slots(idx: np.ndarray, pos: np.ndarray, skus: np.ndarray, locs: np.ndarray, out: np.ndarray) -> int:
    """out[k] = slot of (skus[k], locs[k]) or -1; returns how many were missing."""
    missing = 0
    for k in range(skus.shape[0]):
        out[k] = find_slot(idx, pos, skus[k], locs[k])
        if out[k] < 0:
            missing += 1
    return missing


@njit(cache=True)
def totals(idx: np.ndarray, pos: np.ndarray, n_sku: int) -> tuple[int, int]:
    """(sum of on hand, sum of reserved) over the used slots of the first n_sku SKUs."""
    oh = 0
    free = 0
    for s in range(n_sku):
        a = idx[s, START]
        for i in range(a, a + idx[s, USED]):
            oh += pos[ON_HAND, i]
            free += pos[FREE, i]
    return oh, oh - free


# ---------------------------------------------------------------------------------------------- writes
@njit(cache=True)
def insert_slots(idx: np.ndarray, pos: np.ndarray, skus: np.ndarray, locs: np.ndarray) -> int:
    """Insert a zero position (default safety) for every (skus[k], locs[k]) not yet held, into the slack of
    the SKU's slice, keeping it sorted; a full slice first moves to the spare tail with 1.5x its room. One
    call, so readers see all of it or none (a moved slice's old slots are left as they were). Returns how
    many did not fit (the tail is used up: the store rebuilds and calls again)."""
    failed = 0
    tail_row = idx.shape[0] - 1
    for k in range(skus.shape[0]):
        s = skus[k]
        loc = locs[k]
        if find_slot(idx, pos, s, loc) >= 0:
            continue
        a = idx[s, START]
        n = idx[s, USED]
        if n >= idx[s, CAP]:
            room = n + max(4, n // 2)
            tail = idx[tail_row, START]
            if tail + room > pos.shape[1]:
                failed += 1
                continue
            for i in range(n):
                for r in range(4):
                    pos[r, tail + i] = pos[r, a + i]
            idx[s, START] = tail
            idx[s, CAP] = room
            idx[tail_row, START] = tail + room
            a = tail
        i = a + n
        while i > a and pos[LOC, i - 1] > loc:
            for r in range(4):
                pos[r, i] = pos[r, i - 1]
            i -= 1
        pos[LOC, i] = loc
        pos[ON_HAND, i] = 0
        pos[FREE, i] = 0
        pos[SAFETY, i] = -1
        idx[s, USED] = n + 1
    return failed


@njit(cache=True)
def scatter_positions(
    bounds: np.ndarray,
    starts: np.ndarray,
    loc: np.ndarray,
    on_hand: np.ndarray,
    safety: np.ndarray,
    pos: np.ndarray,
) -> None:
    """Copy sorted position rows (SKU s owns rows bounds[s]:bounds[s+1]) to the front of each slice."""
    for s in range(bounds.shape[0] - 1):
        d = starts[s]
        for r in range(bounds[s], bounds[s + 1]):
            pos[LOC, d] = loc[r]
            pos[ON_HAND, d] = on_hand[r]
            pos[FREE, d] = on_hand[r]
            pos[SAFETY, d] = safety[r] if safety[r] >= 0 else -1
            d += 1


@njit(cache=True)
def move_slices(
    old_idx: np.ndarray, old_pos: np.ndarray, idx: np.ndarray, pos: np.ndarray, n_sku: int
) -> None:
    """Copy the used part of each SKU's slice into a new layout (a rebuild)."""
    for s in range(n_sku):
        a = old_idx[s, START]
        d = idx[s, START]
        for i in range(old_idx[s, USED]):
            for r in range(4):
                pos[r, d + i] = old_pos[r, a + i]


@njit(cache=True)
def apply_deltas(pos: np.ndarray, slots: np.ndarray, d_on_hand: np.ndarray, d_reserved: np.ndarray) -> None:
    for k in range(slots.shape[0]):
        p = slots[k]
        pos[ON_HAND, p] += d_on_hand[k]
        pos[FREE, p] += d_on_hand[k] - d_reserved[k]


@njit(cache=True)
def set_safety(pos: np.ndarray, slots: np.ndarray, values: np.ndarray) -> None:
    """Explicit safety stock per slot; a negative value goes back to the location's default."""
    for k in range(slots.shape[0]):
        pos[SAFETY, slots[k]] = values[k] if values[k] >= 0 else -1


@njit(cache=True)
def consume_allocation(idx: np.ndarray, alloc: np.ndarray, s: int, chan: int, quantity: int) -> int:
    """Count `quantity` sold or held by `chan` against its ring-fence of SKU s; returns the part consumed."""
    for k in range(idx[s, ALLOC], idx[s + 1, ALLOC]):
        if alloc[A_CHANNEL, k] == chan:
            room = int(alloc[A_QUANTITY, k]) - alloc[A_CONSUMED, k]
            take = min(room, quantity)
            if take < 0:
                take = 0
            alloc[A_CONSUMED, k] += take
            return int(take)
    return 0


@njit(cache=True)
def add_hold(idx: np.ndarray, alloc: np.ndarray, s: int, code: int, delta: int) -> int:
    """Add delta to the units of SKU s held at the hold group coded `code` (-1 - g); 0 if no such row."""
    for k in range(idx[s, ALLOC], idx[s + 1, ALLOC]):
        if alloc[A_CHANNEL, k] == code:
            alloc[A_QUANTITY, k] += delta
            return 1
    return 0


@njit(cache=True)
def release_allocation(idx: np.ndarray, alloc: np.ndarray, s: int, chan: int, quantity: int) -> None:
    for k in range(idx[s, ALLOC], idx[s + 1, ALLOC]):
        if alloc[A_CHANNEL, k] == chan:
            left = int(alloc[A_CONSUMED, k]) - quantity
            alloc[A_CONSUMED, k] = left if left > 0 else 0
            return


# ---------------------------------------------------------------------------------------------- ledger
# The memory ledger's per-position state lives in an open-addressing hash table keyed by
# sku * 2**20 + location: vals[CT] the time of the last applied count (0: none), vals[HEAD] the newest
# journal entry of the position (-1: none). The journal is four parallel arrays, each entry linked to
# the previous entry of the same position, so a late count sums the deltas after it without a scan.
CT = 0
HEAD = 1
# meta slots
M_HT_USED = 0
M_J_USED = 1
M_HIGH_WATER = 2
M_SEQ = 3
# event type codes: the order of model.EventType
E_CYCLE_COUNT = 5
E_SALE = 1
# outcome codes: model.EventOutcome
O_APPLIED = 0
O_STALE = 2
O_REJECTED = 3
# reason codes
R_NONE = 0
R_STALE_DELTA = 1
R_STALE_COUNT = 2
R_WINDOW = 3
R_RANGE = 4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _ht_find(keys: np.ndarray, key: int) -> int:
    """Index of key in the table, or of the empty entry where it belongs."""
    m = keys.shape[0] - 1
    i = int((np.uint64(key) * _GOLDEN) >> np.uint64(32)) & m
    while True:
        k = keys[i]
        if k == key or k == -1:
            return int(i)
        i = (i + 1) & m


@njit(cache=True)
def _ht_get(keys: np.ndarray, vals: np.ndarray, meta: np.ndarray, key: int) -> int:
    """Index of key, inserting it (no count, no journal) if absent. The caller guarantees room."""
    h = _ht_find(keys, key)
    if keys[h] == -1:
        keys[h] = key
        vals[CT, h] = 0
        vals[HEAD, h] = -1
        meta[M_HT_USED] += 1
    return h


@njit(cache=True)
def ht_rehash(keys: np.ndarray, vals: np.ndarray, new_keys: np.ndarray, new_vals: np.ndarray) -> None:
    for i in range(keys.shape[0]):
        if keys[i] != -1:
            h = _ht_find(new_keys, keys[i])
            new_keys[h] = keys[i]
            new_vals[CT, h] = vals[CT, i]
            new_vals[HEAD, h] = vals[HEAD, i]


@njit(cache=True)
def journal_prune(
    keys: np.ndarray,
    vals: np.ndarray,
    new_keys: np.ndarray,
    new_vals: np.ndarray,
    j_key: np.ndarray,
    j_time: np.ndarray,
    j_delta: np.ndarray,
    j_prev: np.ndarray,
    meta: np.ndarray,
    horizon: int,
) -> None:
    """Drop journal entries older than `horizon` (no count that may still arrive needs them) and move
    into the new table only positions with a count time or a kept entry."""
    used = 0
    for i in range(keys.shape[0]):
        if keys[i] != -1 and vals[CT, i] > 0:
            h = _ht_find(new_keys, keys[i])
            new_keys[h] = keys[i]
            new_vals[CT, h] = vals[CT, i]
            new_vals[HEAD, h] = -1
            used += 1
    w = 0
    for r in range(meta[M_J_USED]):
        if j_time[r] >= horizon:
            key = j_key[r]
            h = _ht_find(new_keys, key)
            if new_keys[h] == -1:
                new_keys[h] = key
                new_vals[CT, h] = 0
                new_vals[HEAD, h] = -1
                used += 1
            j_key[w] = key
            j_time[w] = j_time[r]
            j_delta[w] = j_delta[r]
            j_prev[w] = new_vals[HEAD, h]
            new_vals[HEAD, h] = w
            w += 1
    meta[M_HT_USED] = used
    meta[M_J_USED] = w


@njit(cache=True)
def apply_events(
    idx: np.ndarray,
    pos: np.ndarray,
    alloc: np.ndarray,
    keys: np.ndarray,
    vals: np.ndarray,
    j_key: np.ndarray,
    j_time: np.ndarray,
    j_delta: np.ndarray,
    j_prev: np.ndarray,
    meta: np.ndarray,
    sign: np.ndarray,
    ev_type: np.ndarray,
    ev_slot: np.ndarray,
    ev_key: np.ndarray,
    ev_sku: np.ndarray,
    ev_qty: np.ndarray,
    ev_time: np.ndarray,
    ev_chan: np.ndarray,
    window_start: int,
    max_quantity: int,
    out_outcome: np.ndarray,
    out_reason: np.ndarray,
    out_info: np.ndarray,
    out_delta: np.ndarray,
    out_seq: np.ndarray,
) -> None:
    """Apply well-formed, de-duplicated stock events in order (the rules are in ledger/memory.py).
    Events with ev_slot -1 have no position because they cannot apply (a count older than the window).
    The caller guarantees table room for 2 * n more keys and journal room for n more entries."""
    seq = meta[M_SEQ]
    high = meta[M_HIGH_WATER]
    ju = meta[M_J_USED]
    for k in range(ev_type.shape[0]):
        key = ev_key[k]
        t = ev_time[k]
        ty = ev_type[k]
        last = 0
        h = -1
        if key >= 0:
            h = _ht_find(keys, key)
            if keys[h] == key:
                last = vals[CT, h]
        out_delta[k] = 0
        out_seq[k] = 0
        out_info[k] = last
        if ty == E_CYCLE_COUNT:
            if last > 0 and t <= last:
                out_outcome[k] = O_STALE
                out_reason[k] = R_STALE_COUNT
                continue
            if t < window_start:
                out_outcome[k] = O_REJECTED
                out_reason[k] = R_WINDOW
                continue
        elif last > 0 and t < last:
            out_outcome[k] = O_STALE
            out_reason[k] = R_STALE_DELTA
            continue
        p = ev_slot[k]
        cur = int(pos[ON_HAND, p])
        if ty == E_CYCLE_COUNT:
            later = 0
            if h >= 0 and keys[h] == key:
                e = vals[HEAD, h]
                while e >= 0:
                    if j_time[e] >= t:
                        later += j_delta[e]
                    e = j_prev[e]
            delta = ev_qty[k] + later - cur
        else:
            delta = sign[ty] * ev_qty[k]
        new = cur + delta
        if new > max_quantity or new < -max_quantity:
            out_outcome[k] = O_REJECTED
            out_reason[k] = R_RANGE
            continue
        if ty == E_CYCLE_COUNT:
            h = _ht_get(keys, vals, meta, key)
            vals[CT, h] = t
        elif delta != 0:
            h = _ht_get(keys, vals, meta, key)
            j_key[ju] = key
            j_time[ju] = t
            j_delta[ju] = delta
            j_prev[ju] = vals[HEAD, h]
            vals[HEAD, h] = ju
            ju += 1
        if ty == E_SALE and ev_chan[k] >= 0:
            consume_allocation(idx, alloc, ev_sku[k], ev_chan[k], ev_qty[k])
        pos[ON_HAND, p] = new
        pos[FREE, p] += delta
        seq += 1
        if t > high:
            high = t
        out_outcome[k] = O_APPLIED
        out_reason[k] = R_NONE
        out_delta[k] = delta
        out_seq[k] = seq
    meta[M_SEQ] = seq
    meta[M_HIGH_WATER] = high
    meta[M_J_USED] = ju


_typeof: Callable[[object], Any] = numba.typeof


def entry_point(dispatcher: Any, *example: object) -> Callable[..., Any]:
    """The compiled function for exactly the types of `example`, skipping numba's per-call type dispatch
    (about 0.25 us of a 2 us call with five array arguments). Its arrays are not checked: use it only
    with the store's own arrays, whose dtype, rank and layout never vary. Scalars are still converted
    like int(). Falls back to the dispatcher if numba's internals ever change."""
    dispatcher(*example)
    try:
        entry: Callable[..., Any] = dispatcher.overloads[tuple(_typeof(a) for a in example)].entry_point
    except (AttributeError, KeyError, TypeError):  # pragma: no cover - depends on the numba version
        return dispatcher  # type: ignore[no-any-return]
    return entry


def sku_atp_entry() -> Callable[..., int]:
    """sku_atp's entry point for the store's array types (int64 idx and mask, int32 tables)."""
    idx, pos, inb, alloc, mask = _tiny_arrays()
    return entry_point(sku_atp, idx, pos, inb, alloc, mask, 0, 0, -1)


def _tiny_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One SKU with one position at location 0, one inbound entry and one ring-fence."""
    idx = np.zeros((2, 5), dtype=np.int64)
    idx[0, CAP] = 1
    idx[1] = (1, 0, 1, 1, 0)
    pos = np.zeros((4, 1), dtype=np.int32)
    inb = np.zeros((5, 1), dtype=np.int32)
    alloc = np.zeros((4, 1), dtype=np.int32)
    mask = np.zeros(2, dtype=np.int64)
    return idx, pos, inb, alloc, mask


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel once, so no request pays for it."""
    idx, pos, inb, alloc, mask = _tiny_arrays()
    i64 = np.zeros(1, dtype=np.int64)
    i32 = np.zeros(1, np.int32)
    sku_atp_entry()
    many_skus_atp(idx, pos, inb, alloc, mask, i64, 0, 5, np.zeros(1, np.int64))
    sku_atp_by_location(idx, pos, inb, alloc, mask, 0, 0, 5, i32.copy(), i64.copy())
    many_skus_atp_by_location(
        idx, pos, inb, alloc, mask, i64, 0, -1, i64.copy(), i64.copy(), i32.copy(), i64.copy()
    )
    scatter_positions(np.zeros(2, np.int64), np.zeros(2, np.int64), i32, i32, i32, pos)
    move_slices(idx, pos, idx.copy(), pos.copy(), 1)
    find_slots(idx, pos, i64, i64, i64.copy())
    insert_slots(idx, pos, i64, i64)
    apply_deltas(pos, i64[:0], i64[:0], i64[:0])
    set_safety(pos, i64[:0], i64[:0])
    totals(idx, pos, 1)
    consume_allocation(idx, alloc, 0, 1, 0)
    release_allocation(idx, alloc, 0, 1, 0)
    keys = np.full(4, -1, np.int64)
    vals = np.zeros((2, 4), np.int64)
    ht_rehash(keys, vals, keys.copy(), vals.copy())
    j = np.zeros(1, np.int64)
    meta = np.zeros(4, np.int64)
    journal_prune(keys, vals, keys.copy(), vals.copy(), j, j.copy(), j.copy(), j.copy(), meta, 0)
    e = i64[:0]
    i8 = np.zeros(0, np.int8)
    apply_events(
        idx, pos, alloc, keys, vals, j, j.copy(), j.copy(), j.copy(), meta, np.zeros(8, np.int64),
        e, e, e, e, e, e, e, 0, 1, i8, i8.copy(), e, e, e,
    )  # fmt: skip
    from . import _idhash  # the id -> index hash table's kernels (catalog.IdIndex batch lookups)

    _idhash.warm_up()
