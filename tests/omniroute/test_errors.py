"""Every row of the error table through the real server: the status code, the message and the structured
details (google.rpc.Status in the trailers), and no state change after any rejected write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from availability.errors import (
    AlreadyExists,
    FailedPrecondition,
    InsufficientStock,
    InvalidArgument,
    NotFound,
    Shortfall,
    Unavailable,
)
from omniroute.client import Allocation, Client, LocationSpec, SafetyStock, ServiceError
from omniroute.config import ServerConfig
from omniroute.status import STATUS_OF, code_for
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc
from omniroute.v1 import common_pb2 as cpb
from omniroute.v1 import inventory_pb2 as ipb

from .conftest import Stubs
from .fixtures import BOSTON, LedgerDouble, ServerThread, state_of

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def bad_request_fields(err: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    assert status.code == err.code().value[0]
    fields = []
    for d in status.details:
        if d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            d.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


def call_fails(fn: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value


def availability_request(**kw: Any) -> apb.GetAvailabilityRequest:
    kw.setdefault("skus", ["SKU-1"])
    kw.setdefault("channel", "web")
    return apb.GetAvailabilityRequest(**kw)


def radius(lat: float, lon: float, km: float) -> cpb.Scope:
    return cpb.Scope(radius=cpb.Radius(center=cpb.Point(latitude=lat, longitude=lon), radius_km=km))


READ_CASES: list[tuple[str, Any, str]] = [
    ("malformed sku id", availability_request(skus=["SKU-1", "bad id!"]), "skus[1]"),
    ("no skus", availability_request(skus=[]), "skus"),
    ("too many skus", availability_request(skus=[f"S{i}" for i in range(10_001)]), "skus"),
    ("unknown channel", availability_request(channel="telegraph"), "channel"),
    ("empty channel", availability_request(channel=""), "channel"),
    ("unknown method", availability_request(method=42), "method"),
    ("unknown group", availability_request(scope=cpb.Scope(group="atlantis")), "scope.group"),
    (
        "unknown location",
        availability_request(scope=cpb.Scope(locations=cpb.LocationList(ids=["S-XX"]))),
        "scope.locations",
    ),
    (
        "empty location list",
        availability_request(scope=cpb.Scope(locations=cpb.LocationList())),
        "scope.locations",
    ),
    ("zero radius", availability_request(scope=radius(42.0, -71.0, 0)), "scope.radius_km"),
    ("negative radius", availability_request(scope=radius(42.0, -71.0, -5)), "scope.radius_km"),
    ("radius beyond the earth", availability_request(scope=radius(42.0, -71.0, 30_000)), "scope.radius_km"),
    ("latitude out of range", availability_request(scope=radius(142.0, -71.0, 5)), "scope.latitude"),
    ("past as_of", availability_request(as_of=cpb.Date(year=2001, month=1, day=1)), "as_of"),
    ("impossible as_of", availability_request(as_of=cpb.Date(year=2030, month=13, day=1)), "as_of"),
]


@pytest.mark.parametrize(("case", "request_", "field"), READ_CASES, ids=[c[0] for c in READ_CASES])
def test_get_availability_bad_input_is_invalid_argument_naming_the_field(
    stubs: Stubs, case: str, request_: apb.GetAvailabilityRequest, field: str
) -> None:
    err = call_fails(lambda: stubs.availability.GetAvailability(request_))
    assert err.code() is INVALID
    assert (err.details() or "").startswith(field)
    assert field in bad_request_fields(err)


NEARBY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no point", {"near": None}, "near"),
    ("no radius", {"radius_km": 0}, "radius_km"),
    ("empty cart", {"lines": []}, "lines"),
    ("zero quantity", {"lines": [cpb.CartLine(sku="SKU-1", quantity=0)]}, "lines[0].quantity"),
    ("negative quantity", {"lines": [cpb.CartLine(sku="SKU-1", quantity=-2)]}, "lines[0].quantity"),
    ("huge quantity", {"lines": [cpb.CartLine(sku="SKU-1", quantity=10**15)]}, "lines[0].quantity"),
    ("malformed sku", {"lines": [cpb.CartLine(sku="", quantity=1)]}, "lines[0].sku"),
    ("unknown channel", {"channel": "fax"}, "channel"),
    ("limit too large", {"limit": 5000}, "limit"),
    ("bad longitude", {"near": cpb.Point(latitude=42, longitude=-181)}, "near.longitude"),
]


@pytest.mark.parametrize(("case", "change", "field"), NEARBY_CASES, ids=[c[0] for c in NEARBY_CASES])
def test_find_nearby_stores_bad_input(stubs: Stubs, case: str, change: dict[str, Any], field: str) -> None:
    kw: dict[str, Any] = {
        "lines": [cpb.CartLine(sku="SKU-1", quantity=1)],
        "near": cpb.Point(latitude=BOSTON[0], longitude=BOSTON[1]),
        "radius_km": 10,
        "channel": "web",
    }
    kw.update(change)
    req = apb.FindNearbyStoresRequest(**{k: v for k, v in kw.items() if v is not None})
    err = call_fails(lambda: stubs.availability.FindNearbyStores(req))
    assert err.code() is INVALID
    assert field in bad_request_fields(err)


def test_watch_and_export_bad_input(stubs: Stubs) -> None:
    watch = stubs.availability.WatchAvailability(
        apb.WatchAvailabilityRequest(skus=[], channel="web"), timeout=5
    )
    err = call_fails(lambda: next(watch))
    assert err.code() is INVALID and "skus" in bad_request_fields(err)
    watch = stubs.availability.WatchAvailability(
        apb.WatchAvailabilityRequest(skus=["SKU-1"], channel="web", locations=["S-XX"]), timeout=5
    )
    err = call_fails(lambda: next(watch))
    assert err.code() is INVALID and "locations" in bad_request_fields(err)
    export = stubs.availability.ExportLocalInventory(
        apb.ExportLocalInventoryRequest(channel="fax"), timeout=5
    )
    err = call_fails(lambda: list(export))
    assert err.code() is INVALID and "channel" in bad_request_fields(err)
    export = stubs.availability.ExportLocalInventory(
        apb.ExportLocalInventoryRequest(chunk_rows=10**7), timeout=5
    )
    err = call_fails(lambda: list(export))
    assert err.code() is INVALID and "chunk_rows" in bad_request_fields(err)


def test_get_positions_bad_input(client: Client) -> None:
    with pytest.raises(ServiceError) as err:
        client.get_positions(["SKU-1"], locations=["S-XX"])
    assert (err.value.status, err.value.field) == (INVALID, "locations")
    with pytest.raises(ServiceError) as err:
        client.get_positions(["bad sku"])
    assert (err.value.status, err.value.field) == (INVALID, "skus[0]")
    with pytest.raises(ServiceError) as err:
        client.get_positions([])
    assert (err.value.status, err.value.field) == (INVALID, "skus")


WRITE_CASES: list[tuple[str, Callable[[Client], Any], str]] = [
    (
        "safety: unknown location",
        lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S-XX", 1)]),
        "entries[0].location",
    ),
    (
        "safety: malformed location",
        lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S XX", 1)]),
        "entries[0].location",
    ),
    (
        "safety: unknown sku",
        lambda c: c.set_safety_stock([SafetyStock("SKU-9", "S-BOS", 1)]),
        "entries[0].sku",
    ),
    (
        "safety: negative",
        lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 2), SafetyStock("SKU-1", "S-CAM", -1)]),
        "entries[1].quantity",
    ),
    (
        "safety: huge",
        lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 10**12)]),
        "entries[0].quantity",
    ),
    ("safety: empty", lambda c: c.set_safety_stock([]), "entries"),
    (
        "allocations: unknown channel",
        lambda c: c.set_allocations([Allocation("SKU-1", "fax", 3)]),
        "entries[0].channel",
    ),
    (
        "allocations: unknown sku",
        lambda c: c.set_allocations([Allocation("SKU-9", "web", 3)]),
        "entries[0].sku",
    ),
    (
        "allocations: negative",
        lambda c: c.set_allocations([Allocation("SKU-1", "web", 5), Allocation("SKU-2", "web", -3)]),
        "entries[1].quantity",
    ),
    (
        "allocations: huge",
        lambda c: c.set_allocations([Allocation("SKU-1", "web", 2**40)]),
        "entries[0].quantity",
    ),
    (
        "allocations: consumed above quantity",
        lambda c: c.set_allocations([Allocation("SKU-1", "web", 3, 4)]),
        "entries[0].consumed",
    ),
    ("allocations: empty", lambda c: c.set_allocations([]), "entries"),
    (
        "locations: bad latitude",
        lambda c: c.upsert_locations([LocationSpec("S-NEW", "store", 91, 0)]),
        "locations[0].latitude",
    ),
    (
        "locations: malformed id",
        lambda c: c.upsert_locations([LocationSpec("S NEW", "store", 1, 0)]),
        "locations[0].id",
    ),
    (
        "locations: bad cutoff",
        lambda c: c.upsert_locations([LocationSpec("S-NEW", "store", 1, 0, cutoff="25:00")]),
        "locations[0].cutoff",
    ),
    (
        "locations: unknown channel",
        lambda c: c.upsert_locations([LocationSpec("S-NEW", "store", 1, 0, channels=("fax",))]),
        "location.channels",
    ),
    ("locations: empty", lambda c: c.upsert_locations([]), "locations"),
    ("snapshot: no path", lambda c: c.load_snapshot(""), "path"),
]


@pytest.mark.parametrize(("case", "write", "field"), WRITE_CASES, ids=[c[0] for c in WRITE_CASES])
def test_rejected_writes_name_the_field_and_change_nothing(
    client: Client, case: str, write: Callable[[Client], Any], field: str
) -> None:
    before = state_of(client)
    with pytest.raises(ServiceError) as err:
        write(client)
    assert err.value.status is INVALID
    assert err.value.field == field
    assert err.value.reason == "INVALID_ARGUMENT"
    assert state_of(client) == before


def test_unknown_location_type_is_invalid(stubs: Stubs, client: Client) -> None:
    before = state_of(client)
    loc = cpb.Location(
        id="S-NEW", type=cpb.LOCATION_TYPE_UNSPECIFIED, point=cpb.Point(latitude=1, longitude=1)
    )
    err = call_fails(lambda: stubs.inventory.UpsertLocations(ipb.UpsertLocationsRequest(locations=[loc])))
    assert err.code() is INVALID and bad_request_fields(err)[0] == "locations[0].type"
    assert state_of(client) == before


def test_missing_snapshot_directory_is_not_found(client: Client, tmp_path: Any) -> None:
    before = state_of(client)
    with pytest.raises(ServiceError) as err:
        client.load_snapshot(str(tmp_path / "nope"))
    assert err.value.status is grpc.StatusCode.NOT_FOUND
    assert err.value.resource == ("snapshot directory", str(tmp_path / "nope"))
    assert state_of(client) == before


# ---------------------------------------------------------------------------------------------- other rows
@pytest.fixture
def double() -> Iterator[tuple[ServerThread, LedgerDouble]]:
    ledger = LedgerDouble()
    srv = ServerThread(load=ledger).start()
    try:
        yield srv, ledger
    finally:
        srv.stop()


def test_insufficient_stock_is_failed_precondition_with_every_shortfall(
    double: tuple[ServerThread, LedgerDouble],
) -> None:
    srv, ledger = double
    ledger.raise_on_write = InsufficientStock(
        [Shortfall(0, "SKU-1", "S-BOS", 9, 4), Shortfall(2, "SKU-2", "", 3, 0)]
    )
    with Client(srv.target) as c:
        before = state_of(c)
        with pytest.raises(ServiceError) as err:
            c.set_allocations([Allocation("SKU-1", "web", 1)])
        assert err.value.status is grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.reason == "INSUFFICIENT_STOCK"
        assert err.value.shortfalls == (
            type(err.value.shortfalls[0])(0, "SKU-1", "S-BOS", 9, 4),
            type(err.value.shortfalls[0])(2, "SKU-2", "", 3, 0),
        )
        assert "requested 9, available 4" in err.value.message
        assert state_of(c) == before


@pytest.mark.parametrize(
    ("error", "code", "check"),
    [
        (
            FailedPrecondition("reservation r1 is already fulfilled"),
            grpc.StatusCode.FAILED_PRECONDITION,
            lambda e: "already fulfilled" in e.message,
        ),
        (
            AlreadyExists("event", "e-1", "quantity 3 != 4"),
            grpc.StatusCode.ALREADY_EXISTS,
            lambda e: e.resource == ("event", "e-1") and e.reason == "ALREADY_EXISTS",
        ),
        (
            NotFound("reservation", "r-404"),
            grpc.StatusCode.NOT_FOUND,
            lambda e: e.resource == ("reservation", "r-404"),
        ),
        (
            Unavailable("redis at 10.0.0.5:6379 is down"),
            grpc.StatusCode.UNAVAILABLE,
            lambda e: e.retry_after == 1.0 and "redis" in e.message,
        ),
        (InvalidArgument("entries[0].sku", "x", "nope"), INVALID, lambda e: e.field == "entries[0].sku"),
        (
            RuntimeError("secret internal detail"),
            grpc.StatusCode.INTERNAL,
            lambda e: "secret" not in e.message and "server log" in e.message,
        ),
    ],
    ids=[
        "failed-precondition",
        "already-exists",
        "not-found",
        "unavailable",
        "invalid-argument",
        "unexpected",
    ],
)
def test_each_domain_error_maps_to_its_code(
    double: tuple[ServerThread, LedgerDouble],
    error: Exception,
    code: grpc.StatusCode,
    check: Callable[[Any], bool],
) -> None:
    srv, ledger = double
    ledger.raise_on_write = error
    with Client(srv.target) as c, pytest.raises(ServiceError) as err:
        c.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 1)])
    assert err.value.status is code
    assert check(err.value)


def test_the_table_never_uses_resource_exhausted() -> None:
    assert grpc.StatusCode.RESOURCE_EXHAUSTED not in STATUS_OF.values()
    assert code_for(InsufficientStock([])) is grpc.StatusCode.FAILED_PRECONDITION


def test_unavailable_while_the_read_model_loads() -> None:
    import threading

    from .fixtures import tiny_ledger

    release = threading.Event()

    def slow_load() -> Any:
        release.wait(10)
        return tiny_ledger()

    srv = ServerThread(load=slow_load).start(wait_loaded=False)
    try:
        with Client(srv.target) as c:
            assert c.health() == "NOT_SERVING"
            with pytest.raises(ServiceError) as err:
                c.get_availability(["SKU-1"], channel="web")
            assert err.value.status is grpc.StatusCode.UNAVAILABLE
            assert "loading" in err.value.message
            c.ping()  # diagnostics answer meanwhile
            release.set()
            c.wait_until_serving(10)
            assert c.get_availability(["SKU-1"], channel="web")["SKU-1"] == 92
    finally:
        release.set()
        srv.stop()


def test_oversized_message_is_resource_exhausted_with_a_clear_message() -> None:
    srv = ServerThread(ServerConfig(port=0, max_message_mb=1)).start()
    try:
        skus = [f"SKU-{i:0>120}" for i in range(9_000)]  # ~1.1 MB
        channel = grpc.insecure_channel(srv.target)
        stub = availability_pb2_grpc.AvailabilityServiceStub(channel)
        err = call_fails(lambda: stub.GetAvailability(apb.GetAvailabilityRequest(skus=skus, channel="web")))
        assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (err.details() or "")
        channel.close()
        with Client(srv.target) as c, pytest.raises(ServiceError) as cerr:
            c.get_availability(skus, channel="web")
        assert cerr.value.status is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-message-mb" in cerr.value.message
    finally:
        srv.stop()
