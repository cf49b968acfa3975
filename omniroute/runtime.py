"""What every servicer shares: the ledger (once loaded), the configuration, and the shutdown signal."""

from __future__ import annotations

import asyncio
import contextlib
import time
from importlib import metadata

from availability.errors import Unavailable
from availability.ledger import ChangeBatch, Ledger

from .config import ServerConfig


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
