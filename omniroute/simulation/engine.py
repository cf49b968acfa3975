"""The day loop: one policy's run over the demand stream, driving the real engine in-process.

Each run gets its own fresh copy of the network (a StockStore and an embedded MemoryLedger whose clock
is the simulation's, and a capacity book: held plans use up their locations' daily capacity per ship
day), and routes through omniroute.routing.OrderRouter, the service's own glue between router and
ledger. Everything happens in time order from one event queue; the clock moves at least
1 ms per event so that every write of the ledger is stamped strictly later than the one before (a cycle
count at T would otherwise absorb a delta stamped at T).

- **Cart**: the shopper's lines are held at the channel's network (ship) or at the chosen store
  (pickup, curbside) for the cart's TTL. A line the ledger cannot hold in full is cut to what it says is
  available; a cart holding nothing is lost demand, unless the shopper accepts a back order.
- **Checkout**: the order (the held units) is routed with the policy and its plan held in the cart's
  reservation (`OrderRouter.route(hold=True)`). Units the plan cannot ship are cancelled, or back-ordered
  when the order accepts back orders. A pick is scheduled at each shipping location after its
  processing hours.
- **Abandoned carts** are never checked out: the ledger expires their holds (`expire_due` on the clock).
- **Pick**: the location's shelf holds its record minus its phantom units. What is there is fulfilled
  (`Ledger.fulfill`); units that are not are rejected with `not_found` through `OrderRouter.reroute` (the
  store is excluded, the units routed elsewhere and held, a cycle count of 0 recorded) and new picks are
  scheduled. A shortfall with no phantom stock behind it means the engine promised units that were not
  there: counted as an oversell attempt (zero when walk-ins respect holds).
- **Walk-ins** (POS) are applied in hourly batches of `sale` events: a shopper takes what is on the
  shelf and not set aside for online orders (`rates.walk_ins_respect_holds`). A shortfall is a store
  stockout; the part of it that online orders took from that position (held or shipped) is attributed to
  them.
- **Returns**: served lines come back into a store (`return_sellable`) some days later, within the run.
- **Replenishment**: on schedule, store positions that sold or shipped since the last round and are
  below `reorder_below` of their starting stock are refilled to it from the nearest DCs with free stock
  (`transfer_out` at the DC, `transfer_in` at the store after the lead time).

After the last day the queue drains (picks, reroutes and transfers already under way finish; no new
demand, and returns due after the end are not made), the clock passes every cart's deadline, and the
ledger reconciles itself.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from availability.errors import InsufficientStock, OmnirouteError
from availability.ledger import MemoryLedger
from availability.model import EventOutcome, EventType, LocationType, Snapshot, StockEvent
from availability.reservations import HoldLine, LineQuantity, ReservationStatus, ReserveRequest
from availability.store import StockStore
from omniroute.capacity import MemoryCapacityBook
from omniroute.routing import OrderRouter, RouteOutcome
from router import CostBreakdown, CostModel, Destination, Order, OrderLine, RoutingOptions, RoutingResult
from router.model import UnfulfilledLine, UnfulfilledReason
from router.reroute import Rejection, RejectReason

from .demand import DAY_MS, HOUR_MS, MINUTE_MS, Cart, Demand
from .scenario import Scenario

I64 = npt.NDArray[np.int64]
Columns = dict[str, list[object]]
Progress = Callable[[float], None]

# flows per position, in this order (see StockFlows)
RECEIPTS, RETURNS, SALES, SHIPMENTS, TRANSFERS_OUT, ADJUSTMENTS = range(6)
FLOW_NAMES = ("receipts", "returns", "sales", "shipments", "transfers_out", "adjustments")


class Kind(IntEnum):
    """Event kinds; at the same time, in this order."""

    ARRIVAL = 0
    RETURN = 1
    REPLENISH = 2
    CART = 3
    CHECKOUT = 4
    PICK = 5
    WALK_INS = 6


class InitialStock:
    """On hand of every position of the starting snapshot, looked up by binary search (a dict of millions
    of positions would cost more than the run)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.n_loc = len(snapshot.locations)
        keys = np.asarray(snapshot.stock_sku, np.int64) * self.n_loc + np.asarray(snapshot.stock_loc, np.int64)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.on_hand_col = np.asarray(snapshot.stock_on_hand, np.int64)[order]

    def on_hand(self, s: int, li: int) -> int:
        return int(self.on_hand_many(np.array([s], np.int64), np.array([li], np.int64))[0])

    def on_hand_many(self, s: I64, li: I64) -> I64:
        keys = s * self.n_loc + li
        k = np.minimum(np.searchsorted(self.keys, keys), max(0, self.keys.shape[0] - 1))
        found = self.keys[k] == keys if self.keys.shape[0] else np.zeros(keys.shape[0], dtype=bool)
        out: I64 = np.where(found, self.on_hand_col[k] if self.keys.shape[0] else 0, 0)
        return out


@dataclass(slots=True)
class _Line:
    sku: str
    s: int
    wanted: int  # what the shopper asked for
    held: int = 0  # what the cart held at checkout: what is routed
    served: int = 0
    cancelled: int = 0
    backordered: int = 0
    returns_after_days: int = 0


@dataclass(slots=True)
class ShipmentRecord:
    """A shipment as planned (the router's dates, distance and cost) and what its pick found."""

    order_id: str
    shipment: int  # 1, 2, ... within the order
    plan: str  # "first", or "reroute" after a pick rejection
    location: int
    planned_at: datetime
    ship_date: date
    delivery_date: date
    distance_km: float
    units_planned: int
    cost: CostBreakdown
    units_picked: int = 0
    units_rejected: int = 0


@dataclass(slots=True)
class _OrderState:
    cart: Cart
    order: Order | None  # None: nothing could be held, the whole order is a back order
    lines: dict[str, _Line]
    promised: date
    # (reservation id, location index) -> the shipment and the units per SKU held there for its pick
    pending: dict[tuple[str, int], tuple[ShipmentRecord, dict[str, int]]] = field(default_factory=dict)
    shipments: list[ShipmentRecord] = field(default_factory=list)
    routing_ms: float = 0.0
    pick_rejections: int = 0
    reroutes: int = 0
    hold_conflicts: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """What one policy's run produced: columns of each output table (outputs.py turns them into
    DataFrames), plus the run's checks."""

    policy: str
    orders: Columns
    shipments: Columns
    stock: Columns
    stockouts: Columns
    daily: Columns
    counters: dict[str, int]
    wall_s: float


class PolicySimulation:
    def __init__(
        self,
        snapshot: Snapshot,
        demand: Demand,
        scenario: Scenario,
        policy: str,
        cost_model: CostModel,
        initial: InitialStock,
    ) -> None:
        self.scenario = scenario
        self.demand = demand
        self.policy = policy
        self.initial = initial
        self.now_ms = demand.start_ms
        self.store = StockStore.from_snapshot(snapshot)
        # on_hand_base off: reconcile then checks the hold counters only (its on-hand check walks every
        # position: 25 s on the medium network); stock is checked by the run's own flows (stock table)
        self.ledger = MemoryLedger(self.store, clock_ms=self._clock, sweep_interval_s=0, on_hand_base=False)
        # held plans claim their locations' daily capacity per ship day, as in the service
        self.router = OrderRouter(
            self.ledger, cost_model, clock_ms=self._clock, capacity=MemoryCapacityBook(clock_ms=self._clock)
        )
        self.table = self.store.network
        self.loc_ids = [loc.id for loc in self.table.locations]
        self.sku_ids = [sku.id for sku in snapshot.skus]
        self.shop = np.isin(self.table.ltype, [int(LocationType.STORE), int(LocationType.DARK_STORE)])
        is_dc = self.table.ltype == int(LocationType.DISTRIBUTION_CENTER)
        self.dcs = np.flatnonzero(is_dc & (self.table.enabled == 1))
        self.phantom = dict(demand.phantom)
        self.flows: dict[tuple[int, int], list[int]] = {}
        self.online_taken: dict[tuple[int, int], int] = {}  # units online orders shipped from a shop position
        self.in_transit: dict[tuple[int, int], int] = {}
        self.touched: set[tuple[int, int]] = set()  # shop positions with outflow since the last replenishment
        self.queue: list[tuple[int, int, int, object]] = []
        self._seq = 0
        self._ids = 0
        self.states: dict[str, _OrderState] = {}
        self.abandoned: list[str] = []
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "carts", "carts_abandoned", "carts_expired", "carts_lost", "oversell_attempts", "oversold_units",
                "hold_conflicts", "routing_errors", "event_errors", "walk_in_units_wanted", "walk_in_units_sold",
                "units_routed_past_promise",
            ),
            0,
        )  # fmt: skip
        self.orders: Columns = {}
        self.shipment_records: list[ShipmentRecord] = []
        self.stockouts: Columns = {}
        self.daily = np.zeros((demand.days, 4), dtype=np.int64)  # walk-in short, replenished, returned, rejections
        self._dc_order: dict[int, I64] = {}

    # ------------------------------------------------------------------ clock and queue
    def _clock(self) -> int:
        return self.now_ms

    def _advance(self, at_ms: int) -> None:
        self.now_ms = max(at_ms, self.now_ms + 1)
        self.ledger.expire_due(self.now_ms)

    def _push(self, at_ms: int, kind: Kind, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (at_ms, int(kind), self._seq, payload))

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def _day(self) -> int:
        return min(self.demand.days - 1, max(0, (self.now_ms - self.demand.start_ms) // DAY_MS))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms / 1000, UTC)

    # ------------------------------------------------------------------ run
    def run(self, progress: Progress | None = None) -> PolicyRun:
        started = time.perf_counter()
        d = self.demand
        for cart in d.carts:
            self._push(cart.cart_at_ms, Kind.CART, cart)
        for h in range(1, d.days * 24 + 1):
            self._push(d.start_ms + h * HOUR_MS, Kind.WALK_INS, h)
        rep = self.scenario.replenishment
        if rep.every_days > 0:
            for day in range(1, d.days):
                if day % rep.every_days == 0:
                    self._push(d.start_ms + day * DAY_MS + rep.hour_utc * HOUR_MS, Kind.REPLENISH, day)
        span = max(1, d.end_ms - d.start_ms)
        handled = 0
        while self.queue:
            at, kind, _, payload = heapq.heappop(self.queue)
            self._advance(at)
            self._handle(Kind(kind), payload)
            handled += 1
            if progress is not None and handled % 100 == 0:
                progress(min(1.0, (self.now_ms - d.start_ms) / span))
        # every cart's deadline has passed once the clock is beyond the last one
        self._advance(max(self.now_ms, d.end_ms) + self.scenario.rates.cart_ttl_minutes * MINUTE_MS + 1)
        self.counters["carts_abandoned_holding"] = len(self.abandoned)
        for rid in self.abandoned:
            if self.ledger.get_reservation(rid).status is ReservationStatus.EXPIRED:
                self.counters["carts_expired"] += 1
        self.counters["ledger_consistent"] = int(not self.ledger.reconcile().inconsistencies)
        if progress is not None:
            progress(1.0)
        self.ledger.close()
        return PolicyRun(
            self.policy,
            self.orders,
            self._shipment_columns(),
            self._stock_columns(),
            self.stockouts,
            self._daily_columns(),
            self.counters,
            time.perf_counter() - started,
        )

    def _handle(self, kind: Kind, payload: object) -> None:
        if kind is Kind.CART:
            assert isinstance(payload, Cart)
            self._cart(payload)
        elif kind is Kind.CHECKOUT:
            assert isinstance(payload, str)
            self._checkout(self.states[payload])
        elif kind is Kind.PICK:
            assert isinstance(payload, tuple)
            self._pick(*payload)
        elif kind is Kind.WALK_INS:
            assert isinstance(payload, int)
            self._walk_ins(payload)
        elif kind is Kind.RETURN:
            assert isinstance(payload, tuple)
            self._return(*payload)
        elif kind is Kind.REPLENISH:
            self._replenish()
        elif kind is Kind.ARRIVAL:
            assert isinstance(payload, tuple)
            self._arrive(*payload)

    # ------------------------------------------------------------------ positions and flows
    def _position(self, s: int, li: int) -> tuple[int, int, int]:
        """(on hand, reserved, safety stock) of a position, zeros where there is none."""
        p = self.store.position(s, li)
        return (0, 0, 0) if p is None else (p.on_hand, p.reserved, p.safety_stock)

    def _flow(self, s: int, li: int, kind: int, units: int) -> None:
        row = self.flows.get((s, li))
        if row is None:
            row = self.flows[(s, li)] = [0] * len(FLOW_NAMES)
        row[kind] += units

    def _event(self, kind: EventType, li: int, s: int, units: int, *, channel: str = "") -> StockEvent:
        """A stock event now, with a fresh id."""
        loc, sku = self.loc_ids[li], self.sku_ids[s]
        return StockEvent(self._next_id(kind.value), kind, loc, sku, units, self.now_ms, channel)

    def _apply(self, events: list[StockEvent]) -> None:
        """Stock events that must apply: the clock only moves forward, so anything else is a bug of the
        simulation or the engine, counted (event_errors) rather than hidden."""
        if not events:
            return
        for r in self.ledger.apply_stock_events(events).results:
            if r.outcome is not EventOutcome.APPLIED:
                self.counters["event_errors"] += 1

    # ------------------------------------------------------------------ carts and checkout
    def _cart(self, cart: Cart) -> None:
        self.counters["carts"] += 1
        rid = f"cart-{cart.order_id}"
        at = self.loc_ids[cart.store] if cart.store >= 0 else ""
        wanted = [HoldLine(self.sku_ids[s], q, location=at) for s, q in cart.lines]
        held = self._hold_cart(rid, cart.channel, wanted)
        if cart.abandoned:
            self.counters["carts_abandoned"] += 1
            if held:
                self.abandoned.append(rid)
            return
        if not held and not cart.allow_backorder:
            self.counters["carts_lost"] += 1
            return
        lines: dict[str, _Line] = {}
        for (s, q), ret in zip(cart.lines, cart.return_after_days, strict=True):
            sku = self.sku_ids[s]
            lines[sku] = _Line(sku, s, q, held=held.get(sku, 0), returns_after_days=ret)
        placed = datetime.fromtimestamp(cart.checkout_at_ms / 1000, UTC)
        dest = Destination.at_store(at) if at else Destination.point(cart.latitude, cart.longitude)
        order_lines = tuple(OrderLine(ln.sku, ln.held) for ln in lines.values() if ln.held > 0)
        options = RoutingOptions(
            max_shipments=self.scenario.run.max_shipments, allow_partial=True, allow_backorder=cart.allow_backorder
        )
        order = None
        promised = date.fromordinal(placed.date().toordinal() + self.scenario.promise.days(cart.method))
        if order_lines:
            deliver_by = promised if self.scenario.promise.route_to_promise else None
            order = Order(cart.order_id, cart.channel, order_lines, dest, cart.method, deliver_by, placed, options)
        self.states[cart.order_id] = _OrderState(cart, order, lines, promised)
        self._push(cart.checkout_at_ms, Kind.CHECKOUT, cart.order_id)

    def _hold_cart(self, rid: str, channel: str, wanted: list[HoldLine]) -> dict[str, int]:
        """Hold what the ledger lets the cart hold: each line cut to what it says is available."""
        ttl = self.scenario.rates.cart_ttl_minutes * MINUTE_MS
        lines = wanted
        for _ in range(2):
            if not lines:
                return {}
            try:
                r = self.ledger.reserve(ReserveRequest(rid, channel, tuple(lines), ttl))
            except InsufficientStock as err:
                available = {(sh.sku): sh.available for sh in err.shortfalls}
                lines = [
                    HoldLine(ln.sku, min(ln.quantity, available.get(ln.sku, ln.quantity)), ln.location)
                    for ln in lines
                    if available.get(ln.sku, ln.quantity) > 0
                ]
                continue
            return {ln.sku: ln.held for ln in r.lines}
        return {}

    def _checkout(self, st: _OrderState) -> None:
        for ln in st.lines.values():
            # what the cart could not hold: a back order when the shopper accepts one, else cancelled
            self._short(st, ln, ln.wanted - ln.held)
        if st.order is None:
            self._finish(st)
            return
        rid = f"cart-{st.cart.order_id}"
        out = self._route_held(st, st.order, rid)
        if out is None:
            self._release_quietly(rid)
            for ln in st.lines.values():
                self._short(st, ln, ln.held)
            self._finish(st)
            return
        assert out.hold is not None
        if not out.hold.held:
            self._release_quietly(rid)  # the plan ships nothing: the cart's holds go back
        result = out.result
        # units short for the promise only (without one, DELIVER_BY means a same-day order out of range:
        # there is no promise to drop then)
        late = [] if st.order.deliver_by is None else [
            u for u in result.unfulfilled if u.reason is UnfulfilledReason.DELIVER_BY
        ]  # fmt: skip
        if late:
            # the plan released the cart's holds on these units; they are shipped late below, not lost
            result = replace(result, unfulfilled=tuple(u for u in result.unfulfilled if u not in late))
        self._take_plan(st, result, rid if out.hold.held else "", first=True)
        if late:
            self._ship_late(st, late)
        self._finish_if_done(st)

    def _ship_late(self, st: _OrderState, late: list[UnfulfilledLine]) -> None:
        """Units no location can deliver by the promise: route them again without it (a late parcel
        beats a cancelled line), under a reservation of their own."""
        assert st.order is not None
        self.counters["units_routed_past_promise"] += sum(u.missing for u in late)
        order = replace(
            st.order,
            order_id=f"{st.order.order_id}-late",
            lines=tuple(OrderLine(u.sku, u.missing) for u in late),
            deliver_by=None,
        )
        out = self._route_held(st, order, "")
        if out is None:
            for u in late:
                self._short(st, st.lines[u.sku], u.missing)
            return
        assert out.hold is not None
        held = out.hold.reservation.reservation_id if out.hold.held and out.hold.reservation else ""
        self._take_plan(st, out.result, held, first=False)

    def _route_held(self, st: _OrderState, order: Order, reservation_id: str) -> RouteOutcome | None:
        """`order` routed and its plan held (under `reservation_id`, or a new reservation), its time added
        to the order's routing time and its hold conflicts counted; None after a routing error (counted,
        and kept in st.error)."""
        t0 = time.perf_counter()
        try:
            out = self.router.route(
                order,
                policy=self.policy,
                hold=True,
                reservation_id=reservation_id,
                time_limit_s=self.scenario.run.time_limit_s,
            )
        except OmnirouteError as err:
            self.counters["routing_errors"] += 1
            st.error = f"{type(err).__name__}: {err}"
            return None
        finally:
            st.routing_ms += (time.perf_counter() - t0) * 1000
        assert out.hold is not None
        st.hold_conflicts += out.hold.reroutes
        self.counters["hold_conflicts"] += out.hold.reroutes
        return out

    def _release_quietly(self, rid: str) -> None:
        try:
            r = self.ledger.get_reservation(rid)
            if r.status in (ReservationStatus.HELD, ReservationStatus.CONFIRMED):
                self.ledger.release(rid)
        except OmnirouteError:
            self.counters["routing_errors"] += 1

    def _short(self, st: _OrderState, ln: _Line, units: int) -> None:
        if units <= 0:
            return
        if st.cart.allow_backorder:
            ln.backordered += units
        else:
            ln.cancelled += units

    def _take_plan(self, st: _OrderState, result: RoutingResult, rid: str, *, first: bool) -> None:
        """Record a held plan: its shipments (picks scheduled) and the units it could not place."""
        for u in result.unfulfilled:
            self._short(st, st.lines[u.sku], u.missing)
        if not rid:  # nothing held: whatever the plan said, nothing ships
            for s in result.shipments:
                for sl in s.lines:
                    self._short(st, st.lines[sl.sku], sl.quantity)
            return
        for s in result.shipments:
            li = self.table.index.get(s.location)
            assert li is not None
            record = ShipmentRecord(
                st.cart.order_id,
                len(st.shipments) + 1,
                "first" if first else "reroute",
                li,
                self._now(),
                s.ship_date,
                s.delivery_date,
                round(float(s.distance_km), 3),
                s.units,
                s.cost,
            )
            st.shipments.append(record)
            self.shipment_records.append(record)
            st.pending[(rid, li)] = (record, {sl.sku: sl.quantity for sl in s.lines})
            if self.shop[li]:
                for sl in s.lines:
                    self._check_emptied(st.lines[sl.sku].s, li, sl.quantity)
            ready = self.now_ms + self.table.locations[li].processing_hours * HOUR_MS
            self._push(ready, Kind.PICK, (st.cart.order_id, rid, li))

    def _check_emptied(self, s: int, li: int, units: int) -> None:
        """A store stockout caused by an online order: its hold took the position's available stock (on
        hand - reserved - safety stock, as the store's record sees it) from above 0 to 0, so the store
        shows the SKU out of stock for pickup and ship-from-store until it is replenished. (Walk-ins may
        still buy the safety stock: what they lose to online orders is `short_online`.)"""
        on_hand, reserved, safety = self._position(s, li)
        left = on_hand - reserved - safety
        if left <= 0 < left + units:
            self._stockout(s, li, self.now_ms, "online", units, units, 0, 0)

    def _stockout(
        self, s: int, li: int, at_ms: int, kind: str, wanted: int, sold: int, short: int, short_online: int
    ) -> None:
        for col, v in (
            ("policy", self.policy),
            ("day", self._day()),
            ("at", datetime.fromtimestamp(at_ms / 1000, UTC)),
            ("store", self.loc_ids[li]),
            ("sku", self.sku_ids[s]),
            ("kind", kind),
            ("units_wanted", wanted),
            ("units_sold", sold),
            ("units_short", short),
            ("short_online", short_online),
        ):
            self.stockouts.setdefault(col, []).append(v)

    # ------------------------------------------------------------------ picks and reroutes
    def _pick(self, order_id: str, rid: str, li: int) -> None:
        st = self.states[order_id]
        record, wanted = st.pending.pop((rid, li))
        take: list[LineQuantity] = []
        rejections: list[Rejection] = []
        for sku, q in wanted.items():
            s = st.lines[sku].s
            on_hand, _, _ = self._position(s, li)
            phantom = self.phantom.get((s, li), 0)
            physical = max(0, on_hand - phantom)
            got = min(q, physical)
            if got < q:
                if phantom == 0:
                    self.counters["oversell_attempts"] += 1
                rejections.append(Rejection(self.loc_ids[li], sku, RejectReason.NOT_FOUND, q - got))
            if got > 0:
                take.append(LineQuantity(sku, self.loc_ids[li], got))
        if take:
            op = self._next_id("pick")
            before = {lq.sku: self._position(st.lines[lq.sku].s, li)[0] for lq in take}
            self.ledger.fulfill(rid, tuple(take), op)
            for lq in take:
                s = st.lines[lq.sku].s
                after = self._position(s, li)[0]
                if after != before[lq.sku] - lq.quantity:
                    self.counters["event_errors"] += 1
                if after - self.phantom.get((s, li), 0) < 0:  # the shelf would be below zero
                    self.counters["oversold_units"] += self.phantom.get((s, li), 0) - after
                self._flow(s, li, SHIPMENTS, lq.quantity)
                st.lines[lq.sku].served += lq.quantity
                if self.shop[li]:
                    self.online_taken[(s, li)] = self.online_taken.get((s, li), 0) + lq.quantity
                    self.touched.add((s, li))
        record.units_picked = sum(lq.quantity for lq in take)
        record.units_rejected = sum(r.quantity for r in rejections)
        if rejections:
            self._reroute(st, rid, li, rejections)
        self._finish_if_done(st)

    def _reroute(self, st: _OrderState, rid: str, li: int, rejections: list[Rejection]) -> None:
        st.pick_rejections += len(rejections)
        self.daily[self._day(), 3] += len(rejections)
        skus = [(st.lines[r.sku].s, r.sku) for r in rejections]
        before = {sku: self._position(s, li)[0] for s, sku in skus}
        op = self._next_id("reject")
        assert st.order is not None  # a pick follows a routed order
        try:
            out = self.router.reroute(
                replace(st.order, deliver_by=None),  # a second try ships late rather than not at all
                rejections,
                reservation_id=rid,
                operation_id=op,
                rejected_at_ms=self.now_ms,
                policy=self.policy,
                time_limit_s=self.scenario.run.time_limit_s,
            )
        except OmnirouteError as err:
            # nothing was changed: give the units up and record the count ourselves
            self.counters["routing_errors"] += 1
            st.error = f"{type(err).__name__}: {err}"
            self.ledger.release(rid, tuple(LineQuantity(r.sku, r.location, r.quantity) for r in rejections), op)
            self._apply([
                StockEvent(f"{op}:{r.sku}", EventType.CYCLE_COUNT, r.location, r.sku, 0, self.now_ms)
                for r in rejections
            ])  # fmt: skip
            for r in rejections:
                self._short(st, st.lines[r.sku], r.quantity)
        else:
            st.reroutes += 1
            st.hold_conflicts += out.hold.reroutes
            self.counters["hold_conflicts"] += out.hold.reroutes
            if any(e.outcome not in (EventOutcome.APPLIED, EventOutcome.DUPLICATE) for e in out.event_results):
                self.counters["event_errors"] += 1
            new_rid = out.hold.reservation.reservation_id if out.hold.held and out.hold.reservation else ""
            self._take_plan(st, out.result, new_rid, first=False)
        for s, sku in skus:
            after = self._position(s, li)[0]
            self._flow(s, li, ADJUSTMENTS, after - before[sku])
            self.phantom.pop((s, li), None)  # counted: the record is the shelf again
            if self.shop[li]:
                self.touched.add((s, li))

    def _finish_if_done(self, st: _OrderState) -> None:
        if not st.pending:
            self._finish(st)

    def _finish(self, st: _OrderState) -> None:
        cart = st.cart
        for ln in st.lines.values():
            if ln.returns_after_days and ln.served > 0 and cart.return_store >= 0:
                at = max(cart.checkout_at_ms + ln.returns_after_days * DAY_MS, self.now_ms + HOUR_MS)
                if at < self.demand.end_ms:
                    self._push(at, Kind.RETURN, (cart.return_store, ln.s, ln.served))
        shipped = [r for r in st.shipments if r.units_picked > 0]
        cost = sum(r.cost.total for r in shipped)
        km_units = sum(r.distance_km * r.units_picked for r in shipped)
        delivered = max((r.delivery_date for r in shipped), default=None)
        lines = list(st.lines.values())
        kinds = ("wanted", "held", "served", "cancelled", "backordered")
        units = {k: sum(getattr(ln, k) for ln in lines) for k in kinds}
        if units["served"] == units["wanted"]:
            status = "served"
        elif units["backordered"] > 0:
            status = "backordered"
        else:
            status = "cancelled"
        row: dict[str, object] = {
            "policy": self.policy,
            "order_id": cart.order_id,
            "day": cart.day,
            "placed_at": datetime.fromtimestamp(cart.checkout_at_ms / 1000, UTC),
            "channel": cart.channel,
            "method": cart.method.value,
            "store": self.loc_ids[cart.store] if cart.store >= 0 else "",
            "latitude": cart.latitude,
            "longitude": cart.longitude,
            "allow_backorder": cart.allow_backorder,
            "lines": len(lines),
            "units_ordered": units["wanted"],
            "units_held": units["held"],
            "units_served": units["served"],
            "units_cancelled": units["cancelled"],
            "units_backordered": units["backordered"],
            "status": status,
            "shipments": len(shipped),
            "cost_cents": cost,
            "km_units": round(km_units, 3),
            "promised_date": st.promised,
            "delivered_date": delivered,
            "on_time": None if delivered is None else delivered <= st.promised,
            "pick_rejections": st.pick_rejections,
            "reroutes": st.reroutes,
            "hold_conflicts": st.hold_conflicts,
            "error": st.error,
            "routing_ms": round(st.routing_ms, 4),
        }
        for k, v in row.items():
            self.orders.setdefault(k, []).append(v)
        del self.states[cart.order_id]

    # ------------------------------------------------------------------ walk-ins
    def _walk_ins(self, hour: int) -> None:
        w = self.demand.walk_ins
        lo = int(np.searchsorted(w.at_ms, self.demand.start_ms + (hour - 1) * HOUR_MS))
        hi = int(np.searchsorted(w.at_ms, self.demand.start_ms + hour * HOUR_MS))
        if lo == hi:
            return
        respect = self.scenario.rates.walk_ins_respect_holds
        sold: dict[tuple[int, int], int] = {}
        events: list[StockEvent] = []
        day = self._day()
        for k in range(lo, hi):
            li, s, q = int(w.location[k]), int(w.sku[k]), int(w.units[k])
            key = (s, li)
            on_hand, reserved, _ = self._position(s, li)
            shelf = max(0, on_hand - self.phantom.get(key, 0) - sold.get(key, 0))
            free = max(0, shelf - reserved) if respect else shelf
            got = min(q, free)
            self.counters["walk_in_units_wanted"] += q
            if got > 0:
                sold[key] = sold.get(key, 0) + got
                events.append(self._event(EventType.SALE, li, s, got, channel="store_pos"))
            if got < q:
                short = q - got
                online = self.online_taken.get(key, 0) + (reserved if respect else 0)
                self.daily[day, 0] += short
                self._stockout(s, li, int(w.at_ms[k]), "walk_in", q, got, short, min(short, online))
        self._apply(events)
        for (s, li), q in sold.items():
            self._flow(s, li, SALES, q)
            self.touched.add((s, li))
            self.counters["walk_in_units_sold"] += q
            on_hand = self._position(s, li)[0]
            if on_hand - self.phantom.get((s, li), 0) < 0:
                self.counters["oversold_units"] += self.phantom.get((s, li), 0) - on_hand

    # ------------------------------------------------------------------ returns and replenishment
    def _return(self, li: int, s: int, units: int) -> None:
        self._apply([self._event(EventType.RETURN_SELLABLE, li, s, units)])
        self._flow(s, li, RETURNS, units)
        self.daily[self._day(), 2] += units

    def _dcs_near(self, li: int) -> I64:
        got = self._dc_order.get(li)
        if got is None:
            d = self.table.distances_km(float(self.table.lat[li]), float(self.table.lon[li]))[self.dcs]
            got = self._dc_order[li] = self.dcs[np.argsort(d, kind="stable")]
        return got

    def _replenish(self) -> None:
        rep = self.scenario.replenishment
        outs: list[StockEvent] = []
        arrivals: list[tuple[int, int, int]] = []
        taken: dict[tuple[int, int], int] = {}
        keep: set[tuple[int, int]] = set()
        for s, li in sorted(self.touched):
            target = self.initial.on_hand(s, li)
            if target <= 0:
                continue
            have = self._position(s, li)[0] + self.in_transit.get((s, li), 0)
            if have >= rep.reorder_below * target:
                continue
            need = target - have
            stocked = set(self.store.sku_locations(s).tolist())
            for dc in self._dcs_near(li).tolist():
                if dc not in stocked:
                    continue
                on_hand, reserved, safety = self._position(s, dc)
                q = min(need, on_hand - reserved - safety - taken.get((s, dc), 0))
                if q <= 0:
                    continue
                taken[(s, dc)] = taken.get((s, dc), 0) + q
                outs.append(self._event(EventType.TRANSFER_OUT, dc, s, q))
                arrivals.append((s, li, q))
                need -= q
                if need == 0:
                    break
            if need > 0:
                keep.add((s, li))
        self.touched = keep
        self._apply(outs)
        for (s, dc), q in taken.items():
            self._flow(s, dc, TRANSFERS_OUT, q)
        for s, li, q in arrivals:
            self.in_transit[(s, li)] = self.in_transit.get((s, li), 0) + q
            self._push(self.now_ms + rep.lead_hours * HOUR_MS, Kind.ARRIVAL, (s, li, q))

    def _arrive(self, s: int, li: int, units: int) -> None:
        self._apply([self._event(EventType.TRANSFER_IN, li, s, units)])
        self.in_transit[(s, li)] -= units
        self._flow(s, li, RECEIPTS, units)
        self.daily[self._day(), 1] += units

    # ------------------------------------------------------------------ tables
    def _shipment_columns(self) -> Columns:
        cols: Columns = {}
        for r in self.shipment_records:
            loc = self.table.locations[r.location]
            row: dict[str, object] = {
                "policy": self.policy,
                "order_id": r.order_id,
                "shipment": r.shipment,
                "plan": r.plan,
                "location": loc.id,
                "location_type": loc.type.name.lower(),
                "latitude": loc.latitude,
                "longitude": loc.longitude,
                "planned_at": r.planned_at,
                "ship_date": r.ship_date,
                "delivery_date": r.delivery_date,
                "distance_km": r.distance_km,
                "units_planned": r.units_planned,
                "units_picked": r.units_picked,
                "units_rejected": r.units_rejected,
                "cost_parcel": r.cost.parcel,
                "cost_weight": r.cost.weight,
                "cost_handling": r.cost.handling,
                "cost_protection": r.cost.protection,
                "cost_extra_shipment": r.cost.extra_shipment,
                "cost_total": r.cost.total,
            }
            for k, v in row.items():
                cols.setdefault(k, []).append(v)
        return cols

    def _stock_columns(self) -> Columns:
        keys = sorted(self.flows)
        s_col = np.array([k[0] for k in keys], dtype=np.int64)
        l_col = np.array([k[1] for k in keys], dtype=np.int64)
        types = [loc.type.name.lower() for loc in self.table.locations]
        cols: Columns = {
            "policy": [self.policy] * len(keys),
            "sku": [self.sku_ids[s] for s, _ in keys],
            "location": [self.loc_ids[li] for _, li in keys],
            "location_type": [types[li] for _, li in keys],
            "start": self.initial.on_hand_many(s_col, l_col).tolist(),
        }
        for i, name in enumerate(FLOW_NAMES):
            cols[name] = [self.flows[k][i] for k in keys]
        cols["end"] = [self._position(s, li)[0] for s, li in keys]
        return cols

    def _daily_columns(self) -> Columns:
        d = self.demand
        start = datetime.fromtimestamp(d.start_ms / 1000, UTC).date()
        return {
            "policy": [self.policy] * d.days,
            "day": list(range(d.days)),
            "date": [date.fromordinal(start.toordinal() + i) for i in range(d.days)],
            "walk_in_units_short": self.daily[:, 0].tolist(),
            "replenished_units": self.daily[:, 1].tolist(),
            "returned_units": self.daily[:, 2].tolist(),
            "pick_rejections": self.daily[:, 3].tolist(),
        }

