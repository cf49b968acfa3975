"""How much work each measurement does: the standard set (a few minutes on 2 cores) and --quick (the same
rows with a fraction of the calls, for tests and a first look; its figures are rougher)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Budget:
    atp_loops: int  # loops of `atp_calls` single-SKU calls; the figure is the median loop
    atp_calls: int
    atp_draws: int  # 10,000-SKU calls, a new random draw each
    event_batches: int  # batches of EVENT_BATCH stock events, in-process
    hold_cycles: int  # one-line reserve + release, in-process
    routing_orders: int
    routing_warmup: int
    quote_carts: int
    batch_orders: int  # one wave routed jointly
    batch_time_limit_s: float
    redis_event_batches: int
    redis_hold_cycles: int
    grpc_clients: int  # concurrent clients of the load generator
    grpc_seconds: float  # per kind of call and round
    grpc_rounds: int
    grpc_event_batches: int


EVENT_BATCH = 5_000

STANDARD = Budget(
    atp_loops=15,
    atp_calls=10_000,
    atp_draws=100,
    event_batches=40,
    hold_cycles=5_000,
    routing_orders=500,
    routing_warmup=30,
    quote_carts=200,
    batch_orders=500,
    batch_time_limit_s=10.0,
    redis_event_batches=20,
    redis_hold_cycles=2_000,
    grpc_clients=16,
    grpc_seconds=2.0,
    grpc_rounds=4,
    grpc_event_batches=20,
)

QUICK = Budget(
    atp_loops=5,
    atp_calls=5_000,
    atp_draws=20,
    event_batches=4,
    hold_cycles=300,
    routing_orders=60,
    routing_warmup=10,
    quote_carts=20,
    batch_orders=100,
    batch_time_limit_s=5.0,
    redis_event_batches=2,
    redis_hold_cycles=200,
    grpc_clients=8,
    grpc_seconds=0.4,
    grpc_rounds=2,
    grpc_event_batches=2,
)


def percentiles(seconds: Sequence[float], scale: float) -> tuple[float, float]:
    """(p50, p99) of durations in seconds, times `scale` (1e3 for ms, 1e6 for µs)."""
    a = np.asarray(seconds, dtype=np.float64) * scale
    return round(float(np.percentile(a, 50)), 3), round(float(np.percentile(a, 99)), 3)
