"""What every servicer shares: the ledger (once loaded), the configuration, and the shutdown signal."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar

from availability.errors import Unavailable
from availability.ledger import ChangeBatch, Ledger

from .config import ServerConfig

if TYPE_CHECKING:
    from .metrics import Metrics

P = ParamSpec("P")
T = TypeVar("T")

# When a write runs on a worker thread. On the embedded ledger a write is CPU work under the ledger's
# lock, and a small one is cheaper inline than the thread hand-off (~50 us): stock event batches from
# this many events on (about 1 ms of work) and reservation writes from this many lines on (a line costs
# roughly 0.1-0.25 ms, measured on the demo network) go to a thread so that reads keep flowing. A ledger
# with `blocking_io` (Redis) sends every write to a thread: a round trip, let alone an outage, must never
# stall the event loop that answers every read.
THREAD_MIN_EVENTS: Final = 256
THREAD_MIN_LINES: Final = 16
# configuration rows (safety stock, ring-fences, locations): not measured separately; as for events, so
# that a bulk update of thousands of rows cannot hold the loop (these ran inline before)
THREAD_MIN_ROWS: Final = 256
# Writes of one replica are serialised by its ledger's lock anyway; a few threads let one queue behind
# another without holding the default executor (feed exports, snapshot parsing) hostage while Redis hangs.
WRITE_THREADS: Final = 4


def package_version() -> str:
    try:
        return metadata.version("omniroute")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Runtime:
    """Created inside the server's event loop. The ledger arrives after the listener is up (a large
    snapshot takes a while to load), so until then every RPC but health and diagnostics answers
    UNAVAILABLE and health says NOT_SERVING."""

    def __init__(self, config: ServerConfig, *, backend: str = "memory") -> None:
        self.config = config
        self.backend = backend
        self.version = package_version()
        self.started_at = time.time()
        self.loop = asyncio.get_running_loop()
        # set when draining starts: long-lived streams end cleanly instead of holding the shutdown up
        self.stopping = asyncio.Event()
        self._ledger: Ledger | None = None
        self._seq_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._writers = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="omniroute-write")
        # set by the server before any call when --metrics-port is given; None: nothing is counted
        self.metrics: Metrics | None = None

    @property
    def ledger(self) -> Ledger:
        ledger = self._ledger
        if ledger is None:
            raise Unavailable("the read model is still loading; retry shortly")
        return ledger

    @property
    def loaded(self) -> bool:
        return self._ledger is not None

    def attach(self, ledger: Ledger) -> None:
        ledger.subscribe(self._on_change)
        self._ledger = ledger

    @property
    def stale(self) -> bool:
        """What every read answer says in its `stale` field: the ledger is unreachable and this replica
        answers from the last known state. False while loading (nothing is answered then)."""
        ledger = self._ledger
        return ledger is not None and ledger.stale

    async def write(
        self, work: int, inline_below: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(*args, **kwargs)`, a ledger call of `work` units (events, lines), inline when it is small
        (fewer than `inline_below`) and the ledger does no network I/O, else on a write thread. A call
        still queued for a thread when its caller gives up (deadline, cancel) is never started."""
        if work < inline_below and not self.ledger.blocking_io:
            return fn(*args, **kwargs)
        # in the caller's context (run_in_executor does not pass it on, unlike to_thread): the ledger's
        # log lines on the write thread then carry the call's request id
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await self.loop.run_in_executor(self._writers, call)

    def close(self) -> None:
        """After the server stopped: writes still queued for a thread are dropped, as nobody waits for
        them any more (a running one finishes; a client's retry with the same ids is safe either way)."""
        self._writers.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ read-your-writes
    def _on_change(self, batch: ChangeBatch) -> None:
        # runs on the writer's thread under the ledger's lock: only hand over to the loop, and only
        # when someone waits (the common case costs one list check)
        if self._seq_waiters:
            with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                self.loop.call_soon_threadsafe(self._wake_waiters)

    def _wake_waiters(self) -> None:
        current = self.ledger.store.sequence
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._seq_waiters:
            if fut.done():
                continue
            if target <= current:
                fut.set_result(None)
            else:
                keep.append((target, fut))
        self._seq_waiters = keep

    async def wait_for_sequence(self, target: int, timeout: float) -> bool:
        """True once this replica's read model has applied ledger sequence `target`, False on timeout."""
        store = self.ledger.store
        if store.sequence >= target:
            return True
        fut: asyncio.Future[None] = self.loop.create_future()
        # register before re-checking: a write landing in between then either is seen by the check or
        # finds the waiter and wakes it
        self._seq_waiters.append((target, fut))
        if store.sequence >= target:
            fut.cancel()
            return True
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return store.sequence >= target
        finally:
            if not fut.done():
                fut.cancel()
