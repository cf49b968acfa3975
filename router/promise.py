"""Checkout promise: every way a shopper can receive a cart, with dates and costs, from the same candidate
pools and cost model as routing (`build_problem`, `solve`).

    quote = quote_fulfillment_options(store, [("SKU-1", 2), ("SKU-2", 1)], Destination.point(42.36, -71.06),
                                      channel="web")
    quote.ship        # standard, express, same day: the earliest delivery date, its cost, one parcel or not
    quote.stores      # pickup and curbside: the nearest stores that can serve the cart, ready when

Ship service levels. For each level, the pool of the whole cart (partial allowed) gives every usable
location's delivery date. The earliest date D at which the usable locations delivering by D together
hold everything the cart can get is the promise; the quoted cost is the optimiser's cheapest plan among
the locations delivering by D (so the date is met and the cost is what routing would spend on it), and
`single_parcel` says whether that plan is one shipment. A cart the level cannot serve in full is quoted
for what it can (`partial`, with each short line and its reason); a level that can deliver nothing is
listed as unavailable, with the reason.

Pickup and curbside. Stores offering the method for the channel, within `store_radius_km` of the
destination point, nearest first: first those that hold the whole cart, then (when fewer than
`max_stores` do) those that hold part of it, flagged `partial`. Each is priced and dated by routing the
cart to it (`build_problem` with the store as destination): it is ready on its ship date. `ready_at`:
the order's time plus the store's processing hours when that is before the store's cut-off on the same
local day and that day is a working day; otherwise the cut-off of the next working day (an order after
the cut-off is picked the next day, by the cut-off at the latest; the network's `Calendar` says which
days are working days).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from availability.errors import InvalidArgument
from availability.locations import Scope
from availability.store import StockStore

from .candidates import CapacityUse, RoutingProblem, build_problem
from .model import (
    MAX_LINES,
    Block,
    DeliveryMethod,
    Destination,
    Order,
    OrderLine,
    RoutingOptions,
    SolveStatus,
    UnfulfilledLine,
    UnfulfilledReason,
)
from .network import DEFAULT_COST_MODEL, MINUTES_PER_DAY, CostModel, NetworkCosts, network_costs
from .plans import line_reasons
from .solve import solve

I64 = npt.NDArray[np.int64]

SHIP_METHODS = (DeliveryMethod.STANDARD, DeliveryMethod.EXPRESS, DeliveryMethod.SAME_DAY)
STORE_METHODS = (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE)
DEFAULT_MAX_STORES = 3
DEFAULT_STORE_RADIUS_KM = 50.0
# A quote is a checkout call: the optimiser gets a short leash (it settles 5-line carts by its bound in
# well under a millisecond on the demo network; a time-out still answers its best plan).
QUOTE_TIME_LIMIT_S = 0.2
QUOTE_ID = "quote"

_REASON_TEXT = {
    UnfulfilledReason.UNKNOWN_SKU: "unknown SKU",
    UnfulfilledReason.NO_STOCK: "not enough stock at locations offering this method",
    UnfulfilledReason.EXCLUDED: "only at excluded locations",
    UnfulfilledReason.DELIVER_BY: "no location in range or in time",
    UnfulfilledReason.CAPACITY: "no capacity left on the ship day",
    UnfulfilledReason.MAX_SHIPMENTS: "not within the shipment limit",
}


@dataclass(frozen=True, slots=True)
class ShipOption:
    """A ship service level. `delivery_date`, `cost` (cents), `shipments` and `locations` describe the
    cheapest plan arriving by the earliest date; None / 0 / () when `available` is False."""

    method: DeliveryMethod
    available: bool
    delivery_date: date | None
    cost: int
    shipments: int
    single_parcel: bool
    partial: bool  # only part of the cart can come this way (see `missing`)
    missing: tuple[UnfulfilledLine, ...]
    locations: tuple[str, ...]
    reason: str = ""  # why it is unavailable


@dataclass(frozen=True, slots=True)
class StoreOption:
    """A store to collect from (pickup or curbside), ready on `ready_date` (at `ready_at`)."""

    method: DeliveryMethod
    store: str
    name: str
    distance_km: float
    ready_date: date
    ready_at: datetime
    cost: int  # cents: what preparing the order there costs the retailer
    partial: bool
    missing: tuple[UnfulfilledLine, ...]


@dataclass(frozen=True, slots=True)
class FulfillmentQuote:
    ship: tuple[ShipOption, ...]  # in the order of the methods asked
    stores: tuple[StoreOption, ...]  # pickup stores nearest first, then curbside stores nearest first
    unknown_skus: tuple[str, ...]
    sequence: int  # the store sequence the first pool was read at

    def option(self, method: DeliveryMethod) -> ShipOption:
        for o in self.ship:
            if o.method is method:
                return o
        raise KeyError(method)

    def stores_for(self, method: DeliveryMethod) -> tuple[StoreOption, ...]:
        return tuple(s for s in self.stores if s.method is method)


def quote_fulfillment_options(
    store: StockStore,
    lines: Sequence[OrderLine | tuple[str, int]],
    destination: Destination,
    *,
    channel: str,
    cost_model: CostModel | None = None,
    now: datetime | None = None,
    methods: Sequence[DeliveryMethod] = (*SHIP_METHODS, *STORE_METHODS),
    max_stores: int = DEFAULT_MAX_STORES,
    store_radius_km: float = DEFAULT_STORE_RADIUS_KM,
    capacity_use: CapacityUse | None = None,
) -> FulfillmentQuote:
    """Every way to receive the cart (see the module docstring). `now`: the time of the quote (default:
    the current time); unknown SKUs are answered, flagged, never an error. `capacity_use`: shipments
    already promised per day and location (a full location is not quoted), as for `build_problem`."""
    model = cost_model or DEFAULT_COST_MODEL
    at = now or datetime.now(UTC)
    if at.tzinfo is None:
        raise InvalidArgument("now", at, "must be a timezone-aware datetime")
    if not isinstance(destination, Destination) or destination.store:
        raise InvalidArgument("destination", destination, "a quote needs the shopper's point")
    if isinstance(max_stores, bool) or not isinstance(max_stores, int) or not 1 <= max_stores <= 50:
        raise InvalidArgument("max_stores", max_stores, "must be an integer in [1, 50]")
    if (
        isinstance(store_radius_km, bool)
        or not isinstance(store_radius_km, (int, float))
        or not (math.isfinite(store_radius_km) and 0 < store_radius_km <= 20_100)
    ):
        raise InvalidArgument("store_radius_km", store_radius_km, "must be a number of km in (0, 20100]")
    cart = tuple(ln if isinstance(ln, OrderLine) else OrderLine(*ln) for ln in lines)
    if len(cart) > MAX_LINES:
        raise InvalidArgument("lines", len(cart), f"at most {MAX_LINES} lines per cart")
    wanted = tuple(dict.fromkeys(methods))
    for i, m in enumerate(wanted):
        if not isinstance(m, DeliveryMethod):
            raise InvalidArgument(f"methods[{i}]", m, f"must be one of {[x.value for x in DeliveryMethod]}")

    ship: list[ShipOption] = []
    sequence = store.sequence
    unknown: tuple[str, ...] = ()
    for m in wanted:
        if not m.ships:
            continue
        order = _cart_order(cart, channel, destination, m, at)
        problem = build_problem(store, order, cost_model=model, now=at, capacity_use=capacity_use)
        if not ship:
            sequence = problem.sequence
            unknown = tuple(s for s, k in zip(problem.line_skus, problem.line_sku.tolist(), strict=True) if k < 0)
        ship.append(_ship_option(problem))
    if not ship:
        # the Order validates the cart (ids, quantities, duplicates) even when no ship level is asked
        probe = _cart_order(cart, channel, destination, DeliveryMethod.STANDARD, at)
        unknown = tuple(ln.sku for ln in probe.lines if store.skus.get(ln.sku) is None)
    stores: list[StoreOption] = []
    for m in wanted:
        if not m.ships:
            stores.extend(
                _store_options(
                    store, model, cart, channel, destination, m, at, max_stores, store_radius_km, capacity_use
                )
            )
    return FulfillmentQuote(tuple(ship), tuple(stores), unknown, sequence)


def _cart_order(
    cart: tuple[OrderLine, ...], channel: str, destination: Destination, method: DeliveryMethod, at: datetime
) -> Order:
    return Order(
        order_id=QUOTE_ID,
        channel=channel,
        lines=cart,
        destination=destination,
        method=method,
        placed_at=at,
        options=RoutingOptions(allow_partial=True),
    )


def _missing(problem: RoutingProblem, shipped: I64) -> tuple[UnfulfilledLine, ...]:
    reasons = line_reasons(problem, shipped)
    return tuple(
        UnfulfilledLine(j, problem.line_skus[j], int(problem.requested[j]), int(problem.requested[j] - shipped[j]), r)
        for j, r in enumerate(reasons)
        if r is not None
    )


def earliest_full_day(problem: RoutingProblem) -> int | None:
    """The earliest delivery day D at which the usable rows delivering by D hold everything the cart can
    get (`fulfillable`), or None when it can get nothing. Days are few (a handful of transit bands), so
    each is checked in turn, earliest first."""
    fulfil = problem.fulfillable()
    if int(fulfil.sum()) == 0:
        return None
    rows = np.flatnonzero(problem.serving)
    days = problem.delivery_day[rows]
    for d in np.unique(days).tolist():
        held = problem.atp[rows[days <= d]].sum(axis=0)
        if bool((held >= fulfil).all()):
            return int(d)
    raise AssertionError("the usable rows together hold what is fulfillable")  # pragma: no cover


def _ship_option(problem: RoutingProblem) -> ShipOption:
    method = problem.order.method
    day = earliest_full_day(problem)
    if day is None:
        missing = _missing(problem, np.zeros(problem.lines, dtype=np.int64))
        reasons = sorted({_REASON_TEXT[m.reason] for m in missing})
        return ShipOption(method, False, None, 0, 0, False, True, missing, (), "; ".join(reasons))
    late = (problem.delivery_day > day) & (problem.block == Block.USABLE)
    block = np.where(late, np.int8(Block.DELIVER_BY), problem.block).astype(np.int8)
    block.flags.writeable = False
    by_day = replace(problem, block=block, deliver_by_day=day)
    result = solve(by_day, time_limit_s=QUOTE_TIME_LIMIT_S)
    if result.status is SolveStatus.INFEASIBLE:  # pragma: no cover - the day was chosen to be coverable
        raise AssertionError(f"no plan by the earliest coverable day: {result.message}")
    missing = _missing(problem, problem.fulfillable())
    return ShipOption(
        method=method,
        available=True,
        delivery_date=max(s.delivery_date for s in result.shipments),
        cost=result.total_cost,
        shipments=result.shipment_count,
        single_parcel=result.shipment_count == 1,
        partial=bool(missing),
        missing=missing,
        locations=tuple(s.location for s in result.shipments),
    )


def _store_options(
    store: StockStore,
    model: CostModel,
    cart: tuple[OrderLine, ...],
    channel: str,
    destination: Destination,
    method: DeliveryMethod,
    at: datetime,
    max_stores: int,
    radius_km: float,
    capacity_use: CapacityUse | None,
) -> list[StoreOption]:
    lat, lon = destination.latitude, destination.longitude
    assert lat is not None and lon is not None  # checked by the caller
    view = store.view()
    table = view.network
    chan = table.channel_index(channel)
    sku_idx = np.array([-1 if (k := view.skus.get(ln.sku)) is None else k for ln in cart], dtype=np.int64)
    requested = np.array([ln.quantity for ln in cart], dtype=np.int64)
    near = Scope.within(lat, lon, radius_km)
    rows = store.atp_rows(sku_idx, chan, method.atp_method, near, per_location=True)
    keep = rows.location_quantity > 0
    locs, inverse = np.unique(rows.location[keep].astype(np.int64), return_inverse=True)
    if not locs.shape[0]:
        return []
    atp = np.zeros((locs.shape[0], len(cart)), dtype=np.int64)
    atp[inverse, rows.sku_row[keep]] = rows.location_quantity[keep]
    costs = network_costs(table, model)
    distance = costs.distances_km(lat, lon, locs)
    covered = np.minimum(atp, requested[None, :]).sum(axis=1)
    whole: npt.NDArray[np.bool_] = np.all(atp >= requested[None, :], axis=1)
    by_distance = np.lexsort((locs, distance))
    chosen = [int(r) for r in by_distance if whole[r]][:max_stores]
    if len(chosen) < max_stores:
        chosen += [int(r) for r in by_distance if not whole[r] and covered[r] > 0][: max_stores - len(chosen)]
    ready_at = _ready_at(costs, at, locs)
    out = []
    for r in chosen:
        loc_id = table.index.ids[int(locs[r])]
        order = _cart_order(cart, channel, Destination.at_store(loc_id), method, at)
        problem = build_problem(store, order, cost_model=model, now=at, capacity_use=capacity_use)
        result = solve(problem, time_limit_s=QUOTE_TIME_LIMIT_S)
        shipped = np.zeros(problem.lines, dtype=np.int64)
        for s in result.shipments:
            for ln in s.lines:
                shipped[ln.line] += ln.quantity
        if not result.shipments:  # the stock went between the two reads: nothing to offer here
            continue
        out.append(
            StoreOption(
                method=method,
                store=loc_id,
                name=table.locations[int(locs[r])].name,
                distance_km=round(float(distance[r]), 1),
                ready_date=result.shipments[0].ship_date,
                ready_at=ready_at[r],
                cost=result.total_cost,
                partial=bool(result.unfulfilled),
                missing=_missing(problem, shipped),
            )
        )
    return out


def _ready_at(costs: NetworkCosts, at: datetime, locs: I64) -> list[datetime]:
    """When an order placed at `at` is ready at each location (see the module docstring): the order's
    time plus processing when that is before the cut-off of a working day, else the cut-off of the ship
    day (the next working day)."""
    utc_min = int(at.astimezone(UTC).timestamp() // 60)
    offset = costs.utc_offsets_min(at)[costs.tz_index[locs]]
    ready = utc_min + offset + costs.processing_min[locs]
    ship_day = costs.ship_days(at, locs)
    same_day = ship_day == ready // MINUTES_PER_DAY
    ready_local = np.where(same_day, ready, ship_day * MINUTES_PER_DAY + costs.cutoff_min[locs])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [epoch + timedelta(minutes=int(m)) for m in (ready_local - offset).tolist()]
