"""The gRPC server: servicers, health, reflection, limits, listeners, start-up and graceful shutdown.

Why grpc.aio and not the thread-pool server. Measured on this machine (2 vCPUs, grpcio 1.85, a no-op unary
from a sequential client, each server in its own process; benchmarks/grpc_ratio.py --compare-sync): the
sync server is cheaper per call, about 330-410 us of server CPU and 505-545 us latency against 455-555 us
and 590-640 us for aio (in a first run with 4 workers the gap was only ~8%). We still pick aio, because
the rest of the contract depends on it: WatchAvailability and ExportLocalInventory are long-lived streams,
and on the sync server each one pins a pool thread for its whole life (a few hundred back-in-stock
watchers would need a pool that size or starve unary calls); aio cancels a handler the moment its
deadline passes or its client goes away (CancelledError), which is what makes deadlines honoured for
waits such as min_sequence without polling; and one event loop runs every servicer, so reads never
contend with each other for the GIL across pool threads. The hot-path targets are ratios to Ping on the
same server, so they are measured against aio's own floor. If the unary floor ever matters more than the
streams, the servicers are thin enough to put behind a sync server in a day.

CPU-heavy work that can take more than a few milliseconds (snapshot loads, large event batches, feed
exports) runs on worker threads so that the event loop keeps answering reads meanwhile; the read model is
built for that (lock-free readers, writers serialised by the ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

# the public path of the asyncio servicer; mypy cannot evaluate the version check that defines it
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from availability.ledger import Ledger
from availability.model import AtpConfig, Snapshot
from router import CostModel
from router import warm_up as router_warm_up

from . import logs
from .config import ServerConfig
from .edge import EdgeError, build_edge, log_edge
from .metrics import Metrics
from .runtime import Runtime
from .servicers import AvailabilityServicer, DiagnosticsServicer, InventoryServicer
from .servicers.admin import AdminServicer
from .servicers.reservation import ReservationServicer
from .servicers.routing import RoutingServicer
from .tracing import Tracing, start_tracing
from .v1 import (
    availability_pb2,
    availability_pb2_grpc,
    diagnostics_pb2,
    diagnostics_pb2_grpc,
    inventory_pb2,
    inventory_pb2_grpc,
    reservation_pb2,
    reservation_pb2_grpc,
    routing_pb2,
    routing_pb2_grpc,
)

log = logging.getLogger(__name__)

SERVICE_NAMES: tuple[str, ...] = (
    availability_pb2.DESCRIPTOR.services_by_name["AvailabilityService"].full_name,
    inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
    diagnostics_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"].full_name,
    reservation_pb2.DESCRIPTOR.services_by_name["ReservationService"].full_name,
    reservation_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name,
)
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# Services that answer from this replica's read model: while the ledger is out of reach they stay SERVING
# and answer from the last known state, flagged stale. The rest need the ledger for their calls (writes,
# reservation records, reconcile) and say NOT_SERVING meanwhile, as does the overall "" status: a
# read-only readiness probe asks for omniroute.v1.AvailabilityService, anything that writes asks for "".
READ_SERVICES: frozenset[str] = frozenset(
    {
        availability_pb2.DESCRIPTOR.services_by_name["AvailabilityService"].full_name,
        diagnostics_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"].full_name,
    }
)
WRITE_SERVICES: frozenset[str] = frozenset(SERVICE_NAMES) - READ_SERVICES
# How often health follows the ledger's reachability. The replica notices a dropped connection at once;
# a property read five times a second costs nothing, and a probe sees the change within this.
HEALTH_POLL_S = 0.2

LedgerLoader = Callable[[], Ledger]


class ServerError(RuntimeError):
    """The server cannot start (port in use, bad socket path, snapshot that fails to load)."""


def configure_logging(level: str | int, fmt: str = "text") -> None:
    """The service's log format (text or json, omniroute/logs.py). Only entry points call this; the
    libraries just log."""
    logs.configure(level, fmt)


def demo_loader(
    size: str,
    seed: int,
    *,
    progress: Callable[[str, float], None] | None = None,
    atp: AtpConfig | None = None,
) -> LedgerLoader:
    def load() -> Ledger:
        from availability import StockStore
        from availability.ledger import MemoryLedger
        from omniroute.networkgen import generate_network

        started = time.perf_counter()
        # inbound dates count from today so that the demo's future supply is in the future
        snapshot = generate_network(size, seed=seed, base_date=date.today(), progress=progress)
        ledger = MemoryLedger(StockStore.from_snapshot(snapshot, atp))
        log.info(
            "generated the %r demo network (seed %d): %d locations, %d SKUs, %d positions in %.1f s",
            size,
            seed,
            len(snapshot.locations),
            len(snapshot.skus),
            snapshot.positions,
            time.perf_counter() - started,
        )
        return ledger

    return load


def snapshot_loader(directory: Path, atp: AtpConfig | None = None) -> LedgerLoader:
    def load() -> Ledger:
        from availability import StockStore
        from availability.ingest import load_snapshot
        from availability.ledger import MemoryLedger

        started = time.perf_counter()
        snapshot = load_snapshot(directory)
        ledger = MemoryLedger(StockStore.from_snapshot(snapshot, atp))
        log.info(
            "loaded snapshot %s: %d locations, %d SKUs, %d positions in %.1f s",
            directory,
            len(snapshot.locations),
            len(snapshot.skus),
            snapshot.positions,
            time.perf_counter() - started,
        )
        return ledger

    return load


def redis_loader(config: ServerConfig, atp: AtpConfig | None = None) -> LedgerLoader:
    """The Redis ledger at `config.redis_url`: this replica rebuilds its read model from Redis. A Redis
    that does not hold the ledger yet gets the --data snapshot (else the demo network) as its first
    generation, with `atp` as its ATP rules; a populated one is used as it is, rules included
    (`omniroute load` replaces its contents)."""

    def bootstrap() -> Snapshot:
        if config.data_dir is not None:
            from availability.ingest import load_snapshot

            return load_snapshot(config.data_dir)
        from omniroute.networkgen import generate_network

        return generate_network(config.demo_size, seed=config.demo_seed, base_date=date.today())

    def load() -> Ledger:
        from availability.ledger.redis import RedisLedger
        from availability.ledger.scripts import redacted

        assert config.redis_url is not None
        started = time.perf_counter()
        ledger = RedisLedger(config.redis_url, prefix=config.redis_prefix, snapshot=bootstrap, config=atp)
        store = ledger.store
        log.info(
            "Redis ledger at %s (prefix %r, %d partitions): %d locations, %d SKUs, %d positions in %.1f s",
            redacted(config.redis_url),
            config.redis_prefix,
            ledger.partitions,
            len(store.network),
            len(store.skus),
            store.position_count,
            time.perf_counter() - started,
        )
        return ledger

    return load


def with_state_dir(config: ServerConfig, bootstrap: LedgerLoader) -> LedgerLoader:
    """The embedded ledger kept in --state-dir, when one is given: restored from the directory (with its
    own ATP rules), or, when the directory is empty, `bootstrap`'s ledger (the --data snapshot or the demo
    network), checkpointed there as the first state. Without --state-dir, `bootstrap` itself."""
    directory = config.state_dir
    if directory is None:
        return bootstrap

    def load() -> Ledger:
        from availability.ledger import MemoryLedger
        from availability.ledger.statedir import StateDirOptions, open_ledger

        bootstrapped = False

        def first() -> MemoryLedger:
            nonlocal bootstrapped
            bootstrapped = True
            ledger = bootstrap()
            if not isinstance(ledger, MemoryLedger):  # pragma: no cover - loader_for never pairs them
                raise ServerError("--state-dir needs the embedded ledger")
            return ledger

        ledger = open_ledger(directory, first, options=StateDirOptions(fsync=config.state_fsync))
        if not bootstrapped and config.data_dir is not None:
            log.info("--data %s not loaded: state directory %s holds the ledger", config.data_dir, directory)
        return ledger

    return load


def loader_for(config: ServerConfig, atp: AtpConfig | None = None) -> LedgerLoader:
    """The ledger `config` names: Redis, else the --data snapshot, else the demo network (kept in
    --state-dir when one is given); `atp` as its ATP rules (see each loader for how they apply)."""
    if config.redis_url is not None:
        return redis_loader(config, atp)
    if config.data_dir is not None:
        return with_state_dir(config, snapshot_loader(config.data_dir, atp))
    return with_state_dir(config, demo_loader(config.demo_size, config.demo_seed, atp=atp))


def routing_cost_model(config: ServerConfig) -> CostModel:
    """The routing cost model: --routing-config, else the --data directory's routing.toml, else the
    defaults. Read at start-up, so a bad file stops the server with the file and key named."""
    from availability.errors import InvalidArgument
    from router import cost_model_for_snapshot, load_cost_model

    try:
        if config.routing_config is not None:
            return load_cost_model(config.routing_config)
        if config.data_dir is not None:
            return cost_model_for_snapshot(config.data_dir)
    except InvalidArgument as err:
        raise ServerError(f"routing cost model: {err}") from None
    return CostModel()


class OmnirouteServer:
    """One gRPC server over one ledger. `start()` listens at once and reports NOT_SERVING until the
    ledger is loaded (on a worker thread), then SERVING; `stop()` drains."""

    def __init__(self, config: ServerConfig, load: LedgerLoader | Ledger, *, backend: str = "memory") -> None:
        self.config = config
        self._load: LedgerLoader = load if callable(load) else (lambda: load)
        self.backend = backend
        self.port: int | None = None
        self.runtime: Runtime | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._loading: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._socket_path: Path | None = None
        self._now: asyncio.Future[None] | None = None
        self._drain_delay: asyncio.Future[None] | None = None
        # the Prometheus endpoint's port once started (--metrics-port; None: metrics off)
        self.metrics_port: int | None = None
        self._tracing = Tracing([])

    @property
    def target(self) -> str:
        """Where a client should connect: the TCP address if there is one, else the Unix socket."""
        if self.port is not None:
            host = self.config.host
            if host in ("0.0.0.0", "::", "[::]"):
                host = "127.0.0.1"
            return f"{host}:{self.port}"
        return f"unix:{self.config.unix_socket}"

    async def start(self) -> None:
        cfg = self.config
        try:
            # tokens, TLS files and the role table are checked before anything listens
            edge = build_edge(cfg, SERVICE_NAMES)
        except EdgeError as err:
            raise ServerError(str(err)) from None
        self.runtime = rt = Runtime(cfg, backend=self.backend)
        if cfg.metrics_port is not None:
            rt.metrics = Metrics(rt)
        edge.count_into(rt.metrics)
        self._tracing = start_tracing(cfg.otel, version=rt.version)
        limit = cfg.max_message_bytes
        server = grpc.aio.server(
            # tracing first: a call the edge refuses still gets its span
            interceptors=[*self._tracing.interceptors, *edge.interceptors],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # gRPC enables SO_REUSEPORT by default: a second server on the same port would then start
                # "successfully" and silently share the traffic. Fail loudly instead, unless sharing the
                # port is the point (`serve --workers N`: omniroute/workers.py).
                ("grpc.so_reuseport", 1 if cfg.workers > 1 else 0),
            ]
        )
        availability_pb2_grpc.add_AvailabilityServiceServicer_to_server(AvailabilityServicer(rt), server)
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(rt), server)
        diagnostics_pb2_grpc.add_DiagnosticsServiceServicer_to_server(DiagnosticsServicer(rt), server)
        reservation_pb2_grpc.add_ReservationServiceServicer_to_server(ReservationServicer(rt), server)
        reservation_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(rt), server)
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(RoutingServicer(rt, routing_cost_model(cfg)), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection((*SERVICE_NAMES, HEALTH_SERVICE, reflection.SERVICE_NAME), server)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if cfg.port is not None:
            address = f"[{cfg.host}]:{cfg.port}" if ":" in cfg.host else f"{cfg.host}:{cfg.port}"
            try:
                self.port = (
                    server.add_secure_port(address, edge.credentials)
                    if edge.credentials is not None
                    else server.add_insecure_port(address)
                )
            except RuntimeError as err:
                raise ServerError(
                    f"cannot listen on {address}: {err} (is another server using the port?)"
                ) from None
            if self.port == 0:
                raise ServerError(f"cannot listen on {address} (is another server using the port?)")
        if cfg.unix_socket is not None:
            path = cfg.unix_socket.resolve()
            _remove_stale_socket(path)
            try:
                bound = server.add_insecure_port(f"unix:{path}")
            except RuntimeError as err:
                raise ServerError(f"cannot listen on unix:{path}: {err}") from None
            if bound == 0:
                raise ServerError(f"cannot listen on unix:{path}")
            self._socket_path = path
        await server.start()
        self._server = server
        if rt.metrics is not None:
            assert cfg.metrics_port is not None
            wanted = cfg.metrics_port
            if wanted and cfg.workers > 1:
                from .workers import worker_index

                # every worker counts its own calls: worker i (1..N) serves them on --metrics-port + i - 1
                wanted += max(worker_index() - 1, 0)
            try:
                self.metrics_port = rt.metrics.serve(cfg.host, wanted)
            except OSError as err:
                await server.stop(0)
                raise ServerError(f"metrics: cannot listen on {cfg.host}:{wanted}: {err}") from None
            log.info("Prometheus metrics on http://%s:%d/metrics", cfg.host, self.metrics_port)
        log.info(
            "omniroute %s listening on %s (max message %d MB)",
            rt.version,
            ", ".join(
                a
                for a in (
                    f"{cfg.host}:{self.port}" if self.port is not None else "",
                    f"unix:{self._socket_path}" if self._socket_path else "",
                )
                if a
            ),
            cfg.max_message_mb,
        )
        log_edge(edge, cfg, self.port)
        self._loading = asyncio.create_task(self._load_ledger(), name="omniroute-load")

    async def _load_ledger(self) -> None:
        from availability import _kernels

        assert self.runtime is not None
        started = time.perf_counter()
        # compile (or load from numba's cache) every kernel before the first request can pay for it
        await asyncio.to_thread(_kernels.warm_up)
        await asyncio.to_thread(router_warm_up)
        ledger = await asyncio.to_thread(self._load)
        self.runtime.attach(ledger)
        stale = ledger.stale
        await self._set_health_of(stale)
        if self._stopping is None:
            self._following = asyncio.create_task(self._follow_ledger(ledger, stale), name="omniroute-health")
        log.info("serving (ready after %.1f s)", time.perf_counter() - started)

    async def wait_until_loaded(self) -> None:
        """Returns once SERVING; raises what the loader raised (a bad snapshot, an unknown demo size)."""
        assert self._loading is not None, "start() first"
        await self._loading

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, status)

    async def _set_health_of(self, stale: bool) -> None:
        """Health once the ledger is loaded (ignored while draining: the health servicer then keeps
        every service NOT_SERVING)."""
        for name, status in health_statuses(stale=stale).items():
            await self._health.set(name, status)

    async def _follow_ledger(self, ledger: Ledger, stale: bool) -> None:
        """Keep health in step with the ledger's reachability until the server stops. Polled: the
        Redis replica flips `stale` from its reader threads and has no event to wait on."""
        while True:
            await asyncio.sleep(HEALTH_POLL_S)
            now = ledger.stale
            if now == stale:
                continue
            stale = now
            await self._set_health_of(stale)
            if stale:
                log.warning(
                    "ledger unreachable: writes answer UNAVAILABLE and health says NOT_SERVING (overall and "
                    "the write services); AvailabilityService keeps answering from the last known state, "
                    "flagged stale"
                )
            else:
                log.info("ledger reachable again: SERVING")

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish for `grace` seconds (default: the configured
        grace period), then cancel what is left. Idempotent: a second call waits for the first."""
        if self._stopping is None:
            self._stopping = asyncio.create_task(
                self._stop(self.config.grace_seconds if grace is None else grace)
            )
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        # load balancers and kubelets read health: say NOT_SERVING first so no new traffic is sent here
        await self._health.enter_graceful_shutdown()
        if self.runtime is not None:
            self.runtime.stopping.set()
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self._server is not None and self.config.drain_delay_seconds > 0:
            log.info(
                "not serving; still answering for %.1f s so that health checks see it", self.config.drain_delay_seconds
            )
            self._drain_delay = asyncio.ensure_future(asyncio.sleep(self.config.drain_delay_seconds))
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain_delay  # stop_now() cuts it short
        if self._following is not None:
            self._following.cancel()
        if self._server is not None:
            log.info("draining in-flight calls (grace %.1f s)", grace)
            await self._server.stop(grace)
        if self.runtime is not None:
            self.runtime.close()
            if self.runtime.loaded:
                self.runtime.ledger.close()
        if self._socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._socket_path.unlink()
        # last: a scrape during the drain still reports it (omniroute_serving 0)
        if self.runtime is not None and self.runtime.metrics is not None:
            self.runtime.metrics.close()
        self._tracing.close()
        log.info("stopped")

    def stop_now(self) -> None:
        """Cancel whatever is still running (the grace period of a stop in progress is cut short)."""
        if self._drain_delay is not None:
            self._drain_delay.cancel()
        if self._server is not None:
            self._now = asyncio.ensure_future(self._server.stop(0))

    async def wait_for_termination(self) -> None:
        assert self._server is not None, "start() first"
        await self._server.wait_for_termination()


def health_statuses(*, stale: bool) -> dict[str, health_pb2.HealthCheckResponse.ServingStatus]:
    """grpc.health.v1 status per service name ("" is the whole server) of a loaded, running server whose
    ledger is reachable (`stale` false) or not."""
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    out = {"": not_serving if stale else serving}
    for name in SERVICE_NAMES:
        out[name] = not_serving if stale and name in WRITE_SERVICES else serving
    return out


def _remove_stale_socket(path: Path) -> None:
    """A socket file left by a server that crashed would make the bind fail; anything else at that path
    is somebody's file and is left alone."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServerError(f"unix socket path {path} exists and is not a socket")
    path.unlink()


async def serve(config: ServerConfig, load: LedgerLoader | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain for the grace period and return."""
    backend = "redis" if config.redis_url is not None else "memory"
    server = OmnirouteServer(config, load or loader_for(config), backend=backend)
    await server.start()
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            stop_requested.set()
        else:
            # a second Ctrl-C means "now": skip the rest of the grace period
            log.warning("received %s again: stopping without waiting", signal.Signals(signum).name)
            server.stop_now()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        stopped = asyncio.create_task(stop_requested.wait())
        loading = asyncio.ensure_future(server.wait_until_loaded())
        done, _ = await asyncio.wait({stopped, loading}, return_when=asyncio.FIRST_COMPLETED)
        if loading in done and loading.exception() is not None:
            err = loading.exception()
            await server.stop(0)
            raise ServerError(f"could not load the read model: {err}") from err
        await stopped
        await server.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run(config: ServerConfig, load: LedgerLoader | None = None) -> None:
    """The blocking entry point of `omniroute serve`."""
    configure_logging(config.log_level, config.log_format)
    log.debug("configuration: %s", config)
    log.debug("pid %d", os.getpid())
    asyncio.run(serve(config, load))
