"""Routing scenarios: a small hand-made network around Boston whose distances, time zones and costs are
easy to reason about, and a clock fixed at a known instant. Builders return plain engine objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time

import numpy as np
import numpy.typing as npt

from availability import Location, LocationType, Method, Sku, StockStore
from router import Destination, Order, OrderLine, RoutingOptions, RoutingProblem, RoutingResult
from router.model import DeliveryMethod
from tests.scenarios import Stock, snapshot_of

# Monday 2026-01-05, 10:00 in Boston (15:00 UTC): before every cut-off of the network below
PLACED_AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
ORDER_DAY = date(2026, 1, 5)
BOSTON = Destination.point(42.3601, -71.0589)
CHANNELS = ("web", "app", "pos")


def place(
    ident: str,
    kind: LocationType,
    lat: float,
    lon: float,
    *,
    methods: Sequence[Method] = (Method.SHIP,),
    timezone: str = "America/New_York",
    processing_hours: int = 24,
    cutoff: time = time(15, 0),
    capacity: int = 100,
    per_order: int = 150,
    per_unit: int = 20,
    priority: int = 50,
    channels: Sequence[str] = ("web", "app"),
    enabled: bool = True,
) -> Location:
    return Location(
        id=ident,
        name=ident,
        type=kind,
        latitude=lat,
        longitude=lon,
        timezone=timezone,
        methods=frozenset(methods),
        channels=frozenset(channels),
        processing_hours=processing_hours,
        cutoff=cutoff,
        daily_capacity=capacity,
        handling_cost_per_order=per_order,
        handling_cost_per_unit=per_unit,
        priority=priority,
        enabled=enabled,
    )


def boston_locations() -> list[Location]:
    """Seen from a shopper in Boston:
    - DC-EAST: distribution centre 50 km west of Boston (zone 1, 1 day standard), priority 10;
    - DC-WEST: distribution centre in Los Angeles (4,200 km: the dearest zone, 6 days), priority 5,
      Pacific time, the cheapest handling;
    - ST-BOS: store in Boston (ship, pickup, curbside, same day; ready in 2 h, cut-off 18:00), priority 50;
    - ST-NYC: store in New York (300 km: zone 2, 2 days), priority 40;
    - ST-CHI: store in Chicago (1,370 km: zone 5, 4 days), Central time, priority 30;
    - DK-BOS: dark store in Boston, same day only (ready in 1 h, cut-off 20:00);
    - ST-OFF: a disabled store in Boston.
    Stores add the cost model's store surcharge (150 per order, 25 per unit) to their own handling."""
    return [
        place("DC-EAST", LocationType.DISTRIBUTION_CENTER, 42.05, -71.45, priority=10),
        place("DC-WEST", LocationType.DISTRIBUTION_CENTER, 34.05, -118.24, timezone="America/Los_Angeles",
              per_order=120, per_unit=15, priority=5),
        place("ST-BOS", LocationType.STORE, 42.3601, -71.0589,
              methods=(Method.SHIP, Method.PICKUP, Method.CURBSIDE, Method.SAME_DAY), processing_hours=2,
              cutoff=time(18, 0), per_order=400, per_unit=60, channels=("web", "app", "pos")),
        place("ST-NYC", LocationType.STORE, 40.7128, -74.0060, processing_hours=2, cutoff=time(18, 0),
              per_order=400, per_unit=60, priority=40, channels=("web", "app", "pos")),
        place("ST-CHI", LocationType.STORE, 41.8781, -87.6298, timezone="America/Chicago", processing_hours=2,
              cutoff=time(18, 0), per_order=400, per_unit=60, priority=30, channels=("web", "app", "pos")),
        place("DK-BOS", LocationType.DARK_STORE, 42.34, -71.10, methods=(Method.SAME_DAY,), processing_hours=1,
              cutoff=time(20, 0), per_order=250, per_unit=40, priority=20),
        place("ST-OFF", LocationType.STORE, 42.35, -71.05, enabled=False),
    ]  # fmt: skip


def boston(
    on_hand: Mapping[tuple[str, str], int],
    *,
    weights: Mapping[str, int | None] | None = None,
    allocations: Sequence[tuple[str, str, int, int]] = (),
    safety: Mapping[tuple[str, str], int] | None = None,
) -> StockStore:
    """The Boston network holding `on_hand` (store positions keep the default safety stock of 1 unless
    `safety` says otherwise, so a store with n on hand has ATP n - 1). SKUs weigh 500 g unless given."""
    snap = snapshot_of(
        boston_locations(),
        Stock(on_hand=on_hand, safety=safety or {}, allocations=allocations),
        channels=CHANNELS,
    )
    w = weights or {}
    snap.skus = [Sku(s.id, w.get(s.id, 500)) for s in snap.skus]
    return StockStore.from_snapshot(snap)


def order(
    *lines: tuple[str, int],
    method: DeliveryMethod = DeliveryMethod.STANDARD,
    destination: Destination = BOSTON,
    deliver_by: date | None = None,
    placed_at: datetime = PLACED_AT,
    channel: str = "web",
    **options: object,
) -> Order:
    """An order from Boston placed at PLACED_AT; keyword options go to RoutingOptions."""
    return Order(
        order_id="O-1",
        channel=channel,
        lines=tuple(OrderLine(s, q) for s, q in lines),
        destination=destination,
        method=method,
        deliver_by=deliver_by,
        placed_at=placed_at,
        options=RoutingOptions(**options),  # type: ignore[arg-type]
    )


def demo_orders(store: StockStore, n: int, *, seed: int, lines: int | None = None) -> list[Order]:
    """Random orders against a generated network: 1-10 lines (or exactly `lines`) of SKUs drawn by how
    widely they are stocked, 1-3 units each, to a point near a random location, allowing partial
    fulfilment (so that every order has an answer to compare)."""
    view = store.view()
    n_sku = len(view.skus)
    breadth = np.array([store.sku_locations(s).shape[0] for s in range(n_sku)], dtype=np.float64) + 0.1
    rng = np.random.default_rng(seed)
    network = view.network
    out = []
    for i in range(n):
        k = lines if lines is not None else int(rng.integers(1, 11))
        skus = rng.choice(n_sku, size=k, replace=False, p=breadth / breadth.sum())
        at = int(rng.integers(0, len(network)))
        lat = float(np.clip(network.lat[at] + rng.normal(0, 0.3), -89, 89))
        lon = float(np.clip(network.lon[at] + rng.normal(0, 0.3), -179, 179))
        out.append(
            Order(
                order_id=f"D-{seed}-{i}",
                channel="web",
                lines=tuple(OrderLine(view.skus.id(int(s)), int(rng.integers(1, 4))) for s in skus),
                destination=Destination.point(lat, lon),
                placed_at=PLACED_AT,
                options=RoutingOptions(allow_partial=True),
            )
        )
    return out


def plan_of(problem: RoutingProblem, result: RoutingResult) -> npt.NDArray[np.int64]:
    """The x[C, L] array of a result's shipments, over the problem's pool rows."""
    row = {lid: r for r, lid in enumerate(problem.location_ids)}
    x = np.zeros((problem.pool, problem.lines), dtype=np.int64)
    for s in result.shipments:
        for ln in s.lines:
            x[row[s.location], ln.line] += ln.quantity
    return x
