"""The service's log lines: text for people, JSON for log pipelines, and the request id in both.

Every RPC that goes through `omniroute.status.rpc` has a request id: the caller's `x-request-id`
metadata when it sent one, else one made here. The id is returned to the caller in the trailing
metadata (also on errors) and sits in a context variable for as long as the call is served, so every
log line emitted meanwhile carries it - on the event loop, and on the write threads, which run with a
copy of the caller's context (`Runtime.write`). gRPC's asyncio server runs each call in a task of its
own, so one call's id never leaks into another's lines.

Only entry points configure logging (`configure`); the libraries just log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from .config import LOG_FORMATS as LOG_FORMATS

REQUEST_ID_KEY: Final = "x-request-id"
# Longer ids are cut: a caller must not be able to make every log line of its calls arbitrarily long.
# gRPC itself only lets printable ASCII through in metadata values, so no newline can get into a line.
MAX_REQUEST_ID_CHARS: Final = 128

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("omniroute_request_id", default=None)
# The RPC being served ("omniroute.v1.AvailabilityService/GetAvailability"), for the `method` field.
METHOD: contextvars.ContextVar[str | None] = contextvars.ContextVar("omniroute_method", default=None)

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# (trace id, span id) of the current span as hex, when OpenTelemetry tracing is on (omniroute.tracing
# sets it); None otherwise, so that plain logging never imports OpenTelemetry.
TraceIds = Callable[[], tuple[str, str] | None]
_trace_ids: TraceIds | None = None


def set_trace_ids(fn: TraceIds | None) -> None:
    global _trace_ids
    _trace_ids = fn


def new_request_id() -> str:
    """16 random hex digits: unique enough to find one call's lines among a day's, and cheaper than a
    uuid4 (about 0.5 us)."""
    return os.urandom(8).hex()


def request_id_from(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The caller's x-request-id (cut to MAX_REQUEST_ID_CHARS), else a new one. gRPC lower-cases
    metadata keys on the wire, so one comparison per entry suffices."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            if text:
                return text[:MAX_REQUEST_ID_CHARS]
    return new_request_id()


class RequestContext(logging.Filter):
    """Puts the request id and method of the call being served (None outside a call) on each record, for
    both formatters. A filter on the handler, so records of every library get them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.rpc_method = METHOD.get()
        return True


class TextFormatter(logging.Formatter):
    """The classic one-line format, with `[request <id>]` appended to lines emitted while serving a call."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [request {rid}]" if rid else line


# LogRecord attributes that are the record's machinery, not fields a caller added with `extra=`
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "rpc_method", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`,
    `request_id` and `method` while serving a call, `trace_id` / `span_id` when tracing is on,
    `exception` (the formatted traceback) when there is one, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int((record.created - seconds) * 1000):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        method = getattr(record, "rpc_method", None)
        if method:
            out["method"] = method
        trace = _trace_ids() if _trace_ids is not None else None
        if trace is not None:
            out["trace_id"], out["span_id"] = trace
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an `extra` value that JSON cannot carry (a Path, a datetime) still gets logged
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter_for(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"log format {fmt!r}: must be one of {', '.join(LOG_FORMATS)}")


def configure(level: str | int, fmt: str = "text") -> None:
    """Install the service's handler on the root logger (once; a second call changes its format and the
    level)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_omniroute", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RequestContext())
        handler._omniroute = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter_for(fmt))
    root.setLevel(level)


# Called with the request id as each call starts, when tracing is on (omniroute.tracing: it puts the id
# on the call's span); None otherwise.
_on_request: Callable[[str], None] | None = None


def set_on_request(fn: Callable[[str], None] | None) -> None:
    global _on_request
    _on_request = fn


def start_request(context: Any, method: str) -> str:
    """At the start of serving a call (grpc.aio ServicerContext): its request id, set for the log lines
    of the call and in its trailing metadata, and returned."""
    rid = request_id_from(context.invocation_metadata())
    REQUEST_ID.set(rid)
    METHOD.set(method)
    context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
    if _on_request is not None:
        _on_request(rid)
    return rid
