"""ReservationService: protobuf <-> the ledger's reservation operations, nothing else.

The rules (all-or-nothing, idempotency by reservation id and operation id, the state machine) live in
availability/reservations.py and the ledgers; errors reach the caller through omniroute.status.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import grpc.aio

from availability.errors import InvalidArgument
from availability.reservations import (
    DEFAULT_TTL_MS,
    MAX_TTL_MS,
    HoldLine,
    LineMove,
    LineQuantity,
    Reservation,
    ReservationStatus,
    ReserveRequest,
)
from omniroute.capacity import book_for, settle
from omniroute.runtime import THREAD_MIN_LINES, Runtime
from omniroute.status import rpc
from omniroute.v1 import reservation_pb2 as pb
from omniroute.v1 import reservation_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]

MAX_TTL_SECONDS = MAX_TTL_MS // 1000

_STATUS_TO_PB: dict[ReservationStatus, pb.ReservationStatus] = {
    ReservationStatus.HELD: pb.HELD,
    ReservationStatus.CONFIRMED: pb.CONFIRMED,
    ReservationStatus.RELEASED: pb.RELEASED,
    ReservationStatus.FULFILLED: pb.FULFILLED,
    ReservationStatus.EXPIRED: pb.EXPIRED,
}


def ttl_ms_of(ttl_seconds: int, field: str = "ttl_seconds") -> int:
    """The wire's seconds (0: the default) as the ledger's milliseconds. Checked here, in the caller's
    unit and under the proto's field name; the ledger would name its own `ttl_ms`."""
    if ttl_seconds == 0:
        return DEFAULT_TTL_MS
    if ttl_seconds > MAX_TTL_SECONDS:
        raise InvalidArgument(field, ttl_seconds, f"must be at most {MAX_TTL_SECONDS} seconds (7 days)")
    return ttl_seconds * 1000


def reservation_to_pb(r: Reservation) -> pb.Reservation:
    out = pb.Reservation(
        reservation_id=r.reservation_id, channel=r.channel, status=_STATUS_TO_PB[r.status], sequence=r.sequence
    )
    lines = out.lines
    for ln in r.lines:
        lines.add(
            sku=ln.sku,
            place=ln.place,
            at_location=ln.at_location,
            held=ln.held,
            fulfilled=ln.fulfilled,
            released=ln.released,
        )
    out.created_at.FromMilliseconds(r.created_at_ms)
    if r.expires_at_ms:
        out.expires_at.FromMilliseconds(r.expires_at_ms)
    return out


def _quantities(lines: Iterable[pb.LineQuantity]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(ln.sku, ln.place, ln.quantity) for ln in lines)


class ReservationServicer(pb_grpc.ReservationServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @rpc
    async def Reserve(self, request: pb.ReserveRequest, context: Context) -> pb.Reservation:
        ledger = self.rt.ledger
        req = ReserveRequest(
            request.reservation_id,
            request.channel,
            tuple(HoldLine(ln.sku, ln.quantity, ln.location, ln.group) for ln in request.lines),
            ttl_ms_of(request.ttl_seconds),
        )
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # a caller that has given up would leave the stock held until the TTL runs out; its retry
            # carries the same reservation id, so not starting is always safe
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the hold was made")
        return reservation_to_pb(await self.rt.write(len(req.lines), THREAD_MIN_LINES, ledger.reserve, req))

    @rpc
    async def Confirm(self, request: pb.ConfirmRequest, context: Context) -> pb.Reservation:
        moves = tuple(
            LineMove(mv.sku, mv.place, tuple((a.location, a.quantity) for a in mv.to)) for mv in request.moves
        )
        n = sum(len(mv.to) for mv in moves)
        ledger = self.rt.ledger
        return reservation_to_pb(
            await self.rt.write(n, THREAD_MIN_LINES, ledger.confirm, request.reservation_id, moves)
        )

    @rpc
    async def Extend(self, request: pb.ExtendRequest, context: Context) -> pb.Reservation:
        ttl_ms = ttl_ms_of(request.ttl_seconds)
        ledger = self.rt.ledger
        return reservation_to_pb(
            await self.rt.write(1, THREAD_MIN_LINES, ledger.extend, request.reservation_id, ttl_ms)
        )

    @rpc
    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.Reservation:
        lines = _quantities(request.lines)
        ledger = self.rt.ledger

        def release(rid: str, lines: tuple[LineQuantity, ...], operation_id: str) -> Reservation:
            out = ledger.release(rid, lines, operation_id)
            if any(ln.at_location for ln in out.lines):
                # a routed plan's shipments give their day's capacity back (omniroute/capacity.py)
                settle(book_for(ledger), out)
            return out

        return reservation_to_pb(
            await self.rt.write(
                len(lines), THREAD_MIN_LINES, release, request.reservation_id, lines, request.operation_id
            )
        )

    @rpc
    async def Fulfill(self, request: pb.FulfillRequest, context: Context) -> pb.Reservation:
        lines = _quantities(request.lines)
        ledger = self.rt.ledger
        return reservation_to_pb(
            await self.rt.write(
                len(lines), THREAD_MIN_LINES, ledger.fulfill, request.reservation_id, lines, request.operation_id
            )
        )

    @rpc
    async def GetReservation(self, request: pb.GetReservationRequest, context: Context) -> pb.Reservation:
        # a read, but of the ledger's records (Redis round trip), not of the read model
        ledger = self.rt.ledger
        return reservation_to_pb(
            await self.rt.write(1, THREAD_MIN_LINES, ledger.get_reservation, request.reservation_id)
        )
