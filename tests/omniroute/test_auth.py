"""Bearer tokens and roles (omniroute.auth, omniroute.edge): a real server on port 0 with a tokens file of
one token per role; every RPC of every service against every role; refused calls change nothing; the
token never reaches a log line; health and reflection stay open."""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import omniroute.auth as auth
import omniroute.v1
from omniroute.auth import (
    OPEN_SERVICES,
    ROLE_OF_METHOD,
    Role,
    TokensFileError,
    generate_token,
    hash_token,
    load_tokens,
    required_role,
    tokens_file_entry,
)
from omniroute.cli import main
from omniroute.client import (
    Allocation,
    Client,
    LocationSpec,
    Order,
    SafetyStock,
    ServiceError,
    StockEvent,
)
from omniroute.config import ConfigError, ServerConfig
from omniroute.edge import EdgeError, check_role_table, peer_host
from omniroute.server import SERVICE_NAMES, ServerError

from .fixtures import BOSTON, ServerThread, now_ms, state_of, with_config

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED


@dataclass(frozen=True)
class Tokens:
    path: Path
    read: str
    write: str
    admin: str

    def of(self, role: str | None) -> str | None:
        return None if role is None else str(getattr(self, role))


def write_tokens_file(directory: Path) -> Tokens:
    secrets = {r: generate_token() for r in ("read", "write", "admin")}
    text = "".join(
        tokens_file_entry(f"{r}-caller", [Role[r.upper()]], hash_token(t)) + "\n" for r, t in secrets.items()
    )
    path = directory / "tokens.toml"
    path.write_text(text)
    return Tokens(path, **secrets)


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return write_tokens_file(tmp_path)


@pytest.fixture
def secured(tokens: Tokens) -> Iterator[ServerThread]:
    srv = ServerThread(with_config(auth_tokens=tokens.path)).start()
    try:
        yield srv
    finally:
        srv.stop()


def connect(srv: ServerThread, token: str | None) -> Client:
    return Client(srv.target, timeout=10.0, token=token)


def fails(fn: Callable[[], Any]) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        fn()
    return err.value


# ---------------------------------------------------------------------------------------------- the table
def all_services() -> list[Any]:
    """Every service declared in omniroute/v1, found from the generated modules, not from the server: a
    new service or RPC shows up here whether or not anyone remembered to register it anywhere."""
    found = []
    for info in pkgutil.iter_modules(omniroute.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"omniroute.v1.{info.name}")
            found.extend(module.DESCRIPTOR.services_by_name.values())
    return found


def test_every_rpc_of_every_service_has_a_role() -> None:
    methods = {f"/{s.full_name}/{m.name}" for s in all_services() for m in s.methods}
    assert len(methods) >= 23
    missing = sorted(methods - set(ROLE_OF_METHOD))
    assert not missing, f"add a role for each to omniroute.auth.ROLE_OF_METHOD: {missing}"
    stale = sorted(set(ROLE_OF_METHOD) - methods)
    assert not stale, f"rows for RPCs that no longer exist: {stale}"
    # and the server serves every declared service, so none escapes the start-up check either
    assert {s.full_name for s in all_services()} == set(SERVICE_NAMES)


def test_the_server_refuses_to_start_with_an_rpc_without_a_role(monkeypatch: pytest.MonkeyPatch) -> None:
    method = "/omniroute.v1.ReservationService/Reserve"
    monkeypatch.delitem(auth.ROLE_OF_METHOD, method)
    with pytest.raises(EdgeError, match="ReservationService/Reserve"):
        check_role_table(SERVICE_NAMES)
    srv = ServerThread()
    try:
        with pytest.raises(ServerError, match=r"no role for /omniroute\.v1\.ReservationService/Reserve"):
            srv.start()
    finally:
        srv.stop()


def test_role_decisions() -> None:
    assert required_role("/omniroute.v1.AvailabilityService/GetAvailability") is Role.READ
    assert required_role("/omniroute.v1.ReservationService/Reserve") is Role.WRITE
    assert required_role("/omniroute.v1.InventoryService/LoadSnapshot") is Role.ADMIN
    assert required_role("/grpc.health.v1.Health/Check") is None
    assert required_role("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is None
    # not in the table and not open: closed
    assert required_role("/omniroute.v1.Unknown/Method") is Role.ADMIN
    assert Role.READ < Role.WRITE < Role.ADMIN


# ---------------------------------------------------------------------------------------------- every RPC
def _raw_call(channel: grpc.Channel, method: str, token: str | None) -> grpc.StatusCode:
    """Call `method` with an empty request (bytes: no stub needed) and return the status code."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    streaming = method.endswith(("WatchAvailability", "ExportLocalInventory"))
    try:
        if streaming:
            call: Any = channel.unary_stream(method, None, None)(b"", timeout=5, metadata=metadata)
            for _ in call:
                break
            call.cancel()
        else:
            channel.unary_unary(method, None, None)(b"", timeout=5, metadata=metadata)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_every_rpc_against_every_role(secured: ServerThread, tokens: Tokens) -> None:
    """Each of the 23 RPCs, called by nobody, a stranger and each role: refused exactly below its role.
    What an allowed call answers (often INVALID_ARGUMENT for an empty request) does not matter here."""
    stranger = generate_token()
    with grpc.insecure_channel(secured.target) as channel:
        for method, need in sorted(ROLE_OF_METHOD.items()):
            assert _raw_call(channel, method, None) is UNAUTHENTICATED, method
            assert _raw_call(channel, method, stranger) is UNAUTHENTICATED, method
            for role in Role:
                code = _raw_call(channel, method, tokens.of(role.label))
                if role < need:
                    assert code is DENIED, (method, role)
                else:
                    assert code not in (UNAUTHENTICATED, DENIED), (method, role, code)


def test_a_method_of_each_class_with_each_role(secured: ServerThread, tokens: Tokens) -> None:
    calls: dict[Role, Callable[[Client], Any]] = {
        Role.READ: lambda c: c.get_availability(["SKU-1"], channel="web"),
        Role.WRITE: lambda c: c.apply_stock_events(
            [StockEvent(f"ev-{now_ms()}-{id(c)}", "receipt", "S-BOS", "SKU-1", 1, now_ms())]
        ),
        Role.ADMIN: lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 2)]),
    }
    for caller in Role:
        with connect(secured, tokens.of(caller.label)) as c:
            for need, call in calls.items():
                if caller >= need:
                    call(c)
                else:
                    err = fails(lambda call=call, c=c: call(c))  # type: ignore[misc]
                    assert err.status is DENIED
                    assert err.reason == "PERMISSION_DENIED"
                    assert f"{caller.label}-caller" in err.message and f"the {need.label} role" in err.message
    with connect(secured, None) as c:
        err = fails(lambda: c.get_availability(["SKU-1"], channel="web"))
        assert err.status is UNAUTHENTICATED and err.reason == "UNAUTHENTICATED"
        assert "authorization: Bearer" in err.message
    # streams are checked like unary calls
    with connect(secured, None) as c:
        assert fails(lambda: list(c.export_local_inventory())).status is UNAUTHENTICATED
    with connect(secured, tokens.read) as c:
        assert sum(len(chunk) for chunk in c.export_local_inventory()) > 0


def test_wrong_and_malformed_credentials(secured: ServerThread, tokens: Tokens) -> None:
    stubs = grpc.insecure_channel(secured.target)
    ping = stubs.unary_unary("/omniroute.v1.DiagnosticsService/Ping", None, None)
    cases: dict[str, tuple[tuple[str, str | bytes], ...]] = {
        "unknown token": (("authorization", "Bearer " + generate_token()),),
        "basic scheme": (("authorization", "Basic " + tokens.read),),
        "no token": (("authorization", "Bearer "),),
        "the hash, not the token": (("authorization", "Bearer " + hash_token(tokens.read)),),
        "two headers": (("authorization", "Bearer " + tokens.read), ("authorization", "Bearer " + tokens.read)),
        "token with a character more": (("authorization", "Bearer " + tokens.read + "x"),),
    }
    for case, metadata in cases.items():
        with pytest.raises(grpc.RpcError) as err:
            ping(b"", timeout=5, metadata=metadata)
        assert err.value.code() is UNAUTHENTICATED, case
        assert tokens.read not in (err.value.details() or ""), case
    ping(b"", timeout=5, metadata=(("authorization", "bearer  " + tokens.read + " "),))  # scheme is case-blind
    stubs.close()


def test_refused_writes_change_nothing(secured: ServerThread, tokens: Tokens) -> None:
    """Every write a read token (and every admin write a write token) tries: refused, and the state the
    API shows - positions, ring-fences, catalogue, ledger sequence, reservations - is exactly as before."""
    order = Order("o-refused", "web", [("SKU-1", 1)], destination=BOSTON, placed_at=datetime.now(UTC))
    writes: dict[str, Callable[[Client], Any]] = {
        "ApplyStockEvents": lambda c: c.apply_stock_events(
            [StockEvent("ev-refused", "receipt", "S-BOS", "SKU-1", 50, now_ms())]
        ),
        "Reserve": lambda c: c.reserve("r-refused", "web", [("SKU-1", 2)]),
        "RouteOrder hold": lambda c: c.route_order(order, hold=True),
    }
    admin_writes: dict[str, Callable[[Client], Any]] = {
        "SetSafetyStock": lambda c: c.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 4)]),
        "SetAllocations": lambda c: c.set_allocations([Allocation("SKU-1", "pos", 3)]),
        "UpsertLocations": lambda c: c.upsert_locations([LocationSpec("S-NEW", "store", 42.0, -71.0)]),
        "LoadSnapshot": lambda c: c.load_snapshot("/nonexistent"),
        "Reconcile repair": lambda c: c.reconcile(repair=True),
    }
    with connect(secured, tokens.admin) as admin:
        before = state_of(admin)
        for token, attempts in (
            (tokens.read, {**writes, **admin_writes}),
            (tokens.write, admin_writes),
            (None, {**writes, **admin_writes}),
        ):
            with connect(secured, token) as c:
                for name, attempt in attempts.items():
                    err = fails(lambda attempt=attempt, c=c: attempt(c))  # type: ignore[misc]
                    assert err.status is (DENIED if token else UNAUTHENTICATED), name
        assert state_of(admin) == before
        for rid in ("r-refused", "o-refused"):
            assert fails(lambda rid=rid: admin.get_reservation(rid)).status is grpc.StatusCode.NOT_FOUND  # type: ignore[misc]
        # the same writes with enough rights do change the state: the comparison above can see them
        admin.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 4)])
        assert state_of(admin) != before


def test_health_and_reflection_stay_open(secured: ServerThread) -> None:
    with connect(secured, None) as c:
        assert c.health() == "SERVING"
        assert c.health("omniroute.v1.AvailabilityService") == "SERVING"
        stub = reflection_pb2_grpc.ServerReflectionStub(c.channel)
        answers = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        listed = {s.name for s in answers[0].list_services_response.service}
        assert set(SERVICE_NAMES) <= listed and "grpc.health.v1.Health" in listed
    assert "grpc.health.v1.Health" in OPEN_SERVICES


def test_tokens_never_reach_the_log(tokens: Tokens, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    srv = ServerThread(with_config(auth_tokens=tokens.path)).start()
    stranger = generate_token()
    try:
        for token in (tokens.read, tokens.write, tokens.admin, stranger, None):
            with connect(srv, token) as c:
                for call in (
                    lambda c=c: c.get_availability(["SKU-1"], channel="web"),
                    lambda c=c: c.reserve("r-log", "web", [("SKU-1", 1)]),
                    lambda c=c: c.reconcile(),
                ):
                    with contextlib.suppress(ServiceError):
                        call()  # type: ignore[no-untyped-call]
    finally:
        srv.stop()
    text = caplog.text
    for secret in (tokens.read, tokens.write, tokens.admin, stranger):
        assert secret not in text
        assert secret[len(auth.TOKEN_PREFIX) :][:12] not in text
    # what is logged: that authentication is on, and who was refused what
    assert "authentication on: 3 tokens" in text
    assert "PERMISSION_DENIED /omniroute.v1.ReservationService/Reserve from read-caller" in text
    assert "UNAUTHENTICATED /omniroute.v1.AvailabilityService/GetAvailability from ipv" in text


def test_refusals_are_logged_once_a_minute_per_caller_and_method(
    secured: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omniroute.edge")
    with connect(secured, None) as c:
        for _ in range(20):
            fails(lambda: c.ping())
    assert caplog.text.count("UNAUTHENTICATED /omniroute.v1.DiagnosticsService/Ping") == 1


def test_auth_is_off_by_default_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="omniroute.edge")
    srv = ServerThread().start()
    try:
        with Client(srv.target) as c:
            c.reserve("r-open", "web", [("SKU-1", 1)])  # no token needed
        with Client(srv.target, token=generate_token()) as c:
            c.ping()  # a token sent to a server without tokens is ignored
    finally:
        srv.stop()
    assert "authentication is OFF (no --auth-tokens)" in caplog.text
    public = ServerThread(with_config(host="0.0.0.0"))
    caplog.clear()
    public.start()
    public.stop()
    assert any(
        r.levelno == logging.WARNING and "reachable from other hosts" in r.getMessage() for r in caplog.records
    )


# ---------------------------------------------------------------------------------------------- the file
def test_token_command_prints_a_token_and_its_entry(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["token", "--name", "feed-builder", "--role", "read"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    token = lines[1]
    assert token.startswith(auth.TOKEN_PREFIX) and len(token) > 40
    entry = "\n".join(line for line in lines if not line.startswith("#") and line != token)
    (tmp_path / "tokens.toml").write_text(entry)
    table = load_tokens(tmp_path / "tokens.toml")
    found = table.authenticate(token)
    assert found is not None and found.name == "feed-builder" and found.role is Role.READ
    assert token not in entry
    again = CliRunner().invoke(main, ["token", "--name", "feed-builder", "--role", "read"])
    assert again.output.splitlines()[1] != token  # random every time
    bad = CliRunner().invoke(main, ["token", "--name", "has space", "--role", "read"])
    assert bad.exit_code == 2 and "--name" in bad.output


def test_roles_are_cumulative_in_the_file(tmp_path: Path) -> None:
    token = generate_token()
    path = tmp_path / "t.toml"
    path.write_text(f'[[token]]\nname = "ops"\nsha256 = "{hash_token(token).upper()}"\nroles = ["read", "admin"]\n')
    found = load_tokens(path).authenticate(token)
    assert found is not None and found.role is Role.ADMIN
    assert "sha256" not in repr(found) and token not in repr(found)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[token]] entries"),
        ("[[token]\n", "not valid TOML"),
        ('tokens = 1\n', "unknown key(s) tokens"),
        ('[[token]]\nname = "a"\nsha256 = "abc"\nroles = ["read"]\n', "sha256 must be 64 hex digits"),
        ('[[token]]\nname = "a"\nsha256 = "' + "0" * 64 + '"\nroles = ["root"]\n', "unknown role 'root'"),
        ('[[token]]\nname = "a"\nsha256 = "' + "0" * 64 + '"\nroles = []\n', "roles must be a non-empty list"),
        ('[[token]]\nname = "a b"\nsha256 = "' + "0" * 64 + '"\nroles = ["read"]\n', "token[0]: name 'a b'"),
        ('[[token]]\nname = "a"\nscrypt = "x"\nroles = ["read"]\n', "stored as sha256 hashes only"),
        ('[[token]]\nname = "a"\ntoken = "omr_x"\nroles = ["read"]\n', "unknown key(s) token"),
        (
            '[[token]]\nname = "a"\nsha256 = "' + "0" * 64 + '"\nroles = ["read"]\n'
            '[[token]]\nname = "a"\nsha256 = "' + "1" * 64 + '"\nroles = ["read"]\n',
            "token[1] (a): the name is used twice",
        ),
        (
            '[[token]]\nname = "a"\nsha256 = "' + "0" * 64 + '"\nroles = ["read"]\n'
            '[[token]]\nname = "b"\nsha256 = "' + "0" * 64 + '"\nroles = ["read"]\n',
            "the same hash appears twice",
        ),
    ],
)
def test_a_bad_tokens_file_is_refused_with_the_entry_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(TokensFileError) as err:
        load_tokens(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_bad_tokens_file_stops_the_server_and_serve(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    srv = ServerThread(with_config(auth_tokens=missing))
    try:
        with pytest.raises(ServerError, match=r"nope\.toml"):
            srv.start()
    finally:
        srv.stop()
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--auth-tokens", str(missing)])
    assert result.exit_code == 2 and "nope.toml" in result.output
    env = ServerConfig.load({}, {"OMNIROUTE_AUTH_TOKENS": str(missing)})
    assert env.auth_tokens == missing


def test_client_refuses_a_token_with_spaces() -> None:
    with pytest.raises(ValueError, match="without spaces"):
        Client("127.0.0.1:1", token="two words")
    assert "omr_" not in repr(auth.BearerToken(generate_token()))


def test_cli_sends_the_token_from_the_flag_or_the_variable(secured: ServerThread, tokens: Tokens) -> None:
    runner = CliRunner()
    args = ["availability", "SKU-1", "--target", secured.target]
    refused = runner.invoke(main, args, env={"OMNIROUTE_TOKEN": ""})
    assert refused.exit_code == 1 and "UNAUTHENTICATED" in refused.output
    assert runner.invoke(main, [*args, "--token", tokens.read]).exit_code == 0
    by_env = runner.invoke(main, args, env={"OMNIROUTE_TOKEN": tokens.read})
    assert by_env.exit_code == 0, by_env.output
    denied = runner.invoke(main, ["reconcile", "--target", secured.target], env={"OMNIROUTE_TOKEN": tokens.write})
    assert denied.exit_code == 1 and "PERMISSION_DENIED" in denied.output and "admin" in denied.output
    assert tokens.write not in denied.output
    help_text = runner.invoke(main, ["availability", "--help"], env={"OMNIROUTE_TOKEN": tokens.read}).output
    assert "$OMNIROUTE_TOKEN" in help_text and tokens.read not in help_text


# ---------------------------------------------------------------------------------------------- config
def test_security_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="go together"):
        ServerConfig(tls_cert=Path("c.pem"))
    with pytest.raises(ConfigError, match="go together"):
        ServerConfig(tls_key=Path("k.pem"))
    with pytest.raises(ConfigError, match="mutual TLS needs"):
        ServerConfig(tls_client_ca=Path("ca.pem"))
    with pytest.raises(ConfigError, match="OMNIROUTE_MAX_STREAMS_PER_CALLER"):
        ServerConfig.load({}, {"OMNIROUTE_MAX_STREAMS_PER_CALLER": "0"})
    with pytest.raises(ConfigError, match="--default-deadline-seconds"):
        ServerConfig.load({"default_deadline_seconds": "-1"}, {})
    assert ServerConfig.load({}, {"OMNIROUTE_DEFAULT_DEADLINE_SECONDS": "0"}).default_deadline_seconds == 0


def test_peer_host_drops_the_port() -> None:
    assert peer_host("ipv4:10.0.0.7:51234") == "ipv4:10.0.0.7"
    assert peer_host("ipv6:[::1]:51234") == "ipv6:[::1]"
    assert peer_host("unix:/tmp/s.sock") == "unix:/tmp/s.sock"
