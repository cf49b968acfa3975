"""RoutingService: protobuf <-> omniroute.routing (routing, holds, reroutes, quotes), nothing else.

Field names in errors follow the proto (`order.lines[2].quantity`, `rejections[0].location`), so a caller
finds the offending field in its own request. Routing is CPU work of milliseconds to the time limit, so
every call runs on a write thread (Runtime.write with no inline size): the event loop keeps answering
reads meanwhile. The optimiser's time limit never outlives the caller's deadline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import grpc
import grpc.aio

from availability.errors import InvalidArgument
from availability.model import EventType, StockEvent
from omniroute.capacity import book_for
from omniroute.routing import MAX_BATCH_TIME_LIMIT_S, HoldOutcome, OrderRouter, RouteOutcome, check_time_limit
from omniroute.runtime import Runtime
from omniroute.status import rpc
from omniroute.v1 import inventory_pb2 as ipb
from omniroute.v1 import routing_pb2 as pb
from omniroute.v1 import routing_pb2_grpc as pb_grpc
from router import (
    BatchResult,
    BatchTotals,
    CostModel,
    DeliveryMethod,
    Destination,
    Order,
    OrderLine,
    RoutingOptions,
    RoutingResult,
    SolveStatus,
    UnfulfilledLine,
    UnfulfilledReason,
)
from router.batch import DEFAULT_BATCH_TIME_LIMIT_S
from router.promise import DEFAULT_MAX_STORES, DEFAULT_STORE_RADIUS_KM, FulfillmentQuote
from router.reroute import Rejection, RejectReason

from ._convert import date_of, date_to_pb, datetime_of
from .reservation import reservation_to_pb

Context = grpc.aio.ServicerContext[Any, Any]

# proto enum number -> engine value, by index (0, UNSPECIFIED, means standard shipping)
_METHOD_OF_PB: tuple[DeliveryMethod, ...] = (
    DeliveryMethod.STANDARD,
    DeliveryMethod.STANDARD,
    DeliveryMethod.EXPRESS,
    DeliveryMethod.PICKUP,
    DeliveryMethod.CURBSIDE,
    DeliveryMethod.SAME_DAY,
)
METHOD_TO_PB: dict[DeliveryMethod, pb.DeliveryMethod] = {
    DeliveryMethod.STANDARD: pb.DELIVERY_STANDARD,
    DeliveryMethod.EXPRESS: pb.DELIVERY_EXPRESS,
    DeliveryMethod.PICKUP: pb.DELIVERY_PICKUP,
    DeliveryMethod.CURBSIDE: pb.DELIVERY_CURBSIDE,
    DeliveryMethod.SAME_DAY: pb.DELIVERY_SAME_DAY,
}
_STATUS_TO_PB: dict[SolveStatus, pb.SolveStatus] = {
    SolveStatus.OPTIMAL: pb.OPTIMAL,
    SolveStatus.FEASIBLE: pb.FEASIBLE,
    SolveStatus.INFEASIBLE: pb.INFEASIBLE,
}
_REASON_TO_PB: dict[UnfulfilledReason, pb.UnfulfilledReason] = {
    UnfulfilledReason.UNKNOWN_SKU: pb.UNKNOWN_SKU,
    UnfulfilledReason.NO_STOCK: pb.NO_STOCK,
    UnfulfilledReason.EXCLUDED: pb.EXCLUDED,
    UnfulfilledReason.DELIVER_BY: pb.DELIVER_BY,
    UnfulfilledReason.CAPACITY: pb.CAPACITY,
    UnfulfilledReason.MAX_SHIPMENTS: pb.MAX_SHIPMENTS,
}
_REJECT_OF_PB: dict[int, RejectReason] = {
    pb.NOT_FOUND: RejectReason.NOT_FOUND,
    pb.DAMAGED: RejectReason.DAMAGED,
    pb.MISMATCH: RejectReason.MISMATCH,
}
_EVENT_TYPE_TO_PB: dict[EventType, ipb.StockEventType] = {
    EventType.CYCLE_COUNT: ipb.CYCLE_COUNT,
    EventType.ADJUSTMENT: ipb.ADJUSTMENT,
}
# engine EventOutcome (0..3) -> proto (1..4), by index
_OUTCOME_TO_PB: tuple[ipb.EventOutcome, ...] = (ipb.APPLIED, ipb.DUPLICATE, ipb.STALE, ipb.REJECTED)


# ---------------------------------------------------------------------------------------------- requests
def method_of(value: int, field: str) -> DeliveryMethod:
    # proto3 enums are open: an unknown number arrives as-is and must be refused, not indexed
    if 0 <= value < len(_METHOD_OF_PB):
        return _METHOD_OF_PB[value]
    raise InvalidArgument(field, value, "unknown delivery method")


def order_of(m: pb.Order, field: str = "order") -> Order:
    """A proto Order as a router Order; the router's field names get the request's prefix."""
    kind = m.destination.WhichOneof("kind")
    try:
        if kind == "point":
            p = m.destination.point
            destination = Destination.point(p.latitude, p.longitude)
        elif kind == "store":
            destination = Destination.at_store(m.destination.store)
        else:
            raise InvalidArgument("destination", None, "is required: a point, or the store to collect from")
        o = m.options
        return Order(
            order_id=m.order_id,
            channel=m.channel,
            lines=tuple(OrderLine(ln.sku, ln.quantity, tuple(ln.excluded_locations)) for ln in m.lines),
            destination=destination,
            method=method_of(m.method, "method"),
            deliver_by=date_of(m.deliver_by, "deliver_by") if m.HasField("deliver_by") else None,
            placed_at=datetime_of(m.placed_at, "placed_at") if m.HasField("placed_at") else None,
            options=RoutingOptions(
                max_shipments=o.max_shipments,
                allow_partial=o.allow_partial,
                allow_backorder=o.allow_backorder,
                excluded_locations=tuple(o.excluded_locations),
            ),
        )
    except InvalidArgument as err:
        raise InvalidArgument(f"{field}.{err.field}", err.value, err.reason) from None


# the router names an order's fields from the order itself (`channel`, `options.excluded_locations`);
# on the wire they live under the request's `order`
_ORDER_FIELDS = frozenset(
    {"order_id", "channel", "lines", "destination", "method", "deliver_by", "placed_at", "options"}
)


def _in_order(err: InvalidArgument) -> InvalidArgument:
    head = err.field.split(".", 1)[0].split("[", 1)[0]
    if head in _ORDER_FIELDS:
        return InvalidArgument(f"order.{err.field}", err.value, err.reason)
    return err


def _rejections(items: Iterable[pb.Rejection]) -> tuple[Rejection, ...]:
    out = []
    for i, r in enumerate(items):
        reason = _REJECT_OF_PB.get(r.reason)
        if reason is None:
            raise InvalidArgument(f"rejections[{i}].reason", r.reason, "must be NOT_FOUND, DAMAGED or MISMATCH")
        out.append(Rejection(r.location, r.sku, reason, r.quantity))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- answers
def _unfulfilled_pb(u: UnfulfilledLine) -> pb.UnfulfilledLine:
    out = pb.UnfulfilledLine(
        line=u.line,
        sku=u.sku,
        requested=u.requested,
        missing=u.missing,
        reason=_REASON_TO_PB[u.reason],
        backordered=u.backordered,
        expected_location=u.expected_location,
        backorder_note=u.backorder_note,
    )
    if u.expected_date is not None:
        out.expected_date.CopyFrom(date_to_pb(u.expected_date))
    if u.expected_delivery_date is not None:
        out.expected_delivery_date.CopyFrom(date_to_pb(u.expected_delivery_date))
    return out


def result_to_pb(r: RoutingResult, sequence: int = 0) -> pb.RoutingResult:
    out = pb.RoutingResult(
        order_id=r.order_id,
        policy=r.policy,
        status=_STATUS_TO_PB[r.status],
        solver=r.solver,
        solve_time_seconds=r.solve_time_s,
        timed_out=r.timed_out,
        explanation=r.explanation,
        message=r.message,
        sequence=sequence,
    )
    c = r.cost
    out.cost.CopyFrom(
        pb.CostBreakdown(
            parcel=c.parcel,
            weight=c.weight,
            handling=c.handling,
            protection=c.protection,
            extra_shipment=c.extra_shipment,
            total=c.total,
        )
    )
    if r.gap is not None:
        out.gap = r.gap
    for s in r.shipments:
        sc = s.cost
        out.shipments.add(
            location=s.location,
            lines=[pb.ShipmentLine(line=ln.line, sku=ln.sku, quantity=ln.quantity) for ln in s.lines],
            ship_date=date_to_pb(s.ship_date),
            delivery_date=date_to_pb(s.delivery_date),
            distance_km=s.distance_km,
            cost=pb.CostBreakdown(
                parcel=sc.parcel,
                weight=sc.weight,
                handling=sc.handling,
                protection=sc.protection,
                extra_shipment=sc.extra_shipment,
                total=sc.total,
            ),
        )
    out.unfulfilled.extend(_unfulfilled_pb(u) for u in r.unfulfilled)
    if r.candidates is not None:
        k = r.candidates
        out.candidates.CopyFrom(
            pb.CandidateStats(pool=k.pool, usable=k.usable, considered=k.considered, exact=k.exact, note=k.note)
        )
    for a in r.alternatives:
        alt = out.alternatives.add(locations=a.locations, reason=a.reason)
        if a.extra_cost is not None:
            alt.extra_cost = a.extra_cost
    return out


def hold_to_pb(h: HoldOutcome) -> pb.HoldOutcome:
    out = pb.HoldOutcome(held=h.held, reroutes=h.reroutes, message=h.message)
    if h.reservation is not None:
        out.reservation.CopyFrom(reservation_to_pb(h.reservation))
    return out


def _route_response(outcome: RouteOutcome, sequence: int) -> pb.RouteOrderResponse:
    out = pb.RouteOrderResponse(result=result_to_pb(outcome.result, sequence))
    if outcome.hold is not None:
        out.hold.CopyFrom(hold_to_pb(outcome.hold))
    return out


def _event_pb(e: StockEvent) -> ipb.StockEvent:
    out = ipb.StockEvent(
        event_id=e.event_id, type=_EVENT_TYPE_TO_PB[e.type], location=e.location, sku=e.sku, quantity=e.quantity
    )
    out.occurred_at.FromMilliseconds(e.occurred_at)
    return out


def _totals_pb(t: BatchTotals) -> pb.BatchTotals:
    return pb.BatchTotals(
        orders=t.orders,
        orders_shipped=t.orders_shipped,
        orders_infeasible=t.orders_infeasible,
        cost=t.cost,
        shipments=t.shipments,
        extra_shipments=t.extra_shipments,
        units_requested=t.units_requested,
        units_shipped=t.units_shipped,
        units_unfulfilled=t.units_unfulfilled,
    )


def batch_to_pb(b: BatchResult, sequence: int) -> pb.RouteOrdersResponse:
    out = pb.RouteOrdersResponse(
        results=[result_to_pb(r, b.sequence or sequence) for r in b.results],
        totals=_totals_pb(b.totals),
        status=_STATUS_TO_PB[b.status],
        solver=b.solver,
        solver_status=b.solver_status,
        timed_out=b.timed_out,
        solve_time_seconds=b.solve_time_s,
        sequential=[
            pb.SequentialRouting(policy=s.policy, totals=_totals_pb(s.totals), seconds=s.time_s) for s in b.sequential
        ],
        message=b.message,
        sequence=b.sequence or sequence,
    )
    if b.bound is not None:
        out.bound = b.bound
    if b.gap is not None:
        out.gap = b.gap
    return out


def quote_to_pb(q: FulfillmentQuote) -> pb.QuoteFulfillmentOptionsResponse:
    out = pb.QuoteFulfillmentOptionsResponse(unknown_skus=q.unknown_skus, sequence=q.sequence)
    for o in q.ship:
        opt = out.ship_options.add(
            method=METHOD_TO_PB[o.method],
            available=o.available,
            cost=o.cost,
            shipments=o.shipments,
            single_parcel=o.single_parcel,
            partial=o.partial,
            missing=[_unfulfilled_pb(u) for u in o.missing],
            locations=o.locations,
            reason=o.reason,
        )
        if o.delivery_date is not None:
            opt.delivery_date.CopyFrom(date_to_pb(o.delivery_date))
    for s in q.stores:
        so = out.store_options.add(
            method=METHOD_TO_PB[s.method],
            store=s.store,
            name=s.name,
            distance_km=s.distance_km,
            ready_date=date_to_pb(s.ready_date),
            cost=s.cost,
            partial=s.partial,
            missing=[_unfulfilled_pb(u) for u in s.missing],
        )
        so.ready_at.FromDatetime(s.ready_at)
    return out


class RoutingServicer(pb_grpc.RoutingServiceServicer):
    def __init__(self, runtime: Runtime, cost_model: CostModel) -> None:
        self.rt = runtime
        self.cost_model = cost_model

    def _router(self) -> OrderRouter:
        ledger = self.rt.ledger
        return OrderRouter(ledger, self.cost_model, capacity=book_for(ledger))

    @staticmethod
    def _time_limit(requested: float, context: Context, *, batch: bool = False) -> float:
        if batch:
            limit = check_time_limit(requested, default=DEFAULT_BATCH_TIME_LIMIT_S, most=MAX_BATCH_TIME_LIMIT_S)
        else:
            limit = check_time_limit(requested)
        remaining = context.time_remaining()
        if remaining is not None and math.isfinite(remaining):
            # leave the answer time to travel: the optimiser stops early and says so (timed_out, gap)
            limit = max(0.001, min(limit, remaining * 0.8))
        return limit

    @rpc
    async def RouteOrder(self, request: pb.RouteOrderRequest, context: Context) -> pb.RouteOrderResponse:
        if not request.HasField("order"):
            raise InvalidArgument("order", None, "is required")
        order = order_of(request.order)
        limit = self._time_limit(request.time_limit_seconds, context)
        router = self._router()
        sequence = self.rt.ledger.store.sequence
        try:
            outcome = await self.rt.write(
                1,
                0,
                router.route,
                order,
                policy=request.policy or "optimal",
                hold=request.hold,
                reservation_id=request.reservation_id,
                time_limit_s=limit,
            )
        except InvalidArgument as err:
            raise _in_order(err) from None
        return _route_response(outcome, sequence)

    @rpc
    async def RouteOrders(self, request: pb.RouteOrdersRequest, context: Context) -> pb.RouteOrdersResponse:
        if not request.orders:
            raise InvalidArgument("orders", [], "must contain at least one order")
        orders = [order_of(m, f"orders[{i}]") for i, m in enumerate(request.orders)]
        limit = self._time_limit(request.time_limit_seconds, context, batch=True)
        router = self._router()
        sequence = self.rt.ledger.store.sequence
        batch = await self.rt.write(
            1, 0, router.route_batch, orders, policy=request.policy or "optimal", time_limit_s=limit
        )
        return batch_to_pb(batch, sequence)

    @rpc
    async def Reroute(self, request: pb.RerouteRequest, context: Context) -> pb.RerouteResponse:
        if not request.HasField("order"):
            raise InvalidArgument("order", None, "is required")
        order = order_of(request.order)
        rejections = _rejections(request.rejections)
        limit = self._time_limit(request.time_limit_seconds, context)
        at_ms = None
        if request.HasField("rejected_at"):
            datetime_of(request.rejected_at, "rejected_at")  # within the Timestamp's range, or refused
            at_ms = request.rejected_at.ToMilliseconds()
        if at_ms is not None and at_ms <= 0:
            raise InvalidArgument("rejected_at", at_ms, "must be after 1970")
        router = self._router()
        sequence = self.rt.ledger.store.sequence
        try:
            out = await self.rt.write(
                1,
                0,
                router.reroute,
                order,
                rejections,
                reservation_id=request.reservation_id,
                operation_id=request.operation_id,
                rejected_at_ms=at_ms,
                policy=request.policy or "optimal",
                time_limit_s=limit,
            )
        except InvalidArgument as err:
            raise _in_order(err) from None
        resp = pb.RerouteResponse(
            result=result_to_pb(out.result, sequence),
            hold=hold_to_pb(out.hold),
            reservation=reservation_to_pb(out.reservation),
        )
        for lq in out.released:
            resp.released.add(sku=lq.sku, place=lq.place, quantity=lq.quantity)
        for e, res in zip(out.events, out.event_results, strict=True):
            resp.stock_events.add(event=_event_pb(e), outcome=_OUTCOME_TO_PB[int(res.outcome)], note=res.reason)
        return resp

    @rpc
    async def QuoteFulfillmentOptions(
        self, request: pb.QuoteFulfillmentOptionsRequest, context: Context
    ) -> pb.QuoteFulfillmentOptionsResponse:
        if not request.HasField("destination"):
            raise InvalidArgument("destination", None, "is required: the shopper's point")
        destination = Destination.point(request.destination.latitude, request.destination.longitude)
        methods = tuple(method_of(v, f"methods[{i}]") for i, v in enumerate(request.methods)) or tuple(DeliveryMethod)
        if request.store_radius_km < 0 or not math.isfinite(request.store_radius_km):
            raise InvalidArgument("store_radius_km", request.store_radius_km, "must be a number of km (0: default)")
        router = self._router()
        quote = await self.rt.write(
            1,
            0,
            router.quote,
            [(ln.sku, ln.quantity) for ln in request.lines],
            destination,
            channel=request.channel,
            now=datetime_of(request.at, "at") if request.HasField("at") else None,
            methods=methods,
            max_stores=request.max_stores or DEFAULT_MAX_STORES,
            store_radius_km=request.store_radius_km or DEFAULT_STORE_RADIUS_KM,
        )
        return quote_to_pb(quote)
