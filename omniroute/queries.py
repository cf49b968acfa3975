"""Read-side questions over the engine that `availability` does not answer itself yet: stores near a
shopper for a cart, and raw positions. Plain functions over a StockStore (no gRPC), shared by the service,
the CLI and tests; they belong in `availability/` and can move there unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from availability.errors import InvalidArgument
from availability.locations import Scope
from availability.model import LocationType, Method, check_id, check_quantity
from availability.store import PositionView, StockStore

I64 = npt.NDArray[np.int64]

MAX_CART_LINES = 1_000
MAX_NEARBY_LIMIT = 1_000
DEFAULT_NEARBY_LIMIT = 20
DEFAULT_PICKUP_METHODS: tuple[Method, ...] = (Method.PICKUP, Method.CURBSIDE)
STORE_TYPES = (LocationType.STORE, LocationType.DARK_STORE)
MAX_POSITION_SKUS = 10_000


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class NearbyStore:
    location: str
    name: str
    distance_km: float
    methods: tuple[Method, ...]  # the accepted methods this store offers
    available: tuple[int, ...]  # available[i]: ATP for lines[i], best of the accepted methods
    whole_cart: bool
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class NearbyStores:
    stores: list[NearbyStore]
    sequence: int


def check_point(prefix: str, latitude: float, longitude: float) -> None:
    for name, v, lo, hi in (("latitude", latitude, -90, 90), ("longitude", longitude, -180, 180)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
            raise InvalidArgument(f"{prefix}.{name}", v, f"must be a number in [{lo}, {hi}]")


def find_nearby_stores(
    store: StockStore,
    lines: Sequence[CartLine],
    *,
    latitude: float,
    longitude: float,
    radius_km: float,
    channel: str,
    methods: Collection[Method] = DEFAULT_PICKUP_METHODS,
    limit: int = DEFAULT_NEARBY_LIMIT,
    whole_cart_only: bool = False,
) -> NearbyStores:
    """Enabled stores and dark stores within `radius_km` that serve `channel` and offer one of `methods`,
    nearest first, each with the ATP of every cart line there and whether it can serve the whole cart
    (quantities of repeated SKUs are added up for that)."""
    if not lines:
        raise InvalidArgument("lines", [], "must contain at least one cart line")
    if len(lines) > MAX_CART_LINES:
        raise InvalidArgument("lines", len(lines), f"at most {MAX_CART_LINES} lines")
    for i, line in enumerate(lines):
        check_id(f"lines[{i}].sku", line.sku)
        check_quantity(f"lines[{i}].quantity", line.quantity, allow_zero=False)
    check_point("near", latitude, longitude)
    if not (isinstance(radius_km, (int, float)) and math.isfinite(radius_km) and 0 < radius_km <= 20_100):
        raise InvalidArgument("radius_km", radius_km, "must be a number in (0, 20100]")
    if not (0 < limit <= MAX_NEARBY_LIMIT):
        raise InvalidArgument("limit", limit, f"must be in [1, {MAX_NEARBY_LIMIT}]")
    accepted = tuple(sorted(set(methods))) or DEFAULT_PICKUP_METHODS
    network = store.network
    chan = network.channel_index(channel)
    sequence = store.sequence
    accepted_mask = sum(m.bit for m in accepted)

    dist = network.distances_km(latitude, longitude)
    is_store = np.isin(network.ltype, np.array([int(t) for t in STORE_TYPES], dtype=np.int8))
    serves = ((network.channel_bits >> np.uint64(chan)) & np.uint64(1)) == 1
    offers = (network.methods & np.uint8(accepted_mask)) != 0
    cand = np.flatnonzero(is_store & serves & offers & (network.enabled == 1) & (dist <= radius_km))
    cand = cand[np.argsort(dist[cand], kind="stable")]
    if cand.shape[0] == 0:
        return NearbyStores([], sequence)

    # avail[c, i]: ATP of line i at candidate c, the best over the accepted methods the store offers
    n_lines = len(lines)
    row_of = np.full(len(network), -1, dtype=np.int64)
    row_of[cand] = np.arange(cand.shape[0])
    avail = np.zeros((cand.shape[0], n_lines), dtype=np.int64)
    scope = Scope.within(latitude, longitude, radius_km)
    sku_ids = [line.sku for line in lines]
    sku_idx = store.skus.lookup_many(sku_ids)
    per_sku: dict[int, I64] = {}
    for i, s in enumerate(sku_idx.tolist()):
        if s < 0:
            continue
        col = per_sku.get(s)
        if col is None:
            col = np.zeros(cand.shape[0], dtype=np.int64)
            for m in accepted:
                locs, qty = store.atp_by_location(s, chan, m, scope)
                rows = row_of[locs]
                keep = rows >= 0
                np.maximum.at(col, rows[keep], qty[keep])
            per_sku[s] = col
        avail[:, i] = col
    demand: dict[str, int] = {}
    for line in lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    need = np.array([demand[line.sku] for line in lines], dtype=np.int64)
    whole = np.all(avail >= need[None, :], axis=1)

    out: list[NearbyStore] = []
    for c, li in enumerate(cand.tolist()):
        if whole_cart_only and not whole[c]:
            continue
        loc = network.location(li)
        out.append(
            NearbyStore(
                location=loc.id,
                name=loc.name,
                distance_km=float(dist[li]),
                methods=tuple(m for m in accepted if m in loc.methods),
                available=tuple(avail[c].tolist()),
                whole_cart=bool(whole[c]),
                latitude=loc.latitude,
                longitude=loc.longitude,
            )
        )
        if len(out) >= limit:
            break
    return NearbyStores(out, sequence)


@dataclass(frozen=True, slots=True)
class Positions:
    positions: list[PositionView]
    allocations: list[tuple[str, str, int, int]]  # (sku, channel, quantity, consumed)
    unknown_skus: list[str]
    sequence: int


def read_positions(store: StockStore, skus: Sequence[str], locations: Sequence[str] = ()) -> Positions:
    """Raw positions of SKUs (at the listed locations or groups, or wherever they are held) and their
    channel ring-fences. Unknown SKUs are listed, not an error, as in availability queries."""
    if len(skus) == 0:
        raise InvalidArgument("skus", [], "must name at least one SKU")
    if len(skus) > MAX_POSITION_SKUS:
        raise InvalidArgument("skus", len(skus), f"at most {MAX_POSITION_SKUS} SKUs per call")
    network = store.network
    wanted: set[int] | None = None
    if locations:
        wanted = set(network.resolve_locations("locations", locations).tolist())
    sequence = store.sequence
    positions: list[PositionView] = []
    allocations: list[tuple[str, str, int, int]] = []
    unknown: list[str] = []
    channel_ids = network.channels.ids
    for k, sku in enumerate(skus):
        s = store.skus.get(sku)
        if s is None:
            check_id(f"skus[{k}]", sku)
            unknown.append(sku)
            continue
        for li in store.sku_locations(s).tolist():
            if wanted is not None and li not in wanted:
                continue
            view = store.position(s, li)
            if view is not None:
                positions.append(view)
        for chan, qty, used in store.allocations(s):
            allocations.append((sku, channel_ids[chan], qty, used))
    return Positions(positions, allocations, unknown, sequence)
