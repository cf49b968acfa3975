"""ReservationService and AdminService.Reconcile end to end: the real server on port 0, called through the
generated stubs and through `omniroute.Client`. Every row of the error table a reservation can produce,
no state change after any rejected call, expiry by the ledger's own sweeper, and no oversell under 32
concurrent clients."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from availability.errors import Unavailable
from availability.ledger import MemoryLedger
from availability.reservations import ReserveRequest
from omniroute.cli import main
from omniroute.client import (
    NETWORK,
    Client,
    HoldLine,
    LineMove,
    LineQuantity,
    Reservation,
    ReservationStatus,
    ServiceError,
)
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc
from omniroute.v1 import reservation_pb2 as pb
from omniroute.v1 import reservation_pb2_grpc as pb_grpc

from .fixtures import LedgerDouble, ServerThread, state_of

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
# SKU-5 lies only at DC-EAST (7 units, no safety stock), which serves web: one place to compete for.
LAST_SKU = "SKU-5"
DC = "DC-EAST"


@pytest.fixture
def reservations(server: ServerThread) -> Iterator[pb_grpc.ReservationServiceStub]:
    channel = grpc.insecure_channel(server.target)
    try:
        yield pb_grpc.ReservationServiceStub(channel)
    finally:
        channel.close()


@pytest.fixture
def admin(server: ServerThread) -> Iterator[pb_grpc.AdminServiceStub]:
    channel = grpc.insecure_channel(server.target)
    try:
        yield pb_grpc.AdminServiceStub(channel)
    finally:
        channel.close()


def atp(client: Client, sku: str, *, min_sequence: int = 0, **scope: Any) -> int:
    return client.get_availability([sku], channel="web", min_sequence=min_sequence, **scope)[sku]


def fails(fn: Callable[[], Any]) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        fn()
    return err.value


def rich_details(err: grpc.RpcError) -> list[Any]:
    """The google.rpc.Status details of a failed raw call, unpacked."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    assert status.code == err.code().value[0]
    out: list[Any] = []
    for d in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ErrorInfo,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RetryInfo,
        ):
            if d.Is(kind.DESCRIPTOR):
                m = kind()
                d.Unpack(m)
                out.append(m)
    return out


def raw_fails(fn: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, terminal_width=200)
    return result.exit_code, result.output


# ---------------------------------------------------------------------------------------------- lifecycle
def test_lifecycle_through_the_generated_stubs(reservations: pb_grpc.ReservationServiceStub) -> None:
    before_ms = int(time.time() * 1000)
    r = reservations.Reserve(
        pb.ReserveRequest(
            reservation_id="order-1",
            channel="web",
            lines=[pb.HoldLine(sku="SKU-1", quantity=3), pb.HoldLine(sku=LAST_SKU, quantity=2, location=DC)],
            ttl_seconds=120,
        )
    )
    assert r.reservation_id == "order-1" and r.channel == "web" and r.status == pb.HELD
    assert [(ln.sku, ln.place, ln.at_location, ln.held) for ln in r.lines] == [
        ("SKU-1", NETWORK, False, 3),
        (LAST_SKU, DC, True, 2),
    ]
    created = r.created_at.ToMilliseconds()
    assert before_ms - 1000 <= created <= int(time.time() * 1000) + 1000
    assert r.expires_at.ToMilliseconds() == created + 120_000
    assert r.sequence > 0

    got = reservations.GetReservation(pb.GetReservationRequest(reservation_id="order-1"))
    assert got == r

    extended = reservations.Extend(pb.ExtendRequest(reservation_id="order-1", ttl_seconds=0))
    assert extended.expires_at.ToMilliseconds() >= created + 15 * 60_000  # 0 means the default TTL

    confirmed = reservations.Confirm(
        pb.ConfirmRequest(
            reservation_id="order-1",
            moves=[pb.LineMove(sku="SKU-1", place=NETWORK, to=[pb.Allocation(location="S-BOS", quantity=2)])],
        )
    )
    assert confirmed.status == pb.CONFIRMED
    assert not confirmed.HasField("expires_at")  # confirmed holds never expire
    assert {(ln.sku, ln.place, ln.held) for ln in confirmed.lines} == {
        ("SKU-1", NETWORK, 1),
        (LAST_SKU, DC, 2),
        ("SKU-1", "S-BOS", 2),
    }
    assert confirmed.sequence > r.sequence

    part = reservations.Fulfill(
        pb.FulfillRequest(
            reservation_id="order-1",
            lines=[pb.LineQuantity(sku=LAST_SKU, place=DC, quantity=1)],
            operation_id="ship-1",
        )
    )
    again = reservations.Fulfill(
        pb.FulfillRequest(
            reservation_id="order-1",
            lines=[pb.LineQuantity(sku=LAST_SKU, place=DC, quantity=1)],
            operation_id="ship-1",
        )
    )
    assert again == part  # the same operation id: nothing changed the second time
    line = next(ln for ln in part.lines if ln.place == DC)
    assert (line.held, line.fulfilled) == (1, 1)

    released = reservations.Release(pb.ReleaseRequest(reservation_id="order-1"))
    assert released.status == pb.FULFILLED  # something was fulfilled, the rest released
    assert all(ln.held == 0 for ln in released.lines)
    assert sum(ln.released for ln in released.lines) == 4


def test_lifecycle_through_the_client(client: Client) -> None:
    dc_before = client.get_positions([LAST_SKU], locations=[DC]).positions[0]
    network_before = atp(client, "SKU-1")
    r = client.reserve(
        "cart-7",
        "web",
        [("SKU-1", 4), HoldLine(LAST_SKU, 3, location=DC), HoldLine("SKU-1", 2, group="boston")],
        ttl_seconds=300,
    )
    assert r.status is ReservationStatus.HELD and r.held == 9
    assert r.expires_at is not None and (r.expires_at - r.created_at).total_seconds() == 300
    assert r.created_at.tzinfo is UTC
    assert r.line("SKU-1").held == 4 and r.line("SKU-1", "boston").held == 2
    assert atp(client, "SKU-1", min_sequence=r.sequence) == network_before - 6

    r = client.extend("cart-7", 600)
    assert r.expires_at is not None and (r.expires_at - r.created_at).total_seconds() >= 600

    r = client.confirm(
        "cart-7",
        moves=[
            LineMove("SKU-1", NETWORK, (("DC-EAST", 3), ("S-NYC", 1))),
            LineMove("SKU-1", "boston", (("DK-SOM", 2),)),
        ],
    )
    assert r.status is ReservationStatus.CONFIRMED and r.expires_at is None
    assert {(ln.place, ln.held) for ln in r.lines if ln.sku == "SKU-1"} == {("DC-EAST", 3), ("S-NYC", 1), ("DK-SOM", 2)}
    assert client.confirm("cart-7") == r  # confirming again changes nothing

    r = client.release("cart-7", [LineQuantity("SKU-1", "S-NYC", 1)], operation_id="cancel-nyc")
    assert r.line("SKU-1", "S-NYC").released == 1
    assert client.release("cart-7", [("SKU-1", "S-NYC", 1)], operation_id="cancel-nyc") == r

    r = client.fulfill("cart-7", [(LAST_SKU, DC, 3), ("SKU-1", "DC-EAST", 3)], operation_id="ship-a")
    r = client.fulfill("cart-7", [("SKU-1", "DK-SOM", 2)], operation_id="ship-b")
    assert r.status is ReservationStatus.FULFILLED and r.held == 0
    assert client.get_reservation("cart-7") == r

    dc_after = client.get_positions([LAST_SKU], locations=[DC]).positions[0]
    assert (dc_after.on_hand, dc_after.reserved) == (dc_before.on_hand - 3, dc_before.reserved)
    assert atp(client, "SKU-1", min_sequence=r.sequence) == network_before - 5  # 5 units left the network
    assert client.reconcile().inconsistencies == ()


def test_get_availability_reflects_location_group_and_network_holds(client: Client) -> None:
    net0 = atp(client, "SKU-1")
    bos0 = atp(client, "SKU-1", group="boston")
    dc0 = atp(client, "SKU-1", locations=[DC])
    som0 = atp(client, "SKU-1", locations=["DK-SOM"])

    r = client.reserve("loc", "web", [HoldLine("SKU-1", 5, location=DC)])
    assert atp(client, "SKU-1", locations=[DC], min_sequence=r.sequence) == dc0 - 5
    assert atp(client, "SKU-1") == net0 - 5
    assert client.get_positions(["SKU-1"], locations=[DC]).positions[0].reserved == 5

    r = client.reserve("grp", "web", [HoldLine("SKU-1", 3, group="boston")])
    assert atp(client, "SKU-1", group="boston", min_sequence=r.sequence) == bos0 - 3
    assert atp(client, "SKU-1") == net0 - 8
    # a group hold lowers no single location's own figure (DK-SOM has 8 of the group's units)
    assert atp(client, "SKU-1", locations=["DK-SOM"]) == som0

    r = client.reserve("net", "web", [("SKU-1", 2)])
    assert atp(client, "SKU-1", min_sequence=r.sequence) == net0 - 10

    for rid in ("loc", "grp", "net"):
        r = client.release(rid)
    assert atp(client, "SKU-1", min_sequence=r.sequence) == net0
    assert atp(client, "SKU-1", group="boston") == bos0


# ---------------------------------------------------------------------------------------------- errors
def test_not_enough_stock_is_failed_precondition_with_every_short_line_and_holds_nothing(
    client: Client, reservations: pb_grpc.ReservationServiceStub
) -> None:
    before = state_of(client)
    net_before = atp(client, LAST_SKU), atp(client, "SKU-1", group="boston")
    request = pb.ReserveRequest(
        reservation_id="too-much",
        channel="web",
        lines=[
            pb.HoldLine(sku=LAST_SKU, quantity=5, location=DC),  # fits: tentatively held, then undone
            pb.HoldLine(sku="SKU-1", quantity=500, group="boston"),
            pb.HoldLine(sku="SKU-2", quantity=1),
        ],
    )
    err = raw_fails(lambda: reservations.Reserve(request))
    assert err.code() is PRECONDITION
    details = rich_details(err)
    failure = next(d for d in details if isinstance(d, error_details_pb2.PreconditionFailure))
    assert [(v.type, v.subject) for v in failure.violations] == [
        ("INSUFFICIENT_STOCK", "lines[1]"),
        ("INSUFFICIENT_STOCK", "lines[2]"),
    ]
    info = next(d for d in details if isinstance(d, error_details_pb2.ErrorInfo))
    assert info.reason == "INSUFFICIENT_STOCK"
    assert info.metadata["lines[1].sku"] == "SKU-1" and info.metadata["lines[1].location"] == "boston"
    assert info.metadata["lines[1].requested"] == "500"
    # what a hold may take counts every method: S-BOS 5 - 1 safety, S-CAM 2 - 1, DK-SOM 8
    assert info.metadata["lines[1].available"] == "13"
    assert info.metadata["lines[2].available"] == "0"
    assert "lines[0].sku" not in info.metadata

    # the client decodes the same details
    e = fails(
        lambda: client.reserve("too-much", "web", [HoldLine(LAST_SKU, 5, location=DC), ("SKU-1", 10_000)])
    )
    assert e.status is PRECONDITION and e.reason == "INSUFFICIENT_STOCK"
    assert [(s.line, s.sku, s.location, s.requested) for s in e.shortfalls] == [(1, "SKU-1", NETWORK, 10_000)]

    # nothing held, nothing recorded, no sequence consumed
    assert state_of(client) == before
    assert (atp(client, LAST_SKU), atp(client, "SKU-1", group="boston")) == net_before
    assert fails(lambda: client.get_reservation("too-much")).status is grpc.StatusCode.NOT_FOUND
    assert client.reconcile().inconsistencies == ()
    # and the id is still free for a hold that fits
    assert client.reserve("too-much", "web", [HoldLine(LAST_SKU, 7, location=DC)]).held == 7


def test_same_id_same_payload_returns_the_reservation_and_another_payload_is_already_exists(
    client: Client, reservations: pb_grpc.ReservationServiceStub
) -> None:
    first = client.reserve("dup", "web", [("SKU-1", 2), HoldLine(LAST_SKU, 1, location=DC)])
    held_atp = atp(client, LAST_SKU)
    # a retry (lines in another order, another TTL: a retry arriving later asks for the same hold)
    retry = client.reserve("dup", "web", [HoldLine(LAST_SKU, 1, location=DC), ("SKU-1", 2)], ttl_seconds=60)
    assert retry == first
    assert atp(client, LAST_SKU) == held_atp  # held once

    others: list[tuple[list[HoldLine | tuple[str, int]], str]] = [
        ([("SKU-1", 3), HoldLine(LAST_SKU, 1, location=DC)], "web"),  # another quantity
        ([("SKU-1", 2)], "web"),  # a line fewer
        ([HoldLine("SKU-1", 2, group="boston"), HoldLine(LAST_SKU, 1, location=DC)], "web"),  # another place
        ([("SKU-1", 2), HoldLine(LAST_SKU, 1, location=DC)], "marketplace"),  # another channel
    ]
    for lines, channel in others:
        e = fails(functools.partial(client.reserve, "dup", channel, lines))
        assert e.status is grpc.StatusCode.ALREADY_EXISTS, lines
        assert e.resource == ("reservation", "dup") and e.reason == "ALREADY_EXISTS"

    err = raw_fails(
        lambda: reservations.Reserve(
            pb.ReserveRequest(reservation_id="dup", channel="web", lines=[pb.HoldLine(sku="SKU-1", quantity=9)])
        )
    )
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    res = next(d for d in rich_details(err) if isinstance(d, error_details_pb2.ResourceInfo))
    assert (res.resource_type, res.resource_name) == ("reservation", "dup")
    assert client.get_reservation("dup") == first


def test_unknown_reservation_is_not_found_for_every_call(
    client: Client, reservations: pb_grpc.ReservationServiceStub
) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: client.get_reservation("r-404"),
        lambda: client.confirm("r-404"),
        lambda: client.extend("r-404", 60),
        lambda: client.release("r-404"),
        lambda: client.fulfill("r-404", [(LAST_SKU, DC, 1)]),
    ]
    for call in calls:
        e = fails(call)
        assert e.status is grpc.StatusCode.NOT_FOUND
        assert e.resource == ("reservation", "r-404") and "r-404" in e.message
    err = raw_fails(lambda: reservations.GetReservation(pb.GetReservationRequest(reservation_id="r-404")))
    assert err.code() is grpc.StatusCode.NOT_FOUND
    info = next(d for d in rich_details(err) if isinstance(d, error_details_pb2.ErrorInfo))
    assert info.reason == "NOT_FOUND"


def _reserve(**kw: Any) -> pb.ReserveRequest:
    kw.setdefault("reservation_id", "bad-1")
    kw.setdefault("channel", "web")
    kw.setdefault("lines", [pb.HoldLine(sku="SKU-1", quantity=1)])
    return pb.ReserveRequest(**kw)


def _line(**kw: Any) -> pb.HoldLine:
    kw.setdefault("sku", "SKU-1")
    kw.setdefault("quantity", 1)
    return pb.HoldLine(**kw)


RESERVE_CASES: list[tuple[str, pb.ReserveRequest, str]] = [
    ("empty id", _reserve(reservation_id=""), "reservation_id"),
    ("id with a space", _reserve(reservation_id="cart 1"), "reservation_id"),
    ("id too long", _reserve(reservation_id="r" * 129), "reservation_id"),
    ("empty channel", _reserve(channel=""), "channel"),
    ("unknown channel", _reserve(channel="telegraph"), "channel"),
    ("no lines", _reserve(lines=[]), "lines"),
    ("too many lines", _reserve(lines=[_line(sku=f"S{i}") for i in range(501)]), "lines"),
    ("empty sku", _reserve(lines=[_line(), _line(sku="", location=DC)]), "lines[1].sku"),
    ("zero quantity", _reserve(lines=[_line(quantity=0)]), "lines[0].quantity"),
    ("negative quantity", _reserve(lines=[_line(quantity=-2)]), "lines[0].quantity"),
    ("huge quantity", _reserve(lines=[_line(quantity=2**40)]), "lines[0].quantity"),
    ("unknown location", _reserve(lines=[_line(location="S-XX")]), "lines[0].location"),
    ("malformed location", _reserve(lines=[_line(location="S XX")]), "lines[0].location"),
    ("unknown group", _reserve(lines=[_line(group="atlantis")]), "lines[0].group"),
    ("location and group", _reserve(lines=[_line(location=DC, group="boston")]), "lines[0].group"),
    ("duplicate line", _reserve(lines=[_line(location=DC), _line(quantity=2, location=DC)]), "lines[1]"),
    ("duplicate network line", _reserve(lines=[_line(), _line(sku="SKU-3"), _line()]), "lines[2]"),
    ("ttl over 7 days", _reserve(ttl_seconds=7 * 24 * 3600 + 1), "ttl_seconds"),
    ("ttl far too long", _reserve(ttl_seconds=2**32 - 1), "ttl_seconds"),
]


@pytest.mark.parametrize(("case", "request_", "field"), RESERVE_CASES, ids=[c[0] for c in RESERVE_CASES])
def test_malformed_reserve_is_invalid_argument_naming_the_field(
    client: Client,
    reservations: pb_grpc.ReservationServiceStub,
    case: str,
    request_: pb.ReserveRequest,
    field: str,
) -> None:
    before = state_of(client)
    err = raw_fails(lambda: reservations.Reserve(request_))
    assert err.code() is INVALID, case
    bad = next(d for d in rich_details(err) if isinstance(d, error_details_pb2.BadRequest))
    assert bad.field_violations[0].field == field, err.details()
    assert field in (err.details() or "")
    assert state_of(client) == before


def test_malformed_transitions_are_invalid_argument_naming_the_field(client: Client) -> None:
    client.reserve("ok", "web", [("SKU-1", 2), HoldLine(LAST_SKU, 2, location=DC)])
    before = state_of(client), client.get_reservation("ok")
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: client.get_reservation(""), "reservation_id"),
        (lambda: client.confirm("bad id"), "reservation_id"),
        (lambda: client.extend("ok", 7 * 24 * 3600 + 1), "ttl_seconds"),
        (lambda: client.release("ok", [(LAST_SKU, DC, 0)]), "lines[0].quantity"),
        (lambda: client.release("ok", [(LAST_SKU, DC, 1), (LAST_SKU, DC, -1)]), "lines[1].quantity"),
        (lambda: client.release("ok", [("SKU-3", DC, 1)]), "lines[0]"),
        (lambda: client.release("ok", [(LAST_SKU, DC, 1)], operation_id="op 1"), "operation_id"),
        (lambda: client.fulfill("ok", []), "lines"),
        (lambda: client.fulfill("ok", [(LAST_SKU, DC, 2**40)]), "lines[0].quantity"),
        (lambda: client.confirm("ok", moves=[LineMove("SKU-1", NETWORK, (("S-XX", 1),))]), "moves[0].to[0].location"),
        (lambda: client.confirm("ok", moves=[LineMove("SKU-1", NETWORK, ())]), "moves[0].to"),
        (lambda: client.confirm("ok", moves=[LineMove("SKU-9", NETWORK, ((DC, 1),))]), "moves[0]"),
        (lambda: client.confirm("ok", moves=[LineMove(LAST_SKU, DC, (("S-BOS", 1),))]), "moves[0].place"),
        (lambda: client.reconcile(skus=["SKU-1", "bad sku"]), "skus[1]"),
    ]
    for call, field in cases:
        e = fails(call)
        assert e.status is INVALID and e.field == field, (field, e.message)
    assert (state_of(client), client.get_reservation("ok")) == before


def test_invalid_transitions_are_failed_precondition_and_change_nothing(client: Client) -> None:
    client.reserve("grp", "web", [HoldLine("SKU-1", 2, group="boston")])
    client.reserve("gone", "web", [HoldLine(LAST_SKU, 2, location=DC)])
    client.release("gone")
    client.reserve("conf", "web", [HoldLine(LAST_SKU, 2, location=DC)])
    client.confirm("conf")
    before = state_of(client), [client.get_reservation(r) for r in ("grp", "gone", "conf")]
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: client.fulfill("gone", [(LAST_SKU, DC, 1)]), "released"),
        (lambda: client.confirm("gone"), "released"),
        (lambda: client.extend("gone", 60), "released"),
        (lambda: client.extend("conf", 60), "confirmed"),
        (lambda: client.release("conf", [(LAST_SKU, DC, 3)]), "2 held"),
        (lambda: client.fulfill("conf", [(LAST_SKU, DC, 3)]), "2 held"),
        (lambda: client.fulfill("grp", [("SKU-1", "boston", 1)]), "confirm it to locations"),
        (lambda: client.confirm("grp", moves=[LineMove("SKU-1", "boston", (("S-BOS", 3),))]), "2 held"),
    ]
    for call, words in cases:
        e = fails(call)
        assert e.status is PRECONDITION and words in e.message, (words, e.message)
    # idempotent transitions are not errors
    assert client.release("gone").status is ReservationStatus.RELEASED
    assert client.confirm("conf").status is ReservationStatus.CONFIRMED
    assert (state_of(client), [client.get_reservation(r) for r in ("grp", "gone", "conf")]) == before
    # an operation id reused for another request is a conflict, not a replay
    client.fulfill("conf", [(LAST_SKU, DC, 1)], operation_id="ship-1")
    e = fails(lambda: client.fulfill("conf", [(LAST_SKU, DC, 2)], operation_id="ship-1"))
    assert e.status is grpc.StatusCode.ALREADY_EXISTS and e.resource == ("operation", "ship-1")


class DownLedger(LedgerDouble):
    """The tiny network's ledger whose reservation writes fail as a Redis ledger's do when Redis is down."""

    def reserve(self, request: ReserveRequest) -> Any:
        self._write()
        return self.inner.reserve(request)


def test_backend_down_is_unavailable_with_retry_info() -> None:
    ledger = DownLedger()
    ledger.raise_on_write = Unavailable("redis at 127.0.0.1:6390 is not answering")
    srv = ServerThread(load=ledger).start()
    try:
        with Client(srv.target) as c:
            e = fails(lambda: c.reserve("r1", "web", [("SKU-1", 1)]))
            assert e.status is grpc.StatusCode.UNAVAILABLE and e.retry_after == 1.0
            assert "not answering" in e.message
            ledger.raise_on_write = None  # back: the same request now succeeds
            assert c.reserve("r1", "web", [("SKU-1", 1)]).held == 1
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- expiry
def test_an_unconfirmed_hold_expires_through_the_sweeper_within_two_seconds(client: Client) -> None:
    full = atp(client, LAST_SKU)
    r = client.reserve("short", "web", [HoldLine(LAST_SKU, 3, location=DC)], ttl_seconds=1)
    kept = client.reserve("kept", "web", [("SKU-1", 1)], ttl_seconds=1)
    client.confirm("kept")
    assert atp(client, LAST_SKU, min_sequence=r.sequence) == full - 3
    assert r.expires_at is not None
    deadline = r.expires_at.timestamp()
    while True:
        got = client.get_reservation("short")
        if got.status is ReservationStatus.EXPIRED:
            break
        assert datetime.now(UTC).timestamp() < deadline + 2.0, "still held 2 s after its deadline"
        time.sleep(0.05)
    expired_at = datetime.now(UTC).timestamp()
    assert expired_at >= deadline - 0.05  # not before its time (allowing for clock granularity)
    assert got.held == 0 and got.lines[0].released == 3 and got.expires_at is None
    assert atp(client, LAST_SKU, min_sequence=got.sequence) == full
    assert client.get_positions([LAST_SKU], locations=[DC]).positions[0].reserved == 0
    assert client.get_reservation("kept").status is ReservationStatus.CONFIRMED  # confirmed: no expiry
    assert kept.expires_at is not None
    assert fails(lambda: client.confirm("short")).status is PRECONDITION
    assert client.reconcile().inconsistencies == ()


# ---------------------------------------------------------------------------------------------- concurrency
def test_32_concurrent_clients_for_the_last_units_hold_exactly_what_is_available(server: ServerThread) -> None:
    with Client(server.target) as setup:
        full = atp(setup, LAST_SKU)
        setup.reserve("earlier", "web", [HoldLine(LAST_SKU, full - 3, location=DC)])
        last = atp(setup, LAST_SKU)
    assert last == 3
    shoppers = 32
    start = threading.Barrier(shoppers)
    won: list[Reservation] = []
    short: list[ServiceError] = []
    other: list[BaseException] = []
    lock = threading.Lock()

    def shopper(i: int) -> None:
        with Client(server.target, timeout=30) as c:
            c.ping()  # connected before the race starts
            # half hold at the DC itself, half at the network: both compete for the same units
            line = HoldLine(LAST_SKU, 1, location=DC) if i % 2 else HoldLine(LAST_SKU, 1)
            start.wait()
            try:
                r = c.reserve(f"shopper-{i}", "web", [line])
                with lock:
                    won.append(r)
            except ServiceError as err:
                with lock:
                    (short if err.status is PRECONDITION else other).append(err)
            except BaseException as err:  # surfaced below: a thread's exception would be lost otherwise
                with lock:
                    other.append(err)

    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(shoppers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not other, other
    assert len(won) == last and len(short) == shoppers - last
    assert all(e.shortfalls and e.shortfalls[0].requested == 1 for e in short)
    with Client(server.target) as c:
        seq = max(r.sequence for r in won)
        assert atp(c, LAST_SKU, min_sequence=seq) == 0
        assert atp(c, LAST_SKU, locations=[DC]) == 0
        at_dc = sum(r.held for r in won if r.lines[0].at_location) + (full - 3)
        assert c.get_positions([LAST_SKU], locations=[DC]).positions[0].reserved == at_dc
        assert c.reconcile().inconsistencies == ()
        for r in won:
            c.release(r.reservation_id)
        r = c.release("earlier")
        assert atp(c, LAST_SKU, min_sequence=r.sequence) == full
        assert c.reconcile().inconsistencies == ()


# ---------------------------------------------------------------------------------------------- reconcile
def _drift(server: ServerThread) -> None:
    """A compensation applied twice: the DC's reserved counter one unit above what the holds say."""
    ledger = server.ledger
    assert isinstance(ledger, MemoryLedger)
    s = ledger.store.skus.index(LAST_SKU)
    with ledger._lock:
        ledger.holds._apply(s, ledger.store.network.index.index(DC), -1, 1)


def test_reconcile_rpc_lists_and_repairs_drift(
    server: ServerThread, client: Client, admin: pb_grpc.AdminServiceStub
) -> None:
    client.reserve("a", "web", [HoldLine(LAST_SKU, 2, location=DC)])
    client.reserve("b", "web", [HoldLine(LAST_SKU, 1, location=DC), ("SKU-1", 4)])
    clean = admin.Reconcile(pb.ReconcileRequest())
    assert list(clean.inconsistencies) == [] and clean.reservations_checked == 2 and clean.positions_checked > 0
    _drift(server)

    report = client.reconcile(skus=[LAST_SKU])
    assert [(i.sku, i.place, i.counter, i.expected, i.found, i.repaired) for i in report.inconsistencies] == [
        (LAST_SKU, DC, "reserved", 3, 4, False)
    ]
    assert set(report.inconsistencies[0].reservations) == {"a", "b"}
    assert not report.consistent
    assert client.reconcile(skus=["SKU-3"]).inconsistencies == ()  # limited to other SKUs: nothing

    repaired = admin.Reconcile(pb.ReconcileRequest(repair=True))
    assert [(i.place, i.expected, i.found, i.repaired) for i in repaired.inconsistencies] == [(DC, 3, 4, True)]
    assert repaired.sequence > report.sequence  # a recorded change
    assert client.get_positions([LAST_SKU], locations=[DC]).positions[0].reserved == 3
    assert client.reconcile().consistent and client.reconcile().inconsistencies == ()


def test_reconcile_command(server: ServerThread, client: Client) -> None:
    client.reserve("a", "web", [HoldLine(LAST_SKU, 2, location=DC)])
    code, out = cli("reconcile", "--target", server.target)
    assert code == 0 and "consistent" in out and "1 open reservations" in out, out

    _drift(server)
    code, out = cli("reconcile", "--target", server.target, "--sku", LAST_SKU)
    assert code == 1, out
    assert "1 inconsistency " in out and LAST_SKU in out and DC in out and "reserved" in out
    assert " 2 " in out and " 3 " in out  # expected, found

    code, out = cli("reconcile", "--target", server.target, "--repair")
    assert code == 0 and "(repaired)" in out and "yes" in out, out
    code, out = cli("reconcile", "--target", server.target)
    assert code == 0 and "consistent" in out, out

    code, out = cli("reconcile", "--target", server.target, "--sku", "bad sku")
    assert code == 1 and "INVALID_ARGUMENT" in out and "skus[0]" in out
    code, out = cli("reconcile", "--target", "127.0.0.1:1", "--timeout", "2")
    assert code == 1 and "UNAVAILABLE" in out


def test_services_are_healthy_and_availability_sees_a_hold_at_its_sequence(server: ServerThread) -> None:
    channel = grpc.insecure_channel(server.target)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("omniroute.v1.ReservationService", "omniroute.v1.AdminService"):
            status = stub.Check(health_pb2.HealthCheckRequest(service=name)).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        # the availability stub sees a hold's effect at the hold's sequence
        r = pb_grpc.ReservationServiceStub(channel).Reserve(
            pb.ReserveRequest(reservation_id="h", channel="web", lines=[pb.HoldLine(sku=LAST_SKU, quantity=7)])
        )
        a = availability_pb2_grpc.AvailabilityServiceStub(channel).GetAvailability(
            apb.GetAvailabilityRequest(skus=[LAST_SKU], channel="web", min_sequence=r.sequence)
        )
        assert list(a.quantity) == [0]
    finally:
        channel.close()
