"""Named scenarios shared by the tests: small networks built from ids, each documented with the situation
it models. Builders return plain engine objects (Snapshot, StockStore, MemoryLedger) so a test reads as
the rules it checks, with no fixture magic in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from availability import (
    AtpConfig,
    Channel,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Sku,
    Snapshot,
    StockStore,
)
from availability.ledger import MemoryLedger
from availability.model import day_number

# 2023-11-14T22:13:20Z: event times in the tests are offsets from here
T0 = 1_700_000_000_000
HOUR = 3_600_000

CHANNELS = ("web", "app", "marketplace", "pos", "callcentre")
ALL_METHODS = frozenset(Method)


class FakeClock:
    """The ledger's clock, moved by hand: retention and the count window depend on it."""

    def __init__(self, now: int = T0 + 1_000 * HOUR) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def loc(
    ident: str,
    kind: LocationType = LocationType.STORE,
    *,
    lat: float = 42.36,
    lon: float = -71.06,
    methods: Iterable[Method] = (Method.SHIP, Method.PICKUP),
    channels: Iterable[str] = ("web", "app", "pos"),
    enabled: bool = True,
) -> Location:
    return Location(
        id=ident,
        name=ident,
        type=kind,
        latitude=lat,
        longitude=lon,
        methods=frozenset(methods),
        channels=frozenset(channels),
        enabled=enabled,
    )


def north_east_locations() -> list[Location]:
    """Two DCs (Massachusetts, Los Angeles), three stores in Boston, Cambridge and New York, a disabled
    Boston store and a Boston dark store. Channels and methods differ per location on purpose:
    - DC-EAST ships for web, app, marketplace and the call centre; DC-WEST ships for web, app, marketplace;
    - ST-BOS ships, offers pickup and curbside for web, app and POS; ST-CAM offers pickup, curbside and
      same day (no ship); ST-NYC ships and offers pickup; ST-OFF is disabled;
    - DK-BOS (dark store) ships and delivers same day, for web and app only."""
    return [
        loc("DC-EAST", LocationType.DISTRIBUTION_CENTER, lat=42.05, lon=-71.45, methods=[Method.SHIP],
            channels=["web", "app", "marketplace", "callcentre"]),
        loc("DC-WEST", LocationType.DISTRIBUTION_CENTER, lat=34.05, lon=-118.24, methods=[Method.SHIP],
            channels=["web", "app", "marketplace"]),
        loc("ST-BOS", lat=42.3601, lon=-71.0589, methods=[Method.SHIP, Method.PICKUP, Method.CURBSIDE]),
        loc("ST-CAM", lat=42.3736, lon=-71.1097, methods=[Method.PICKUP, Method.CURBSIDE, Method.SAME_DAY]),
        loc("ST-NYC", lat=40.7128, lon=-74.0060, methods=[Method.SHIP, Method.PICKUP]),
        loc("ST-OFF", lat=42.3500, lon=-71.0500, enabled=False),
        loc("DK-BOS", LocationType.DARK_STORE, lat=42.3400, lon=-71.1000,
            methods=[Method.SHIP, Method.SAME_DAY], channels=["web", "app"]),
    ]  # fmt: skip


def north_east_groups() -> list[LocationGroup]:
    """NE-STORES: the four north-east stores (one of them disabled); DCS: both DCs; BOSTON: everything in
    Boston proper (two stores and the dark store)."""
    return [
        LocationGroup("NE-STORES", ("ST-BOS", "ST-CAM", "ST-NYC", "ST-OFF")),
        LocationGroup("DCS", ("DC-EAST", "DC-WEST")),
        LocationGroup("BOSTON", ("ST-BOS", "ST-OFF", "DK-BOS")),
    ]


@dataclass
class Stock:
    """Stock of a scenario by id: on hand per (sku, location), explicit safety stock, inbound supply
    (sku, location, quantity, expected date, type) and ring-fences (sku, channel, quantity, consumed)."""

    on_hand: Mapping[tuple[str, str], int] = field(default_factory=dict)
    safety: Mapping[tuple[str, str], int] = field(default_factory=dict)
    inbound: Sequence[tuple[str, str, int, date, InboundType]] = ()
    allocations: Sequence[tuple[str, str, int, int]] = ()
    skus: Sequence[str] = ()


def snapshot_of(
    locations: Sequence[Location],
    stock: Stock,
    *,
    channels: Sequence[str] = CHANNELS,
    groups: Sequence[LocationGroup] = (),
) -> Snapshot:
    """A Snapshot from ids: the dense indices are assigned here, SKUs in first-seen order."""
    sku_ids: list[str] = list(dict.fromkeys([*stock.skus, *(s for s, _ in stock.on_hand)]))
    for s, *_ in stock.inbound:
        if s not in sku_ids:
            sku_ids.append(s)
    for s, *_ in stock.allocations:
        if s not in sku_ids:
            sku_ids.append(s)
    si = {s: i for i, s in enumerate(sku_ids)}
    li = {loc.id: i for i, loc in enumerate(locations)}
    ci = {c: i for i, c in enumerate(channels)}
    pairs = sorted(stock.on_hand, key=lambda p: (si[p[0]], li[p[1]]))

    def i32(values: Iterable[int]) -> np.ndarray:
        return np.array(list(values), dtype=np.int32)

    return Snapshot(
        locations=list(locations),
        channels=[Channel(c) for c in channels],
        skus=[Sku(s) for s in sku_ids],
        groups=list(groups),
        stock_sku=i32(si[s] for s, _ in pairs),
        stock_loc=i32(li[lo] for _, lo in pairs),
        stock_on_hand=i32(stock.on_hand[p] for p in pairs),
        stock_safety=i32(stock.safety.get(p, -1) for p in pairs),
        inbound_sku=i32(si[s] for s, *_ in stock.inbound),
        inbound_loc=i32(li[lo] for _, lo, *_ in stock.inbound),
        inbound_qty=i32(q for _, _, q, _, _ in stock.inbound),
        inbound_day=i32(day_number(d) for *_, d, _ in stock.inbound),
        inbound_type=i32(int(t) for *_, t in stock.inbound),
        alloc_sku=i32(si[s] for s, *_ in stock.allocations),
        alloc_channel=i32(ci[c] for _, c, *_ in stock.allocations),
        alloc_qty=i32(q for _, _, q, _ in stock.allocations),
        alloc_consumed=i32(u for *_, u in stock.allocations),
    )


def north_east(stock: Stock, config: AtpConfig | None = None) -> StockStore:
    """The north-east network (see north_east_locations) holding `stock`."""
    return StockStore.from_snapshot(
        snapshot_of(north_east_locations(), stock, groups=north_east_groups()), config or AtpConfig()
    )


def everyday_stock() -> Stock:
    """A plain day: SKU "TEE" in every location (the disabled store too), "MUG" only in the DCs, "CAP"
    only at ST-CAM, nothing reserved, no explicit safety stock (stores default to 1), no inbound, no
    ring-fences."""
    tee = {("TEE", lo.id): 10 for lo in north_east_locations()}
    return Stock(on_hand={**tee, ("MUG", "DC-EAST"): 5, ("MUG", "DC-WEST"): 7, ("CAP", "ST-CAM"): 3})


def marketplace_ring_fence() -> Stock:
    """A product ring-fenced for the marketplace: "LAMP" has 10 at each DC and 5 at ST-BOS (store default
    safety 1, so 24 free over the network); 8 units are ring-fenced for the marketplace, 3 of them already
    consumed; the web shop keeps 2 ring-fenced, none consumed."""
    return Stock(
        on_hand={("LAMP", "DC-EAST"): 10, ("LAMP", "DC-WEST"): 10, ("LAMP", "ST-BOS"): 5},
        allocations=[("LAMP", "marketplace", 8, 3), ("LAMP", "web", 2, 0)],
    )


def future_supply(today: date) -> Stock:
    """Supply on its way to DC-EAST for "SOFA" (2 on hand): 100 in transit due in 3 days, 50 on order due
    in 10 days, and 20 in transit already overdue (expected yesterday, not yet received)."""
    from datetime import timedelta

    return Stock(
        on_hand={("SOFA", "DC-EAST"): 2},
        inbound=[
            ("SOFA", "DC-EAST", 100, today + timedelta(days=3), InboundType.IN_TRANSIT),
            ("SOFA", "DC-EAST", 50, today + timedelta(days=10), InboundType.ON_ORDER),
            ("SOFA", "DC-EAST", 20, today - timedelta(days=1), InboundType.IN_TRANSIT),
        ],
    )


def ledger_over(store: StockStore, clock: FakeClock | None = None, **kwargs: Any) -> MemoryLedger:
    """A memory ledger over `store` with a hand-moved clock (a day's count window by default)."""
    return MemoryLedger(store, clock_ms=clock or FakeClock(), **kwargs)


def grid_network(n_locations: int, channels: Sequence[str] = ("web", "app")) -> list[Location]:
    """n stores on a grid around Boston, all enabled, all serving every channel with every method: the
    network where "eligible" means "stocked", for property and concurrency tests."""
    return [
        loc(f"L{i:04d}", lat=42.0 + (i % 10) * 0.05, lon=-71.5 + (i // 10) * 0.05, methods=ALL_METHODS,
            channels=channels)
        for i in range(n_locations)
    ]  # fmt: skip


def grid_store(
    n_locations: int,
    on_hand: Mapping[tuple[str, str], int],
    *,
    skus: Sequence[str] = (),
    config: AtpConfig | None = None,
) -> StockStore:
    """`grid_network` holding `on_hand`, with zero default safety stock (so ATP is plain on hand)."""
    cfg = config or AtpConfig(default_safety=(0, 0, 0, 0))
    snap = snapshot_of(grid_network(n_locations), Stock(on_hand=on_hand, skus=skus), channels=("web", "app"))
    return StockStore.from_snapshot(snap, cfg)


def full_state(store: StockStore) -> dict[str, object]:
    """Everything a reader can observe, by id: positions (on hand, reserved, safety, explicit flag, inbound),
    ring-fences, SKUs, locations and the sequence. Two equal dicts mean no observable change."""
    view = store.view()
    positions = {}
    fences = {}
    for s, sku in enumerate(view.skus.ids):
        for li in store.sku_locations(s).tolist():
            p = store.position(s, li)
            assert p is not None
            positions[(sku, p.location)] = (
                p.on_hand,
                p.reserved,
                p.safety_stock,
                p.safety_explicit,
                p.inbound,
            )
        fences[sku] = [(view.network.channels.id(c), q, u) for c, q, u in store.allocations(s)]
    return {
        "positions": positions,
        "fences": fences,
        "skus": list(view.skus.ids),
        "locations": view.network.locations,
        "sequence": store.sequence,
    }
