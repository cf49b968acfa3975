"""Routing against the live ledger: route an order and hold its plan, reroute after a store's rejection,
quote a cart. The glue between the router library (pure planning over the read model) and the Ledger
protocol (atomic writes, memory or Redis); RoutingServicer only translates protobuf to these calls.

Holding a plan (`OrderRouter.route(..., hold=True)`). The order's reservation is the one named, else the
one whose id is the order id. Its own holds count as available to the order (router.holds), then:
- no reservation yet: Reserve the plan's location lines under the order id, then Confirm;
- a reservation: Confirm with moves (its group and network lines go to the plan's locations), then
  release what it still holds of the order's SKUs beyond the plan.
Either way the ledger checks the stock atomically and changes nothing when it is short. When another
checkout took planned stock first (InsufficientStock), the order is routed again on fresh arrays, with
what the ledger said is left at those locations as a cap (a Redis replica may not have seen the other
hold yet), at most `max_reroutes` times; the answer says how many. A plan that ships nothing holds
nothing and is an answer, not an error.

Rerouting (`OrderRouter.reroute`): router.reroute plans it; this module applies it in the order that
leaves the order covered at every step: route what is left (the rejected units count as the order's
own, the rejecting stores excluded), hold the new plan in a reservation of its own
(`{order_id}/reroute/{key}`), then release the rejected units (a partial release keyed by the
operation) and record the stock events (ids keyed by the operation). A failure before the release
changes nothing but what was already held; every step is idempotent by the operation's key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from availability.errors import FailedPrecondition, InsufficientStock, InvalidArgument, NotFound
from availability.ledger import Ledger
from availability.locations import LocationTable
from availability.model import EventResult, StockEvent, check_id, day_number, utc_now_ms
from availability.reservations import OPEN, LineQuantity, Reservation, ReserveRequest
from router import (
    DEFAULT_POLICY,
    BatchResult,
    CostModel,
    Destination,
    Order,
    OrderLine,
    RoutingProblem,
    RoutingResult,
    build_problem,
    date_backorders,
    get_policy,
    network_costs,
    route,
    solve_batch,
)
from router.batch import DEFAULT_BATCH_TIME_LIMIT_S
from router.holds import HoldPlan, plan_hold
from router.model import DeliveryMethod
from router.promise import DEFAULT_MAX_STORES, DEFAULT_STORE_RADIUS_KM, FulfillmentQuote, quote_fulfillment_options
from router.reroute import HeldUnits, Rejection, plan_reroute
from router.solve import DEFAULT_TIME_LIMIT_S

from .capacity import CapacityBook, CapacityFull, Claim, DayCache, OthersUse, reconcile_once, settle

MAX_REROUTES = 3
MAX_TIME_LIMIT_S = 60.0
MAX_BATCH_TIME_LIMIT_S = 600.0  # 10,000 orders jointly take up to two minutes (issue 4)


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    held: bool  # the reservation holds exactly the plan's units of the order's SKUs
    reservation: Reservation | None
    reroutes: int  # times another order took planned stock first and the order was routed again
    message: str = ""


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    result: RoutingResult
    hold: HoldOutcome | None  # None: not asked to hold


@dataclass(frozen=True, slots=True)
class RerouteOutcome:
    released: tuple[LineQuantity, ...]
    events: tuple[StockEvent, ...]
    event_results: tuple[EventResult, ...]  # the ledger's outcome of each event, in order
    reservation: Reservation  # the rejecting reservation after the release
    result: RoutingResult  # the route of what was left
    hold: HoldOutcome  # the new plan's hold, in its own reservation


def check_time_limit(
    value: float,
    field: str = "time_limit_seconds",
    *,
    default: float = DEFAULT_TIME_LIMIT_S,
    most: float = MAX_TIME_LIMIT_S,
) -> float:
    """The optimiser's time limit: 0 means the default; at most `most` seconds."""
    if value == 0:
        return default
    if not (value > 0 and value <= most):  # also refuses NaN
        raise InvalidArgument(field, value, f"must be a number of seconds in (0, {most:g}] (0: default)")
    return float(value)


def _capped(problem: RoutingProblem, caps: dict[tuple[str, str], int]) -> RoutingProblem:
    """The problem with ATP at (location, sku) no higher than what the ledger last said is left there."""
    if not caps:
        return problem
    atp = problem.atp.copy()
    free = problem.free.copy()
    ids = problem.location_ids
    for r, loc in enumerate(ids):
        for j, sku in enumerate(problem.line_skus):
            cap = caps.get((loc, sku))
            if cap is not None and atp[r, j] > cap:
                free[r, j] = max(0, int(free[r, j]) - (int(atp[r, j]) - cap))
                atp[r, j] = cap
    atp.flags.writeable = False
    free.flags.writeable = False
    return replace(problem, atp=atp, free=free)


class OrderRouter:
    """Routing over one ledger and cost model. Thread-safe: reads go to the read model without locks,
    writes through the ledger, which serialises them."""

    def __init__(
        self,
        ledger: Ledger,
        cost_model: CostModel,
        *,
        max_reroutes: int = MAX_REROUTES,
        clock_ms: Callable[[], int] = utc_now_ms,
        capacity: CapacityBook | None = None,
    ) -> None:
        """`capacity`: the book of shipments held plans took per location and day (omniroute/capacity.py);
        None: every call assumes each location's full daily capacity."""
        self.ledger = ledger
        self.cost_model = cost_model
        self.max_reroutes = max_reroutes
        self._clock_ms = clock_ms
        self.capacity = capacity

    def _problem(self, order: Order, own: Sequence[tuple[str, str, int]], rid: str) -> RoutingProblem:
        """The order's problem: its reservation's holds and capacity claims count as its own."""
        use = OthersUse(self.capacity, rid) if self.capacity is not None else None
        return build_problem(self.ledger.store, order, cost_model=self.cost_model, own_holds=own, capacity_use=use)

    def _dated(self, order: Order, result: RoutingResult) -> RoutingResult:
        return date_backorders(self.ledger.store, order, result, cost_model=self.cost_model)

    def _claims(self, result: RoutingResult) -> list[tuple[Claim, int]]:
        """One claim per shipment of the plan, with its location's daily capacity."""
        table = self.ledger.store.network
        capacity = network_costs(table, self.cost_model).capacity
        out = []
        for s in result.shipments:
            li = table.index.get(s.location)
            assert li is not None  # the plan's locations come from this table
            out.append((Claim(s.location, day_number(s.ship_date)), int(capacity[li])))
        return out

    # ------------------------------------------------------------------ one order
    def route(
        self,
        order: Order,
        *,
        policy: str = DEFAULT_POLICY,
        hold: bool = False,
        reservation_id: str = "",
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        seed: int = 0,
    ) -> RouteOutcome:
        get_policy(policy)  # a bad name fails before any work
        if not hold:
            # a named reservation (the cart's) counts for its order even when the plan is not held
            own: list[tuple[str, str, int]] = []
            if reservation_id:
                cart = self.ledger.get_reservation(check_id("reservation_id", reservation_id))
                _check_usable(cart, order)
                own = _own_holds(cart, {ln.sku for ln in order.lines})
            problem = self._problem(order, own, reservation_id)
            result = route(problem, policy=policy, time_limit_s=time_limit_s, seed=seed)
            return RouteOutcome(self._dated(order, result), None)
        rid = check_id("reservation_id", reservation_id) if reservation_id else order.order_id
        existing = self._reservation(rid, must_exist=bool(reservation_id))
        if existing is not None:
            _check_usable(existing, order)
        result, held = self._route_and_hold(order, rid, existing, (), policy, time_limit_s, seed)
        return RouteOutcome(self._dated(order, result), held)

    def _route_and_hold(
        self,
        order: Order,
        rid: str,
        existing: Reservation | None,
        extra_own: Sequence[tuple[str, str, int]],
        policy: str,
        time_limit_s: float,
        seed: int,
    ) -> tuple[RoutingResult, HoldOutcome]:
        skus = {ln.sku for ln in order.lines}
        caps: dict[tuple[str, str], int] = {}
        reroutes = 0
        while True:
            own = [*extra_own, *_own_holds(existing, skus)]
            problem = self._problem(order, own, rid)
            result = route(_capped(problem, caps), policy=policy, time_limit_s=time_limit_s, seed=seed)
            if not result.shipments:
                why = f"nothing to hold: {result.message}" if result.message else "nothing to hold"
                return result, HoldOutcome(False, existing, reroutes, why)
            lines = None if existing is None else [
                (ln.sku, ln.place, ln.at_location, ln.held) for ln in existing.lines if ln.sku in skus
            ]  # fmt: skip
            plan = plan_hold(result.shipped(), lines)
            book = self.capacity
            before: tuple[Claim, ...] = ()
            if book is not None:
                reconcile_once(book, self.ledger)
                # capacity first: a plan is never held without its shipments counted; undone below if the
                # stock hold fails. Another replica may have taken the last shipment since the read:
                # route again, the book's fresh figures blocking that location
                try:
                    before = book.claim(rid, self._claims(result))
                except CapacityFull:
                    if reroutes >= self.max_reroutes:
                        raise
                    reroutes += 1
                    continue
            try:
                reservation = self._apply(rid, order.channel, plan)
            except InsufficientStock as err:
                if book is not None:
                    book.restore(rid, before)
                if reroutes >= self.max_reroutes:
                    raise
                reroutes += 1
                kept = {(ln.place, ln.sku): ln.held for ln in existing.lines if ln.at_location} if existing else {}
                for s in err.shortfalls:
                    # a move adds to what the reservation keeps there; a new hold adds to nothing
                    cap = s.available + kept.get((s.location, s.sku), 0)
                    caps[(s.location, s.sku)] = min(caps.get((s.location, s.sku), cap), cap)
                existing = self._reservation(rid, must_exist=existing is not None)
                continue
            except BaseException:
                if book is not None:
                    book.restore(rid, before)
                raise
            return result, HoldOutcome(True, reservation, reroutes)

    def _apply(self, rid: str, channel: str, plan: HoldPlan) -> Reservation:
        ledger = self.ledger
        if plan.reserve:
            ledger.reserve(ReserveRequest(rid, channel, plan.reserve))
            return ledger.confirm(rid)
        out = ledger.confirm(rid, plan.moves)
        if plan.release:
            # after the moves: releasing first could hand units to another checkout that the moves need
            out = ledger.release(rid, plan.release)
        return out

    def _reservation(self, rid: str, *, must_exist: bool) -> Reservation | None:
        try:
            return self.ledger.get_reservation(rid)
        except NotFound:
            if must_exist:
                raise
            return None

    # ------------------------------------------------------------------ reroute
    def reroute(
        self,
        order: Order,
        rejections: Sequence[Rejection],
        *,
        reservation_id: str = "",
        operation_id: str = "",
        rejected_at_ms: int | None = None,
        policy: str = DEFAULT_POLICY,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        seed: int = 0,
    ) -> RerouteOutcome:
        get_policy(policy)
        rid = check_id("reservation_id", reservation_id) if reservation_id else order.order_id
        current = self.ledger.get_reservation(rid)
        _check_usable(current, order)
        op = check_id("operation_id", operation_id) if operation_id else _derived_key(rid, rejections)
        key = hashlib.sha1(f"{order.order_id}\0{op}".encode()).hexdigest()[:16]
        held = [HeldUnits(ln.sku, ln.place, ln.held) for ln in current.lines if ln.at_location and ln.held > 0]
        at_ms = self._clock_ms() if rejected_at_ms is None else rejected_at_ms
        plan = plan_reroute(
            order,
            held,
            rejections,
            occurred_at_ms=at_ms,
            event_id_prefix=f"reroute:{key}",
            now=datetime.fromtimestamp(self._clock_ms() / 1000, UTC),
        )
        new_rid = check_id("operation_id", f"{order.order_id}/reroute/{op}")
        existing = self._reservation(new_rid, must_exist=False)
        # the rejected units are still the order's own while the rest is routed: they come off its
        # hold only once the new plan is held
        own = [(h.sku, h.location, h.quantity) for h in plan.release]
        result, hold = self._route_and_hold(plan.order, new_rid, existing, own, policy, time_limit_s, seed)
        release = tuple(LineQuantity(h.sku, h.location, h.quantity) for h in plan.release)
        after = self.ledger.release(rid, release, f"reroute:{key}")
        if self.capacity is not None:
            settle(self.capacity, after)  # the rejecting stores no longer ship this order
        outcomes = self.ledger.apply_stock_events(plan.events).results if plan.events else []
        return RerouteOutcome(release, plan.events, tuple(outcomes), after, self._dated(plan.order, result), hold)

    # ------------------------------------------------------------------ batch
    def route_batch(
        self,
        orders: Sequence[Order],
        *,
        policy: str = DEFAULT_POLICY,
        time_limit_s: float = DEFAULT_BATCH_TIME_LIMIT_S,
        seed: int = 0,
    ) -> BatchResult:
        """router.batch.solve_batch over this replica's read model: the batch jointly (policy optimal) or in
        sequence (a baseline), and the sequential comparison, within the capacity held plans left. Nothing
        is held."""
        get_policy(policy)
        table = self.ledger.store.network
        for i, o in enumerate(orders):
            try:
                _check_references(table, o)
            except InvalidArgument as err:
                raise InvalidArgument(f"orders[{i}].{err.field}", err.value, err.reason) from None
        # what held plans took from each location's daily capacity is not the batch's to share
        use = DayCache(self.capacity) if self.capacity is not None else None
        out = solve_batch(
            self.ledger.store,
            orders,
            cost_model=self.cost_model,
            capacity_use=use,
            time_limit_s=time_limit_s,
            seed=seed,
            policy=policy,
        )
        if not any(u.backordered for r in out.results for u in r.unfulfilled):
            return out
        return replace(out, results=tuple(self._dated(o, r) for o, r in zip(orders, out.results, strict=True)))

    # ------------------------------------------------------------------ quote
    def quote(
        self,
        lines: Sequence[OrderLine | tuple[str, int]],
        destination: Destination,
        *,
        channel: str,
        now: datetime | None = None,
        methods: Sequence[DeliveryMethod] = tuple(DeliveryMethod),
        max_stores: int = DEFAULT_MAX_STORES,
        store_radius_km: float = DEFAULT_STORE_RADIUS_KM,
    ) -> FulfillmentQuote:
        return quote_fulfillment_options(
            self.ledger.store,
            lines,
            destination,
            channel=channel,
            cost_model=self.cost_model,
            now=now,
            methods=methods,
            max_stores=max_stores,
            store_radius_km=store_radius_km,
            capacity_use=DayCache(self.capacity) if self.capacity is not None else None,
        )


def _check_references(table: LocationTable, order: Order) -> None:
    """What build_problem would refuse in an order, named within the order: an unknown channel, store or
    excluded location (a batch reads every order before it can say which one was at fault)."""
    table.channel_index(order.channel)
    if order.destination.store and order.destination.store not in table.index:
        raise InvalidArgument("destination.store", order.destination.store, "unknown location")
    for j, line in enumerate(order.lines):
        if line.excluded_locations:
            table.resolve_locations(f"lines[{j}].excluded_locations", line.excluded_locations)
    if order.options.excluded_locations:
        table.resolve_locations("options.excluded_locations", order.options.excluded_locations)


def _check_usable(r: Reservation, order: Order) -> None:
    if r.channel != order.channel:
        raise InvalidArgument(
            "order.channel", order.channel, f"reservation {r.reservation_id!r} holds stock for channel {r.channel!r}"
        )
    if r.status not in OPEN:
        raise FailedPrecondition(f"reservation {r.reservation_id!r} is {r.status.value}: it holds nothing to route")


def _own_holds(existing: Reservation | None, skus: set[str]) -> list[tuple[str, str, int]]:
    if existing is None:
        return []
    return [(ln.sku, ln.place, ln.held) for ln in existing.lines if ln.held > 0 and ln.sku in skus]


def _derived_key(rid: str, rejections: Sequence[Rejection]) -> str:
    """An operation key for a reroute without one: the same reservation and rejections give the same key,
    so a plain retry of the same request is recognised."""
    text = "\0".join([rid, *sorted(f"{r.location}\0{r.sku}\0{r.reason}\0{r.quantity}" for r in rejections)])
    return hashlib.sha1(text.encode()).hexdigest()[:16]
