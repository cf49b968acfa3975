"""`omniroute serve --workers N`: N server processes on one host sharing the port, so a host uses all its
cores (one Python process is bound to one core by its GIL).

Each worker is a whole `omniroute serve` (its own read model, a replica of the Redis ledger; the
embedded ledger is one process and is refused with more than one worker), started with the same
settings passed as OMNIROUTE_* variables, and listening with SO_REUSEPORT: the kernel spreads new
connections over the workers (a gRPC channel stays on the worker it connected to). This process only
supervises: it starts the workers, restarts one that dies (waiting longer after each quick failure), and
on SIGTERM or SIGINT passes the signal on and waits for every worker to drain.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from .config import ENV_PREFIX, ServerConfig

log = logging.getLogger(__name__)

WORKER_ENV = ENV_PREFIX + "WORKER_INDEX"
MIN_UPTIME_S = 10.0  # a worker that dies sooner than this is failing, not crashing now and then
MAX_BACKOFF_S = 30.0


def worker_index() -> int:
    """This process's worker number (0 when it is not a worker of a supervisor)."""
    raw = os.environ.get(WORKER_ENV, "")
    return int(raw) if raw.isdigit() else 0


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def config_env(config: ServerConfig) -> dict[str, str]:
    """The settings as OMNIROUTE_* variables, so that a worker loads exactly the supervisor's config."""
    out: dict[str, str] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        var = ENV_PREFIX + f.name.upper()
        if value is None:
            if f.name == "port":
                out[var] = "off"
            continue
        if isinstance(value, bool):
            out[var] = "true" if value else "false"
        elif isinstance(value, Path):
            out[var] = str(value)
        else:
            out[var] = str(value)
    return out


class Supervisor:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._started: dict[int, float] = {}
        self._backoff: dict[int, float] = {}

    def _spawn(self, i: int) -> None:
        env = {**os.environ, **config_env(self.config), WORKER_ENV: str(i + 1)}
        cmd = [sys.executable, "-c", "from omniroute.cli import main; main()", "serve"]
        self._procs[i] = subprocess.Popen(cmd, env=env)
        self._started[i] = time.monotonic()
        log.info("worker %d started (pid %d)", i + 1, self._procs[i].pid)

    def _signal_all(self, signum: int) -> None:
        for p in self._procs.values():
            if p.poll() is None:
                p.send_signal(signum)

    def run(self) -> int:
        n = self.config.workers
        log.info("starting %d workers on port %s", n, self.config.port)

        def stop(signum: int, _frame: object) -> None:
            self._stop.set()
            self._signal_all(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for i in range(n):
            self._spawn(i)
        due: dict[int, float] = {}
        while not self._stop.wait(0.2):
            now = time.monotonic()
            for i, p in list(self._procs.items()):
                if i in due:
                    if now >= due[i]:
                        del due[i]
                        self._spawn(i)
                    continue
                code = p.poll()
                if code is None:
                    continue
                quick = now - self._started[i] < MIN_UPTIME_S
                wait = min(MAX_BACKOFF_S, self._backoff.get(i, 0.5) * 2) if quick else 0.5
                self._backoff[i] = wait
                log.warning("worker %d (pid %d) exited with %s; restarting in %.1f s", i + 1, p.pid, code, wait)
                due[i] = now + wait
        # drain: every worker got the signal; give them their grace period, then stop waiting on them
        deadline = time.monotonic() + self.config.drain_delay_seconds + self.config.grace_seconds + 10
        for p in self._procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in time; killing it", p.pid)
                p.kill()
                p.wait()
        log.info("all workers stopped")
        return 0


def supervise(config: ServerConfig) -> int:
    return Supervisor(config).run()
