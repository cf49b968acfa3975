"""Limits that protect the service (omniroute.limits, omniroute.edge): every repeated request field has a
bound that is enforced at the edge with INVALID_ARGUMENT and changes nothing; open streams per caller;
the default deadline of calls that set none."""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

import omniroute.v1
from omniroute.auth import Role, generate_token, hash_token, tokens_file_entry
from omniroute.client import Client, ServiceError, Watch
from omniroute.limits import BATCH_LIMITS
from omniroute.v1 import availability_pb2 as apb

from .fixtures import ServerThread, state_of, with_config


def request_methods() -> dict[str, MethodDescriptor]:
    found: dict[str, MethodDescriptor] = {}
    for info in pkgutil.iter_modules(omniroute.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"omniroute.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                for m in service.methods:
                    found[f"/{service.full_name}/{m.name}"] = m
    return found


def repeated_fields(message: Descriptor, prefix: str = "") -> list[str]:
    """Paths of the repeated fields of `message` and of its singular sub-messages (a list inside a list is
    bounded by its parent's limit and the message size)."""
    out: list[str] = []
    for f in message.fields:
        if f.is_repeated:
            out.append(prefix + f.name)
        elif f.message_type is not None and not f.message_type.full_name.startswith("google."):
            out.extend(repeated_fields(f.message_type, f"{prefix}{f.name}."))
    return out


def test_every_repeated_request_field_has_a_limit() -> None:
    methods = request_methods()
    wanted = {(name, path) for name, m in methods.items() for path in repeated_fields(m.input_type)}
    have = {(name, path) for name, rows in BATCH_LIMITS.items() for path, _ in rows}
    assert not wanted - have, f"add to omniroute.limits.BATCH_LIMITS: {sorted(wanted - have)}"
    assert not have - wanted, f"rows for fields that no longer exist: {sorted(have - wanted)}"
    assert all(limit > 0 for rows in BATCH_LIMITS.values() for _, limit in rows)


def oversized(method: MethodDescriptor, path: str, n: int) -> bytes:
    """A request of `method` whose field `path` carries `n` items (the first in a list of one is fine)."""
    request = message_factory.GetMessageClass(method.input_type)()
    *parents, last = path.split(".")
    holder: Any = request
    for part in parents:
        holder = getattr(holder, part)
    field: FieldDescriptor = holder.DESCRIPTOR.fields_by_name[last]
    items = getattr(holder, last)
    if field.message_type is not None:
        for _ in range(n):
            items.add()
    elif field.type == FieldDescriptor.TYPE_STRING:
        items.extend(["SKU-1"] * n)
    else:
        items.extend([1] * n)
    return bytes(request.SerializeToString())


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = ServerThread().start()
    try:
        yield srv
    finally:
        srv.stop()


def test_every_batch_limit_is_enforced_at_the_edge_and_changes_nothing(server: ServerThread) -> None:
    methods = request_methods()
    with Client(server.target, timeout=30) as client, grpc.insecure_channel(server.target) as channel:
        before = state_of(client)
        for name, rows in sorted(BATCH_LIMITS.items()):
            for path, limit in rows:
                body = oversized(methods[name], path, limit + 1)
                started = time.perf_counter()
                with pytest.raises(grpc.RpcError) as err:
                    if methods[name].server_streaming:
                        list(channel.unary_stream(name, None, None)(body, timeout=30))
                    else:
                        channel.unary_unary(name, None, None)(body, timeout=30)
                assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (name, path, err.value.details())
                assert err.value.details() == f"{path}={limit + 1}: at most {limit:,} per call"
                # refused on arrival: no servicer work (the client's serialising is most of the time)
                assert time.perf_counter() - started < 5
        # one at the limit is not refused by the edge
        ok = client.get_availability([f"SKU-{i}" for i in range(10_000)], channel="web")
        assert len(ok.skus) == 10_000
        assert state_of(client) == before


def test_client_errors_name_the_field(server: ServerThread) -> None:
    with Client(server.target) as c, pytest.raises(ServiceError) as err:
        c.reserve("r-big", "web", [("SKU-1", 1)] * 501)
    assert err.value.status is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.field == "lines" and "at most 500 per call" in err.value.message


# ---------------------------------------------------------------------------------------------- streams
def opened(client: Client) -> Watch:
    """A watch that is established (its first message, the initial state, has arrived)."""
    watch = client.watch_availability(["SKU-1"], channel="web", include_initial=True)
    next(watch)
    return watch


def refused(fn: Any) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        fn()
    return err.value


def eventually_opens(client: Client, seconds: float = 10.0) -> Watch:
    """The server frees a slot when it sees the cancellation, a moment after the client sent it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return opened(client)
        except ServiceError as err:
            if err.status is not grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_open_streams_per_token(tmp_path: Path) -> None:
    tokens = {name: generate_token() for name in ("feeds", "alerts")}
    (tmp_path / "t.toml").write_text(
        "".join(tokens_file_entry(n, [Role.READ], hash_token(t)) for n, t in tokens.items())
    )
    srv = ServerThread(with_config(auth_tokens=tmp_path / "t.toml", max_streams_per_caller=2)).start()
    try:
        with Client(srv.target, token=tokens["feeds"]) as feeds, Client(srv.target, token=tokens["alerts"]) as alerts:
            first, second = opened(feeds), opened(feeds)
            err = refused(lambda: opened(feeds))
            assert err.status is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "'feeds' already has 2 open streams" in err.message and "--max-streams-per-caller" in err.message
            # the feed export counts too; unary calls do not
            assert refused(lambda: list(feeds.export_local_inventory())).status is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert feeds.get_availability(["SKU-1"], channel="web")["SKU-1"] == 92
            # another caller has its own count
            other = opened(alerts)
            first.cancel()
            third = eventually_opens(feeds)
            for w in (second, third, other):
                w.cancel()
            # a finished export gives its slot back
            eventually_opens(feeds).cancel()
            assert sum(len(c) for c in feeds.export_local_inventory()) > 0
    finally:
        srv.stop()


def test_open_streams_per_client_address_without_tokens() -> None:
    srv = ServerThread(with_config(max_streams_per_caller=1)).start()
    try:
        with Client(srv.target) as a, Client(srv.target) as b:
            watch = opened(a)
            # another connection from the same host is the same caller
            err = refused(lambda: opened(b))
            assert err.status is grpc.StatusCode.RESOURCE_EXHAUSTED and "ipv4:127.0.0.1" in err.message
            watch.cancel()
            eventually_opens(b).cancel()
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------- deadlines
def test_the_default_deadline_applies_only_when_the_client_sets_none() -> None:
    srv = ServerThread(with_config(default_deadline_seconds=0.3)).start()
    try:
        with grpc.insecure_channel(srv.target) as channel:
            stub = channel.unary_unary(
                "/omniroute.v1.AvailabilityService/GetAvailability",
                apb.GetAvailabilityRequest.SerializeToString,
                apb.GetAvailabilityResponse.FromString,
            )
            # read-your-writes for a sequence that never comes: the server would wait up to 1 s
            waits = apb.GetAvailabilityRequest(skus=["SKU-1"], channel="web", min_sequence=10**9)
            started = time.perf_counter()
            with pytest.raises(grpc.RpcError) as err:
                stub(waits)
            assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert "server's default of 0.3 s" in (err.value.details() or "")
            assert time.perf_counter() - started < 0.9
            # with its own deadline the client gets the servicer's answer after its wait, not the default
            with pytest.raises(grpc.RpcError) as err:
                stub(waits, timeout=5)
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
            assert stub(apb.GetAvailabilityRequest(skus=["SKU-1"], channel="web")).quantity == [92]
        with Client(srv.target, timeout=5) as c:  # a watch is a stream: no default deadline
            watch = opened(c)
            time.sleep(0.5)
            watch.cancel()
    finally:
        srv.stop()
    off = ServerThread(with_config(default_deadline_seconds=0)).start()
    try:
        with grpc.insecure_channel(off.target) as channel:
            stub = channel.unary_unary(
                "/omniroute.v1.AvailabilityService/GetAvailability",
                apb.GetAvailabilityRequest.SerializeToString,
                apb.GetAvailabilityResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as err:
                stub(apb.GetAvailabilityRequest(skus=["SKU-1"], channel="web", min_sequence=10**9))
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE  # no default: the servicer's own bound
    finally:
        off.stop()
