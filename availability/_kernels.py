"""numba kernels over the read model's arrays. Private: use the typed functions of store.py and atp.py.

Array layout (see store.py):
  idx   int64[4, S+1]  row 0: first slot of each SKU's position slice (capacity boundaries)
                       row 1: used slots of each SKU's slice (positions sorted by location)
                       row 2: first inbound entry of each SKU; row 3: first allocation entry of each SKU
  pos   int32[4, N]    rows LOC, ON_HAND, RESERVED, SAFETY (effective) per position slot
  inb   int32[5, M]    rows LOC, DAY, QTY, TYPE, PROMISABLE per inbound entry (sorted by SKU, then LOC)
  alloc int32[3, K]    rows CHANNEL, QUANTITY, CONSUMED per (SKU, channel) ring-fence
  mask  uint8[L]       bit 0: location in the query's scope and eligible; bit 1: counted for network headroom

Kernels hold the GIL on purpose: in-place writes (inserting a position shifts a slice) are then atomic
with respect to Python reader threads, so readers never see a half-made change and never take a lock.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LOC = 0
ON_HAND = 1
RESERVED = 2
SAFETY = 3

IN_SCOPE = np.uint8(1)
IN_NETWORK = np.uint8(2)


@njit(cache=True)
def _other_channels_ring_fenced(idx: np.ndarray, alloc: np.ndarray, s: int, chan: int) -> int:
    other = 0
    for k in range(idx[3, s], idx[3, s + 1]):
        if alloc[0, k] != chan:
            rem = alloc[1, k] - alloc[2, k]
            if rem > 0:
                other += rem
    return other


@njit(cache=True)
def _free_with_inbound(
    idx: np.ndarray, pos: np.ndarray, inb: np.ndarray, s: int, i: int, j: int, day: int
) -> tuple[int, int]:
    """Free stock of position slot i including inbound due by `day`; j walks the SKU's inbound entries."""
    loc = pos[LOC, i]
    f = np.int64(pos[ON_HAND, i]) - pos[RESERVED, i] - pos[SAFETY, i]
    end = idx[2, s + 1]
    while j < end and inb[0, j] < loc:
        j += 1
    while j < end and inb[0, j] == loc:
        if inb[1, j] <= day:
            f += inb[4, j]
        j += 1
    return f, j


@njit(cache=True)
def sku_scope_and_network_free(
    idx: np.ndarray, pos: np.ndarray, inb: np.ndarray, mask: np.ndarray, s: int, day: int
) -> tuple[int, int]:
    """(free stock in scope, free stock over the network) for SKU s, each location floored at zero."""
    a = idx[0, s]
    b = a + idx[1, s]
    scope = np.int64(0)
    net = np.int64(0)
    if day < 0 or idx[2, s] == idx[2, s + 1]:
        loc = pos[LOC, a:b]
        oh = pos[ON_HAND, a:b]
        rs = pos[RESERVED, a:b]
        sf = pos[SAFETY, a:b]
        nm = mask.shape[0]
        for i in range(b - a):
            f = np.int64(oh[i]) - rs[i] - sf[i]
            f = f if f > 0 else 0
            li = loc[i]
            # a location added after this mask was made is simply not eligible for this query
            m = mask[li] if li < nm else 0
            scope += f * (m & 1)
            net += f * ((m >> 1) & 1)
        return scope, net
    j = idx[2, s]
    nm = mask.shape[0]
    for i in range(a, b):
        f, j = _free_with_inbound(idx, pos, inb, s, i, j, day)
        if f < 0:
            f = 0
        li = pos[LOC, i]
        m = mask[li] if li < nm else 0
        scope += f * (m & 1)
        net += f * ((m >> 1) & 1)
    return scope, net


@njit(cache=True)
def sku_atp(
    idx: np.ndarray, pos: np.ndarray, inb: np.ndarray, alloc: np.ndarray, mask: np.ndarray, s: int, chan: int, day: int
) -> int:
    """ATP of SKU s for a channel over the scope in `mask`: the scope's free stock, capped by what the
    network can give this channel once other channels' unconsumed ring-fences are kept back."""
    scope, net = sku_scope_and_network_free(idx, pos, inb, mask, s, day)
    other = _other_channels_ring_fenced(idx, alloc, s, chan)
    if other > 0:
        head = net - other
        if head < 0:
            head = 0
        if scope > head:
            scope = head
    return scope


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
) -> None:
    """out[k] = ATP of skus[k]; unknown SKUs (index -1) answer 0."""
    for k in range(skus.shape[0]):
        s = skus[k]
        if s < 0 or s >= idx.shape[1] - 1:
            out[k] = 0
        else:
            out[k] = sku_atp(idx, pos, inb, alloc, mask, s, chan, day)


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
    written. Each location is capped by the channel's network headroom (ring-fences of other channels)."""
    scope, net = sku_scope_and_network_free(idx, pos, inb, mask, s, day)
    other = _other_channels_ring_fenced(idx, alloc, s, chan)
    head = np.int64(-1)
    if other > 0:
        head = net - other
        if head < 0:
            head = 0
    a = idx[0, s]
    b = a + idx[1, s]
    j = idx[2, s]
    n = 0
    for i in range(a, b):
        f, j = _free_with_inbound(idx, pos, inb, s, i, j, day if day >= 0 else -(2**31))
        loc = pos[LOC, i]
        if loc < mask.shape[0] and mask[loc] & 1:
            if f < 0:
                f = 0
            if head >= 0 and f > head:
                f = head
            out_loc[n] = loc
            out_qty[n] = f
            n += 1
    return n


@njit(cache=True)
def find_slot(idx: np.ndarray, pos: np.ndarray, s: int, loc: int) -> int:
    """Slot of (s, loc), or -1. Binary search: each slice is sorted by location."""
    lo = idx[0, s]
    hi = lo + idx[1, s]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = pos[LOC, mid]
        if v < loc:
            lo = mid + 1
        elif v > loc:
            hi = mid
        else:
            return mid
    return -1


@njit(cache=True)
def find_slots(idx: np.ndarray, pos: np.ndarray, skus: np.ndarray, locs: np.ndarray, out: np.ndarray) -> int:
    """out[k] = slot of (skus[k], locs[k]) or -1; returns how many were missing."""
    missing = 0
    for k in range(skus.shape[0]):
        s = skus[k]
        if s < 0 or s >= idx.shape[1] - 1:
            out[k] = -1
            missing += 1
            continue
        out[k] = find_slot(idx, pos, s, locs[k])
        if out[k] < 0:
            missing += 1
    return missing


@njit(cache=True)
def insert_slot(idx: np.ndarray, pos: np.ndarray, s: int, loc: int, safety: int) -> int:
    """Insert a zero position (s, loc) into the slack of s's slice, keeping it sorted; returns the slot,
    or -1 when the slice is full (the store then rebuilds with more slack)."""
    a = idx[0, s]
    n = idx[1, s]
    if a + n >= idx[0, s + 1]:
        return -1
    i = a + n
    while i > a and pos[LOC, i - 1] > loc:
        for r in range(4):
            pos[r, i] = pos[r, i - 1]
        i -= 1
    pos[LOC, i] = loc
    pos[ON_HAND, i] = 0
    pos[RESERVED, i] = 0
    pos[SAFETY, i] = safety
    idx[1, s] = n + 1
    return i


@njit(cache=True)
def apply_deltas(
    pos: np.ndarray, slots: np.ndarray, d_on_hand: np.ndarray, d_reserved: np.ndarray
) -> None:
    for k in range(slots.shape[0]):
        p = slots[k]
        pos[ON_HAND, p] += d_on_hand[k]
        pos[RESERVED, p] += d_reserved[k]


@njit(cache=True)
def reset_default_safety(idx: np.ndarray, pos: np.ndarray, explicit: np.ndarray, loc_default: np.ndarray) -> None:
    """Re-derive the effective safety stock of every position that has no explicit value of its own."""
    for s in range(idx.shape[1] - 1):
        a = idx[0, s]
        for i in range(a, a + idx[1, s]):
            if not explicit[i]:
                pos[SAFETY, i] = loc_default[pos[LOC, i]]


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel once, so no request pays for it."""
    idx = np.zeros((4, 2), dtype=np.int64)
    idx[0, 1] = 1
    pos = np.zeros((4, 1), dtype=np.int32)
    inb = np.zeros((5, 0), dtype=np.int32)
    alloc = np.zeros((3, 0), dtype=np.int32)
    mask = np.ones(1, dtype=np.uint8)
    sku_atp(idx, pos, inb, alloc, mask, 0, 0, -1)
    out = np.zeros(1, dtype=np.int64)
    many_skus_atp(idx, pos, inb, alloc, mask, np.zeros(1, dtype=np.int64), 0, -1, out)
    sku_atp_by_location(idx, pos, inb, alloc, mask, 0, 0, 5, np.zeros(1, np.int32), np.zeros(1, np.int64))
    slots = np.zeros(1, dtype=np.int64)
    find_slots(idx, pos, np.zeros(1, np.int64), np.zeros(1, np.int64), slots)
    insert_slot(idx, pos, 0, 0, 0)
    apply_deltas(pos, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    reset_default_safety(idx, pos, np.zeros(1, np.uint8), np.zeros(1, np.int32))
