"""RoutingService end to end: the real server on port 0 over the tiny network (tests/omniroute/fixtures.py),
called through the generated stubs and through `omniroute.Client`. Routing answers and their explanation,
every policy by name, every row of the error table a routing call can produce (an unknown SKU is an
unfulfilled line, not an error), holding exactly the plan (reserved counters), a cart's network hold
turned into location holds, a competing checkout forcing a re-route, Reroute with each reason changing
stock as documented, and quotes for every method.

The tiny network is in UTC with 24 h processing and a 14:00 cut-off everywhere: an order placed at 09:00
ships the next day. SKU-1 has 30 units ring-fenced for the marketplace; tests that need the web channel
to see every unit take the fence away first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from availability import StockStore
from availability.ledger import MemoryLedger
from availability.locations import Scope
from availability.reservations import HoldLine as EngineHoldLine
from availability.reservations import ReserveRequest
from omniroute.cli import main
from omniroute.client import (
    Allocation,
    Client,
    DeliveryMethod,
    LocationSpec,
    Order,
    OrderLine,
    Rejection,
    ReservationStatus,
    ServiceError,
    SolveStatus,
    StockEvent,
)
from omniroute.v1 import common_pb2 as cpb
from omniroute.v1 import routing_pb2 as pb
from omniroute.v1 import routing_pb2_grpc as pb_grpc

from .fixtures import ServerThread, inbound_date, tiny_ledger, tiny_network, with_config

BOSTON = (42.3601, -71.0589)
PLACED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def routing(server: ServerThread) -> Iterator[pb_grpc.RoutingServiceStub]:
    channel = grpc.insecure_channel(server.target)
    try:
        yield pb_grpc.RoutingServiceStub(channel)
    finally:
        channel.close()


def fails(fn: Callable[[], Any]) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        fn()
    return err.value


def order(*lines: tuple[str, int] | OrderLine, order_id: str = "o-1", **kw: Any) -> Order:
    kw.setdefault("placed_at", PLACED)
    kw.setdefault("destination", BOSTON)
    return Order(order_id, kw.pop("channel", "web"), list(lines), **kw)


def position(client: Client, sku: str, location: str) -> tuple[int, int]:
    """(on hand, reserved) of a position."""
    for p in client.get_positions([sku], locations=[location]).positions:
        return p.on_hand, p.reserved
    return 0, 0


def no_fence(client: Client) -> None:
    """Take the marketplace's ring-fence of SKU-1 away, so the web channel may take every unit."""
    client.set_allocations([Allocation("SKU-1", "marketplace", 0)])


# ---------------------------------------------------------------------------------------------- routing
def test_route_order_through_the_generated_stubs(routing: pb_grpc.RoutingServiceStub) -> None:
    req = pb.RouteOrderRequest(
        order=pb.Order(
            order_id="o-1",
            channel="web",
            lines=[pb.OrderLine(sku="SKU-1", quantity=3), pb.OrderLine(sku="SKU-5", quantity=1)],
            destination=pb.Destination(point=cpb.Point(latitude=BOSTON[0], longitude=BOSTON[1])),
        )
    )
    req.order.placed_at.FromDatetime(PLACED)
    r = routing.RouteOrder(req).result
    assert r.order_id == "o-1" and r.policy == "optimal" and r.status == pb.OPTIMAL
    assert [(s.location, [(ln.line, ln.sku, ln.quantity) for ln in s.lines]) for s in r.shipments] == [
        ("DC-EAST", [(0, "SKU-1", 3), (1, "SKU-5", 1)])
    ]
    s = r.shipments[0]
    assert (s.ship_date.day, s.delivery_date.day) == (6, 7)  # ready the next day, one day in transit
    assert s.cost.total == r.cost.total == s.cost.parcel + s.cost.weight + s.cost.handling > 0
    assert r.candidates.pool >= 2 and r.candidates.exact
    assert r.explanation == "S-BOS lacks SKU-5" and r.alternatives[0].locations == ["S-BOS"]
    assert not r.alternatives[0].HasField("extra_cost")  # it could not serve the order at all
    assert r.sequence >= 0 and r.solver in ("bound", "cp-sat")
    assert not routing.RouteOrder(req).HasField("hold")  # not asked to hold: nothing held


def test_unknown_skus_and_short_lines_are_answers_with_a_reason(client: Client) -> None:
    r = client.route_order(order(("SKU-1", 1), ("SKU-NOPE", 2))).result
    assert r.status is SolveStatus.INFEASIBLE and r.shipments == ()  # the order wants all of it
    assert [(u.sku, u.missing, u.reason) for u in r.unfulfilled] == [("SKU-NOPE", 2, "unknown_sku")]
    assert "does not allow partial" in r.message
    partial = client.route_order(order(("SKU-1", 1), ("SKU-NOPE", 2), ("SKU-4", 1), allow_partial=True)).result
    assert partial.status is SolveStatus.OPTIMAL and partial.shipped() == {("DC-EAST", "SKU-1"): 1}
    assert [(u.sku, u.reason) for u in partial.unfulfilled] == [("SKU-NOPE", "unknown_sku"), ("SKU-4", "no_stock")]
    back = client.route_order(order(("SKU-4", 1), allow_backorder=True)).result
    assert back.unfulfilled[0].backordered


def test_every_policy_by_name(client: Client) -> None:
    no_fence(client)
    results = {p: client.route_order(order(("SKU-1", 2)), policy=p).result for p in (
        "optimal", "nearest", "priority", "high_stock", "fewest_shipments"
    )}  # fmt: skip
    for name, r in results.items():
        assert r.policy == name and r.shipped() and sum(r.shipped().values()) == 2
    assert results["optimal"].status is SolveStatus.OPTIMAL
    assert results["nearest"].status is SolveStatus.FEASIBLE and results["nearest"].solver == "greedy"
    assert results["nearest"].shipped() == {("S-BOS", "SKU-1"): 2}  # the store 0.5 km away
    assert results["high_stock"].shipped() == {("DC-EAST", "SKU-1"): 2}  # 100 units
    assert all(results["optimal"].total_cost <= r.total_cost for r in results.values())
    # deliver-by and exclusions are hard
    late = client.route_order(order(("SKU-1", 2), deliver_by=date(2026, 1, 6))).result
    assert late.status is SolveStatus.INFEASIBLE and late.unfulfilled[0].reason == "deliver_by"
    away = client.route_order(order(("SKU-1", 2), excluded_locations=("DC-EAST",))).result
    assert set(away.shipped()) == {("S-BOS", "SKU-1")}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.ClearField("order"), "order"),
        (lambda r: setattr(r.order, "order_id", "bad id"), "order.order_id"),
        (lambda r: setattr(r.order, "channel", "nope"), "order.channel"),
        (lambda r: r.order.ClearField("lines"), "order.lines"),
        (lambda r: setattr(r.order.lines[0], "quantity", 0), "order.lines[0].quantity"),
        (lambda r: setattr(r.order.lines[0], "sku", ""), "order.lines[0].sku"),
        (lambda r: r.order.lines.add(sku="SKU-1", quantity=1), "order.lines[1].sku"),
        (lambda r: r.order.lines[0].excluded_locations.append("NOWHERE"), "order.lines[0].excluded_locations"),
        (lambda r: r.order.ClearField("destination"), "order.destination"),
        (lambda r: setattr(r.order.destination.point, "latitude", 91.0), "order.destination.latitude"),
        (lambda r: setattr(r.order, "method", 9), "order.method"),
        (lambda r: setattr(r.order, "method", pb.DELIVERY_PICKUP), "order.destination"),
        (lambda r: r.order.MergeFrom(pb.Order(method=pb.DELIVERY_PICKUP, destination=pb.Destination(store="NOWHERE"))),
         "order.destination.store"),
        (lambda r: r.order.deliver_by.CopyFrom(cpb.Date(year=2026, month=13, day=1)), "order.deliver_by"),
        (lambda r: r.order.options.excluded_locations.append("NOWHERE"), "order.options.excluded_locations"),
        (lambda r: setattr(r, "policy", "cheapest"), "policy"),
        (lambda r: setattr(r, "time_limit_seconds", -1.0), "time_limit_seconds"),
        (lambda r: setattr(r, "time_limit_seconds", float("nan")), "time_limit_seconds"),
        (lambda r: r.MergeFrom(pb.RouteOrderRequest(hold=True, reservation_id="bad id")), "reservation_id"),
    ],
)  # fmt: skip
def test_malformed_route_order_is_invalid_argument_naming_the_field(
    routing: pb_grpc.RoutingServiceStub, client: Client, change: Callable[[pb.RouteOrderRequest], Any], field: str
) -> None:
    req = pb.RouteOrderRequest(order=order(("SKU-1", 1)).to_pb())
    change(req)
    with pytest.raises(grpc.RpcError) as raw:
        routing.RouteOrder(req)
    err = ServiceError.from_rpc_error(raw.value)
    assert err.status is INVALID and err.field == field, err.message
    assert client.get_positions(["SKU-1"]).positions == client.get_positions(["SKU-1"]).positions


def test_hold_errors(client: Client) -> None:
    # an unknown reservation named by the caller
    e = fails(lambda: client.route_order(order(("SKU-1", 1)), hold=True, reservation_id="cart-nope"))
    assert e.status is grpc.StatusCode.NOT_FOUND and e.resource == ("reservation", "cart-nope")
    # a reservation of another channel, and one already released
    client.reserve("cart-pos", "pos", [("SKU-1", 1)])
    e = fails(lambda: client.route_order(order(("SKU-1", 1)), hold=True, reservation_id="cart-pos"))
    assert e.status is INVALID and e.field == "order.channel"
    client.reserve("cart-gone", "web", [("SKU-1", 1)])
    client.release("cart-gone")
    e = fails(lambda: client.route_order(order(("SKU-1", 1)), hold=True, reservation_id="cart-gone"))
    assert e.status is grpc.StatusCode.FAILED_PRECONDITION and "released" in e.message
    # a plan bigger than the reservation it should be held in
    client.reserve("cart-small", "web", [("SKU-1", 1)])
    e = fails(lambda: client.route_order(order(("SKU-1", 3)), hold=True, reservation_id="cart-small"))
    assert e.status is grpc.StatusCode.FAILED_PRECONDITION and "reservation holds 1" in e.message
    assert client.get_reservation("cart-small").line("SKU-1").held == 1  # unchanged


def test_route_orders_routes_a_batch_jointly_with_the_sequential_comparison(client: Client) -> None:
    # SKU-5 lies only at the DC (7 units): the two orders compete for it
    batch = client.route_orders([
        order(("SKU-5", 5), ("SKU-1", 1), order_id="w-1"),
        order(("SKU-5", 4), order_id="w-2", allow_partial=True),
        order(("SKU-NOPE", 1), order_id="w-3"),
    ])  # fmt: skip
    assert [r.order_id for r in batch.results] == ["w-1", "w-2", "w-3"]
    one, two, three = batch.results
    assert one.shipped() == {("DC-EAST", "SKU-5"): 5, ("DC-EAST", "SKU-1"): 1}
    assert two.shipped() == {("DC-EAST", "SKU-5"): 2}
    assert [(u.sku, u.missing, u.reason) for u in two.unfulfilled] == [("SKU-5", 2, "no_stock")]
    assert three.status is SolveStatus.INFEASIBLE and three.unfulfilled[0].reason == "unknown_sku"
    t = batch.totals
    assert (t.orders, t.orders_shipped, t.orders_infeasible) == (3, 2, 1)
    assert (t.units_requested, t.units_shipped, t.units_unfulfilled) == (11, 8, 3)
    assert t.cost == one.total_cost + two.total_cost and t.shipments == 2 and t.extra_shipments == 0
    assert batch.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE) and batch.solver
    assert batch.sequential and all(s.totals.orders == 3 for s in batch.sequential)
    fewest = batch.sequential_by("fewest_shipments")
    assert fewest is not None and fewest.totals.cost >= t.cost
    # nothing is held by a batch
    assert position(client, "SKU-5", "DC-EAST") == (7, 0)
    greedy = client.route_orders([order(("SKU-1", 1), order_id="w-1")], policy="nearest")
    assert greedy.results[0].policy == "nearest" and greedy.results[0].shipped() == {("S-BOS", "SKU-1"): 1}


def test_malformed_route_orders_name_the_order_and_field(client: Client) -> None:
    cases = [
        ([], {}, "orders"),
        ([order(("SKU-1", 1)), order(("SKU-1", 0), order_id="o-2")], {}, "orders[1].lines[0].quantity"),
        ([order(("SKU-1", 1)), order(("SKU-1", 1))], {}, "orders[1].order_id"),
        ([order(("SKU-1", 1)), order(("SKU-1", 1), order_id="o-2", channel="nope")], {}, "orders[1].channel"),
        ([order(("SKU-1", 1), excluded_locations=("NOWHERE",))], {}, "orders[0].options.excluded_locations"),
        ([order(("SKU-1", 1))], {"policy": "cheapest"}, "policy"),
        ([order(("SKU-1", 1))], {"time_limit_s": 601.0}, "time_limit_seconds"),
    ]
    for orders, kw, field in cases:
        e = fails(lambda o=orders, k=kw: client.route_orders(o, **k))  # type: ignore[misc]
        assert e.status is INVALID and e.field == field, (field, e.message)


def test_unavailable_while_the_read_model_loads() -> None:
    import threading

    release = threading.Event()

    def slow_load() -> Any:
        release.wait(10)
        return tiny_ledger()

    srv = ServerThread(load=slow_load).start(wait_loaded=False)
    try:
        with Client(srv.target) as c:
            e = fails(lambda: c.route_order(order(("SKU-1", 1))))
            assert e.status is grpc.StatusCode.UNAVAILABLE and e.retry_after == 1.0
            e = fails(lambda: c.quote_fulfillment_options([("SKU-1", 1)], BOSTON, channel="web"))
            assert e.status is grpc.StatusCode.UNAVAILABLE
    finally:
        release.set()
        srv.stop()


# ---------------------------------------------------------------------------------------------- holds
def test_hold_holds_exactly_the_plan_and_a_retry_holds_nothing_more(client: Client) -> None:
    before = {loc: position(client, "SKU-1", loc) for loc in ("DC-EAST", "S-BOS")}
    routed = client.route_order(order(("SKU-1", 3), ("SKU-5", 2)), hold=True)
    assert routed.hold is not None and routed.hold.held and routed.hold.reroutes == 0
    r = routed.hold.reservation
    assert r is not None and r.reservation_id == "o-1" and r.status is ReservationStatus.CONFIRMED
    assert r.expires_at is None
    plan = routed.result.shipped()
    assert plan == {("DC-EAST", "SKU-1"): 3, ("DC-EAST", "SKU-5"): 2}
    assert {(ln.place, ln.sku): ln.held for ln in r.lines} == plan
    assert position(client, "SKU-1", "DC-EAST") == (100, before["DC-EAST"][1] + 3)
    assert position(client, "SKU-5", "DC-EAST") == (7, 2)
    assert position(client, "SKU-1", "S-BOS") == before["S-BOS"]
    again = client.route_order(order(("SKU-1", 3), ("SKU-5", 2)), hold=True)  # a retry
    assert again.hold is not None and again.hold.held and again.result.shipped() == plan
    assert position(client, "SKU-1", "DC-EAST")[1] == 3 and position(client, "SKU-5", "DC-EAST")[1] == 2


def test_a_cart_network_hold_becomes_location_holds_and_the_rest_is_released(client: Client) -> None:
    # the cart holds every unit of SKU-5 (7, all at the DC) at the network: nothing is left for others,
    # yet the order that owns the hold routes to it
    client.reserve("cart-9", "web", [("SKU-5", 7), ("SKU-1", 2)])
    assert client.get_availability(["SKU-5"], channel="web")["SKU-5"] == 0
    assert client.route_order(order(("SKU-5", 5))).result.status is SolveStatus.INFEASIBLE  # anyone else's
    peek = client.route_order(order(("SKU-5", 5)), reservation_id="cart-9")  # its own: a plan, nothing held
    assert peek.hold is None and peek.result.shipped() == {("DC-EAST", "SKU-5"): 5}
    routed = client.route_order(order(("SKU-5", 5), ("SKU-1", 2)), hold=True, reservation_id="cart-9")
    assert routed.result.shipped() == {("DC-EAST", "SKU-5"): 5, ("DC-EAST", "SKU-1"): 2}
    assert routed.hold is not None and routed.hold.held
    r = client.get_reservation("cart-9")
    assert r.status is ReservationStatus.CONFIRMED
    assert {(ln.sku, ln.place): ln.held for ln in r.lines if ln.held} == {
        ("SKU-5", "DC-EAST"): 5,
        ("SKU-1", "DC-EAST"): 2,
    }  # the 2 units of SKU-5 beyond the order went back
    assert position(client, "SKU-5", "DC-EAST") == (7, 5)
    assert client.get_availability(["SKU-5"], channel="web")["SKU-5"] == 2


def test_a_plan_that_ships_nothing_holds_nothing(client: Client) -> None:
    routed = client.route_order(order(("SKU-4", 1)), hold=True)
    assert routed.result.status is SolveStatus.INFEASIBLE
    assert routed.hold is not None and not routed.hold.held and "nothing to hold" in routed.hold.message
    assert fails(lambda: client.get_reservation("o-1")).status is grpc.StatusCode.NOT_FOUND


class RivalLedger:
    """The tiny network's ledger where a rival checkout takes all of the planned stock at a location just
    before the order's first hold lands there: between routing and holding, as a concurrent checkout on
    another replica would."""

    def __init__(self) -> None:
        self.inner = tiny_ledger()
        self.rivals = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def store(self) -> Any:
        return self.inner.store

    @property
    def sequence(self) -> int:
        return self.inner.sequence

    def reserve(self, request: ReserveRequest) -> Any:
        if self.rivals == 0 and request.reservation_id.startswith("o-"):
            self.rivals += 1
            line = request.lines[0]
            store = self.inner.store
            s = store.skus.get(line.sku)
            assert s is not None
            left = store.hold_atp(s, store.network.channel_index("web"), Scope.of_locations([line.location]))
            rival = EngineHoldLine(line.sku, left, location=line.location)
            self.inner.reserve(ReserveRequest("rival", "web", (rival,)))
        return self.inner.reserve(request)


def test_a_competing_checkout_forces_a_reroute_and_the_answer_says_so() -> None:
    ledger = RivalLedger()
    srv = ServerThread(load=ledger).start()
    try:
        with Client(srv.target) as c:
            no_fence(c)
            first = c.route_order(order(("SKU-1", 3)))
            assert first.result.shipped() == {("DC-EAST", "SKU-1"): 3}  # where the rival will strike
            routed = c.route_order(order(("SKU-1", 3)), hold=True)
            assert ledger.rivals == 1
            assert routed.hold is not None and routed.hold.held and routed.hold.reroutes == 1
            assert routed.result.shipped() == {("S-BOS", "SKU-1"): 3}  # the only other ship location
            r = c.get_reservation("o-1")
            assert {(ln.place, ln.sku): ln.held for ln in r.lines} == {("S-BOS", "SKU-1"): 3}
            assert position(c, "SKU-1", "S-BOS") == (5, 3)
            assert position(c, "SKU-1", "DC-EAST") == (100, 100)  # the rival's, nothing of the order's
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- reroute
def held_at_store(client: Client, *lines: tuple[str, int]) -> Order:
    """An order whose plan is held at the Boston store (the DC excluded), returned for rerouting."""
    no_fence(client)
    o = order(*lines, excluded_locations=("DC-EAST",))
    routed = client.route_order(o, hold=True)
    assert routed.hold is not None and routed.hold.held
    assert set(routed.result.shipped()) == {("S-BOS", sku) for sku, _ in lines}
    return order(*lines)  # the store now rejects; the DC may serve what is left


def test_reroute_not_found_counts_the_shelf_as_empty_and_routes_elsewhere(client: Client) -> None:
    o = held_at_store(client, ("SKU-1", 2))
    out = client.reroute(o, [Rejection("S-BOS", "SKU-1", "not_found")], operation_id="pick-1")
    assert [(lq.sku, lq.place, lq.quantity) for lq in out.released] == [("SKU-1", "S-BOS", 2)]
    assert [(e.type, e.location, e.sku, e.quantity, e.outcome.value) for e in out.stock_events] == [
        ("cycle_count", "S-BOS", "SKU-1", 0, "applied")
    ]
    assert position(client, "SKU-1", "S-BOS") == (0, 0)  # counted empty, and nothing held there
    assert out.result.shipped() == {("DC-EAST", "SKU-1"): 2}
    assert out.hold is not None and out.hold.held and out.hold.reservation is not None
    assert out.hold.reservation.reservation_id == "o-1/reroute/pick-1"
    assert position(client, "SKU-1", "DC-EAST")[1] == 2
    assert out.reservation.reservation_id == "o-1" and out.reservation.held == 0
    # no other order is routed to the store for the SKU now
    assert client.route_order(order(("SKU-1", 1), order_id="o-2", method="pickup", destination="S-BOS")).result.status \
        is SolveStatus.INFEASIBLE  # fmt: skip


def test_reroute_damaged_takes_the_units_out_of_sellable_stock(client: Client) -> None:
    o = held_at_store(client, ("SKU-1", 2))
    out = client.reroute(o, [Rejection("S-BOS", "SKU-1", "damaged", quantity=1)], operation_id="pick-2")
    assert [(e.type, e.quantity) for e in out.stock_events] == [("adjustment", -1)]
    assert position(client, "SKU-1", "S-BOS") == (4, 1)  # 1 unit gone, the undamaged one still held
    assert out.result.shipped() == {("DC-EAST", "SKU-1"): 1}
    assert out.reservation.line("SKU-1", "S-BOS").held == 1


def test_reroute_mismatch_changes_no_stock_and_excludes_the_store(client: Client) -> None:
    o = held_at_store(client, ("SKU-1", 2))
    out = client.reroute(o, [Rejection("S-BOS", "SKU-1", "mismatch")])
    assert out.stock_events == ()
    assert position(client, "SKU-1", "S-BOS") == (5, 0)
    assert out.result.shipped() == {("DC-EAST", "SKU-1"): 2}
    assert out.hold is not None and out.hold.reservation is not None
    assert out.hold.reservation.reservation_id.startswith("o-1/reroute/")  # a key derived from the request


def test_reroute_errors_name_the_field_and_change_nothing(client: Client) -> None:
    o = held_at_store(client, ("SKU-1", 2))
    before = client.get_positions(["SKU-1"]).positions
    cases = [
        ([], "rejections"),
        ([Rejection("S-CAM", "SKU-1", "damaged")], "rejections[0].location"),
        ([Rejection("S-BOS", "SKU-5", "damaged")], "rejections[0].sku"),
        ([Rejection("S-BOS", "SKU-1", "damaged", quantity=3)], "rejections[0].quantity"),
    ]
    for rejections, field in cases:
        e = fails(lambda r=rejections: client.reroute(o, r))  # type: ignore[misc]
        assert e.status is INVALID and e.field == field, e.message
    stub = pb_grpc.RoutingServiceStub(client.channel)
    unspecified = pb.Rejection(location="S-BOS", sku="SKU-1", reason=pb.REJECT_REASON_UNSPECIFIED)
    bad = pb.RerouteRequest(order=o.to_pb(), rejections=[unspecified])
    with pytest.raises(grpc.RpcError) as raw:
        stub.Reroute(bad)
    assert ServiceError.from_rpc_error(raw.value).field == "rejections[0].reason"
    e = fails(lambda: client.reroute(o, [Rejection("S-BOS", "SKU-1", "damaged")], reservation_id="nope"))
    assert e.status is grpc.StatusCode.NOT_FOUND
    assert client.get_positions(["SKU-1"]).positions == before


def test_reroute_retried_with_the_same_time_records_each_event_once(client: Client) -> None:
    o = held_at_store(client, ("SKU-1", 1))
    at = datetime.now(UTC).replace(microsecond=0)
    out = client.reroute(o, [Rejection("S-BOS", "SKU-1", "damaged")], operation_id="r-1", rejected_at=at)
    assert out.stock_events[0].occurred_at == at and out.stock_events[0].outcome.value == "applied"
    on_hand = position(client, "SKU-1", "S-BOS")[0]
    # the order's reservation held nothing else, so it is closed: a repeat is refused and records nothing
    e = fails(lambda: client.reroute(o, [Rejection("S-BOS", "SKU-1", "damaged")], operation_id="r-1", rejected_at=at))
    assert e.status is grpc.StatusCode.FAILED_PRECONDITION and "released" in e.message
    assert position(client, "SKU-1", "S-BOS")[0] == on_hand
    # the stock event itself is idempotent by its id and time
    again = client.apply_stock_events(
        [StockEvent(out.stock_events[0].event_id, "adjustment", "S-BOS", "SKU-1", -1, at)]
    )
    assert again.outcomes[0].value == "duplicate"


# ---------------------------------------------------------------------------------------------- quotes
def test_quotes_for_every_method(client: Client) -> None:
    # the dark store prepares in an hour, so it can deliver today within the courier's range
    client.upsert_locations([
        LocationSpec("DK-SOM", "dark_store", 42.3876, -71.0995, name="Somerville dark store", processing_hours=1,
                     methods=("curbside", "same_day"), channels=("web",)),
    ])  # fmt: skip
    q = client.quote_fulfillment_options([("SKU-1", 2)], BOSTON, channel="web", at=PLACED)
    assert [o.method for o in q.ship] == [DeliveryMethod.STANDARD, DeliveryMethod.EXPRESS, DeliveryMethod.SAME_DAY]
    std, exp, same = q.option("standard"), q.option("express"), q.option("same_day")
    assert std.available and std.delivery_date == date(2026, 1, 7) and std.single_parcel and not std.partial
    assert exp.available and exp.cost > std.cost
    assert same.available and same.delivery_date == date(2026, 1, 5) and same.locations == ("DK-SOM",)
    pickup = q.stores_for("pickup")
    assert [s.store for s in pickup] == ["S-BOS", "S-CAM"]  # nearest first; New York is out of range
    assert pickup[0].ready_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC) and pickup[0].ready_date == date(2026, 1, 6)
    assert not pickup[0].partial and pickup[1].partial  # Cambridge has 1 sellable unit of the 2
    assert [(m.sku, m.missing) for m in pickup[1].missing] == [("SKU-1", 1)]
    assert [s.store for s in q.stores_for("curbside")] == ["S-BOS", "DK-SOM"]
    assert q.unknown_skus == ()


def test_quote_through_the_generated_stubs_flags_unknown_skus(routing: pb_grpc.RoutingServiceStub) -> None:
    req = pb.QuoteFulfillmentOptionsRequest(
        channel="web",
        lines=[cpb.CartLine(sku="SKU-3", quantity=1), cpb.CartLine(sku="SKU-NOPE", quantity=1)],
        destination=cpb.Point(latitude=BOSTON[0], longitude=BOSTON[1]),
        methods=[pb.DELIVERY_STANDARD, pb.DELIVERY_PICKUP],
        max_stores=1,
    )
    req.at.FromDatetime(PLACED)
    q = routing.QuoteFulfillmentOptions(req)
    assert list(q.unknown_skus) == ["SKU-NOPE"]
    assert [(o.method, o.available) for o in q.ship_options] == [(pb.DELIVERY_STANDARD, False)]  # SKU-3: pickup only
    assert q.ship_options[0].reason
    assert [(s.store, s.partial) for s in q.store_options] == [("S-CAM", True)]
    assert [(m.sku, m.reason) for m in q.store_options[0].missing] == [("SKU-NOPE", pb.UNKNOWN_SKU)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.ClearField("destination"), "destination"),
        (lambda r: setattr(r.destination, "latitude", -91.0), "destination.latitude"),
        (lambda r: setattr(r, "channel", "nope"), "channel"),
        (lambda r: r.ClearField("lines"), "lines"),
        (lambda r: setattr(r.lines[0], "quantity", -1), "lines[0].quantity"),
        (lambda r: r.methods.append(42), "methods[0]"),
        (lambda r: setattr(r, "max_stores", 51), "max_stores"),
        (lambda r: setattr(r, "store_radius_km", -5.0), "store_radius_km"),
    ],
)
def test_malformed_quote_is_invalid_argument_naming_the_field(
    routing: pb_grpc.RoutingServiceStub, change: Callable[[pb.QuoteFulfillmentOptionsRequest], Any], field: str
) -> None:
    req = pb.QuoteFulfillmentOptionsRequest(
        channel="web",
        lines=[cpb.CartLine(sku="SKU-1", quantity=1)],
        destination=cpb.Point(latitude=42.0, longitude=-71.0),
    )
    change(req)
    with pytest.raises(grpc.RpcError) as raw:
        routing.QuoteFulfillmentOptions(req)
    err = ServiceError.from_rpc_error(raw.value)
    assert err.status is INVALID and err.field == field, err.message


# ---------------------------------------------------------------------------------------------- CLI, health
def test_route_command_prints_the_plan_and_the_explanation(server: ServerThread, tmp_path: Any) -> None:
    runner = CliRunner()
    args = ["route", "--target", server.target, "--order-id", "cli-1", "--line", "SKU-1:2", "--line", "SKU-5:1",
            "--to", "42.3601,-71.0589", "--placed-at", "2026-01-05T09:00:00+00:00"]  # fmt: skip
    result = runner.invoke(main, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "DC-EAST" in result.output and "optimal" in result.output and "S-BOS lacks SKU-5" in result.output
    spec = tmp_path / "order.json"
    spec.write_text(
        '{"order_id": "cli-2", "channel": "web", "lines": [["SKU-1", 1]], "destination": "S-BOS",'
        ' "method": "pickup", "placed_at": "2026-01-05T09:00:00+00:00"}'
    )
    result = runner.invoke(
        main, ["route", "--target", server.target, "--file", str(spec), "--hold"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "S-BOS" in result.output and "held in cli-2" in result.output
    bad = runner.invoke(main, ["route", "--target", server.target, "--line", "SKU-1:0", "--to", "42,-71"])
    assert bad.exit_code == 1 and "INVALID_ARGUMENT" in bad.output and "order.lines[0].quantity" in bad.output


def test_routing_service_is_healthy_and_listed_by_reflection(server: ServerThread) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(server.target)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service="omniroute.v1.RoutingService")).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for a in answers for s in a.list_services_response.service}
        assert "omniroute.v1.RoutingService" in names
    finally:
        channel.close()


# ---------------------------------------------------------------------------------------------- cost model
def test_the_cost_model_comes_from_routing_config_else_the_data_directory(tmp_path: Any) -> None:
    from omniroute.config import ServerConfig
    from omniroute.server import ServerError, routing_cost_model
    from router import CostModel

    assert routing_cost_model(ServerConfig(port=0)) == CostModel()
    flat = tmp_path / "flat.toml"
    flat.write_text("[parcel]\nzone_cost = [1000, 1000, 1000, 1000, 1000, 1000, 1000]\n")
    assert routing_cost_model(ServerConfig(port=0, routing_config=flat)).parcel.zone_cost == (1000,) * 7
    data = tmp_path / "snapshot"
    data.mkdir()
    (data / "routing.toml").write_text("[shipments]\nextra_shipment_cost = 900\n")
    assert routing_cost_model(ServerConfig(port=0, data_dir=data)).extra_shipment_cost == 900
    assert routing_cost_model(ServerConfig(port=0, data_dir=data, routing_config=flat)).extra_shipment_cost == 500
    bad = tmp_path / "bad.toml"
    bad.write_text("[parcel]\nzone_cost = [1, 2]\n")
    with pytest.raises(ServerError, match=r"parcel\.zone_cost"):
        routing_cost_model(ServerConfig(port=0, routing_config=bad))
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--routing-config", str(bad)])
    assert result.exit_code == 2 and "--routing-config" in result.output and "parcel.zone_cost" in result.output

    srv = ServerThread(with_config(routing_config=flat)).start()
    try:
        with Client(srv.target) as c:
            r = c.route_order(order(("SKU-5", 1))).result
            assert r.shipments[0].cost.parcel == 1000  # the file's flat rate, not the default 600
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- capacity
def dc_capacity_one() -> MemoryLedger:
    """The tiny network with the DC able to ship one order a day."""
    snap = tiny_network()
    snap.locations = [replace(loc, daily_capacity=1) if loc.id == "DC-EAST" else loc for loc in snap.locations]
    return MemoryLedger(StockStore.from_snapshot(snap))


def test_held_plans_use_up_daily_capacity_across_calls_and_a_release_gives_it_back() -> None:
    srv = ServerThread(load=dc_capacity_one()).start()
    try:
        with Client(srv.target) as c:
            no_fence(c)
            first = c.route_order(order(("SKU-1", 1), order_id="o-1"), hold=True)
            assert first.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            ship_day = first.result.shipments[0].ship_date
            # the DC's one shipment of that day is taken: the next order goes elsewhere, and says why
            second = c.route_order(order(("SKU-1", 1), order_id="o-2"), hold=True)
            assert second.result.shipped() == {("S-BOS", "SKU-1"): 1}
            assert f"DC-EAST has no capacity left on its ship day {ship_day}" in second.result.explanation
            quote = c.quote_fulfillment_options([("SKU-1", 1)], BOSTON, channel="web", at=PLACED, methods=("standard",))
            assert quote.ship[0].locations == ("S-BOS",)
            # the same order again is its own competition: still the DC
            again = c.route_order(order(("SKU-1", 1), order_id="o-1"), hold=True)
            assert again.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            # a day later the DC has a new day's capacity
            later = c.route_order(order(("SKU-1", 1), order_id="o-3", placed_at=PLACED.replace(day=6)))
            assert later.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            assert later.result.shipments[0].ship_date > ship_day
            c.release("o-1")
            third = c.route_order(order(("SKU-1", 1), order_id="o-4"), hold=True)
            assert third.result.shipped() == {("DC-EAST", "SKU-1"): 1}
    finally:
        srv.stop()


def test_a_batch_shares_only_the_capacity_that_held_plans_left() -> None:
    srv = ServerThread(load=dc_capacity_one()).start()
    try:
        with Client(srv.target) as c:
            no_fence(c)
            wave = [order(("SKU-1", 1), order_id="w-1")]
            assert c.route_orders(wave).results[0].shipped() == {("DC-EAST", "SKU-1"): 1}
            held = c.route_order(order(("SKU-1", 1), order_id="o-1"), hold=True)
            assert held.result.shipped() == {("DC-EAST", "SKU-1"): 1}
            # the DC's one shipment of the day is held: the same wave now goes elsewhere
            assert c.route_orders(wave).results[0].shipped() == {("S-BOS", "SKU-1"): 1}
            c.release("o-1")
            assert c.route_orders(wave).results[0].shipped() == {("DC-EAST", "SKU-1"): 1}
    finally:
        srv.stop()


def test_a_plan_held_elsewhere_frees_the_capacity_of_the_plan_it_replaces() -> None:
    srv = ServerThread(load=dc_capacity_one()).start()
    try:
        with Client(srv.target) as c:
            no_fence(c)
            assert c.route_order(order(("SKU-1", 1)), hold=True).result.shipped() == {("DC-EAST", "SKU-1"): 1}
            # the store rejects nothing here; the order is re-planned away from the DC by excluding it
            moved = c.reroute(order(("SKU-1", 1)), [Rejection("DC-EAST", "SKU-1", "mismatch")], operation_id="r-1")
            assert moved.result.shipped() == {("S-BOS", "SKU-1"): 1}
            # the DC no longer ships o-1: its day's shipment is free for the next order
            nxt = c.route_order(order(("SKU-1", 1), order_id="o-2"), hold=True)
            assert nxt.result.shipped() == {("DC-EAST", "SKU-1"): 1}
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- back orders
def test_back_orders_carry_the_inbound_date_through_the_wire_and_the_command_line(
    client: Client, server: ServerThread
) -> None:
    # SKU-4: no stock, 100 units in transit to the DC; SKU-2: one unit at the Boston store, no inbound
    o = order(("SKU-4", 5), ("SKU-2", 3), placed_at=datetime.now(UTC), allow_backorder=True)
    r = client.route_order(o).result
    sku4 = next(u for u in r.unfulfilled if u.sku == "SKU-4")
    assert sku4.backordered and sku4.missing == 5
    assert (sku4.expected_date, sku4.expected_location) == (inbound_date(), "DC-EAST")
    assert sku4.expected_delivery_date == inbound_date() + timedelta(days=1)  # 24 h ready, 1 day of transit
    assert "DC-EAST on" in sku4.backorder_note
    sku2 = next(u for u in r.unfulfilled if u.sku == "SKU-2")
    assert sku2.backordered and sku2.expected_date is None
    assert sku2.backorder_note == "no inbound supply of SKU-2: no date"
    no_back = client.route_order(order(("SKU-4", 5), placed_at=datetime.now(UTC), allow_partial=True)).result
    assert no_back.unfulfilled[0].expected_date is None and not no_back.unfulfilled[0].backordered
    out = CliRunner().invoke(
        main, ["route", "--target", server.target, "--line", "SKU-4:5", "--to", "42.36,-71.06", "--allow-backorder"]
    )
    assert out.exit_code == 0, out.output
    assert "back order" in out.output and "DC-EAST" in out.output
