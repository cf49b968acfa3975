"""One run of the standard set: the network, then every selected suite in a fixed order, into Results."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from availability import _kernels as AK
from router import _kernels as RK

from .budget import QUICK, STANDARD, Budget
from .grpc_rows import grpc_rows
from .inprocess import atp_rows, batch_rows, memory_ledger_rows, quote_rows, routing_rows
from .machine import machine_info
from .network import DEFAULT_CACHE, BenchNetwork, bench_network
from .progress import Report, quiet
from .redis_rows import redis_rows
from .results import Results, Row
from .workload import Place, hold_places

SIZES = ("demo", "small", "medium")
# suite: (what it measures, its share of the run's time, for the progress bar)
SUITES: dict[str, tuple[str, float]] = {
    "atp": ("ATP kernels in-process: one SKU over 2,000 locations, 10,000 SKUs a call", 1.0),
    "ledger": ("the embedded ledger in-process: stock events, one-line holds", 1.0),
    "routing": ("routing one order (1-10 lines) in-process", 1.0),
    "quote": ("checkout quotes of 5-line carts in-process", 1.0),
    "batch": ("a wave of orders routed jointly, against sequential routing and the LP bound", 2.0),
    "redis": ("the Redis ledger on a throw-away redis-server: stock events, one-line holds", 1.5),
    "grpc": ("the gRPC service under concurrent clients against Ping; ApplyStockEvents", 3.0),
}


class OptionsError(ValueError):
    """A bad option; the message names it and its value."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    size: str = "small"
    seed: int = 7
    quick: bool = False
    only: tuple[str, ...] = tuple(SUITES)
    cache: Path = DEFAULT_CACHE
    places: int = field(default=2_000)  # hold places drawn from the network

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise OptionsError(f"--size {self.size!r}: must be one of {', '.join(SIZES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise OptionsError(f"--seed {self.seed!r}: must be a whole number >= 0")
        if not self.only:
            raise OptionsError("--only: name at least one suite")
        unknown = [s for s in self.only if s not in SUITES]
        if unknown:
            raise OptionsError(f"--only {','.join(unknown)}: unknown suite; the suites are {', '.join(SUITES)}")

    @property
    def budget(self) -> Budget:
        return QUICK if self.quick else STANDARD


def parse_only(text: str | None) -> tuple[str, ...]:
    """`--only atp,grpc` as suite names in the standard order (duplicates dropped)."""
    if text is None:
        return tuple(SUITES)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES]
    if unknown or not names:
        raise OptionsError(
            f"--only {text!r}: " + (f"unknown suite {', '.join(unknown)}; " if unknown else "no suite named; ")
            + f"the suites are {', '.join(SUITES)}"
        )
    return tuple(s for s in SUITES if s in names)


Suite = Callable[[BenchNetwork, list[Place], Budget, Report], list[Row]]


def _suites() -> dict[str, Suite]:
    return {
        "atp": lambda n, p, b, r: atp_rows(n, b, r),
        "ledger": memory_ledger_rows,
        "routing": lambda n, p, b, r: routing_rows(n, b, r),
        "quote": lambda n, p, b, r: quote_rows(n, b, r),
        "batch": lambda n, p, b, r: batch_rows(n, b, r),
        "redis": redis_rows,
        "grpc": grpc_rows,
    }


def run_bench(options: BenchOptions, *, command: str = "omniroute bench", report: Report = quiet) -> Results:
    started = time.perf_counter()
    machine = machine_info()  # before the run: the load average says how busy the machine was
    total = 0.5 + sum(SUITES[s][1] for s in options.only)
    done = 0.0

    def part(weight: float) -> Report:
        base = done

        def say(stage: str, fraction: float) -> None:
            report(stage, min(1.0, (base + weight * max(0.0, min(1.0, fraction))) / total))

        return say

    net = bench_network(options.size, options.seed, options.cache, part(0.5))
    done += 0.5
    part(0.0)("compiling the kernels (numba cache)", 0.0)
    AK.warm_up()
    RK.warm_up()
    places: list[Place] = []
    if {"ledger", "redis", "grpc"} & set(options.only):
        places = hold_places(net.snapshot, options.places, options.seed)
    rows: list[Row] = []
    suites = _suites()
    for name in options.only:
        weight = SUITES[name][1]
        rows += suites[name](net, places, options.budget, part(weight))
        done += weight
        gc.collect()  # one suite's garbage is not collected inside the next one's timings
    report("done", 1.0)
    if hasattr(os, "getloadavg"):  # and after it: a busy machine at either end explains noisy wall figures
        machine["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    options_json: dict[str, Any] = {
        "size": options.size,
        "seed": options.seed,
        "quick": options.quick,
        "only": list(options.only),
        "budget": asdict(options.budget),
    }
    return Results(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        options=options_json,
        machine=machine,
        network=net.describe(),
        rows=tuple(rows),
        elapsed_s=time.perf_counter() - started,
    )

