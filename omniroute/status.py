"""Domain errors -> gRPC status codes: the one table, applied in one place (the `rpc` decorator).

Structured details travel as a `google.rpc.Status` in the `grpc-status-details-bin` trailer (grpcio-status;
it installs next to protobuf 6.33 without moving any pin): `BadRequest` names the offending field,
`PreconditionFailure` + `ErrorInfo` carry every per-line shortfall, `ResourceInfo` the missing or
conflicting id, `RetryInfo` when retrying later may help. Any gRPC client can read them; clients that
ignore them still get a readable message in the status details.

RESOURCE_EXHAUSTED never appears here: gRPC raises it itself (message too large, too many streams), and a
client must be able to tell that apart from "out of stock", which is FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from availability.errors import (
    AlreadyExists,
    FailedPrecondition,
    InsufficientStock,
    InvalidArgument,
    NotFound,
    OmnirouteError,
    Unavailable,
)

from .logs import REQUEST_ID, REQUEST_ID_KEY, start_request

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

DOMAIN: Final = "omniroute.v1"
DETAILS_KEY: Final = "grpc-status-details-bin"
# Trailers share gRPC's metadata limit (8 KiB by default): a snapshot with thousands of bad rows must
# still produce a status, so only the first violations travel and the message says how many there were.
MAX_VIOLATIONS: Final = 50
MAX_MESSAGE_CHARS: Final = 2000


class Unauthenticated(OmnirouteError):
    """The call carries no valid token (omniroute.edge); the message never quotes what was sent."""


class PermissionDenied(OmnirouteError):
    """The token is valid but its role is below the method's (omniroute.auth.ROLE_OF_METHOD)."""

    def __init__(self, message: str, *, method: str, required: str) -> None:
        self.method = method
        self.required = required
        super().__init__(message)


# The table. Subclasses come before their bases: the first match along the exception's MRO wins.
STATUS_OF: Final[dict[type[OmnirouteError], grpc.StatusCode]] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    InsufficientStock: grpc.StatusCode.FAILED_PRECONDITION,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    # raised by the edge interceptor (omniroute.edge), before any servicer runs
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def code_for(err: OmnirouteError) -> grpc.StatusCode:
    for cls in type(err).__mro__:
        code = STATUS_OF.get(cast(type[OmnirouteError], cls))
        if code is not None:
            return code
    # an OmnirouteError subclass nobody mapped is a bug in the table, not the caller's fault
    return grpc.StatusCode.INTERNAL


def _pack(*messages: Any) -> list[any_pb2.Any]:
    out = []
    for m in messages:
        a = any_pb2.Any()
        a.Pack(m)
        out.append(a)
    return out


def _where(item: object, default: str) -> str:
    """A snapshot row error as a field path: `stock.csv[12].on_hand` (row 0: the whole file)."""
    file = getattr(item, "file", None)
    if not file:
        return default
    row = getattr(item, "row", 0)
    column = getattr(item, "column", "")
    return f"{file}{f'[{row}]' if row else ''}{f'.{column}' if column else ''}"


def _details(err: OmnirouteError) -> list[any_pb2.Any]:
    if isinstance(err, InvalidArgument):
        bad = error_details_pb2.BadRequest()
        bad.field_violations.add(field=err.field, description=err.reason)
        # snapshot validation (availability.ingest.SnapshotError) carries every bad row in `.errors`
        extra: Sequence[object] = getattr(err, "errors", None) or ()
        for item in list(extra)[:MAX_VIOLATIONS]:
            bad.field_violations.add(field=_where(item, err.field), description=str(item)[:500])
        return _pack(bad, error_details_pb2.ErrorInfo(reason="INVALID_ARGUMENT", domain=DOMAIN))
    if isinstance(err, InsufficientStock):
        failure = error_details_pb2.PreconditionFailure()
        info = error_details_pb2.ErrorInfo(reason="INSUFFICIENT_STOCK", domain=DOMAIN)
        for s in err.shortfalls[:MAX_VIOLATIONS]:
            failure.violations.add(
                type="INSUFFICIENT_STOCK",
                subject=f"lines[{s.line}]",
                description=(
                    f"{s.sku} at {s.location or '@network'}: requested {s.requested}, available {s.available}"
                ),
            )
            info.metadata[f"lines[{s.line}].sku"] = s.sku
            info.metadata[f"lines[{s.line}].location"] = s.location
            info.metadata[f"lines[{s.line}].requested"] = str(s.requested)
            info.metadata[f"lines[{s.line}].available"] = str(s.available)
        return _pack(failure, info)
    if isinstance(err, FailedPrecondition):
        failure = error_details_pb2.PreconditionFailure()
        failure.violations.add(type="STATE", description=str(err)[:500])
        return _pack(failure)
    if isinstance(err, (NotFound, AlreadyExists)):
        reason = "NOT_FOUND" if isinstance(err, NotFound) else "ALREADY_EXISTS"
        return _pack(
            error_details_pb2.ResourceInfo(
                resource_type=err.kind, resource_name=err.ident, description=str(err)
            ),
            error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN),
        )
    if isinstance(err, Unavailable):
        return _pack(
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1)),
            error_details_pb2.ErrorInfo(reason="UNAVAILABLE", domain=DOMAIN),
        )
    if isinstance(err, Unauthenticated):
        return _pack(error_details_pb2.ErrorInfo(reason="UNAUTHENTICATED", domain=DOMAIN))
    if isinstance(err, PermissionDenied):
        return _pack(
            error_details_pb2.ErrorInfo(
                reason="PERMISSION_DENIED",
                domain=DOMAIN,
                metadata={"method": err.method, "required_role": err.required},
            )
        )
    return []


def status_of(err: OmnirouteError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """(code, message, trailing metadata carrying the google.rpc.Status) for a domain error."""
    code = code_for(err)
    message = str(err)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    rich = status_pb2.Status(code=code.value[0], message=message, details=_details(err))
    return code, message, ((DETAILS_KEY, rich.SerializeToString()),)


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: OmnirouteError) -> None:
    code, message, details = status_of(err)
    log.debug("%s: %s", code.name, message)
    trailers: tuple[tuple[str, str | bytes], ...] = details
    rid = REQUEST_ID.get()
    if rid is not None:  # trailers given to abort replace those set before: keep the request id
        trailers = (*details, (REQUEST_ID_KEY, rid))
    await context.abort(code, message, trailers)


async def abort_internal(context: grpc.aio.ServicerContext[Any, Any], method: str, err: Exception) -> None:
    # the traceback goes to the log, not to the caller: internals are not part of the contract
    log.exception("unexpected error in %s", method, exc_info=err)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log")


class Served(Protocol):
    """A servicer: it reaches the server's runtime (and through it the metrics) as `rt`."""

    @property
    def rt(self) -> Runtime: ...


S = TypeVar("S", bound=Served)
Req = TypeVar("Req")
Ctx = grpc.aio.ServicerContext[Any, Any]


def service_of(qualname: str) -> tuple[str, str]:
    """("omniroute.v1.AvailabilityService", "GetAvailability") for "AvailabilityServicer.GetAvailability":
    every servicer class is named after its service."""
    cls, _, method = qualname.rpartition(".")
    return f"{DOMAIN}.{cls.removesuffix('Servicer')}Service", method


def _ended(context: Ctx) -> grpc.StatusCode:
    """The code of a call cancelled under its handler: its deadline passed, or the client went away."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def rpc(fn: Callable[[S, Req, Ctx], Any]) -> Callable[[S, Req, Ctx], Any]:
    """Apply the error table to a servicer method (a coroutine or an async generator), and account for
    the call: its request id (omniroute.logs: from the caller's x-request-id metadata or made here, in
    every log line meanwhile and in the trailing metadata) and, when metrics are on, its status code,
    handler time and what its answer says (omniroute.metrics).

    Cheap on purpose, as every hot call goes through it: one metadata scan, two context variables, a
    trailer, and with metrics two clock reads and a few counter increments; no context manager, no
    extra await.
    """
    name = fn.__qualname__
    service, method = service_of(name)
    full_name = f"{service}/{method}"
    OK, UNKNOWN, INTERNAL = grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL
    # Errors are counted before `abort`, which sends the status and only then raises: a caller that
    # reads the metrics right after its answer must see its call counted.
    if inspect.isasyncgenfunction(fn):
        stream = cast(Callable[[S, Req, Ctx], AsyncIterator[Any]], fn)

        @functools.wraps(fn)
        async def stream_wrapper(self: S, request: Req, context: Ctx) -> AsyncIterator[Any]:
            start_request(context, full_name)
            metrics = self.rt.metrics
            stats = metrics.method(full_name, service, method, stream=True) if metrics is not None else None
            if metrics is not None:
                metrics.streams_open.labels(method).inc()
            started = time.perf_counter()

            def done(code: grpc.StatusCode, error: BaseException | None = None) -> None:
                if metrics is not None and stats is not None:
                    metrics.streams_open.labels(method).dec()
                    stats.done(code, time.perf_counter() - started, request, None, error)

            try:
                async for item in stream(self, request, context):
                    yield item
            except OmnirouteError as err:
                done(code_for(err), err)
                await abort(context, err)
            except grpc.aio.AbortError:
                done(context.code() or UNKNOWN)
                raise
            except Exception as err:
                done(INTERNAL, err)
                await abort_internal(context, name, err)
            except BaseException:  # cancelled (deadline, client gone) or closed while suspended
                done(_ended(context))
                raise
            else:
                done(OK)

        return stream_wrapper

    unary = cast(Callable[[S, Req, Ctx], Awaitable[Any]], fn)

    @functools.wraps(fn)
    async def unary_wrapper(self: S, request: Req, context: Ctx) -> Any:
        start_request(context, full_name)
        metrics = self.rt.metrics
        if metrics is None:
            try:
                return await unary(self, request, context)
            except OmnirouteError as err:
                await abort(context, err)
            except grpc.aio.AbortError:
                raise
            except Exception as err:
                await abort_internal(context, name, err)
            raise AssertionError("unreachable: abort raises")  # pragma: no cover
        stats = metrics.method(full_name, service, method)
        started = time.perf_counter()
        try:
            response = await unary(self, request, context)
        except OmnirouteError as err:
            stats.done(code_for(err), time.perf_counter() - started, request, None, err)
            await abort(context, err)
        except grpc.aio.AbortError:
            stats.done(context.code() or UNKNOWN, time.perf_counter() - started, request, None, None)
            raise
        except Exception as err:
            stats.done(INTERNAL, time.perf_counter() - started, request, None, err)
            await abort_internal(context, name, err)
        except asyncio.CancelledError:
            stats.done(_ended(context), time.perf_counter() - started, request, None, None)
            raise
        else:
            stats.done(OK, time.perf_counter() - started, request, response, None)
            return response
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return unary_wrapper
