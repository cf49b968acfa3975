"""Back orders dated by inbound supply: when an order allows back orders, each line it could not ship now
gets the date the network's inbound supply (the snapshot's `inbound` file) covers its missing units, at
the location that would ship them, and the delivery date that follows.

For a back-ordered line of SKU s missing m units, the expected days of s's inbound are tried in order
(a day already past counts as the order's day). On day D the engine's own ATP as of D (on hand, holds,
safety stock, ring-fences, and the promisable share of inbound arriving by D: the same rules as every
promise) is read per location, less what the plan already takes there; the first D at which one
location that may serve the order (its channel and method, not excluded; for pickup the store itself)
has m units, and the network figure has them too, is the expected date. Among such locations the one
delivering first (then the nearer) is named: it ships on the later of its usual ship day and D, rolled
to its next working day, and delivers after the transit days of its distance, in carrier working days.
No inbound at all, or none that covers m at one location: back-ordered without a date, and the note
says which.

The date is a promise read from supply, not a hold on it: two back orders may count on the same inbound
units (the ledger holds only stock on hand).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from availability.locations import Scope
from availability.model import day_number
from availability.store import StockStore, StoreView

from .model import Order, RoutingResult, ServiceLevel, UnfulfilledLine, date_of
from .network import DEFAULT_COST_MODEL, CostModel, NetworkCosts, network_costs

I64 = npt.NDArray[np.int64]
NETWORK = Scope()


def date_backorders(
    store: StockStore,
    order: Order,
    result: RoutingResult,
    *,
    cost_model: CostModel | None = None,
    now: datetime | None = None,
) -> RoutingResult:
    """The result with each back-ordered line dated by inbound supply (see the module docstring);
    unchanged when nothing is back-ordered. `now`: the order's time when it has no `placed_at`."""
    if not any(u.backordered for u in result.unfulfilled):
        return result
    model = cost_model or DEFAULT_COST_MODEL
    placed_at = order.placed_at or now or order.placed_at_or_now()
    taken: dict[tuple[str, str], int] = {}
    for s in result.shipments:
        for ln in s.lines:
            taken[(s.location, ln.sku)] = taken.get((s.location, ln.sku), 0) + ln.quantity

    def dated(view: StoreView) -> tuple[UnfulfilledLine, ...]:
        costs = network_costs(view.network, model)
        return tuple(
            _dated_line(view, costs, model, order, placed_at, u, taken) if u.backordered else u
            for u in result.unfulfilled
        )

    return replace(result, unfulfilled=store.read(dated))


def _dated_line(
    view: StoreView,
    costs: NetworkCosts,
    model: CostModel,
    order: Order,
    placed_at: datetime,
    u: UnfulfilledLine,
    taken: dict[tuple[str, str], int],
) -> UnfulfilledLine:
    s = view.skus.get(u.sku)
    if s is None:
        return replace(u, backorder_note=f"unknown SKU {u.sku}: no supply to date it by")
    days = view.inbound_days(s)
    if not days.shape[0]:
        return replace(u, backorder_note=f"no inbound supply of {u.sku}: no date")
    table = view.network
    chan = table.channel_index(order.channel)
    method = order.method
    order_day = day_number(placed_at.astimezone(UTC).date())
    blocked = np.zeros(len(table.locations), dtype=np.bool_)
    line = order.lines[u.line]
    for name, ids in (
        ("options.excluded_locations", order.options.excluded_locations),
        (f"lines[{u.line}].excluded_locations", line.excluded_locations),
    ):
        if ids:
            blocked[table.resolve_locations(name, ids)] = True
    at_store = None if method.ships else table.index.get(order.destination.store)
    shipped = u.requested - u.missing
    names = table.index.ids
    for day in np.unique(np.maximum(days, order_day)).tolist():
        rows = view.atp_rows(np.array([s], dtype=np.int64), chan, method.atp_method, NETWORK, int(day), True)
        if int(rows.quantity[0]) - shipped < u.missing:
            continue
        locs = rows.location.astype(np.int64)
        left = rows.location_quantity - np.array([taken.get((names[k], u.sku), 0) for k in locs.tolist()], np.int64)
        ok = (left >= u.missing) & ~blocked[locs]
        if at_store is not None:
            ok &= locs == at_store
        if not ok.any():
            continue
        cand = locs[ok]
        ship, arrive, km = _dates(costs, model, order, placed_at, cand, int(day))
        best = int(np.lexsort((cand, km, arrive))[0])
        return replace(
            u,
            expected_date=date_of(int(day)),
            expected_location=names[int(cand[best])],
            expected_delivery_date=date_of(int(arrive[best])),
            backorder_note=(
                f"{u.missing} {u.sku} from inbound supply at {names[int(cand[best])]} on "
                f"{date_of(int(day)).isoformat()}, ships {date_of(int(ship[best])).isoformat()}"
            ),
        )
    return replace(
        u, backorder_note=f"inbound supply of {u.sku} does not cover the {u.missing} missing units at one location"
    )


def _dates(
    costs: NetworkCosts, model: CostModel, order: Order, placed_at: datetime, locs: I64, arrival_day: int
) -> tuple[I64, I64, npt.NDArray[np.float64]]:
    """(ship day, delivery day, km) of a back order shipped from each location once supply arrives."""
    usual = costs.ship_days(placed_at, locs)
    ship = costs.next_ship_days(np.maximum(usual, arrival_day), locs)
    if not order.method.ships:
        return ship, ship, np.zeros(locs.shape[0], dtype=np.float64)
    lat, lon = order.destination.latitude, order.destination.longitude
    assert lat is not None and lon is not None  # Destination guarantees a point when it ships
    km = costs.distances_km(lat, lon, locs)
    service = order.method.service
    if service is ServiceLevel.SAME_DAY:
        return ship, ship, km
    return ship, costs.delivery_days(ship, model.transit_days(km, service)), km
