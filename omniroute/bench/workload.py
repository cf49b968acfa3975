"""The benchmark's work: orders, hold places and stock events, deterministic for a network and a seed.

Orders follow the routing protocol (benchmarks/bench_routing.py uses these too): 1-10 lines (uniform), SKUs drawn in
proportion to how many locations stock them (best sellers are ordered most), 1 unit (70%), 2 (20%) or 3
(10%) each, channel web, standard shipping, partial fulfilment allowed (so every policy has an answer),
shipped to a point within 30 km of a random store, placed on a Monday at 10:00 on the east coast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from availability import EventType, LocationType, Scope, StockEvent, StockStore
from availability import _kernels as AK
from availability.model import Snapshot
from router import Destination, Order, OrderLine, RoutingOptions

PLACED_AT = datetime.fromisoformat("2026-01-05T15:00:00+00:00")
CHANNEL = "web"


def shopper_near(lat0: float, lon0: float, rng: np.random.Generator) -> Destination:
    """A shopper's address within 30 km of a point, uniform over the disc."""
    dist = 30.0 * float(np.sqrt(rng.random()))
    bearing = 2 * np.pi * float(rng.random())
    lat = float(lat0) + dist * np.cos(bearing) / 111.2
    lon = float(lon0) + dist * np.sin(bearing) / (111.2 * max(0.2, np.cos(np.radians(lat))))
    return Destination.point(float(np.clip(lat, -89, 89)), float(np.clip(lon, -179, 179)))


def sample_orders(
    store: StockStore, n: int, seed: int, *, lines: int | None = None, id_prefix: str = "bench"
) -> list[Order]:
    """`n` orders (see the module docstring); with `lines`, every order has exactly that many lines."""
    rng = np.random.default_rng(seed)
    view = store.view()
    n_sku = len(view.skus)
    breadth = view.gen.idx[:n_sku, AK.USED].astype(np.float64)
    p_sku = breadth / breadth.sum()
    network = view.network
    stores = [i for i, loc in enumerate(network.locations) if loc.type is LocationType.STORE and loc.enabled]
    homes = stores or list(range(len(network)))
    out = []
    for i in range(n):
        k = lines if lines is not None else int(rng.integers(1, 11))
        skus = rng.choice(n_sku, size=k, replace=False, p=p_sku)
        home = homes[int(rng.integers(0, len(homes)))]
        dest = shopper_near(network.lat[home], network.lon[home], rng)  # drawn before the quantities
        qty = rng.choice([1, 2, 3], size=k, p=[0.7, 0.2, 0.1])
        out.append(
            Order(
                order_id=f"{id_prefix}-{seed}-{i}",
                channel=CHANNEL,
                lines=tuple(OrderLine(view.skus.id(int(s)), int(q)) for s, q in zip(skus, qty, strict=True)),
                destination=dest,
                placed_at=PLACED_AT,
                options=RoutingOptions(allow_partial=True),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Place:
    """A (SKU, location) where a web hold may take `room` units at the start."""

    sku: str
    location: str
    room: int


def hold_places(snap: Snapshot, n: int, seed: int) -> list[Place]:
    """Up to `n` places drawn at random among the network's positions, each where a one-unit web hold may
    be taken at least twice (so a benchmark that releases what it held never runs one short)."""
    store = StockStore.from_snapshot(snap)
    chan = store.network.channel_index(CHANNEL)
    loc_ids = [loc.id for loc in snap.locations]
    rng = np.random.default_rng(seed)
    picks = rng.choice(snap.positions, size=min(snap.positions, 4 * n), replace=False)
    out: list[Place] = []
    seen: set[int] = set()
    for k in picks.tolist():
        s, li = int(snap.stock_sku[k]), int(snap.stock_loc[k])
        if s in seen:  # one place per SKU: holds spread over many SKUs, as shoppers' are
            continue
        room = store.hold_atp(s, chan, Scope.of_locations((loc_ids[li],)))
        if room >= 2:
            seen.add(s)
            out.append(Place(snap.skus[s].id, loc_ids[li], room))
            if len(out) == n:
                break
    if not out:
        raise RuntimeError("no position of the network has room for a one-unit web hold")
    return out


def slots(places: list[Place]) -> Iterator[Place]:
    """Places repeated by their room less one, every place once before any twice: one-unit holds taken in
    this order, none released meanwhile, never run short; the iterator ends when the room does."""
    top = max(p.room for p in places)
    for rep in range(top - 1):
        for p in places:
            if p.room - 1 > rep:
                yield p


# the kinds of stock events POS and warehouse systems send, and how often (benchmarks/synth.py's too)
EVENT_MIX = (
    (EventType.SALE, 0.60),
    (EventType.RECEIPT, 0.15),
    (EventType.ADJUSTMENT, 0.08),
    (EventType.RETURN_SELLABLE, 0.04),
    (EventType.RETURN_DAMAGED, 0.01),
    (EventType.TRANSFER_OUT, 0.03),
    (EventType.TRANSFER_IN, 0.03),
    (EventType.CYCLE_COUNT, 0.06),
)


def stock_event_batches(snap: Snapshot, batches: int, size: int, seed: int, tag: str) -> list[list[StockEvent]]:
    """`batches` batches of `size` events: the EVENT_MIX of types, 99% at positions the network holds and
    1% at new (SKU, location) pairs, ids unique to `tag`, times in the last hour, increasing."""
    rng = np.random.default_rng(seed)
    kinds = [k for k, _ in EVENT_MIX]
    p = np.array([w for _, w in EVENT_MIX])
    loc_ids = [lo.id for lo in snap.locations]
    sku_ids = [s.id for s in snap.skus]
    n = batches * size
    pick = rng.integers(0, snap.positions, n)
    si = snap.stock_sku[pick].astype(np.int64)
    li = snap.stock_loc[pick].astype(np.int64)
    new = np.flatnonzero(rng.random(n) < 0.01)
    si[new] = rng.integers(0, len(sku_ids), new.shape[0])
    li[new] = rng.integers(0, len(loc_ids), new.shape[0])
    kind = rng.choice(len(kinds), n, p=p).tolist()
    qty = rng.integers(1, 6, n).tolist()
    t0 = int(time.time() * 1000) - 3_600_000
    events = []
    for k, (s, loc) in enumerate(zip(si.tolist(), li.tolist(), strict=True)):
        ty = kinds[kind[k]]
        q = qty[k]
        if ty is EventType.ADJUSTMENT and k % 2:
            q = -q
        elif ty is EventType.CYCLE_COUNT:
            q *= 7
        events.append(StockEvent(f"{tag}-{k}", ty, loc_ids[loc], sku_ids[s], q, t0 + k))
    return [events[b * size : (b + 1) * size] for b in range(batches)]
