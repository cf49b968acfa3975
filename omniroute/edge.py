"""The gRPC edge: who may call what, how many streams a caller may keep open, how long a call without a
deadline may run, and TLS on the port. Everything here happens before a servicer sees the call.

One server interceptor does the per-call part, so a call pays one interceptor hop, not four:
- authentication and roles (omniroute.auth): decided from the method name and the metadata alone, before
  the request is even parsed, so a refused call cannot change anything; UNAUTHENTICATED when no valid
  token came, PERMISSION_DENIED when the token's role is below the method's;
- batch sizes (omniroute.limits): every repeated field of the request against its limit, as soon as it is
  parsed and before any servicer code runs: INVALID_ARGUMENT naming the field;
- a cap on the long-lived streams (WatchAvailability, ExportLocalInventory) one caller holds at once -
  per token name when authentication is on, else per client address - answered RESOURCE_EXHAUSTED (it is
  about the caller's streams, never about stock);
- a default deadline for unary calls whose client set none, so that no call waits forever on a stuck
  backend. Streams are exempt: a watch lives until its client cancels it (the stream cap bounds them).

- requests that are not valid protobuf: parsed here rather than by gRPC (whose deserializer failing
  answers UNKNOWN), so a malformed request answers INVALID_ARGUMENT like any other bad input.

Calls answered here are counted in the RPC metrics (omniroute.metrics) like the servicers' calls. The
allowed path returns a cached wrapper per method, so an authorised call costs a metadata scan, one
SHA-256 and a compare per configured token, and one Python call around the request's parsing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import grpc
import grpc.aio
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError

from availability.errors import InvalidArgument, OmnirouteError

from .auth import (
    OPEN_SERVICES,
    TokensFileError,
    TokenTable,
    bearer_token,
    load_tokens,
    missing_roles,
    required_role,
    service_methods,
)
from .config import ServerConfig
from .limits import checks_for, over_limit
from .status import PermissionDenied, Unauthenticated, status_of
from .tls import TlsError, server_credentials

log = logging.getLogger(__name__)

STREAM_METHODS: Final = frozenset(
    {
        "/omniroute.v1.AvailabilityService/WatchAvailability",
        "/omniroute.v1.AvailabilityService/ExportLocalInventory",
    }
)
# A refused caller retrying in a loop must not flood the log: one line per (outcome, method, caller) per
# interval, with the count of the ones left out.
LOG_INTERVAL_S: Final = 60.0
_LOG_KEYS_MAX: Final = 4096
# the services whose calls the RPC metrics count (not health, not reflection)
_COUNTED_PREFIX: Final = "/omniroute.v1."

# grpc's classes are generic only in the type stubs (grpc-stubs)
if TYPE_CHECKING:
    from .metrics import Metrics

    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.aio.ServerInterceptor
Ctx = grpc.aio.ServicerContext[Any, Any]


class EdgeError(ValueError):
    """The edge cannot be set up (a bad tokens or TLS file, an RPC without a role)."""


def peer_host(peer: str) -> str:
    """The client's address without its port: "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7". Every connection
    of one client host counts as one caller when there are no tokens."""
    if peer.startswith(("ipv4:", "ipv6:")):
        host, sep, port = peer.rpartition(":")
        if sep and port.isdigit():
            return host
    return peer


def malformed(method: str, err: DecodeError) -> InvalidArgument:
    """The answer to a request that is not valid protobuf for its method (cut short, a bad tag, a wrong
    wire type, invalid UTF-8 in a string): the caller's error, INVALID_ARGUMENT, never UNKNOWN."""
    return InvalidArgument("request", None, f"is not a valid request message for {method} ({err})")


class StreamLimiter:
    """Open streams per caller, in this process (each `serve --workers` process counts its own)."""

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._open: dict[str, int] = {}

    def acquire(self, caller: str) -> bool:
        n = self._open.get(caller, 0)
        if n >= self.per_caller:
            return False
        self._open[caller] = n + 1
        return True

    def release(self, caller: str) -> None:
        n = self._open.get(caller, 0) - 1
        if n > 0:
            self._open[caller] = n
        else:
            self._open.pop(caller, None)

    def open_streams(self, caller: str) -> int:
        return self._open.get(caller, 0)


class _Throttle:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._seen: dict[tuple[str, ...], list[float]] = {}  # key -> [last logged at, left out since]

    def admit(self, key: tuple[str, ...]) -> int | None:
        """None: stay quiet; else log now, mentioning this many left out since the last line."""
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            seen[1] += 1
            return None
        if len(self._seen) >= _LOG_KEYS_MAX:
            self._seen.clear()  # many distinct callers: forget old keys rather than grow without bound
        self._seen[key] = [now, 0.0]
        return int(seen[1]) if seen is not None else 0


class EdgeInterceptor(_ServerInterceptor):
    def __init__(
        self,
        *,
        tokens: TokenTable | None,
        streams_per_caller: int,
        default_deadline_s: float | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.tokens = tokens
        self.streams = StreamLimiter(streams_per_caller)
        self.default_deadline_s = default_deadline_s
        # calls answered here, before any servicer runs, are counted here (grpc_server_handled_total)
        self.metrics = metrics
        self._unary: dict[str, Handler] = {}
        self._throttle = _Throttle(LOG_INTERVAL_S)

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]], details: Any
    ) -> Handler:
        handler: Handler | None = await continuation(details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED
            return None  # type: ignore[return-value]  # the stubs say never None; gRPC allows it
        method: str = details.method
        caller = ""
        tokens = self.tokens
        if tokens is not None:
            need = required_role(method)
            if need is not None:
                token, why = bearer_token(details.invocation_metadata)
                entry = tokens.authenticate(token) if token is not None else None
                if entry is None:
                    return self._refuse(handler, method, "", Unauthenticated(why or "unknown token"))
                if entry.role < need:
                    return self._refuse(
                        handler,
                        method,
                        entry.name,
                        PermissionDenied(
                            f"token {entry.name!r} ({entry.role.label}) may not call {method}: it needs "
                            f"the {need.label} role",
                            method=method,
                            required=need.label,
                        ),
                    )
                caller = entry.name
        if method in STREAM_METHODS:
            return self._capped(handler, method, caller)
        if handler.unary_unary is not None:
            wrapped = self._unary.get(method)
            if wrapped is None:
                wrapped = self._unary[method] = self._guarded(handler, method)
            return wrapped
        return handler

    # ------------------------------------------------------------------ refusals
    def _refuse(self, handler: Handler, method: str, who: str, err: OmnirouteError) -> Handler:
        code, message, trailers = status_of(err)
        log_refusal = self._log_refusal
        count = self._count
        stream = handler.unary_stream is not None or handler.stream_stream is not None

        async def refuse(request: Any, context: Ctx) -> Any:
            count(method, code, time.perf_counter(), stream=stream)
            log_refusal(code, method, who or peer_host(context.peer()), message)
            await context.abort(code, message, trailers)

        async def refuse_stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
            await refuse(request, context)
            yield None  # pragma: no cover - abort raises; the yield makes this a stream handler

        # no request deserializer: a refused request is never parsed
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(refuse)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(refuse_stream)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(refuse)
        return grpc.stream_stream_rpc_method_handler(refuse_stream)

    def _count(self, method: str, code: grpc.StatusCode, started: float, *, stream: bool = False) -> None:
        """Count a call answered here in the RPC metrics, as the servicers' calls are counted (omniroute
        services only: health and reflection are not in the RPC metrics)."""
        metrics = self.metrics
        if metrics is not None and method.startswith(_COUNTED_PREFIX):
            metrics.refused(method[1:], code, time.perf_counter() - started, stream=stream)

    async def _answer(self, context: Ctx, method: str, started: float, err: OmnirouteError, *, stream: bool) -> None:
        """Refuse the call with `err`'s status, counted."""
        code, message, trailers = status_of(err)
        self._count(method, code, started, stream=stream)
        await context.abort(code, message, trailers)

    def _log_refusal(self, code: grpc.StatusCode, method: str, who: str, message: str) -> None:
        left_out = self._throttle.admit((code.name, method, who))
        if left_out is None:
            return
        more = f" (+{left_out} like it in the last {LOG_INTERVAL_S:.0f} s)" if left_out else ""
        # the message names the token's owner, the method and the role; never the token
        log.warning("%s %s from %s: %s%s", code.name, method, who, message, more)

    # ------------------------------------------------------------------ streams
    def _capped(self, handler: Handler, method: str, caller: str) -> Handler:
        inner: Any = handler.unary_stream
        assert inner is not None, f"{method} is listed as a server stream"
        limiter = self.streams
        checks = checks_for(method)
        parse = handler.request_deserializer
        answer = self._answer

        async def stream(raw: Any, context: Ctx) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                request = parse(raw) if parse is not None else raw
            except DecodeError as err:
                await answer(context, method, started, malformed(method, err), stream=True)
            too_many = over_limit(request, checks)
            if too_many is not None:
                await answer(context, method, started, too_many, stream=True)
            key = caller or peer_host(context.peer())
            if not limiter.acquire(key):
                message = (
                    f"{key!r} already has {limiter.per_caller} open streams (WatchAvailability, "
                    "ExportLocalInventory); close one or raise --max-streams-per-caller"
                )
                self._log_refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, method, key, message)
                self._count(method, grpc.StatusCode.RESOURCE_EXHAUSTED, started, stream=True)
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                limiter.release(key)

        # the request arrives as bytes and is parsed above: a malformed one is INVALID_ARGUMENT, where
        # gRPC's own deserializer would answer UNKNOWN
        return grpc.unary_stream_rpc_method_handler(stream, response_serializer=handler.response_serializer)

    # ------------------------------------------------------------------ batch sizes, deadlines
    def _guarded(self, handler: Handler, method: str) -> Handler:
        """The unary handler with the request parsed here (a malformed one answers INVALID_ARGUMENT; gRPC's
        own deserializer would answer UNKNOWN), the method's batch limits (omniroute.limits) checked
        before any servicer code runs, and the default deadline applied when the client set none."""
        inner: Any = handler.unary_unary
        checks = checks_for(method)
        seconds = self.default_deadline_s
        parse = handler.request_deserializer
        answer = self._answer
        metrics_of = self._metrics_of

        async def call(raw: Any, context: Ctx) -> Any:
            started = time.perf_counter()
            try:
                request = parse(raw) if parse is not None else raw
            except DecodeError as err:
                await answer(context, method, started, malformed(method, err), stream=False)
            if checks:
                too_many = over_limit(request, checks)
                if too_many is not None:
                    await answer(context, method, started, too_many, stream=False)
            if seconds is None or context.time_remaining() is not None:
                # the client's deadline holds (gRPC enforces it), or there is no default
                return await inner(request, context)
            timeout = asyncio.timeout(seconds)
            try:
                async with timeout:
                    return await inner(request, context)
            except TimeoutError:
                if not timeout.expired():
                    raise
            # a write handed to a worker thread may still complete, exactly as when a client's own
            # deadline passes; its retry with the same ids is safe
            metrics = metrics_of(method)
            if metrics is not None:
                metrics.deadline_passed(method[1:])
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{method}: the call set no deadline and ran past the server's default of {seconds:g} s "
                "(set a deadline on the call)",
            )

        return handler._replace(  # type: ignore[attr-defined,no-any-return]
            unary_unary=call, request_deserializer=None
        )

    def _metrics_of(self, method: str) -> Metrics | None:
        return self.metrics if method.startswith(_COUNTED_PREFIX) else None


# ---------------------------------------------------------------------------------------------- set-up
@dataclass(frozen=True, slots=True)
class Edge:
    """What the server installs: its interceptors, and TLS credentials for the TCP port (None: plaintext)."""

    interceptors: tuple[_ServerInterceptor, ...]
    credentials: grpc.ServerCredentials | None
    tokens: TokenTable | None

    def count_into(self, metrics: Metrics | None) -> None:
        """Count the calls the edge answers itself in the server's RPC metrics (None: metrics off)."""
        for interceptor in self.interceptors:
            if isinstance(interceptor, EdgeInterceptor):
                interceptor.metrics = metrics


def check_role_table(service_names: Iterable[str]) -> None:
    """Every method of the served omniroute services has a role (start-up check; see omniroute.auth)."""
    pool = descriptor_pool.Default()  # type: ignore[no-untyped-call]
    missing = missing_roles(service_methods(pool.FindServiceByName(n) for n in service_names))
    if missing:
        raise EdgeError(
            f"no role for {', '.join(missing)}: add each to omniroute.auth.ROLE_OF_METHOD (read, write or admin)"
        )


def build_edge(config: ServerConfig, service_names: Iterable[str]) -> Edge:
    """The edge `config` asks for, its files read now (so a bad one stops the server at start-up)."""
    names = [n for n in service_names if n not in OPEN_SERVICES]
    check_role_table(names)
    try:
        tokens = load_tokens(config.auth_tokens) if config.auth_tokens is not None else None
        creds = None
        if config.tls_cert is not None and config.tls_key is not None:
            creds = server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
    except (TokensFileError, TlsError) as err:
        raise EdgeError(str(err)) from None
    interceptor = EdgeInterceptor(
        tokens=tokens,
        streams_per_caller=config.max_streams_per_caller,
        default_deadline_s=config.default_deadline_seconds or None,
    )
    return Edge((interceptor,), creds, tokens)


def log_edge(edge: Edge, config: ServerConfig, port: int | None) -> None:
    """Say how the port is protected: operators must be able to read it from the first lines."""
    if edge.tokens is None:
        exposed = port is not None and config.host not in ("127.0.0.1", "::1", "localhost")
        (log.warning if exposed else log.info)(
            "authentication is OFF (no --auth-tokens): every caller may call every RPC%s",
            f", and {config.host} is reachable from other hosts" if exposed else "",
        )
    else:
        log.info(
            "authentication on: %d tokens from %s (%s); health and reflection stay open",
            len(edge.tokens),
            edge.tokens.source,
            ", ".join(f"{e.name}: {e.role.label}" for e in edge.tokens.entries),
        )
    if port is not None:
        if edge.credentials is None:
            log.info("TCP port %d: plaintext (no --tls-cert)", port)
        elif config.tls_client_ca is not None:
            log.info("TCP port %d: mutual TLS (client certificates signed by %s required)", port, config.tls_client_ca)
        else:
            log.info("TCP port %d: TLS", port)
    log.info(
        "limits: %d MB per message, %d open streams per caller, default deadline %s",
        config.max_message_mb,
        config.max_streams_per_caller,
        f"{config.default_deadline_seconds:g} s" if config.default_deadline_seconds else "off",
    )
