"""Prometheus metrics of one server, served over HTTP (`serve --metrics-port N`; off by default).

Where the figures come from:
- every RPC that goes through `omniroute.status.rpc` (all of omniroute.v1 but Ping, which is the bare
  baseline on purpose) reports its status code and handler time here, once, from the decorator: the
  servicers do not count anything themselves. Calls the edge (omniroute.edge) answers before any
  servicer runs - no valid token, a role too low, a batch over its limit, a malformed request, a
  caller's stream cap - are counted by the edge, Ping's included; a call cut by the server's default
  deadline counts DEADLINE_EXCEEDED, as its caller is answered. The names are those of go-grpc-prometheus /
  py-grpc-prometheus (`grpc_server_handled_total`, `grpc_server_handling_seconds`), so existing gRPC
  dashboards and alert rules work unchanged;
- what an answer says (ATP statuses, hold outcomes, routing solver and status) is read off the response
  or the error by a per-method observer in this module, called by the same decorator; GetAvailability's
  statuses are counted from its wire bytes by the servicer (one bincount, not a Python loop per SKU);
- the ledger's state (stale, change-stream lag, errors, expiries, sequence) is read when Prometheus
  scrapes, on the HTTP thread, from values the ledger already keeps: a scrape never waits on Redis.

One registry per server (not prometheus_client's global one), so several servers in one process (the
tests) never share or clash. Counters are updated on the event loop thread; the HTTP thread only reads.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable
from wsgiref.simple_server import WSGIServer

import grpc
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from availability.errors import InsufficientStock
from availability.ledger import PartitionLag

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

# RPC handler time: from ~50 us (a one-SKU GetAvailability) to seconds (routing with a time limit,
# snapshot loads). Roughly x2-x2.5 steps, so a p99 read from the buckets is within a step of the truth.
LATENCY_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# The optimiser's own time (RoutingResult.solve_time_s): from a bound that settles an order in 100 us to
# a time limit of tens of seconds.
SOLVE_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
ATP_STATUSES: Final = ("out_of_stock", "low_stock", "in_stock")  # proto StockStatus 1..3
LEDGER_ERROR_KINDS: Final = ("unavailable", "script")

# The one write per hold operation, and what a success means for it
HOLD_OPERATIONS: Final[dict[str, tuple[str, str]]] = {
    "Reserve": ("reserve", "held"),
    "Confirm": ("confirm", "confirmed"),
    "Extend": ("extend", "extended"),
    "Release": ("release", "released"),
    "Fulfill": ("fulfill", "fulfilled"),
}
# A failed hold operation's outcome, by its status code (InsufficientStock, "short", is told apart from
# the other FAILED_PRECONDITION by its class)
_FAILED_OUTCOME: Final[dict[grpc.StatusCode, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.ALREADY_EXISTS: "already_exists",
    grpc.StatusCode.NOT_FOUND: "not_found",
    grpc.StatusCode.FAILED_PRECONDITION: "rejected",
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "cancelled",
    grpc.StatusCode.CANCELLED: "cancelled",
}
_SOLVE_STATUS: Final = ("unspecified", "optimal", "feasible", "infeasible")  # routing.proto SolveStatus


@runtime_checkable
class FollowsStream(Protocol):
    """A ledger whose read model tails a change stream (the Redis ledger)."""

    def stream_lag(self) -> Sequence[PartitionLag]: ...


def hold_outcome(code: grpc.StatusCode, error: BaseException | None) -> str:
    if isinstance(error, InsufficientStock):
        return "short"
    return _FAILED_OUTCOME.get(code, "error")


class HoldTally:
    """omniroute_holds_total{operation, outcome}: counted by the RPC observers on the event loop, plus the
    expiries the ledger's sweeper made (read at scrape time), in one metric family."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, operation: str, outcome: str) -> None:
        key = (operation, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1


class MethodStats:
    """One RPC's status codes and handler times, as plain numbers: updated on the event loop thread only
    (no lock), read by the scrape (a copy of a list is taken atomically under the GIL). prometheus_client's
    own Counter and Histogram take a lock per increment and walk the buckets in Python: ~1.3 us a call
    against ~0.2 us here, on a call whose whole floor is a few hundred."""

    __slots__ = ("buckets", "codes", "kind", "method", "metrics", "observe", "service", "total")

    def __init__(self, metrics: Metrics, service: str, method: str, kind: str) -> None:
        self.metrics = metrics
        self.service = service
        self.method = method
        self.kind = kind
        self.codes: dict[grpc.StatusCode, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.total = 0.0
        self.observe: Observer | None = OBSERVERS.get(method)

    def done(
        self, code: grpc.StatusCode, seconds: float, request: Any, response: Any, error: BaseException | None
    ) -> None:
        # bisect_left: the first bound >= seconds, i.e. Prometheus's `le` bucket
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        if self.observe is not None:
            self.observe(self.metrics, code, request, response, error)

    def refused(self, code: grpc.StatusCode, seconds: float) -> None:
        """A call the edge answered before its servicer ran: its code and time, and nothing of what an
        answer says (a refused hold never reached the ledger)."""
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1


Observer = Callable[["Metrics", grpc.StatusCode, Any, Any, "BaseException | None"], None]


class Metrics:
    """Every metric of one server, in its own registry."""

    def __init__(self, runtime: Runtime) -> None:
        # `_created` series double the sample count for nothing a dashboard reads
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.streams_open = Gauge(
            "omniroute_streams_open",
            "Server streams in progress (WatchAvailability watchers, feed exports), by method.",
            ["grpc_method"],
            registry=r,
        )
        self.solve = Histogram(
            "omniroute_routing_solve_seconds",
            "Optimiser time per routed order (RouteOrder, Reroute), by policy, solver and solve status.",
            ["policy", "solver", "status"],
            buckets=SOLVE_BUCKETS,
            registry=r,
        )
        self.solve_timeouts = Counter(
            "omniroute_routing_timed_out",
            "Routed orders whose optimiser stopped at its time limit (the plan is the best found, see gap).",
            ["policy", "solver"],
            registry=r,
        )
        self.holds = HoldTally()
        # GetAvailability answers per proto StockStatus (index 1..3), and unknown SKUs: plain numbers, as
        # for MethodStats (this is the hottest call)
        self.atp = [0, 0, 0, 0]
        self.atp_unknown = 0
        self._methods: dict[str, MethodStats] = {}
        r.register(_RpcCollector(self))
        r.register(_StateCollector(runtime, self.holds))
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ per call (event loop thread)
    def method(self, key: str, service: str, method: str, *, stream: bool = False) -> MethodStats:
        """The stats of one RPC; `key` is its full name ("service/method"), made once by the caller."""
        stats = self._methods.get(key)
        if stats is None:
            stats = MethodStats(self, service, method, "server_stream" if stream else "unary")
            self._methods[key] = stats
        return stats

    def refused(self, key: str, code: grpc.StatusCode, seconds: float, *, stream: bool = False) -> None:
        """A call the edge (omniroute.edge) answered itself: no valid token, a role too low, a batch over
        its limit, a request that is not valid protobuf, a caller's stream cap. `key` is the full name."""
        service, _, method = key.partition("/")
        self.method(key, service, method, stream=stream).refused(code, seconds)

    def deadline_passed(self, key: str) -> None:
        """The server's default deadline (omniroute.edge) cancelled this unary call: the servicer's
        decorator saw a cancellation and counted CANCELLED, the caller is answered DEADLINE_EXCEEDED, and
        so the count says that."""
        stats = self._methods.get(key)
        cancelled, exceeded = grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED
        if stats is not None and stats.codes.get(cancelled, 0) > 0:
            stats.codes[cancelled] -= 1
            stats.codes[exceeded] = stats.codes.get(exceeded, 0) + 1

    def atp_answers(self, out_of_stock: int, low_stock: int, in_stock: int, unknown: int) -> None:
        atp = self.atp
        atp[1] += out_of_stock
        atp[2] += low_stock
        atp[3] += in_stock
        self.atp_unknown += unknown

    def routed(self, result: Any) -> None:
        """One routing result (routing.proto RoutingResult)."""
        status = _SOLVE_STATUS[result.status] if 0 <= result.status < len(_SOLVE_STATUS) else "unspecified"
        solver = result.solver or "none"
        self.solve.labels(result.policy, solver, status).observe(result.solve_time_seconds)
        if result.timed_out:
            self.solve_timeouts.labels(result.policy, solver).inc()

    # ------------------------------------------------------------------ the HTTP endpoint
    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0: any free port) from a daemon thread; returns the port."""
        self._http, self._thread = prometheus_client.start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


# ---------------------------------------------------------------------------------------------- observers
def _observe_hold(operation: str, success: str) -> Observer:
    def observe(m: Metrics, code: grpc.StatusCode, request: Any, response: Any, error: BaseException | None) -> None:
        m.holds.add(operation, success if code is grpc.StatusCode.OK else hold_outcome(code, error))

    return observe


def _observe_route(operation: str) -> Observer:
    def observe(m: Metrics, code: grpc.StatusCode, request: Any, response: Any, error: BaseException | None) -> None:
        if code is grpc.StatusCode.OK:
            m.routed(response.result)
            if response.HasField("hold"):
                m.holds.add(operation, "held" if response.hold.held else "short")
        elif operation == "reroute" or request.hold:
            m.holds.add(operation, hold_outcome(code, error))

    return observe


def _observe_batch(m: Metrics, code: grpc.StatusCode, request: Any, response: Any, error: BaseException | None) -> None:
    if code is grpc.StatusCode.OK:
        for result in response.results:  # one per order of the batch
            m.routed(result)


OBSERVERS: Final[dict[str, Observer]] = {
    **{name: _observe_hold(op, ok) for name, (op, ok) in HOLD_OPERATIONS.items()},
    "RouteOrder": _observe_route("route"),
    "Reroute": _observe_route("reroute"),
    "RouteOrders": _observe_batch,
}


def status_counts(wire: bytes, n: int) -> tuple[int, int, int, int]:
    """(out of stock, low stock, in stock, unknown SKUs) in a GetAvailabilityResponse of n > 0 SKUs as
    availability._idhash.encode_availability lays it out: field 1 (tag, varint length, packed
    quantities), field 2 (tag, varint n, one status byte 1..3 per SKU), field 3 (tag, varint n, one
    unknown flag per SKU). bytes.count runs in C over the range: ~0.5 us for 1 or 1,000 SKUs."""
    p = _skip_varint(wire, 1, read=True)
    p = _skip_varint(wire, p + 1)  # past field 2's tag and its length (n)
    end = p + n
    q = _skip_varint(wire, end + 1)
    return wire.count(1, p, end), wire.count(2, p, end), wire.count(3, p, end), wire.count(1, q, q + n)


def _skip_varint(wire: bytes, p: int, *, read: bool = False) -> int:
    """The position after the varint at p; with read, after the varint and the bytes it counts."""
    value, shift = 0, 0
    while True:
        b = wire[p]
        p += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return p + value if read else p
        shift += 7


# ---------------------------------------------------------------------------------------------- scrape time
# the `le` labels as prometheus_client's own Histogram writes them
_LATENCY_LE: Final = [*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]


class _RpcCollector(Collector):
    """The per-call numbers (MethodStats, ATP answers) as Prometheus families."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterable[Metric]:
        m = self.m
        handled = CounterMetricFamily(
            "grpc_server_handled",
            "RPCs completed on the server, by method and status code (calls the edge refused included).",
            labels=["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
        )
        handling = HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Handler time of RPCs, from the call reaching its servicer to its answer or error (streams: "
            "their whole life), by method.",
            labels=["grpc_type", "grpc_service", "grpc_method"],
        )
        for stats in list(m._methods.values()):
            labels = [stats.kind, stats.service, stats.method]
            for code, n in sorted(dict(stats.codes).items(), key=lambda kv: kv[0].value[0]):
                handled.add_metric([*labels, code.name], n)
            per_bucket = list(stats.buckets)  # one consistent copy: count = +Inf bucket
            cumulative = list(itertools.accumulate(per_bucket))
            bounds = _LATENCY_LE
            handling.add_metric(labels, list(zip(bounds, cumulative, strict=True)), stats.total)
        atp = CounterMetricFamily(
            "omniroute_atp_answers",
            "Per-SKU GetAvailability answers, by stock status (unknown SKUs answer out_of_stock).",
            labels=["status"],
        )
        counts = list(m.atp)
        for k, status in enumerate(ATP_STATUSES, start=1):
            atp.add_metric([status], counts[k])
        unknown = CounterMetricFamily(
            "omniroute_atp_unknown_skus",
            "SKUs asked for in GetAvailability that the catalogue does not know.",
            value=m.atp_unknown,
        )
        return [handled, handling, atp, unknown]


class _StateCollector(Collector):
    """What the runtime and the ledger know right now, read at scrape time (cheap: no I/O)."""

    def __init__(self, runtime: Runtime, holds: HoldTally) -> None:
        self.rt = runtime
        self.holds = holds

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        from availability.ledger.scripts import LEDGER_ERRORS

        rt = self.rt
        info = GaugeMetricFamily(
            "omniroute_info", "This server: version and ledger backend (always 1).", labels=["version", "backend"]
        )
        info.add_metric([rt.version, rt.backend], 1)
        yield info
        loaded = rt.loaded
        ledger = rt.ledger if loaded else None
        stale = loaded and rt.stale
        yield GaugeMetricFamily(
            "omniroute_loaded", "1 once the read model is loaded (0 while loading).", value=int(loaded)
        )
        yield GaugeMetricFamily(
            "omniroute_serving",
            "1 when health says SERVING overall: loaded, ledger reachable, not draining.",
            value=int(loaded and not stale and not rt.stopping.is_set()),
        )
        yield GaugeMetricFamily(
            "omniroute_ledger_stale",
            "1 while reads answer from the last known state because the ledger is out of reach or lost "
            "its data (answers say stale = true; writes answer UNAVAILABLE).",
            value=int(stale),
        )
        yield GaugeMetricFamily(
            "omniroute_read_model_sequence",
            "The ledger sequence this replica's read model has applied (the basis every answer states).",
            value=ledger.store.sequence if ledger is not None else 0,
        )
        records = GaugeMetricFamily(
            "omniroute_ledger_stream_lag_records",
            "Change records the ledger has that this replica has not applied yet, per partition (0 for "
            "the embedded ledger, which is the state itself).",
            labels=["partition"],
        )
        seconds = GaugeMetricFamily(
            "omniroute_ledger_stream_lag_seconds",
            "Since when this replica has been behind the ledger, per partition (0 when caught up).",
            labels=["partition"],
        )
        lags: Sequence[PartitionLag] = ()
        if isinstance(ledger, FollowsStream):
            lags = ledger.stream_lag()
        elif loaded:
            lags = (PartitionLag(0, 0, 0.0),)
        for lag in lags:
            records.add_metric([str(lag.partition)], lag.records)
            seconds.add_metric([str(lag.partition)], lag.seconds)
        yield records
        yield seconds
        errors = CounterMetricFamily(
            "omniroute_ledger_errors",
            "Failed calls to the Redis ledger made by this process, by kind: unavailable (connection "
            "refused, lost or timed out), script (a Lua script raised inside Redis: a bug or a corrupted "
            "key). Always 0 for the embedded ledger.",
            labels=["kind"],
        )
        counts = LEDGER_ERRORS.counts()
        for kind in LEDGER_ERROR_KINDS:
            errors.add_metric([kind], counts.get(kind, 0))
        yield errors
        holds = CounterMetricFamily(
            "omniroute_holds",
            "Hold operations by outcome: reserve (held, short, already_exists, invalid, ...), confirm, "
            "extend, release, fulfill, route / reroute (the plan held or short), expire (expired by this "
            "process's sweeper).",
            labels=["operation", "outcome"],
        )
        for (operation, outcome), n in sorted(dict(self.holds.counts).items()):
            holds.add_metric([operation, outcome], n)
        holds.add_metric(["expire", "expired"], int(getattr(ledger, "expired_total", 0)) if loaded else 0)
        yield holds
