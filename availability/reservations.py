"""Reservations (holds) as the ledgers see them: requests, states and their validation.

A line is held at a location, at a location group, or (neither given) at the channel's network: the
enabled locations that serve the channel. Group and network holds reduce the ATP of every scope that
contains the whole group (and so the network's), never a single location's own figure; location holds
reduce that location's reserved counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import AlreadyExists, FailedPrecondition, InvalidArgument
from .locations import NETWORK_GROUP as NETWORK_GROUP  # the pseudo-group of a network hold
from .locations import LocationTable
from .model import check_id, check_quantity

MAX_LINES = 500
MAX_TTL_MS = 7 * 24 * 3600 * 1000
DEFAULT_TTL_MS = 15 * 60 * 1000


class ReservationStatus(StrEnum):
    HELD = "held"  # expires at its deadline unless confirmed
    CONFIRMED = "confirmed"  # the order is placed: no expiry
    RELEASED = "released"  # cancelled (all lines released)
    FULFILLED = "fulfilled"  # every line shipped or picked up (or released)
    EXPIRED = "expired"  # not confirmed in time; stock returned


OPEN = frozenset({ReservationStatus.HELD, ReservationStatus.CONFIRMED})


@dataclass(frozen=True, slots=True)
class HoldLine:
    sku: str
    quantity: int
    location: str = ""
    group: str = ""

    @property
    def target(self) -> str:
        return self.location or self.group or NETWORK_GROUP


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    reservation_id: str
    channel: str
    lines: tuple[HoldLine, ...]
    ttl_ms: int = DEFAULT_TTL_MS

    def validate(self) -> None:
        check_id("reservation_id", self.reservation_id)
        check_id("channel", self.channel)
        if not self.lines:
            raise InvalidArgument("lines", [], "must contain at least one line")
        if len(self.lines) > MAX_LINES:
            raise InvalidArgument("lines", len(self.lines), f"at most {MAX_LINES} lines per reservation")
        seen: set[tuple[str, str]] = set()
        for i, line in enumerate(self.lines):
            check_id(f"lines[{i}].sku", line.sku)
            check_quantity(f"lines[{i}].quantity", line.quantity, allow_zero=False)
            if line.location and line.group:
                raise InvalidArgument(f"lines[{i}].group", line.group, "give a location or a group, not both")
            if line.location:
                check_id(f"lines[{i}].location", line.location)
            if line.group:
                check_id(f"lines[{i}].group", line.group)
            key = (line.sku, line.target)
            if key in seen:
                raise InvalidArgument(f"lines[{i}]", f"{line.sku}@{line.target}", "duplicate line (same SKU and place)")
            seen.add(key)
        if isinstance(self.ttl_ms, bool) or not isinstance(self.ttl_ms, int) or not 0 < self.ttl_ms <= MAX_TTL_MS:
            raise InvalidArgument("ttl_ms", self.ttl_ms, f"must be an integer in (0, {MAX_TTL_MS}] milliseconds")

    def check_places(self, net: LocationTable) -> int:
        """The request's channel index, once every line's location or group exists in the catalogue."""
        chan = net.channel_index(self.channel)
        for i, ln in enumerate(self.lines):
            if ln.location and ln.location not in net.index:
                raise InvalidArgument(f"lines[{i}].location", ln.location, "unknown location")
            if ln.group and ln.group not in net.groups:
                raise InvalidArgument(f"lines[{i}].group", ln.group, "unknown location group")
        return chan

    def payload_key(self) -> tuple[object, ...]:
        """What must match for a retry with the same id to be the same request (TTL excluded: a retry
        arriving later naturally asks for the same hold)."""
        return (self.channel, tuple(sorted((ln.sku, ln.target, ln.quantity) for ln in self.lines)))


@dataclass(frozen=True, slots=True)
class LineQuantity:
    """A quantity of one line, addressed by SKU and place (location id, group id or '@network')."""

    sku: str
    place: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LineMove:
    """Confirm: move (part of) a group or network line to locations: [(location, quantity), ...]."""

    sku: str
    place: str
    to: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReservationLine:
    sku: str
    place: str  # location id, group id, or NETWORK_GROUP
    at_location: bool
    held: int  # still held now
    fulfilled: int
    released: int


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    channel: str
    status: ReservationStatus
    lines: tuple[ReservationLine, ...]
    created_at_ms: int
    expires_at_ms: int  # 0 once confirmed or closed
    sequence: int

    @property
    def held(self) -> int:
        return sum(ln.held for ln in self.lines)


@dataclass(frozen=True, slots=True)
class Inconsistency:
    sku: str
    place: str
    counter: str  # reserved | group_hold
    expected: int
    found: int
    reservations: tuple[str, ...]
    repaired: bool


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    inconsistencies: list[Inconsistency]
    positions_checked: int
    reservations_checked: int
    sequence: int


# ---------------------------------------------------------------------------------------------------
# The state machine, shared by every ledger: pure functions from a record and a request to the new
# record and the hold deltas to apply. Ledgers add only the stock checks and the atomic apply.


@dataclass(slots=True)
class LineState:
    held: int
    fulfilled: int = 0
    released: int = 0


@dataclass(slots=True)
class ReservationRecord:
    reservation_id: str
    channel: str
    status: ReservationStatus
    lines: dict[tuple[str, str], LineState]  # (sku, place) -> state, in request order
    at_location: dict[tuple[str, str], bool]
    created_at_ms: int
    expires_at_ms: int
    payload: tuple[object, ...]
    operations: dict[str, tuple[object, ...]]  # operation id -> request payload
    sequence: int = 0

    def copy(self) -> ReservationRecord:
        return ReservationRecord(
            self.reservation_id,
            self.channel,
            self.status,
            {k: LineState(v.held, v.fulfilled, v.released) for k, v in self.lines.items()},
            dict(self.at_location),
            self.created_at_ms,
            self.expires_at_ms,
            self.payload,
            dict(self.operations),
            self.sequence,
        )

    def view(self) -> Reservation:
        return Reservation(
            reservation_id=self.reservation_id,
            channel=self.channel,
            status=self.status,
            lines=tuple(
                ReservationLine(sku, place, self.at_location[(sku, place)], st.held, st.fulfilled, st.released)
                for (sku, place), st in self.lines.items()
            ),
            created_at_ms=self.created_at_ms,
            expires_at_ms=self.expires_at_ms if self.status is ReservationStatus.HELD else 0,
            sequence=self.sequence,
        )


@dataclass(frozen=True, slots=True)
class HoldDelta:
    """A change to one hold counter: a location's reserved units, or a group's (or network's) hold.
    `d_on_hand` is non-zero only for fulfilment (the units leave the building)."""

    sku: str
    place: str
    at_location: bool
    d_held: int
    d_on_hand: int = 0


def new_record(req: ReserveRequest, now_ms: int, is_location: dict[str, bool]) -> ReservationRecord:
    """The record of a reservation about to be held; `is_location[place]` tells locations from groups."""
    lines: dict[tuple[str, str], LineState] = {}
    at: dict[tuple[str, str], bool] = {}
    for ln in req.lines:
        key = (ln.sku, ln.target)
        lines[key] = LineState(ln.quantity)
        at[key] = bool(ln.location) and is_location.get(ln.location, True)
    return ReservationRecord(
        reservation_id=req.reservation_id,
        channel=req.channel,
        status=ReservationStatus.HELD,
        lines=lines,
        at_location=at,
        created_at_ms=now_ms,
        expires_at_ms=now_ms + req.ttl_ms,
        payload=req.payload_key(),
        operations={},
    )


def reserve_deltas(rec: ReservationRecord) -> list[HoldDelta]:
    return [HoldDelta(sku, place, rec.at_location[(sku, place)], st.held) for (sku, place), st in rec.lines.items()]


def _closed_status(rec: ReservationRecord) -> ReservationStatus | None:
    if any(st.held for st in rec.lines.values()):
        return None
    if any(st.fulfilled for st in rec.lines.values()):
        return ReservationStatus.FULFILLED
    return ReservationStatus.RELEASED


def _require_open(rec: ReservationRecord, action: str) -> None:
    if rec.status not in OPEN:
        raise FailedPrecondition(f"cannot {action} reservation {rec.reservation_id!r}: it is {rec.status.value}")


def _op_replay(rec: ReservationRecord, operation_id: str, payload: tuple[object, ...], kind: str) -> bool:
    """True when this operation id was already applied with this payload (idempotent replay)."""
    if not operation_id:
        return False
    check_id("operation_id", operation_id)
    prior = rec.operations.get(operation_id)
    if prior is None:
        return False
    if prior != (payload, kind):
        raise AlreadyExists("operation", operation_id, "reused with a different request")
    return True


def _line(rec: ReservationRecord, i: int, lq: LineQuantity) -> LineState:
    check_id(f"lines[{i}].sku", lq.sku)
    check_quantity(f"lines[{i}].quantity", lq.quantity, allow_zero=False)
    st = rec.lines.get((lq.sku, lq.place))
    if st is None:
        raise InvalidArgument(f"lines[{i}]", f"{lq.sku}@{lq.place}", "no such line in the reservation")
    return st


def apply_release(
    rec: ReservationRecord, lines: tuple[LineQuantity, ...], operation_id: str = ""
) -> tuple[ReservationRecord, list[HoldDelta]]:
    """Release everything (no lines) or the given quantities. Releasing a closed reservation with no
    lines is a no-op (idempotent); releasing more than is held is an error."""
    payload = tuple((lq.sku, lq.place, lq.quantity) for lq in lines)
    if _op_replay(rec, operation_id, payload, "release"):
        return rec, []
    if not lines:
        if rec.status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED):
            return rec, []
        _require_open(rec, "release")
        out = rec.copy()
        deltas = []
        for (sku, place), st in out.lines.items():
            if st.held:
                deltas.append(HoldDelta(sku, place, out.at_location[(sku, place)], -st.held))
                st.released += st.held
                st.held = 0
        out.status = _closed_status(out) or out.status
        return out, deltas
    _require_open(rec, "release")
    out = rec.copy()
    deltas = []
    want: dict[tuple[str, str], int] = {}
    for i, lq in enumerate(lines):
        _line(out, i, lq)
        want[(lq.sku, lq.place)] = want.get((lq.sku, lq.place), 0) + lq.quantity
    for i, lq in enumerate(lines):
        st = out.lines[(lq.sku, lq.place)]
        if want[(lq.sku, lq.place)] > st.held:
            raise FailedPrecondition(
                f"lines[{i}]: cannot release {want[(lq.sku, lq.place)]} of {lq.sku}@{lq.place}: {st.held} held"
            )
    for (sku, place), q in want.items():
        st = out.lines[(sku, place)]
        st.held -= q
        st.released += q
        deltas.append(HoldDelta(sku, place, out.at_location[(sku, place)], -q))
    out.status = _closed_status(out) or out.status
    if operation_id:
        out.operations[operation_id] = (payload, "release")
    return out, deltas


def apply_fulfill(
    rec: ReservationRecord, lines: tuple[LineQuantity, ...], operation_id: str = ""
) -> tuple[ReservationRecord, list[HoldDelta]]:
    """Ship or hand over units of location lines: held and on hand both go down."""
    payload = tuple((lq.sku, lq.place, lq.quantity) for lq in lines)
    if _op_replay(rec, operation_id, payload, "fulfill"):
        return rec, []
    if not lines:
        raise InvalidArgument("lines", [], "must name at least one line to fulfil")
    _require_open(rec, "fulfil")
    out = rec.copy()
    want: dict[tuple[str, str], int] = {}
    for i, lq in enumerate(lines):
        _line(out, i, lq)
        if not out.at_location[(lq.sku, lq.place)]:
            raise FailedPrecondition(
                f"lines[{i}]: {lq.sku}@{lq.place} is held at a group; confirm it to locations before fulfilling"
            )
        want[(lq.sku, lq.place)] = want.get((lq.sku, lq.place), 0) + lq.quantity
    for i, lq in enumerate(lines):
        st = out.lines[(lq.sku, lq.place)]
        if want[(lq.sku, lq.place)] > st.held:
            raise FailedPrecondition(
                f"lines[{i}]: cannot fulfil {want[(lq.sku, lq.place)]} of {lq.sku}@{lq.place}: {st.held} held"
            )
    deltas = []
    for (sku, place), q in want.items():
        st = out.lines[(sku, place)]
        st.held -= q
        st.fulfilled += q
        deltas.append(HoldDelta(sku, place, True, -q, -q))
    out.status = _closed_status(out) or out.status
    if out.status is ReservationStatus.HELD:
        out.status = ReservationStatus.CONFIRMED  # handing over goods means the order exists
    if operation_id:
        out.operations[operation_id] = (payload, "fulfill")
    return out, deltas


def apply_confirm(
    rec: ReservationRecord, moves: tuple[LineMove, ...], is_location: dict[str, bool]
) -> tuple[ReservationRecord, list[HoldDelta]]:
    """Confirm, moving group/network lines (or parts of them) to locations. Confirming again with no
    moves returns the record unchanged."""
    if rec.status is ReservationStatus.CONFIRMED and not moves:
        return rec, []
    _require_open(rec, "confirm")
    out = rec.copy()
    out.status = ReservationStatus.CONFIRMED
    deltas: list[HoldDelta] = []
    for i, mv in enumerate(moves):
        check_id(f"moves[{i}].sku", mv.sku)
        key = (mv.sku, mv.place)
        st = out.lines.get(key)
        if st is None:
            raise InvalidArgument(f"moves[{i}]", f"{mv.sku}@{mv.place}", "no such line in the reservation")
        if out.at_location[key]:
            raise InvalidArgument(f"moves[{i}].place", mv.place, "line is already held at a location")
        if not mv.to:
            raise InvalidArgument(f"moves[{i}].to", [], "must name at least one location")
        total = 0
        for j, (loc, q) in enumerate(mv.to):
            check_id(f"moves[{i}].to[{j}].location", loc)
            check_quantity(f"moves[{i}].to[{j}].quantity", q, allow_zero=False)
            if not is_location.get(loc, False):
                raise InvalidArgument(f"moves[{i}].to[{j}].location", loc, "unknown location")
            total += q
        if total > st.held:
            raise FailedPrecondition(f"moves[{i}]: moving {total} of {mv.sku}@{mv.place} but {st.held} held")
        st.held -= total
        deltas.append(HoldDelta(mv.sku, mv.place, False, -total))
        if st.held == 0 and st.fulfilled == 0 and st.released == 0:
            del out.lines[key]
            del out.at_location[key]
        for loc, q in mv.to:
            lk = (mv.sku, loc)
            if lk in out.lines:
                if not out.at_location[lk]:
                    raise InvalidArgument(f"moves[{i}].to", loc, "is a group, not a location")
                out.lines[lk].held += q
            else:
                out.lines[lk] = LineState(q)
                out.at_location[lk] = True
            deltas.append(HoldDelta(mv.sku, loc, True, q))
    return out, deltas


def apply_extend(rec: ReservationRecord, ttl_ms: int, now_ms: int) -> ReservationRecord:
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not 0 < ttl_ms <= MAX_TTL_MS:
        raise InvalidArgument("ttl_ms", ttl_ms, f"must be an integer in (0, {MAX_TTL_MS}] milliseconds")
    if rec.status is not ReservationStatus.HELD:
        raise FailedPrecondition(
            f"cannot extend reservation {rec.reservation_id!r}: it is {rec.status.value} (only held ones expire)"
        )
    out = rec.copy()
    out.expires_at_ms = now_ms + ttl_ms
    return out


def apply_expire(rec: ReservationRecord) -> tuple[ReservationRecord, list[HoldDelta]]:
    if rec.status is not ReservationStatus.HELD:
        return rec, []
    out, deltas = apply_release(rec, ())
    out.status = ReservationStatus.EXPIRED
    return out, deltas
