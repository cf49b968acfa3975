"""Who may call what: bearer tokens, stored only as hashes, their roles, and the one method -> role table.

A caller sends `authorization: Bearer <token>` in its gRPC metadata. The server keeps only the SHA-256 of
each token (a tokens file, `serve --auth-tokens`), hashes what a caller presents and compares it with every
configured hash in constant time. Roles are cumulative: `write` includes `read`, `admin` includes both.

Why SHA-256 and not a slow hash (scrypt, PBKDF2): slow hashes exist to protect low-entropy secrets such as
passwords from guessing. Tokens made by `omniroute token` carry 256 random bits, so no amount of guessing
inverts their hash, and a slow hash would cost milliseconds on every call of the checkout hot path (or a
cache of verified tokens in memory, which is the secret again).

This module imports grpc and the standard library only: the client SDK uses its client half
(`BearerToken`) without pulling in the engine.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import grpc

METADATA_KEY: Final = "authorization"
SCHEME: Final = "bearer"
# A recognisable prefix lets secret scanners (and people) spot a leaked omniroute token.
TOKEN_PREFIX: Final = "omr_"
TOKEN_BYTES: Final = 32
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class Role(IntEnum):
    """Ordered: a token's role allows every method whose required role is at most its own."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


_V1 = "/omniroute.v1."
R, W, A = Role.READ, Role.WRITE, Role.ADMIN

# THE table: every RPC of every omniroute service and the least role that may call it. A method missing
# here stops the server at start-up (omniroute.edge.check_role_table) and fails
# tests/omniroute/test_auth.py, so a new RPC cannot ship without a decision. Rules of thumb:
#   read  - answers from the read model and changes nothing (product pages, feed builders, dashboards);
#   write - changes stock or holds on the checkout / order-management path;
#   admin - replaces or reconfigures the picture (snapshots, safety stock, ring-fences, locations) or
#           walks the whole ledger (reconcile).
ROLE_OF_METHOD: Final[Mapping[str, Role]] = {
    _V1 + "AvailabilityService/GetAvailability": R,
    _V1 + "AvailabilityService/FindNearbyStores": R,
    _V1 + "AvailabilityService/WatchAvailability": R,
    _V1 + "AvailabilityService/ExportLocalInventory": R,
    _V1 + "DiagnosticsService/Ping": R,
    _V1 + "DiagnosticsService/GetServerInfo": R,
    _V1 + "InventoryService/GetPositions": R,
    _V1 + "InventoryService/ApplyStockEvents": W,
    _V1 + "InventoryService/LoadSnapshot": A,
    _V1 + "InventoryService/SetSafetyStock": A,
    _V1 + "InventoryService/SetAllocations": A,
    _V1 + "InventoryService/UpsertLocations": A,
    # reading a reservation changes nothing and shows no more than GetPositions' reserved counts
    _V1 + "ReservationService/GetReservation": R,
    _V1 + "ReservationService/Reserve": W,
    _V1 + "ReservationService/Confirm": W,
    _V1 + "ReservationService/Extend": W,
    _V1 + "ReservationService/Release": W,
    _V1 + "ReservationService/Fulfill": W,
    _V1 + "AdminService/Reconcile": A,
    # RouteOrder may hold the plan (hold=true): the role is decided from the method alone, before the
    # request is read, so the whole method is write rather than splitting the rule across two places.
    _V1 + "RoutingService/RouteOrder": W,
    # no holds, but up to 50,000 orders of solver time per call: not for read-only callers
    _V1 + "RoutingService/RouteOrders": W,
    _V1 + "RoutingService/Reroute": W,
    _V1 + "RoutingService/QuoteFulfillmentOptions": R,
}

# Answered without a token. Health: load balancers and kubelets probe it without credentials, and it
# tells only SERVING or not. Reflection: it describes the schema, which is public (proto/), so that
# grpcurl and debuggers work; every call they then make is checked like any other.
OPEN_SERVICES: Final = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


def required_role(method: str) -> Role | None:
    """The least role that may call `method` ("/package.Service/Method"); None: open to everyone.
    A method in neither the table nor an open service needs admin: unknown means closed."""
    role = ROLE_OF_METHOD.get(method)
    if role is not None:
        return role
    service = method[1:].partition("/")[0]
    return None if service in OPEN_SERVICES else Role.ADMIN


def missing_roles(methods: Iterable[str]) -> list[str]:
    """The methods ("/package.Service/Method") of omniroute's own services that have no row in the table."""
    return sorted(m for m in methods if m not in ROLE_OF_METHOD and required_role(m) is not None)


def service_methods(service_descriptors: Iterable[Any]) -> list[str]:
    """Every "/package.Service/Method" of the given protobuf ServiceDescriptors."""
    return [f"/{s.full_name}/{m.name}" for s in service_descriptors for m in s.methods]


# ---------------------------------------------------------------------------------------------- tokens
class TokensFileError(ValueError):
    """The tokens file cannot be used; the message names the file and the entry (never a secret)."""


@dataclass(frozen=True, slots=True)
class TokenEntry:
    name: str
    digest: bytes  # SHA-256 of the token
    role: Role  # the highest of the entry's roles (they are cumulative)

    def __repr__(self) -> str:
        # the digest is no secret, but nothing about a token needs to reach a log line
        return f"TokenEntry(name={self.name!r}, role={self.role.label})"


def hash_token(token: str) -> str:
    """The hex SHA-256 that the tokens file stores for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def tokens_file_entry(name: str, roles: Sequence[Role], digest: str) -> str:
    """The TOML lines of one token in the tokens file."""
    shown = ", ".join(f'"{r.label}"' for r in sorted(set(roles)))
    return f'[[token]]\nname = "{name}"\nsha256 = "{digest}"\nroles = [{shown}]\n'


def role_of(text: str) -> Role:
    try:
        return Role[text.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown role {text!r}: one of read, write, admin") from None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


class TokenTable:
    """The configured tokens. `authenticate` hashes the presented token once and compares the digest with
    every entry (no early exit), so its time does not depend on which entry, or how much of one, matched."""

    def __init__(self, entries: Sequence[TokenEntry], source: str = "") -> None:
        self.entries = tuple(entries)
        self.source = source

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    def authenticate(self, token: str) -> TokenEntry | None:
        digest = hashlib.sha256(token.encode()).digest()
        found: TokenEntry | None = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found


def load_tokens(path: Path) -> TokenTable:
    """Read a tokens file:

    [[token]]
    name = "checkout"                # who: shown in logs and errors, used for the stream cap
    sha256 = "<64 hex digits>"       # `omniroute token` prints it; the token itself is not stored
    roles = ["write"]                # read, write, admin (cumulative)
    """
    where = f"tokens file {path}"
    try:
        data = tomllib.loads(path.read_text())
    except OSError as err:
        raise TokensFileError(f"{where}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        # the parser's message quotes no values, only positions
        raise TokensFileError(f"{where}: not valid TOML: {err}") from None
    unknown = sorted(set(data) - {"token"})
    if unknown:
        raise TokensFileError(f"{where}: unknown key(s) {', '.join(unknown)} (expected [[token]] entries)")
    raw = data.get("token", [])
    if not isinstance(raw, list) or not raw:
        raise TokensFileError(
            f"{where}: no [[token]] entries; every call would be refused (leave out --auth-tokens to turn "
            "authentication off)"
        )
    entries: list[TokenEntry] = []
    names: set[str] = set()
    digests: set[bytes] = set()
    for i, item in enumerate(raw):
        at = f"{where}: token[{i}]"
        if not isinstance(item, dict):
            raise TokensFileError(f"{at}: expected a table with name, sha256 and roles")
        extra = sorted(set(item) - {"name", "sha256", "roles"})
        if extra:
            slow_hash = any("hash" in k or "crypt" in k or "pbkdf" in k for k in extra)
            hint = " (tokens are stored as sha256 hashes only)" if slow_hash else ""
            raise TokensFileError(f"{at}: unknown key(s) {', '.join(extra)}{hint}")
        try:
            name = check_name(item.get("name", ""))
        except ValueError as err:
            raise TokensFileError(f"{at}: {err}") from None
        at = f"{where}: token[{i}] ({name})"
        digest_hex = item.get("sha256")
        if not isinstance(digest_hex, str) or not _HEX64.fullmatch(digest_hex):
            raise TokensFileError(f"{at}: sha256 must be 64 hex digits (the hash `omniroute token` prints)")
        roles_raw = item.get("roles")
        if not isinstance(roles_raw, list) or not roles_raw or not all(isinstance(r, str) for r in roles_raw):
            raise TokensFileError(f'{at}: roles must be a non-empty list such as ["read"]')
        try:
            roles = [role_of(r) for r in roles_raw]
        except ValueError as err:
            raise TokensFileError(f"{at}: {err}") from None
        if name in names:
            raise TokensFileError(f"{at}: the name is used twice (give each caller its own name)")
        digest = bytes.fromhex(digest_hex)
        if digest in digests:
            raise TokensFileError(f"{at}: the same hash appears twice")
        names.add(name)
        digests.add(digest)
        entries.append(TokenEntry(name, digest, max(roles)))
    return TokenTable(entries, str(path))


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> tuple[str | None, str]:
    """(the token, "") from `authorization: Bearer <token>`, or (None, why not) - the reason never quotes
    what was sent."""
    found: list[str | bytes] = [v for k, v in (metadata or ()) if k == METADATA_KEY]
    if not found:
        return None, "no credentials: send 'authorization: Bearer <token>' in the call's metadata"
    if len(found) > 1:
        return None, "more than one authorization header"
    value = found[0]
    if not isinstance(value, str):
        return None, "the authorization header is not text"
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != SCHEME or not token.strip():
        return None, "the authorization header must read 'Bearer <token>'"
    return token.strip(), ""


# ---------------------------------------------------------------------------------------------- client
class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


# grpc's classes are generic only in the type stubs (grpc-stubs)
if TYPE_CHECKING:
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = grpc.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = grpc.StreamStreamClientInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.UnaryStreamClientInterceptor
    _StreamUnary = grpc.StreamUnaryClientInterceptor
    _StreamStream = grpc.StreamStreamClientInterceptor


class BearerToken(_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream):
    """Adds `authorization: Bearer <token>` to every call of a channel. An interceptor rather than gRPC's
    call credentials, which refuse plaintext channels: a sidecar on a Unix socket or loopback still wants
    its token checked."""

    def __init__(self, token: str) -> None:
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise ValueError("the token must be non-empty, without spaces")
        self._header = (METADATA_KEY, f"Bearer {token}")

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(d.metadata or ()), self._header]
        return _CallDetails(
            d.method,
            d.timeout,
            metadata,
            d.credentials,
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)
