"""Protobuf <-> engine value conversions shared by the servicers. Field names in errors follow the proto,
so a caller can find the offending field in its own request."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from google.protobuf import timestamp_pb2

from availability.errors import InvalidArgument
from availability.locations import Scope
from availability.model import Location, LocationType, Method, StockStatus
from availability.store import NETWORK
from omniroute.v1 import common_pb2 as cpb

# proto enum value -> engine value, by index; UNSPECIFIED method means SHIP (see common.proto)
_METHOD_OF_PB: tuple[Method, ...] = (
    Method.SHIP,
    Method.SHIP,
    Method.PICKUP,
    Method.CURBSIDE,
    Method.SAME_DAY,
)
METHOD_TO_PB: tuple[cpb.FulfillmentMethod, ...] = (cpb.SHIP, cpb.PICKUP, cpb.CURBSIDE, cpb.SAME_DAY)
STATUS_TO_PB: tuple[cpb.StockStatus, ...] = (cpb.OUT_OF_STOCK, cpb.LOW_STOCK, cpb.IN_STOCK)
_LOCATION_TYPE_OF_PB: dict[int, LocationType] = {
    cpb.DISTRIBUTION_CENTER: LocationType.DISTRIBUTION_CENTER,
    cpb.STORE: LocationType.STORE,
    cpb.DARK_STORE: LocationType.DARK_STORE,
    cpb.DROP_SHIP_VENDOR: LocationType.DROP_SHIP_VENDOR,
}
_CUTOFF_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def method_of(value: int, field: str = "method") -> Method:
    # proto3 enums are open: an unknown number arrives as-is and must be refused, not indexed
    if 0 <= value < len(_METHOD_OF_PB):
        return _METHOD_OF_PB[value]
    raise InvalidArgument(field, value, "unknown fulfilment method")


def status_to_pb(status: StockStatus) -> cpb.StockStatus:
    return STATUS_TO_PB[int(status)]


def scope_of(scope: cpb.Scope) -> Scope:
    kind = scope.WhichOneof("kind")
    if kind is None or kind == "network":
        return NETWORK
    if kind == "group":
        if not scope.group:
            raise InvalidArgument("scope.group", "", "must name a location group")
        return Scope.of_group(scope.group)
    if kind == "locations":
        return Scope.of_locations(scope.locations.ids)
    r = scope.radius
    if not r.HasField("center"):
        raise InvalidArgument("scope.radius.center", None, "is required")
    return Scope.within(r.center.latitude, r.center.longitude, r.radius_km)


def date_of(d: cpb.Date, field: str) -> date:
    try:
        return date(d.year, d.month, d.day)
    except ValueError as err:
        raise InvalidArgument(field, f"{d.year}-{d.month}-{d.day}", str(err)) from None


# google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z
_TIMESTAMP_SECONDS = range(-62_135_596_800, 253_402_300_800)


def datetime_of(ts: timestamp_pb2.Timestamp, field: str) -> datetime:
    """A Timestamp as an aware UTC datetime; one outside the Timestamp's range (nanos not in
    [0, 999,999,999], a year outside 1-9999) is the caller's error, not the server's."""
    if ts.seconds not in _TIMESTAMP_SECONDS or not 0 <= ts.nanos < 1_000_000_000:
        why = "is not a valid timestamp (years 1-9999, nanos 0-999999999)"
        raise InvalidArgument(field, f"seconds={ts.seconds} nanos={ts.nanos}", why)
    return ts.ToDatetime(tzinfo=UTC)


def date_to_pb(d: date) -> cpb.Date:
    return cpb.Date(year=d.year, month=d.month, day=d.day)


def location_of(pb: cpb.Location, field: str) -> Location:
    """A proto Location as an engine Location. Empty strings mean "unset" and take the engine's defaults
    (time zone UTC, cut-off 14:00); numbers and `enabled` are taken literally, as proto3 cannot tell
    an unset number from zero."""
    ltype = _LOCATION_TYPE_OF_PB.get(pb.type)
    if ltype is None:
        raise InvalidArgument(f"{field}.type", pb.type, "must be a known location type")
    if not pb.HasField("point"):
        raise InvalidArgument(f"{field}.point", None, "is required")
    cutoff = time(14, 0)
    if pb.cutoff:
        m = _CUTOFF_RE.match(pb.cutoff)
        if m is None:
            raise InvalidArgument(f"{field}.cutoff", pb.cutoff, 'must be a local time "HH:MM"')
        cutoff = time(int(m.group(1)), int(m.group(2)))
    methods = frozenset(method_of(v, f"{field}.methods") for v in pb.methods) or frozenset({Method.SHIP})
    try:
        return Location(
            id=pb.id,
            name=pb.name or pb.id,
            type=ltype,
            latitude=pb.point.latitude,
            longitude=pb.point.longitude,
            timezone=pb.timezone or "UTC",
            methods=methods,
            channels=frozenset(pb.channels),
            processing_hours=pb.processing_hours,
            cutoff=cutoff,
            daily_capacity=pb.daily_capacity,
            handling_cost_per_order=pb.handling_cost_per_order,
            handling_cost_per_unit=pb.handling_cost_per_unit,
            priority=pb.priority,
            enabled=pb.enabled,
        )
    except InvalidArgument as err:
        # the engine says "location.latitude"; the caller needs to know which of its locations
        name = err.field.removeprefix("location.")
        raise InvalidArgument(f"{field}.{name}", err.value, err.reason) from None
