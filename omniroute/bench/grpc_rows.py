"""The standard set's gRPC rows: the service end to end under a load generator, against a no-op call on
the same server in the same run.

The server is `omniroute serve --data <the benchmark's network>` (embedded ledger) in a subprocess on a
free port, so that its CPU time can be read from /proc apart from the clients'. The load generator is
this process: `clients` concurrent clients (grpc.aio, each on its own channel), each with one call in
flight at a time, for `seconds` per kind of call, the kinds in turn and the turns repeated `rounds` times
(drift on a shared machine hits every kind alike). Kinds: Ping (the no-op), GetAvailability of 1 SKU and
of 1,000 SKUs (a different request each call, from 64 made beforehand), and one-line Reserve (one unit,
new ids, places with room; every hold of a turn is released after it, untimed).

Per kind: calls/s, p50/p99 latency, the server's CPU time a call. The ratio to Ping is the server CPU a
call for GetAvailability (issue 2: <= 1.3x for 1 SKU, <= 2x for 1,000) and holds/s over Ping calls/s for
Reserve (issue 3: >= 0.5). Then ApplyStockEvents in batches of 5,000 from one client (>= 50,000 events/s).
The clients share this process's Python with each other, not with the server: with 2 cores, the client
process can be what limits calls/s (Ping's most of all), which is why the GetAvailability ratios are
taken on server CPU.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import numpy as np
from google.protobuf import timestamp_pb2

from omniroute.processes import stop_process
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc, diagnostics_pb2_grpc, inventory_pb2_grpc, reservation_pb2_grpc
from omniroute.v1 import diagnostics_pb2 as dpb
from omniroute.v1 import inventory_pb2 as ipb
from omniroute.v1 import reservation_pb2 as rpb

from .budget import EVENT_BATCH, Budget, percentiles
from .network import BenchNetwork
from .progress import Report
from .results import Goal, Row
from .workload import CHANNEL, Place, slots, stock_event_batches

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_READY_S = 600.0


class ServerProcess:
    """`with ServerProcess(data_dir) as server:` `omniroute serve` on a free port of 127.0.0.1, ready to
    serve; terminated on exit. OMNIROUTE_* variables are not passed on: the server is the default one
    (embedded ledger, no tokens, no TLS) on the benchmark's network whatever the caller's environment."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = Path(tempfile.mkdtemp(prefix="omniroute-bench-serve-"))
        self.log = self.log_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.target = ""

    def __enter__(self) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "omniroute.cli", "serve", "--host", "127.0.0.1", "--port", "0",
                 "--data", str(self.data_dir), "--log-level", "info"],
                stdout=subprocess.DEVNULL, stderr=log, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + _READY_S
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            m = re.search(r"listening on (\S+:\d+)", text)
            if m and "serving (ready" in text:
                self.target = m.group(1).rstrip(",")
                return self
            if self.proc.poll() is not None:
                self._stop()
                raise RuntimeError(f"omniroute serve exited with {self.proc.returncode}:\n{text[-2000:]}")
            time.sleep(0.05)
        self._stop()
        raise RuntimeError(f"omniroute serve was not ready after {_READY_S:.0f} s")

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        stop_process(self.proc, 30)
        self.log.unlink(missing_ok=True)
        self.log_dir.rmdir()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all its threads."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Stubs:
    channel: grpc.aio.Channel
    diag: Any
    avail: Any
    res: Any
    inv: Any

    @classmethod
    def open(cls, target: str) -> Stubs:
        ch = grpc.aio.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        return cls(
            ch,
            diagnostics_pb2_grpc.DiagnosticsServiceStub(ch),
            availability_pb2_grpc.AvailabilityServiceStub(ch),
            reservation_pb2_grpc.ReservationServiceStub(ch),
            inventory_pb2_grpc.InventoryServiceStub(ch),
        )


@dataclass
class Tally:
    """One kind of call over every round."""

    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0  # the server's
    client_cpu: float = 0.0  # this process's: near `wall`, the load generator is what limits calls/s
    latencies: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.calls / self.wall

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.calls


Call = Callable[[Stubs, int], Awaitable[object]]  # (the client's stubs, the client's number)


async def _phase(server: ServerProcess, clients: list[Stubs], call: Call, seconds: float, tally: Tally) -> None:
    """Every client calls in a loop for `seconds`, one call in flight each."""
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        stubs = clients[i]
        lat = tally.latencies
        while (t0 := time.perf_counter()) < stop:
            try:
                await call(stubs, i)
            except OutOfRoom:
                return
            lat.append(time.perf_counter() - t0)
            tally.calls += 1

    c0, w0, p0 = server.cpu_seconds(), time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(i) for i in range(len(clients))))
    tally.wall += time.perf_counter() - w0
    tally.cpu += server.cpu_seconds() - c0
    tally.client_cpu += time.process_time() - p0


async def burst(clients: list[Stubs], call: Call, calls: int) -> list[float]:
    """`calls` calls shared by the clients, one in flight each; the latency of each (pytest-benchmark's
    rounds: a fixed amount of work rather than a fixed time)."""
    lat: list[float] = []
    share = [calls // len(clients) + (i < calls % len(clients)) for i in range(len(clients))]

    async def client(i: int) -> None:
        stubs = clients[i]
        for _ in range(share[i]):
            t0 = time.perf_counter()
            await call(stubs, i)
            lat.append(time.perf_counter() - t0)

    await asyncio.gather(*(client(i) for i in range(len(clients))))
    return lat


class OutOfRoom(Exception):
    """No place has room for one more hold in this turn: the client stops early."""


class Holds:
    """One-line holds of one unit over the places' slots; every id made is kept until released."""

    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self.made: list[str] = []
        self._n = itertools.count()
        self._slots: Iterator[Place] = slots(places)

    def request(self) -> rpb.ReserveRequest:
        p = next(self._slots, None)
        if p is None:
            raise OutOfRoom
        rid = f"bench-grpc-{next(self._n)}"
        self.made.append(rid)
        return rpb.ReserveRequest(
            reservation_id=rid, channel=CHANNEL, lines=[rpb.HoldLine(sku=p.sku, quantity=1, location=p.location)]
        )

    async def release_all(self, clients: list[Stubs]) -> None:
        made, self.made = self.made, []
        for k in range(0, len(made), len(clients)):
            await asyncio.gather(
                *(clients[j].res.Release(rpb.ReleaseRequest(reservation_id=rid))
                  for j, rid in enumerate(made[k : k + len(clients)]))
            )  # fmt: skip
        self._slots = slots(self.places)


def _event_requests(net: BenchNetwork, batches: int) -> list[ipb.ApplyStockEventsRequest]:
    out = []
    stamp = timestamp_pb2.Timestamp()
    for batch in stock_event_batches(net.snapshot, batches, EVENT_BATCH, net.seed + 3, f"bench-grpc-{os.getpid()}"):
        req = ipb.ApplyStockEventsRequest()
        for e in batch:
            stamp.FromMilliseconds(e.occurred_at)
            req.events.add(
                event_id=e.event_id,
                type=ipb.StockEventType.Value(e.type.value.upper()),
                location=e.location,
                sku=e.sku,
                quantity=e.quantity,
                occurred_at=stamp,
            )
        out.append(req)
    return out


async def _run(
    server: ServerProcess, net: BenchNetwork, places: list[Place], budget: Budget, report: Report
) -> tuple[dict[str, Tally], dict[str, Any]]:
    rng = np.random.default_rng(net.seed)
    sku_ids = [s.id for s in net.snapshot.skus]
    ones = itertools.cycle(
        [apb.GetAvailabilityRequest(skus=[sku_ids[i]], channel=CHANNEL) for i in rng.integers(0, len(sku_ids), 256)]
    )
    k = min(1000, len(sku_ids))
    thousands = itertools.cycle(
        [
            apb.GetAvailabilityRequest(skus=[sku_ids[i] for i in rng.choice(len(sku_ids), k, replace=False)],
                                       channel=CHANNEL)
            for _ in range(64)
        ]
    )  # fmt: skip
    holds = Holds(places)
    ping = dpb.PingRequest()
    kinds: dict[str, Call] = {
        "ping": lambda s, i: s.diag.Ping(ping),
        "availability_1": lambda s, i: s.avail.GetAvailability(next(ones)),
        "availability_1000": lambda s, i: s.avail.GetAvailability(next(thousands)),
        "reserve_1_line": lambda s, i: s.res.Reserve(holds.request()),
    }
    clients = [Stubs.open(server.target) for _ in range(budget.grpc_clients)]
    try:
        check = await clients[0].avail.GetAvailability(next(thousands))
        if any(check.unknown):
            raise RuntimeError("the server's SKUs are not the benchmark network's")
        for call in kinds.values():  # connections up, caches warm
            await asyncio.gather(*(call(c, i) for i, c in enumerate(clients)))
        await holds.release_all(clients)
        tallies = {name: Tally() for name in kinds}
        steps = budget.grpc_rounds * len(kinds)
        for r in range(budget.grpc_rounds):
            for j, (name, call) in enumerate(kinds.items()):
                report(f"gRPC, {budget.grpc_clients} clients: {name} (round {r + 1})", (r * len(kinds) + j) / steps)
                await _phase(server, clients, call, budget.grpc_seconds, tallies[name])
                if name == "reserve_1_line":
                    await holds.release_all(clients)

        report("gRPC: ApplyStockEvents, batches of 5,000", 1.0)
        requests = _event_requests(net, budget.grpc_event_batches + 1)
        inv = clients[0].inv
        await inv.ApplyStockEvents(requests[0], timeout=120)  # warm-up
        walls = []
        applied = 0
        c0 = server.cpu_seconds()
        for req in requests[1:]:
            t0 = time.perf_counter()
            resp = await inv.ApplyStockEvents(req, timeout=120)
            walls.append(time.perf_counter() - t0)
            applied += resp.applied
        events = {"walls": walls, "applied": applied, "cpu": server.cpu_seconds() - c0}
        return tallies, events
    finally:
        for c in clients:
            await c.channel.close(None)


def grpc_rows(net: BenchNetwork, places: list[Place], budget: Budget, report: Report) -> list[Row]:
    report("gRPC: starting omniroute serve", 0.0)
    with ServerProcess(net.directory) as server:
        tallies, events = asyncio.run(_run(server, net, places, budget, report))
    ping = tallies["ping"]
    clients = budget.grpc_clients
    rows = []
    titles = {
        "ping": "Ping (no-op) over gRPC",
        "availability_1": "GetAvailability of 1 SKU over gRPC",
        "availability_1000": "GetAvailability of 1,000 random SKUs over gRPC",
        "reserve_1_line": "one-line Reserve over gRPC (embedded ledger)",
    }
    goals = {
        "availability_1": (Goal("ratio", "<=", 1.3, "≤ 1.3x Ping"),),
        "availability_1000": (Goal("ratio", "<=", 2.0, "≤ 2x Ping"),),
        "reserve_1_line": (Goal("ratio", ">=", 0.5, "≥ 0.5 of Ping's rate"),),
    }
    for name, t in tallies.items():
        p50, p99 = percentiles(t.latencies, 1e3)
        cpu_ratio = t.cpu_us / ping.cpu_us
        rate_ratio = t.per_s / ping.per_s
        is_hold = name == "reserve_1_line"
        rows.append(
            Row(
                key=f"grpc.{name}",
                suite="grpc",
                title=f"{titles[name]}, {clients} concurrent clients",
                unit="holds/s" if is_hold else "calls/s",
                higher_is_better=True,
                figure=round(t.per_s),
                p50=p50,
                p99=p99,
                latency_unit="ms a call",
                ratio=round(rate_ratio if is_hold else cpu_ratio, 3),
                ratio_of="calls/s / Ping's calls/s" if is_hold else "server CPU a call / Ping's",
                goals=goals.get(name, ()),
                detail={
                    "calls": t.calls,
                    "server_cpu_us_per_call": round(t.cpu_us, 1),
                    "client_cpu_us_per_call": round(1e6 * t.client_cpu / t.calls, 1),
                    "client_busy_share": round(t.client_cpu / t.wall, 2),
                    "cpu_ratio_to_ping": round(cpu_ratio, 3),
                    "rate_ratio_to_ping": round(rate_ratio, 3),
                    "clients": clients,
                    "seconds_per_round": budget.grpc_seconds,
                    "rounds": budget.grpc_rounds,
                },
            )
        )
    walls = events["walls"]
    n = EVENT_BATCH * len(walls)
    p50, p99 = percentiles(walls, 1e3)
    rows.append(
        Row(
            key="grpc.stock_events",
            suite="grpc",
            title=f"ApplyStockEvents over gRPC, batches of {EVENT_BATCH:,}, one client (embedded ledger)",
            unit="events/s",
            higher_is_better=True,
            figure=round(n / sum(walls)),
            p50=p50,
            p99=p99,
            latency_unit="ms a batch",
            goals=(Goal("figure", ">=", 50_000, "≥ 50,000/s"),),
            detail={
                "events": n,
                "applied": events["applied"],
                "server_cpu_us_per_event": round(1e6 * events["cpu"] / n, 2),
            },
        )
    )
    return rows
