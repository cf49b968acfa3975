"""The standard set's Redis rows: stock events and one-line holds through RedisLedger (one partition), on
a throw-away redis-server started on a free port of 127.0.0.1 for the run and removed after it (no
persistence: this measures the ledger, not the disk). Never a server the user runs.
"""

from __future__ import annotations

import shutil
import time

from availability.ledger.redis import RedisLedger

from ..redis_server import RedisServer
from .budget import EVENT_BATCH, Budget, percentiles
from .inprocess import hold_cycles
from .network import BenchNetwork
from .progress import Report
from .results import Goal, Row
from .workload import Place, stock_event_batches

NOT_INSTALLED = "skipped: redis-server not installed"


def skipped_rows(why: str) -> list[Row]:
    """The Redis rows, present in the table and the JSON, saying why there is no figure."""
    return [
        Row(key="events.redis", suite="redis", title="stock events on the Redis ledger", unit="events/s",
            higher_is_better=True, skipped=why),
        Row(key="holds.redis", suite="redis", title="one-line holds on the Redis ledger", unit="holds/s",
            higher_is_better=True, skipped=why),
    ]  # fmt: skip


def redis_rows(net: BenchNetwork, places: list[Place], budget: Budget, report: Report) -> list[Row]:
    if shutil.which("redis-server") is None:
        return skipped_rows(NOT_INSTALLED)
    server = RedisServer().start()  # no persistence: this measures the ledger, not the disk
    try:
        report("Redis ledger: writing the network", 0.0)
        ledger = RedisLedger(server.url, prefix="bench", partitions=1, snapshot=net.snapshot)
        try:
            return _measure(ledger, server.url, server.version, net, places, budget, report)
        finally:
            ledger.close()
    finally:
        server.cleanup()


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
