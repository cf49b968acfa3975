"""The standard set's Redis rows: stock events and one-line holds through RedisLedger (one partition), on
a throw-away redis-server started on a free port of 127.0.0.1 for the run and removed after it (no
persistence: this measures the ledger, not the disk). Never a server the user runs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from availability.ledger.redis import RedisLedger

from .budget import EVENT_BATCH, Budget, percentiles
from .inprocess import hold_cycles
from .network import BenchNetwork
from .progress import Report
from .results import Goal, Row
from .workload import Place, stock_event_batches

NOT_INSTALLED = "skipped: redis-server not installed"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayRedis:
    """`with ThrowawayRedis() as url:` a redis-server of its own, stopped and its directory removed on
    exit. `ThrowawayRedis.available()` says whether redis-server is installed."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.exe = exe
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="omniroute-bench-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> str:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
                "--appendonly", "no", "--logfile", str(self.dir / "redis.log")]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    self.version = str(client.info("server").get("redis_version", ""))
                    return self.url
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        log = self.dir / "redis.log"
                        text = log.read_text() if log.exists() else ""
                        self.__exit__(None, None, None)
                        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{text}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def skipped_rows(why: str) -> list[Row]:
    """The Redis rows, present in the table and the JSON, saying why there is no figure."""
    return [
        Row(key="events.redis", suite="redis", title="stock events on the Redis ledger", unit="events/s",
            higher_is_better=True, skipped=why),
        Row(key="holds.redis", suite="redis", title="one-line holds on the Redis ledger", unit="holds/s",
            higher_is_better=True, skipped=why),
    ]  # fmt: skip


def redis_rows(net: BenchNetwork, places: list[Place], budget: Budget, report: Report) -> list[Row]:
    if not ThrowawayRedis.available():
        return skipped_rows(NOT_INSTALLED)
    server = ThrowawayRedis()
    with server as url:
        report("Redis ledger: writing the network", 0.0)
        ledger = RedisLedger(url, prefix="bench", partitions=1, snapshot=net.snapshot)
        try:
            return _measure(ledger, url, server.version, net, places, budget, report)
        finally:
            ledger.close()


def _noop_round_trips(ledger: RedisLedger, n: int) -> list[float]:
    # the ledger's own no-op script through the same connection and pipeline as its hold script: the
    # floor a hold is measured against (a private part of RedisLedger, read by benchmarks only)
    scripts = ledger._scripts
    call = scripts.noop()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        scripts.run([call])
        out.append(time.perf_counter() - t0)
    return out


def _measure(
    ledger: RedisLedger, url: str, version: str, net: BenchNetwork, places: list[Place], budget: Budget, report: Report
) -> list[Row]:
    report("Redis ledger: one-line holds and no-op scripts", 0.3)
    _noop_round_trips(ledger, 200)
    # holds and no-ops in alternating slices, so that drift on the machine hits both alike
    reserve: list[float] = []
    noop: list[float] = []
    slices = 10
    for i in range(slices):
        r, _ = hold_cycles(ledger, places, budget.redis_hold_cycles // slices, f"bench-redis-{i}", time.perf_counter)
        reserve += r
        noop += _noop_round_trips(ledger, budget.redis_hold_cycles // slices)
    p50, p99 = percentiles(reserve, 1e6)
    noop50, _ = percentiles(noop, 1e6)
    holds = Row(
        key="holds.redis",
        suite="redis",
        title="one-line holds on the Redis ledger (1 partition; reserve, then release), in-process",
        unit="holds/s",
        higher_is_better=True,
        figure=round(len(reserve) / sum(reserve)),
        p50=p50,
        p99=p99,
        latency_unit="µs a reserve",
        ratio=round(p50 / noop50, 2),
        ratio_of="p50 reserve / p50 no-op EVALSHA round trip",
        goals=(Goal("ratio", "<=", 2.0, "≤ 2x no-op"),),
        detail={"holds": len(reserve), "noop_evalsha_us_p50": noop50, "redis_server": version},
    )

    report("Redis ledger: stock events", 0.6)
    batches = stock_event_batches(net.snapshot, budget.redis_event_batches + 1, EVENT_BATCH, net.seed, "bench-redis")
    ledger.apply_stock_events(batches[0])  # warm-up
    walls = []
    for b in batches[1:]:
        t0 = time.perf_counter()
        ledger.apply_stock_events(b)
        walls.append(time.perf_counter() - t0)
    n_events = EVENT_BATCH * len(walls)
    p50, p99 = percentiles(walls, 1e3)
    events = Row(
        key="events.redis",
        suite="redis",
        title=f"stock events on the Redis ledger (1 partition), batches of {EVENT_BATCH:,}, in-process",
        unit="events/s",
        higher_is_better=True,
        figure=round(n_events / sum(walls)),
        p50=p50,
        p99=p99,
        latency_unit="ms a batch",
        detail={"events": n_events, "redis_server": version},
    )
    return [events, holds]
