"""Synthetic networks for the benchmarks, built with numpy directly (no files, no id-by-id Python for
the stock), deterministic for a seed.

Shape of a network: `n_locations` locations, the first 2% distribution centres (ship only) and the rest
stores (ship, pickup, curbside); every location serves every channel and is enabled, so a "dense" SKU is
eligible at every location it is stocked at. Each (SKU, location) pair holds a position with probability
`density`; on hand is uniform in [0, 40], safety stock the location type's default. A few SKUs have
inbound supply and ring-fences, so those code paths are part of the picture without dominating it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from availability import StockStore
from availability.model import Channel, EventType, Location, LocationType, Method, Sku, Snapshot, StockEvent
from omniroute.bench.workload import EVENT_MIX as EVENT_MIX  # one mix of event types for every benchmark

CHANNELS = ("web", "app", "marketplace", "pos")


def _i32(a: object) -> npt.NDArray[np.int32]:
    return np.asarray(a, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    n_skus: int
    n_locations: int
    density: float


SIZES = {
    "tiny": Size("tiny", 2_000, 200, 0.05),
    "small": Size("small", 20_000, 2_000, 0.05),
    "medium": Size("medium", 100_000, 2_000, 0.05),
    "large": Size("large", 500_000, 2_000, 0.05),  # 50 million positions: the memory target
}


def locations(n: int, rng: np.random.Generator) -> list[Location]:
    lat = rng.uniform(25.0, 48.0, n)
    lon = rng.uniform(-123.0, -70.0, n)
    n_dc = max(1, n // 50)
    out = []
    for i in range(n):
        dc = i < n_dc
        out.append(
            Location(
                id=f"{'DC' if dc else 'ST'}{i:05d}",
                name=f"{'DC' if dc else 'Store'} {i}",
                type=LocationType.DISTRIBUTION_CENTER if dc else LocationType.STORE,
                latitude=float(lat[i]),
                longitude=float(lon[i]),
                methods=frozenset({Method.SHIP})
                if dc
                else frozenset({Method.SHIP, Method.PICKUP, Method.CURBSIDE}),
                channels=frozenset(CHANNELS),
            )
        )
    return out


def stock_pairs(
    n_skus: int, n_locations: int, density: float, rng: np.random.Generator, chunk_cells: int = 50_000_000
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """(sku, location) of every position, sorted by SKU then location, drawn chunk by chunk so that the
    boolean matrix of a chunk stays around 50 MB."""
    rows = max(1, chunk_cells // n_locations)
    threshold = np.uint16(round(density * 65536))
    skus: list[npt.NDArray[np.int32]] = []
    locs: list[npt.NDArray[np.int32]] = []
    for first in range(0, n_skus, rows):
        k = min(rows, n_skus - first)
        hit = rng.integers(0, 65536, size=(k, n_locations), dtype=np.uint16) < threshold
        s, loc = np.nonzero(hit)
        del hit
        skus.append((s + first).astype(np.int32))
        locs.append(loc.astype(np.int32))
    return np.concatenate(skus), np.concatenate(locs)


def snapshot(size: Size | str, *, seed: int = 7, with_extras: bool = True) -> Snapshot:
    """A whole synthetic network. `with_extras` adds inbound (1% of positions) and ring-fences
    (1% of SKUs, for the marketplace channel)."""
    if isinstance(size, str):
        size = SIZES[size]
    rng = np.random.default_rng(seed)
    locs = locations(size.n_locations, rng)
    sku_idx, loc_idx = stock_pairs(size.n_skus, size.n_locations, size.density, rng)
    n = sku_idx.shape[0]
    snap = Snapshot(
        locations=locs,
        channels=[Channel(c) for c in CHANNELS],
        skus=[Sku(f"SKU{i:07d}") for i in range(size.n_skus)],
        stock_sku=sku_idx,
        stock_loc=loc_idx,
        stock_on_hand=_i32(rng.integers(0, 41, size=n)),
        stock_safety=np.full(n, -1, dtype=np.int32),
    )
    if with_extras and n:
        pick = np.sort(rng.choice(n, size=max(1, n // 100), replace=False))
        snap.inbound_sku = sku_idx[pick]
        snap.inbound_loc = loc_idx[pick]
        snap.inbound_qty = _i32(rng.integers(1, 100, size=pick.shape[0]))
        snap.inbound_day = _i32(rng.integers(20_000, 20_400, size=pick.shape[0]))
        snap.inbound_type = _i32(rng.integers(0, 2, size=pick.shape[0]))
        fenced = np.sort(rng.choice(size.n_skus, size=max(1, size.n_skus // 100), replace=False)).astype(
            np.int32
        )
        snap.alloc_sku = fenced
        snap.alloc_channel = np.full(fenced.shape[0], CHANNELS.index("marketplace"), dtype=np.int32)
        snap.alloc_qty = _i32(rng.integers(1, 50, size=fenced.shape[0]))
        snap.alloc_consumed = np.zeros(fenced.shape[0], dtype=np.int32)
    return snap


def dense_snapshot(n_locations: int = 2_000, n_skus: int = 16, *, seed: int = 7) -> Snapshot:
    """SKUs stocked at every location: the worst case for one SKU's network ATP."""
    rng = np.random.default_rng(seed)
    locs = locations(n_locations, rng)
    sku_idx = np.repeat(np.arange(n_skus, dtype=np.int32), n_locations)
    loc_idx = np.tile(np.arange(n_locations, dtype=np.int32), n_skus)
    return Snapshot(
        locations=locs,
        channels=[Channel(c) for c in CHANNELS],
        skus=[Sku(f"DENSE{i:04d}") for i in range(n_skus)],
        stock_sku=sku_idx,
        stock_loc=loc_idx,
        stock_on_hand=_i32(rng.integers(0, 41, size=sku_idx.shape[0])),
        stock_safety=np.full(sku_idx.shape[0], -1, dtype=np.int32),
    )


T0_MS = 1_767_571_200_000  # 2026-01-05T00:00Z


def event_batches(
    snap: Snapshot,
    n_batches: int,
    batch_size: int = 5_000,
    *,
    seed: int = 11,
    new_position_share: float = 0.01,
    first_id: int = 0,
) -> Iterator[list[StockEvent]]:
    """Batches of stock events as POS and warehouse systems send them: the EVENT_MIX of types, 99% at
    positions the snapshot holds and 1% at (SKU, location) pairs it does not (new positions), unique ids,
    times increasing through the batches. Made one batch at a time, so a benchmark holds one batch."""
    rng = np.random.default_rng(seed)
    kinds = [k for k, _ in EVENT_MIX]
    p = np.array([w for _, w in EVENT_MIX])
    loc_ids = [lo.id for lo in snap.locations]
    sku_ids = [s.id for s in snap.skus]
    n_pos = snap.positions
    next_id = first_id
    for b in range(n_batches):
        pick = rng.integers(0, n_pos, batch_size)
        si = snap.stock_sku[pick].astype(np.int64)
        li = snap.stock_loc[pick].astype(np.int64)
        new = np.flatnonzero(rng.random(batch_size) < new_position_share)
        si[new] = rng.integers(0, len(sku_ids), new.shape[0])
        li[new] = rng.integers(0, len(loc_ids), new.shape[0])
        kind = rng.choice(len(kinds), batch_size, p=p)
        qty = rng.integers(1, 6, batch_size)
        at = T0_MS + b * 60_000 + np.arange(batch_size)
        batch = []
        for k in range(batch_size):
            ty = kinds[kind[k]]
            q = int(qty[k]) * (-1 if ty is EventType.ADJUSTMENT and k % 2 else 1)
            if ty is EventType.CYCLE_COUNT:
                q = int(qty[k]) * 7
            batch.append(StockEvent(f"ev-{next_id}", ty, loc_ids[li[k]], sku_ids[si[k]], q, int(at[k])))
            next_id += 1
        yield batch


def store_event_batches(
    store: StockStore,
    n_batches: int,
    batch_size: int = 5_000,
    *,
    seed: int = 11,
    new_position_share: float = 0.01,
    first_id: int = 0,
) -> Iterator[list[StockEvent]]:
    """Like event_batches, but drawing positions from a store rather than a snapshot (so a benchmark can
    drop the snapshot first): each event hits a position chosen uniformly among all positions."""
    rng = np.random.default_rng(seed)
    kinds = [k for k, _ in EVENT_MIX]
    p = np.array([w for _, w in EVENT_MIX])
    view = store.view()
    loc_ids = list(view.network.index.ids)
    sku_ids = list(view.skus.ids)
    n_sku = len(sku_ids)
    next_id = first_id
    for b in range(n_batches):
        g = store.generation
        used = g.idx[:n_sku, 1]
        cum = np.cumsum(used)
        pick = rng.integers(0, int(cum[-1]), batch_size)
        si = np.searchsorted(cum, pick, side="right")
        offset = pick - (cum[si] - used[si])
        li = g.pos[0, g.idx[si, 0] + offset].astype(np.int64)
        new = np.flatnonzero(rng.random(batch_size) < new_position_share)
        si[new] = rng.integers(0, n_sku, new.shape[0])
        li[new] = rng.integers(0, len(loc_ids), new.shape[0])
        kind = rng.choice(len(kinds), batch_size, p=p)
        qty = rng.integers(1, 6, batch_size)
        at = T0_MS + b * 60_000 + np.arange(batch_size)
        batch = []
        for k in range(batch_size):
            ty = kinds[kind[k]]
            q = int(qty[k]) * (-1 if ty is EventType.ADJUSTMENT and k % 2 else 1)
            if ty is EventType.CYCLE_COUNT:
                q = int(qty[k]) * 7
            batch.append(StockEvent(f"ev-{next_id}", ty, loc_ids[li[k]], sku_ids[si[k]], q, int(at[k])))
            next_id += 1
        yield batch
