"""The demand stream: every shopper of the simulated days, drawn once from the scenario's seed and shared
by every policy's run, so policies compare on identical demand.

What is drawn (numpy Generator seeded by `run.seed`, consumed in a fixed order):
- online carts per day (Poisson around `demand.online_orders_per_day`), placed through the day on a US
  evening-heavy profile; each with a channel and a delivery method from the scenario's mix (a method no
  location offers for the channel is redrawn among those offered), 1 + Poisson(mean_lines - 1) lines;
- shoppers' homes: real cities (omniroute.networkgen.us_cities) within `destination_radius_km` of an
  enabled store, weighted by population, a point a few km around the centre (a network without such
  cities, e.g. outside the US, uses its stores' own places);
- pickup and curbside: one of the three nearest stores offering the method to the channel (nearest
  likeliest), and SKUs from that store's own assortment;
- SKU popularity: proportional to positions^1.4, how widely the SKU is stocked (on generated networks
  stocking breadth is rank^-0.7, so this is a Zipf-like rank^-1 curve);
- cart abandonment, checkout delay (exponential, within the cart's TTL), back-order acceptance, and per
  line whether (and after how many days) its served units come back into a store;
- walk-in POS sales per enabled store and day (Poisson, scaled by the store's assortment), at local
  opening hours 09:00-21:00, SKUs from the store's assortment by popularity;
- phantom stock: a share of store positions with stock whose record overstates the shelf by 1 to all
  of its units.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from availability.locations import LocationTable, haversine_km
from availability.model import LocationType, Snapshot
from omniroute.networkgen import us_cities
from router.model import DeliveryMethod

from .scenario import Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# Share of a day's online carts by hour, US Eastern time (evening-heavy, quiet at night); shifted to UTC
# by the Eastern offset of the start date.
_EASTERN_PROFILE = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0,
     5.5, 5.5, 5.0, 5.0, 5.0, 5.5, 6.0, 7.0, 7.5, 7.0, 5.0, 2.5],
    dtype=np.float64,
)  # fmt: skip
_STORE_OPEN, _STORE_CLOSE = 9, 21  # walk-in hours, local time
_PICKUP_CHOICE = np.array([0.6, 0.25, 0.15])  # nearest, second, third store offering the method
_POPULARITY_EXPONENT = 1.4


@dataclass(frozen=True, slots=True)
class Cart:
    """One online shopper: a cart held at `cart_at_ms`, checked out at `checkout_at_ms` (0: abandoned)."""

    order_id: str
    day: int  # 0-based day of the run
    cart_at_ms: int
    checkout_at_ms: int
    channel: str
    method: DeliveryMethod
    lines: tuple[tuple[int, int], ...]  # (sku index, units)
    latitude: float
    longitude: float
    store: int  # pickup or curbside store's location index, -1 for a shipped order
    return_store: int  # where returned units go back into stock (-1: nowhere, no store in the network)
    allow_backorder: bool
    return_after_days: tuple[int, ...]  # per line: 0 not returned, else days after the order

    @property
    def abandoned(self) -> bool:
        return self.checkout_at_ms == 0


@dataclass(frozen=True, slots=True)
class WalkIns:
    """Walk-in POS sales, sorted by time: parallel arrays."""

    at_ms: I64
    location: I64
    sku: I64
    units: I64

    def __len__(self) -> int:
        return int(self.at_ms.shape[0])


@dataclass(frozen=True, slots=True)
class Demand:
    start_ms: int  # midnight UTC of the first day
    days: int
    carts: tuple[Cart, ...]  # by cart time
    walk_ins: WalkIns
    # phantom stock: (sku, location) -> units the record shows that are not on the shelf
    phantom: dict[tuple[int, int], int]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS


def generate_demand(snapshot: Snapshot, scenario: Scenario) -> Demand:
    run, spec, rates = scenario.run, scenario.demand, scenario.rates
    rng = np.random.default_rng(run.seed)
    table = LocationTable(snapshot.locations, snapshot.channels, snapshot.groups, snapshot.config)
    n_loc, n_sku = len(table), len(snapshot.skus)
    sku_col = np.asarray(snapshot.stock_sku, dtype=np.int64)
    loc_col = np.asarray(snapshot.stock_loc, dtype=np.int64)
    on_hand = np.asarray(snapshot.stock_on_hand, dtype=np.int64)
    popularity = np.bincount(sku_col, minlength=n_sku).astype(np.float64) ** _POPULARITY_EXPONENT
    if popularity.sum() <= 0:
        popularity = np.ones(n_sku)
    sku_cdf = _cdf(popularity)
    shops = np.isin(table.ltype, [int(LocationType.STORE), int(LocationType.DARK_STORE)])
    stores = np.flatnonzero((table.ltype == int(LocationType.STORE)) & (table.enabled == 1))
    # each store's assortment: its positions' SKUs, by location (one argsort, then slices)
    by_loc = np.argsort(loc_col, kind="stable")
    loc_bounds = np.searchsorted(loc_col[by_loc], np.arange(n_loc + 1))

    def assortment(li: int) -> I64:
        out: I64 = sku_col[by_loc[loc_bounds[li] : loc_bounds[li + 1]]]
        return out

    start = datetime.combine(run.start_date, dtime(0), UTC)
    start_ms = int(start.timestamp() * 1000)
    homes = _homes(table, stores, spec.destination_radius_km)
    methods = _method_mix(table, scenario)
    chan_names = [c for c, _ in spec.channels]
    chan_p = _normalised([w for _, w in spec.channels])
    eastern = ZoneInfo("America/New_York").utcoffset(start.replace(tzinfo=None)) or timedelta(0)
    hour_p = _normalised(list(np.roll(_EASTERN_PROFILE, -int(eastern.total_seconds() // 3600))))
    ttl_ms = rates.cart_ttl_minutes * MINUTE_MS

    carts: list[Cart] = []
    assortments: dict[int, tuple[I64, F64]] = {}  # store -> (its SKUs, their popularity's cdf)
    for day in range(run.days):
        n = int(rng.poisson(spec.online_orders_per_day))
        hours = rng.choice(24, size=n, p=hour_p)
        at = start_ms + day * DAY_MS + hours * HOUR_MS + rng.integers(0, HOUR_MS, n)
        at.sort()
        for i in range(n):
            chan = chan_names[int(rng.choice(len(chan_names), p=chan_p))]
            offered, weights = methods[chan]
            if not offered:
                continue  # no location serves the channel: nobody can shop there
            method = offered[int(rng.choice(len(offered), p=weights))]
            city = int(_draw(rng, homes.cdf, 1)[0])
            lat, lon = _jitter(rng, float(homes.lat[city]), float(homes.lon[city]), float(homes.km[city]))
            store = -1
            if not method.ships:
                store = _nearby_store(rng, table, chan, method, lat, lon)
            n_lines = min(spec.max_lines, 1 + int(rng.poisson(spec.mean_lines - 1)))
            if store >= 0:
                if store not in assortments:
                    a = assortment(store)
                    assortments[store] = (a, _cdf(popularity[a]))
                pool, pool_cdf = assortments[store]
                if pool.shape[0] == 0:
                    continue
                picked = np.unique(pool[_draw(rng, pool_cdf, n_lines)])
            else:
                picked = np.unique(_draw(rng, sku_cdf, n_lines))
            k = picked.shape[0]
            units = np.where(rng.random(k) < spec.multi_unit_share, rng.integers(2, 4, k), 1)
            abandoned = bool(rng.random() < rates.cart_abandonment)
            delay = int(min(ttl_ms - MINUTE_MS, MINUTE_MS + rng.exponential(spec.checkout_minutes * MINUTE_MS)))
            backorder = bool(rng.random() < rates.backorder)
            returned = rng.random(picked.shape[0]) < rates.returns
            after = np.where(returned, rng.integers(1, rates.return_after_days + 1, picked.shape[0]), 0)
            cart_at = int(at[i])
            carts.append(
                Cart(
                    order_id=f"D{day + 1:03d}-{i + 1:06d}",
                    day=day,
                    cart_at_ms=cart_at,
                    checkout_at_ms=0 if abandoned else cart_at + delay,
                    channel=chan,
                    method=method,
                    lines=tuple((int(s), int(u)) for s, u in zip(picked.tolist(), units.tolist(), strict=True)),
                    latitude=lat,
                    longitude=lon,
                    store=store,
                    return_store=store if store >= 0 else _nearest(table, stores, lat, lon),
                    allow_backorder=backorder,
                    return_after_days=tuple(int(x) for x in after.tolist()),
                )
            )
    walk_ins = _walk_ins(rng, table, stores, assortment, popularity, scenario, start_ms)
    phantom = _phantom(rng, sku_col, loc_col, on_hand, shops, rates.phantom_stock)
    return Demand(start_ms, run.days, tuple(carts), walk_ins, phantom)


# --------------------------------------------------------------------------------------------- pieces
def _cdf(weights: F64) -> F64:
    """The cumulative distribution of non-negative weights (uniform when they are all 0)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape[0] == 0:
        return w
    if float(w.sum()) <= 0:
        w = np.ones(w.shape[0])
    out: F64 = np.cumsum(w)
    out /= out[-1]
    return out


def _draw(rng: np.random.Generator, cdf: F64, n: int) -> I64:
    """n indices drawn by a cdf: a binary search per draw, where rng.choice with p= walks every weight."""
    out: I64 = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cdf.shape[0] - 1).astype(np.int64)
    return out


def _normalised(weights: list[float]) -> F64:
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    out: F64 = w / total if total > 0 else np.full(w.shape[0], 1.0 / max(1, w.shape[0]))
    return out


@dataclass(frozen=True, slots=True)
class _Homes:
    lat: F64
    lon: F64
    km: F64  # how far around the centre a shopper may live
    cdf: F64  # of the population


@functools.cache
def _cities() -> tuple[F64, F64, F64]:
    """Latitude, longitude and population of every city (read once: parsing the data takes 0.4 s)."""
    cities = us_cities()
    lat = np.array([c.latitude for c in cities])
    lon = np.array([c.longitude for c in cities])
    pop = np.array([c.population for c in cities], dtype=np.float64)
    for a in (lat, lon, pop):
        a.flags.writeable = False
    return lat, lon, pop


def _homes(table: LocationTable, stores: I64, radius_km: float) -> _Homes:
    """Cities within `radius_km` of an enabled store, by population; else the stores' own places."""
    lat, lon, pop = _cities()
    near = np.zeros(lat.shape[0], dtype=bool)
    for li in stores.tolist():
        near |= haversine_km(float(table.lat[li]), float(table.lon[li]), lat, lon) <= radius_km
    if not near.any():
        slat, slon = table.lat[stores], table.lon[stores]
        if stores.shape[0] == 0:  # no store at all: around every location
            slat, slon = table.lat, table.lon
        return _Homes(slat.copy(), slon.copy(), np.full(slat.shape[0], 10.0), _cdf(np.ones(slat.shape[0])))
    lat, lon, pop = lat[near], lon[near], pop[near]
    km = 2.0 + 15.0 * np.sqrt(pop / pop.max())
    return _Homes(lat, lon, km, _cdf(pop))


def _jitter(rng: np.random.Generator, lat: float, lon: float, km: float) -> tuple[float, float]:
    dist = km * math.sqrt(float(rng.random()))
    bearing = 2 * math.pi * float(rng.random())
    dlat = dist * math.cos(bearing) / 111.2
    dlon = dist * math.sin(bearing) / (111.2 * max(0.2, math.cos(math.radians(lat))))
    return round(max(-90.0, min(90.0, lat + dlat)), 5), round(max(-180.0, min(180.0, lon + dlon)), 5)


def _method_mix(table: LocationTable, scenario: Scenario) -> dict[str, tuple[list[DeliveryMethod], F64]]:
    """Per channel: the delivery methods some enabled location offers it, with their shares."""
    out: dict[str, tuple[list[DeliveryMethod], F64]] = {}
    for chan, _ in scenario.demand.channels:
        ci = table.channels.get(chan)
        offered: list[DeliveryMethod] = []
        weights: list[float] = []
        for name, w in scenario.demand.methods:
            m = DeliveryMethod(name)
            if ci is not None and w > 0 and table.eligible(ci, m.atp_method).any():
                offered.append(m)
                weights.append(w)
        out[chan] = (offered, _normalised(weights))
    return out


def _nearby_store(
    rng: np.random.Generator, table: LocationTable, chan: str, method: DeliveryMethod, lat: float, lon: float
) -> int:
    ok = np.flatnonzero(table.eligible(table.channel_index(chan), method.atp_method))
    d = haversine_km(lat, lon, table.lat[ok], table.lon[ok])
    nearest = ok[np.argsort(d, kind="stable")[:3]]
    p = _normalised(list(_PICKUP_CHOICE[: nearest.shape[0]]))
    return int(nearest[int(rng.choice(nearest.shape[0], p=p))])


def _nearest(table: LocationTable, stores: I64, lat: float, lon: float) -> int:
    if stores.shape[0] == 0:
        return -1
    return int(stores[int(np.argmin(haversine_km(lat, lon, table.lat[stores], table.lon[stores])))])


def _walk_ins(
    rng: np.random.Generator,
    table: LocationTable,
    stores: I64,
    assortment: Callable[[int], I64],
    popularity: F64,
    scenario: Scenario,
    start_ms: int,
) -> WalkIns:
    rate = scenario.demand.walk_ins_per_store_per_day
    sizes = np.array([assortment(int(li)).shape[0] for li in stores.tolist()], dtype=np.float64)
    scale = sizes / sizes.mean() if sizes.shape[0] and sizes.mean() > 0 else sizes
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    parts: list[tuple[I64, I64, I64, I64]] = []
    for k, li in enumerate(stores.tolist()):
        pool: I64 = assortment(li)
        if pool.shape[0] == 0 or rate <= 0:
            continue
        cdf = _cdf(popularity[pool])
        offset = _utc_offset_ms(table.locations[li].timezone, start)
        for day in range(scenario.run.days):
            n = int(rng.poisson(rate * scale[k]))
            if n == 0:
                continue
            local = rng.integers(_STORE_OPEN * HOUR_MS, _STORE_CLOSE * HOUR_MS, n)
            at = start_ms + day * DAY_MS + local - offset
            skus = pool[_draw(rng, cdf, n)]
            units = np.where(rng.random(n) < scenario.demand.multi_unit_share, 2, 1)
            where = np.full(n, li, dtype=np.int64)
            parts.append((at.astype(np.int64), where, skus.astype(np.int64), units.astype(np.int64)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return WalkIns(empty, empty, empty, empty)
    at, loc, sku, units = (np.concatenate([p[i] for p in parts]) for i in range(4))
    order = np.lexsort((sku, loc, at))
    return WalkIns(at[order], loc[order], sku[order], units[order])


def _utc_offset_ms(timezone: str, at: datetime) -> int:
    try:
        offset = ZoneInfo(timezone).utcoffset(at.replace(tzinfo=None))
    except (KeyError, ValueError):  # an unknown zone name: treat as UTC
        return 0
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def _phantom(
    rng: np.random.Generator,
    sku: I64,
    loc: I64,
    on_hand: I64,
    shops: npt.NDArray[np.bool_],
    rate: float,
) -> dict[tuple[int, int], int]:
    candidates = np.flatnonzero(shops[loc] & (on_hand > 0))
    hit = candidates[rng.random(candidates.shape[0]) < rate]
    units = rng.integers(1, on_hand[hit] + 1)
    rows = zip(sku[hit].tolist(), loc[hit].tolist(), units.tolist(), strict=True)
    return {(int(s), int(li)): int(u) for s, li, u in rows}


__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "Cart", "Demand", "WalkIns", "generate_demand"]
