"""Fuzzing every RPC of every omniroute service (hypothesis), on a real server over the embedded ledger.

What is sent:
- messages built from each request's descriptor, field by field: ids from the server's own catalogue,
  unknown ids, empty and oversized strings, control characters; numbers at the edges of their wire type
  (negative, zero, 2**63 - 1, ...); enum values the contract does not define; NaN and infinite doubles;
  timestamps and dates far outside any calendar. Each field either keeps the value of a valid request of
  that RPC (BASES: so that the fuzz reaches past the first check) or takes a random one;
- random bytes, and valid requests truncated or with bytes flipped, as the raw payload of a generic call
  (no serializer), so malformed protobuf reaches the server too.

What must hold, for every call: the answer is OK or a clear status (never UNKNOWN or INTERNAL, never an
empty message); a refused call changes nothing (a digest of the whole ledger - every position's on hand,
reserved and safety stock, ring-fences, group holds, the catalogue, the sequences and every reservation -
is equal before and after); and the server still answers Ping afterwards.

The RPCs are enumerated from the generated descriptors, so a new RPC is fuzzed as soon as it is in the
contract, and `test_every_rpc_has_a_base_request` fails until it has a valid request in BASES.
About 50 examples per RPC, the same ones every run; the whole file takes 10-30 s. `FUZZ_EXAMPLES=600`
draws that many new random examples per RPC (about 2 minutes).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

import grpc
import pytest
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omniroute.v1
from availability import StockStore
from availability.errors import InvalidArgument, NotFound
from availability.ledger import MemoryLedger
from availability.reservations import HoldLine, ReserveRequest
from omniroute.v1 import diagnostics_pb2, inventory_pb2, routing_pb2

from .fixtures import LOCATIONS, SKUS, ServerThread, now_ms, tiny_network

EXAMPLES: Final = int(os.environ.get("FUZZ_EXAMPLES", "50"))
# A clear refusal, or an answer. UNAVAILABLE is the answer to a min_sequence the replica has not reached.
CLEAR: Final = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
    }
)
STREAM_ITEMS: Final = 3  # a stream is read this far, then cancelled (a watch never ends by itself)
STREAM_QUIET_S: Final = 0.25  # a stream still open after this long was accepted
CALL_TIMEOUT_S: Final = 20.0


def rpc_methods() -> list[descriptor.MethodDescriptor]:
    """Every RPC of every service declared in omniroute/v1, from the generated modules (a new one shows up
    here without anyone listing it)."""
    found: list[descriptor.MethodDescriptor] = []
    for info in pkgutil.iter_modules(omniroute.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"omniroute.v1.{info.name}")
            found.extend(m for service in module.DESCRIPTOR.services_by_name.values() for m in service.methods)
    return found


def path_of(m: descriptor.MethodDescriptor) -> str:
    return f"/{m.containing_service.full_name}/{m.name}"


def message_class(d: descriptor.Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(d)


# ---------------------------------------------------------------------------------------------- the state
HELD, CONFIRMED = "fz-held", "fz-confirmed"  # made before the fuzz starts, so transitions reach real records
PLACED = datetime.fromtimestamp(now_ms() // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # proto3 JSON Timestamp


def fuzz_ledger() -> MemoryLedger:
    """The tiny network with no expiry sweeper: nothing changes unless a call changes it."""
    led = MemoryLedger(StockStore.from_snapshot(tiny_network()), sweep_interval_s=0)
    lines = (HoldLine("SKU-1", 2, location="DC-EAST"), HoldLine("SKU-3", 1))
    led.reserve(ReserveRequest(HELD, "web", lines, 3_600_000))
    led.reserve(ReserveRequest(CONFIRMED, "web", (HoldLine("SKU-1", 1, group="boston"),), 3_600_000))
    led.confirm(CONFIRMED)
    return led


def digest(led: MemoryLedger, rids: set[str]) -> tuple[Any, ...]:
    """Everything a write could change, read in-process (calls are sequential and nothing else writes)."""
    store = led.store
    rows: list[Any] = []
    for s in range(len(store.skus)):
        for li in store.sku_locations(s).tolist():
            rows.append(store.position(s, li))
        rows.append((store.skus.id(s), tuple(store.allocations(s)), tuple(sorted(store.group_holds(s).items()))))
    reservations: list[Any] = []
    for rid in sorted(rids):
        try:
            reservations.append(led.get_reservation(rid))
        except (NotFound, InvalidArgument):  # never made, or not an id at all
            reservations.append(None)
    report = led.reconcile()  # changes nothing without repair; counts every reservation record
    return (
        led.sequence,
        store.sequence,
        tuple(rows),
        tuple(store.network.locations),
        tuple(store.network.channels.ids),
        tuple(reservations),
        report.reservations_checked,
        tuple(report.inconsistencies),
    )


# ---------------------------------------------------------------------------------------------- values
SKU_IDS: Final = (*SKUS, "SKU-NEW", "sku-1")
LOCATION_IDS: Final = (*(loc.id for loc in LOCATIONS), "S-NOWHERE", "boston")
CHANNELS: Final = ("web", "marketplace", "pos", "nope", "WEB")
RESERVATIONS: Final = (HELD, CONFIRMED, "fz-new", "fz-other")
KNOWN: Final = (*SKU_IDS, *LOCATION_IDS, *CHANNELS, *RESERVATIONS, "@network", "optimal", "nearest", "fewest_shipments")

strings = st.one_of(
    st.sampled_from(KNOWN),
    st.just(""),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["x" * 129, "y" * 5000, " SKU-1", "SKU-1 ", "a/b", "\x00", "\n", "../../etc", "é" * 70]),
)
INT_EDGES: Final = (0, 1, -1, 2, 7, 1_000_000_000, 1_000_000_001, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63))


def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([v for v in INT_EDGES if lo <= v <= hi]), st.integers(lo, hi))


RANGES: Final = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
# Fields whose huge values only make the server wait (bounded, and answered UNAVAILABLE): rarely huge, so
# the fuzz spends its time elsewhere.
WAITING: Final = {"min_sequence": st.sampled_from([0] * 12 + [3, 2**64 - 1])}


def scalar(f: F) -> st.SearchStrategy[Any]:
    if f.name in WAITING:
        return WAITING[f.name]
    if f.type == F.TYPE_STRING:
        return strings
    if f.type == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if f.type == F.TYPE_BOOL:
        return st.booleans()
    if f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        edges = st.sampled_from([0.0, -0.0, -1.0, 1e-9, 1e308, -1e308, float("inf"), float("-inf"), float("nan")])
        return st.one_of(edges, st.floats(width=32) if f.type == F.TYPE_FLOAT else st.floats())
    if f.type == F.TYPE_ENUM:
        defined = [v.number for v in f.enum_type.values]
        return st.one_of(st.sampled_from(defined), ints(-(2**31), 2**31 - 1))
    lo, hi = RANGES[f.type]
    return ints(lo, hi)


MAX_DEPTH: Final = 4


def messages(d: descriptor.Descriptor, base: Message | None = None, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of type `d`: each field keeps `base`'s value or takes a random one (None: all random)."""
    cls = message_class(d)
    if depth > MAX_DEPTH:
        return st.just(cls() if base is None else base)
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in d.fields:
        kept = getattr(base, f.name) if base is not None else None
        if f.is_repeated:
            if f.type == F.TYPE_MESSAGE:
                elements = [messages(f.message_type, b, depth + 1) for b in (kept or ())]
                fresh = st.lists(messages(f.message_type, None, depth + 1), max_size=3)
                drawn = st.one_of(st.tuples(*elements).map(list), fresh) if elements else fresh
            else:
                fresh = st.lists(scalar(f), max_size=4)
                drawn = st.one_of(st.just(list(kept)), fresh) if kept else fresh
        elif f.type == F.TYPE_MESSAGE:
            sub = kept if base is not None and base.HasField(f.name) else None
            drawn = st.one_of(st.none(), messages(f.message_type, sub, depth + 1))
        else:
            keep = base is not None and (f.has_presence is False or base.HasField(f.name))
            drawn = st.one_of(st.just(kept), scalar(f)) if keep else st.one_of(st.none(), scalar(f))
        parts[f.name] = drawn

    def build(values: dict[str, Any]) -> Message:
        m = cls()
        for name, v in values.items():
            if v is None:
                continue
            f = d.fields_by_name[name]
            if f.is_repeated:
                getattr(m, name).extend(v)
            elif f.type == F.TYPE_MESSAGE:
                getattr(m, name).CopyFrom(v)
            else:
                setattr(m, name, v)
        return m

    return st.fixed_dictionaries(parts).map(build)


# ---------------------------------------------------------------------------------------------- valid requests
ORDER: Final = {
    "order_id": "fz-order",
    "channel": "web",
    "lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-5", "quantity": 1}],
    "destination": {"point": {"latitude": 42.36, "longitude": -71.06}},
    "placed_at": PLACED,
}
# One valid request per RPC (proto3 JSON), the starting point its fuzzed requests keep some fields of.
BASES: Final[dict[str, dict[str, Any]]] = {
    "/omniroute.v1.AvailabilityService/GetAvailability": {
        "skus": ["SKU-1", "SKU-2", "SKU-NOPE"], "channel": "web", "method": "PICKUP",
        "scope": {"group": "boston"}, "as_of": {"year": 2030, "month": 1, "day": 2}, "per_location": True,
    },
    "/omniroute.v1.AvailabilityService/FindNearbyStores": {
        "lines": [{"sku": "SKU-1", "quantity": 1}], "near": {"latitude": 42.36, "longitude": -71.06},
        "radius_km": 30, "channel": "web", "methods": ["PICKUP"], "limit": 5,
    },
    "/omniroute.v1.AvailabilityService/WatchAvailability": {
        "skus": ["SKU-1"], "locations": ["S-BOS"], "channel": "web", "include_initial": True,
    },
    "/omniroute.v1.AvailabilityService/ExportLocalInventory": {
        "channel": "web", "locations": ["S-BOS"], "chunk_rows": 2,
    },
    "/omniroute.v1.InventoryService/ApplyStockEvents": {
        "events": [
            {"event_id": "fz-e1", "type": "RECEIPT", "location": "S-BOS", "sku": "SKU-2", "quantity": 3,
             "occurred_at": PLACED},
            {"event_id": "fz-e2", "type": "ADJUSTMENT", "location": "DC-EAST", "sku": "SKU-5", "quantity": -1,
             "occurred_at": PLACED, "channel": "marketplace"},
        ]
    },
    "/omniroute.v1.InventoryService/LoadSnapshot": {"path": "/nonexistent/omniroute-fuzz"},
    "/omniroute.v1.InventoryService/GetPositions": {"skus": ["SKU-1", "SKU-4"], "locations": ["DC-EAST"]},
    "/omniroute.v1.InventoryService/SetSafetyStock": {
        "entries": [{"sku": "SKU-1", "location": "S-BOS", "quantity": 2}],
    },
    "/omniroute.v1.InventoryService/SetAllocations": {
        "entries": [{"sku": "SKU-1", "channel": "marketplace", "quantity": 20}],
    },
    "/omniroute.v1.InventoryService/UpsertLocations": {
        "locations": [{
            "id": "S-NEW", "name": "New store", "type": "STORE", "point": {"latitude": 42.3, "longitude": -71.1},
            "timezone": "America/New_York", "methods": ["PICKUP"], "channels": ["web"], "cutoff": "17:00",
            "enabled": True,
        }]
    },
    "/omniroute.v1.ReservationService/Reserve": {
        "reservation_id": "fz-new", "channel": "web", "ttl_seconds": 600,
        "lines": [{"sku": "SKU-1", "quantity": 1, "location": "S-BOS"}, {"sku": "SKU-3", "quantity": 1}],
    },
    "/omniroute.v1.ReservationService/Confirm": {
        "reservation_id": HELD,
        "moves": [{"sku": "SKU-3", "place": "@network", "to": [{"location": "S-CAM", "quantity": 1}]}],
    },
    "/omniroute.v1.ReservationService/Extend": {"reservation_id": HELD, "ttl_seconds": 900},
    "/omniroute.v1.ReservationService/Release": {
        "reservation_id": HELD, "lines": [{"sku": "SKU-1", "place": "DC-EAST", "quantity": 1}], "operation_id": "fz-r1",
    },
    "/omniroute.v1.ReservationService/Fulfill": {
        "reservation_id": CONFIRMED, "operation_id": "fz-f1",
        "lines": [{"sku": "SKU-1", "place": "boston", "quantity": 1}],
    },
    "/omniroute.v1.ReservationService/GetReservation": {"reservation_id": HELD},
    "/omniroute.v1.AdminService/Reconcile": {"skus": ["SKU-1"]},
    "/omniroute.v1.RoutingService/RouteOrder": {"order": ORDER, "policy": "optimal", "time_limit_seconds": 1},
    "/omniroute.v1.RoutingService/RouteOrders": {"orders": [ORDER], "policy": "optimal", "time_limit_seconds": 1},
    "/omniroute.v1.RoutingService/Reroute": {
        "order": ORDER, "reservation_id": HELD, "operation_id": "fz-rr1", "rejected_at": PLACED,
        "rejections": [{"location": "DC-EAST", "sku": "SKU-1", "quantity": 1, "reason": "DAMAGED"}],
    },
    "/omniroute.v1.RoutingService/QuoteFulfillmentOptions": {
        "channel": "web", "lines": [{"sku": "SKU-1", "quantity": 1}],
        "destination": {"latitude": 42.36, "longitude": -71.06},
        "at": PLACED, "methods": ["DELIVERY_STANDARD", "DELIVERY_PICKUP"], "max_stores": 3, "store_radius_km": 25,
    },
    "/omniroute.v1.DiagnosticsService/Ping": {},
    "/omniroute.v1.DiagnosticsService/GetServerInfo": {},
}  # fmt: skip
METHODS: Final = {path_of(m): m for m in rpc_methods()}


def base_request(path: str) -> Message:
    return json_format.ParseDict(BASES[path], message_class(METHODS[path].input_type)())


# ---------------------------------------------------------------------------------------------- calls
class Fuzzed:
    """One server and what the fuzz knows of it: the reservation ids seen, the state before each call."""

    def __init__(self, srv: ServerThread) -> None:
        self.srv = srv
        self.channel = grpc.insecure_channel(srv.target)
        self.rids = set(RESERVATIONS)
        led = srv.ledger
        assert isinstance(led, MemoryLedger)
        self.led = led

    def call(self, path: str, payload: bytes) -> tuple[grpc.StatusCode, str]:
        """Send raw bytes; (status code, message) of the answer. A stream is read STREAM_ITEMS far."""
        m = METHODS[path]
        try:
            if m.server_streaming:
                # the call object is also a grpc.Future (done, cancel); the stubs type only its iterator side
                stream: Any = self.channel.unary_stream(path, None, None)(payload, timeout=CALL_TIMEOUT_S)
                try:
                    # a refusal ends the stream at once; a watch that was accepted stays open and quiet
                    deadline = time.monotonic() + STREAM_QUIET_S
                    while not stream.done() and time.monotonic() < deadline:
                        time.sleep(0.005)
                    if stream.done():
                        for i, _ in enumerate(stream):
                            if i + 1 >= STREAM_ITEMS:
                                break
                finally:
                    stream.cancel()
            else:
                self.channel.unary_unary(path, None, None)(payload, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as err:
            return err.code(), err.details() or ""
        return grpc.StatusCode.OK, ""

    def check(self, path: str, payload: bytes, note: str) -> None:
        before = digest(self.led, self.rids)
        code, message = self.call(path, payload)
        assert code in CLEAR, f"{path} answered {code.name} ({message!r}) to {note}"
        if code is not grpc.StatusCode.OK:
            assert message.strip(), f"{path} answered {code.name} with no message to {note}"
            after = digest(self.led, self.rids)
            assert after == before, f"{path} refused {note} with {code.name} ({message!r}) but changed the state"

    def close(self) -> None:
        self.channel.close()


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    srv = ServerThread(load=fuzz_ledger).start()
    f = Fuzzed(srv)
    try:
        yield f
    finally:
        f.close()
        srv.stop()


def still_serving(f: Fuzzed) -> None:
    ping = f.channel.unary_unary("/omniroute.v1.DiagnosticsService/Ping", None, None)
    assert ping(diagnostics_pb2.PingRequest().SerializeToString(), timeout=10) == b""


def note_of(request: Message) -> str:
    text = str(request).replace("\n", " ")
    return text if len(text) < 600 else text[:600] + "..."


# ---------------------------------------------------------------------------------------------- the tests
def test_every_rpc_has_a_base_request() -> None:
    assert sorted(METHODS) == sorted(BASES), "add a valid request for each new RPC to BASES"
    for path in METHODS:
        base_request(path)  # each one parses as its method's request type


FUZZ_SETTINGS: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # the test command draws the same examples every run (a failure in CI is reproducible); FUZZ_EXAMPLES
    # set by hand explores new ones
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", sorted(BASES))
def test_fuzzed_messages_get_a_clear_answer_and_refusals_change_nothing(fuzzed: Fuzzed, path: str) -> None:
    m = METHODS[path]
    base = base_request(path)

    @FUZZ_SETTINGS
    @given(st.one_of(messages(m.input_type, base), messages(m.input_type)))
    def fuzz(request: Message) -> None:
        if m.input_type.name == "ReserveRequest":
            fuzzed.rids.add(request.reservation_id)  # type: ignore[attr-defined]
        fuzzed.check(path, request.SerializeToString(), note_of(request))

    fuzz()
    still_serving(fuzzed)


def mangled(payload: bytes) -> st.SearchStrategy[bytes]:
    """A valid request cut short, with a byte changed, or with random bytes appended."""
    if not payload:
        return st.binary(min_size=1, max_size=32)
    cut = st.integers(0, len(payload) - 1).map(lambda n: payload[:n])
    flipped = st.tuples(st.integers(0, len(payload) - 1), st.integers(0, 255)).map(
        lambda iv: payload[: iv[0]] + bytes([iv[1]]) + payload[iv[0] + 1 :]
    )
    tail = st.binary(min_size=1, max_size=16).map(lambda b: payload + b)
    return st.one_of(cut, flipped, tail)


@pytest.mark.timeout(120)
def test_malformed_payloads_get_a_clear_answer_and_change_nothing(fuzzed: Fuzzed) -> None:
    paths = sorted(BASES)
    payloads: dict[str, bytes] = {p: base_request(p).SerializeToString() for p in paths}

    def cases(path: str) -> st.SearchStrategy[tuple[str, bytes]]:
        return st.tuples(st.just(path), st.one_of(st.binary(max_size=200), mangled(payloads[path])))

    @FUZZ_SETTINGS
    @given(st.sampled_from(paths).flatmap(cases))
    def fuzz(case: tuple[str, bytes]) -> None:
        path, payload = case
        fuzzed.check(path, payload, f"raw payload {payload!r}")

    fuzz()
    still_serving(fuzzed)


# ---------------------------------------------------------------------------------------------- regressions
# What the fuzz found, each answered INTERNAL or UNKNOWN before it was fixed.
def test_a_request_that_is_not_protobuf_is_invalid_argument(fuzzed: Fuzzed) -> None:
    """gRPC's own deserializer failing answered UNKNOWN ("Unexpected DecodeError"); the edge parses now."""
    for invalid in (b"\xff", b"\x0a\x05ab", b"\x08\x80", b"\x0b"):  # bad tag, short length, cut varint, group
        for path in sorted(BASES):
            fuzzed.check(path, invalid, f"raw payload {invalid!r}")
            code, message = fuzzed.call(path, invalid)
            assert code is grpc.StatusCode.INVALID_ARGUMENT, f"{path}: {code.name} for {invalid!r}"
            assert message.startswith("request=None: is not a valid request message for " + path), message


def test_timestamps_outside_their_range_are_invalid_argument(fuzzed: Fuzzed) -> None:
    """Timestamp.ToDatetime raised ValueError (INTERNAL) for nanos outside [0, 1e9) or a year past 9999."""
    order = base_request("/omniroute.v1.RoutingService/RouteOrder")
    assert isinstance(order, routing_pb2.RouteOrderRequest)
    order.order.placed_at.nanos = -1
    quote = base_request("/omniroute.v1.RoutingService/QuoteFulfillmentOptions")
    assert isinstance(quote, routing_pb2.QuoteFulfillmentOptionsRequest)
    quote.at.seconds = 2**62
    reroute = base_request("/omniroute.v1.RoutingService/Reroute")
    assert isinstance(reroute, routing_pb2.RerouteRequest)
    reroute.rejected_at.nanos = 2_000_000_000
    for request, field in ((order, "order.placed_at"), (quote, "at"), (reroute, "rejected_at")):
        path = next(p for p, m in METHODS.items() if m.input_type.full_name == request.DESCRIPTOR.full_name)
        fuzzed.check(path, request.SerializeToString(), note_of(request))
        code, message = fuzzed.call(path, request.SerializeToString())
        assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith(f"{field}="), message
        assert "is not a valid timestamp" in message


def test_a_snapshot_path_the_system_cannot_use_is_invalid_argument(fuzzed: Fuzzed) -> None:
    """A name too long for the file system (OSError ENAMETOOLONG) and "~user" for no such user
    (RuntimeError) escaped the path checks as INTERNAL."""
    path = "/omniroute.v1.InventoryService/LoadSnapshot"
    for bad in ("y" * 5000, "~no-such-user-omniroute/snapshot"):
        request = inventory_pb2.LoadSnapshotRequest(path=bad).SerializeToString()
        fuzzed.check(path, request, f"path {bad[:40]!r}")
        code, message = fuzzed.call(path, request)
        assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith("path="), message
        assert "cannot be used as a directory" in message


# a parameter the fuzz must be able to draw for every field type used by the contract
def test_every_field_type_of_the_contract_has_values() -> None:
    seen: set[int] = set()

    def walk(d: descriptor.Descriptor, path: tuple[str, ...]) -> None:
        if d.full_name in path:
            return
        for f in d.fields:
            if f.type == F.TYPE_MESSAGE:
                walk(f.message_type, (*path, d.full_name))
            else:
                seen.add(f.type)
                scalar(f)  # raises KeyError for a wire type without a strategy

    for m in METHODS.values():
        walk(m.input_type, ())
    assert seen

