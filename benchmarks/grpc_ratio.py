"""How close the hot RPCs stay to the gRPC floor: GetAvailability (1 and 1,000 SKUs) and one-line Reserve
(holds at a location and at the channel's network) against a no-op Ping on the same server in the same
run, and ApplyStockEvents throughput in batches of 5,000.

Starts the real server (`omniroute serve --port 0`, demo network unless --size says otherwise) in a
subprocess and calls it from this process with the generated stubs, sequentially, in interleaved rounds
so that drift (thermal, noisy neighbours) hits every kind of call alike. Reports, per kind of call, the
client-side latency (median, mean) and the server's CPU time per call (from /proc/<pid>/stat), and the
ratios to Ping. Server CPU is the figure the targets are about: it is what a call costs the service.

    python benchmarks/grpc_ratio.py                 # demo network
    python benchmarks/grpc_ratio.py --size medium   # 600 locations, 100k SKUs
    python benchmarks/grpc_ratio.py --compare-sync  # also: no-op unary on grpc.aio vs the sync server
    python benchmarks/grpc_ratio.py --availability-only --size medium   # Ping and GetAvailability only

GetAvailability of 1,000 SKUs is measured twice: the same request every call (its SKUs stay in the
server's caches), and a different random request each call (from 64 made beforehand). Before the gRPC
rounds, the client resolves 1,000 random ids of the same network in-process, the three ways the server
has had (--lookup-only stops there): a dict probe per id (IdIndex.lookup_many before its hash table),
IdIndex.lookup_many (one numba call over the joined ids), IdIndex.lookup_wire (one numba call over the
request's wire bytes, what GetAvailability does).

Holds are also measured for throughput: --threads client threads on one channel keep calls in flight
for --seconds per kind, Ping and Reserve alternating, so holds/s and no-op calls/s come from the same
server under the same load. Every hold is new (its own reservation id), one unit of a SKU that still has
stock there, spread over many SKUs so that none runs out.

Targets (issue 2): GetAvailability(1 SKU) <= 1.3x Ping, (1,000 SKUs) <= 2x Ping, ApplyStockEvents >= 50,000
events/s in batches of 5,000. Issue 3: one-line holds/s over gRPC at least half of no-op calls/s.
Measured, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import timestamp_pb2

from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import availability_pb2_grpc, diagnostics_pb2_grpc, inventory_pb2_grpc, reservation_pb2_grpc
from omniroute.v1 import diagnostics_pb2 as dpb
from omniroute.v1 import inventory_pb2 as ipb
from omniroute.v1 import reservation_pb2 as rpb

ROOT = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def start_server(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniroute.cli", "serve", "--port", "0", "--log-level", "info", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    target = ""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"server exited with {proc.wait()}")
        m = re.search(r"listening on (\S+:\d+)", line)
        if m:
            target = m.group(1).rstrip(",")
        if "serving (ready" in line:
            return proc, target
    raise SystemExit("server did not become ready")


@dataclass
class Series:
    name: str
    latencies: list[float]
    cpu: float = 0.0
    calls: int = 0

    @property
    def cpu_per_call_us(self) -> float:
        return 1e6 * self.cpu / self.calls

    @property
    def median_us(self) -> float:
        return 1e6 * statistics.median(self.latencies)

    @property
    def mean_us(self) -> float:
        return 1e6 * statistics.fmean(self.latencies)


def measure(pid: int, kinds: dict[str, Callable[[], Any]], calls: int, rounds: int) -> dict[str, Series]:
    out = {name: Series(name, []) for name in kinds}
    per_round = max(1, calls // rounds)
    for name, fn in kinds.items():  # warm-up: connection, caches, branch predictors
        for _ in range(300):
            fn()
        del name
    for _ in range(rounds):
        for name, fn in kinds.items():
            s = out[name]
            lat = s.latencies
            c0 = cpu_seconds(pid)
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                lat.append(time.perf_counter() - t0)
            s.cpu += cpu_seconds(pid) - c0
            s.calls += per_round
    return out


def event_batches(size: str, seed: int, batches: int, per_batch: int) -> list[ipb.ApplyStockEventsRequest]:
    from omniroute.networkgen import generate_network

    snap = generate_network(size, seed=seed)
    rng = np.random.default_rng(1)
    n = batches * per_batch
    # existing positions, so every event is a real update (a few receipts create new ones too)
    pick = rng.integers(0, snap.positions, n)
    skus = [snap.skus[i].id for i in snap.stock_sku[pick].tolist()]
    locs = [snap.locations[i].id for i in snap.stock_loc[pick].tolist()]
    kinds = rng.choice([ipb.RECEIPT, ipb.SALE, ipb.ADJUSTMENT], n, p=[0.45, 0.45, 0.1]).tolist()
    qty = rng.integers(1, 4, n).tolist()
    now_ms = int(time.time() * 1000)
    out = []
    stamp = timestamp_pb2.Timestamp()
    run_id = os.getpid()
    for b in range(batches):
        req = ipb.ApplyStockEventsRequest()
        for k in range(b * per_batch, (b + 1) * per_batch):
            stamp.FromMilliseconds(now_ms - n + k)
            # sales are kept to one unit so that stock rarely runs out; the ledger allows negatives anyway
            req.events.add(
                event_id=f"bench-{run_id}-{k}",
                type=kinds[k],
                location=locs[k],
                sku=skus[k],
                quantity=qty[k] if kinds[k] != ipb.SALE else 1,
                occurred_at=stamp,
            )
        out.append(req)
    return out


def hold_places(
    avail: availability_pb2_grpc.AvailabilityServiceStub, sku_ids: list[str], per_location: int, per_network: int
) -> tuple[list[tuple[str, str]], list[str]]:
    """(sku, location) pairs whose web ATP covers `per_location` one-unit holds each, and SKUs whose
    network ATP covers `per_network`, asked of the server itself so that no hold in the run can fail for
    want of stock. A network hold and a location hold of the same SKU compete for its units, so the two
    pools use different SKUs (even and odd)."""
    locs: list[tuple[str, str]] = []
    nets: list[str] = []
    for k in range(0, len(sku_ids), 1000):
        chunk = sku_ids[k : k + 1000]
        a = avail.GetAvailability(apb.GetAvailabilityRequest(skus=chunk, channel="web", per_location=True))
        nets += [s for j, (s, q) in enumerate(zip(chunk, a.quantity, strict=True)) if j % 2 == 0 and q >= per_network]
        cols = a.locations
        locs += [
            (chunk[i], loc)
            for i, loc, q in zip(cols.sku_index, cols.location, cols.quantity, strict=True)
            if i % 2 == 1 and q >= per_location
        ]
    return locs, nets


def hold_requests(places: list[tuple[str, str]], per_place: int, tag: str) -> Iterator[rpb.ReserveRequest]:
    """One-line holds of one unit, round robin over places, `per_place` rounds; then the iterator ends
    (StopIteration: the run needs more stock than the network has, rather than failing holds). Built on
    demand: a few microseconds of client CPU per call, against a round trip of hundreds."""
    for k, (sku, loc) in enumerate(itertools.chain.from_iterable(itertools.repeat(places, per_place))):
        yield rpb.ReserveRequest(
            reservation_id=f"bench-{tag}-{k}", channel="web", lines=[rpb.HoldLine(sku=sku, quantity=1, location=loc)]
        )


def throughput(
    pid: int, kinds: dict[str, Callable[[], Any]], threads: int, seconds: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """calls/s and server CPU per call (us) of each kind, with `threads` callers each keeping one call in
    flight; kinds alternate within every round."""
    done = {name: [0, 0.0, 0.0] for name in kinds}  # calls, wall, cpu
    for _ in range(rounds):
        for name, fn in kinds.items():
            stop = time.perf_counter() + seconds
            counts = [0] * threads

            def caller(i: int, fn: Callable[[], Any] = fn, stop: float = stop, counts: list[int] = counts) -> None:
                n = 0
                while time.perf_counter() < stop:
                    fn()
                    n += 1
                counts[i] = n

            pool = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
            c0 = cpu_seconds(pid)
            t0 = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            d = done[name]
            d[0] += sum(counts)
            d[1] += time.perf_counter() - t0
            d[2] += cpu_seconds(pid) - c0
    return {name: (c / w, 1e6 * cpu / c) for name, (c, w, cpu) in done.items()}


SYNC_VS_AIO = r"""
import asyncio, sys
from concurrent import futures
import grpc
from omniroute.v1 import diagnostics_pb2 as d, diagnostics_pb2_grpc as dg
mode = sys.argv[1]
PONG = d.PingResponse()
if mode == "aio":
    class S(dg.DiagnosticsServiceServicer):
        async def Ping(self, request, context):
            return PONG
    async def main():
        s = grpc.aio.server()
        dg.add_DiagnosticsServiceServicer_to_server(S(), s)
        port = s.add_insecure_port("127.0.0.1:0")
        await s.start(); print(port, flush=True)
        await s.wait_for_termination()
    asyncio.run(main())
else:
    class T(dg.DiagnosticsServiceServicer):
        def Ping(self, request, context):
            return PONG
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    dg.add_DiagnosticsServiceServicer_to_server(T(), s)
    port = s.add_insecure_port("127.0.0.1:0")
    s.start(); print(port, flush=True); s.wait_for_termination()
"""


def compare_sync(calls: int) -> None:
    print("\nno-op unary, sequential client: grpc.aio server vs sync (thread pool) server")
    for mode in ("aio", "sync", "aio", "sync"):
        proc = subprocess.Popen(
            [sys.executable, "-c", SYNC_VS_AIO, mode], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        ping = functools.partial(stub.Ping, dpb.PingRequest())
        s = measure(proc.pid, {"ping": ping}, calls, 5)["ping"]
        print(
            f"  {mode:5s} latency median {s.median_us:6.0f} us  mean {s.mean_us:6.0f} us  "
            f"server CPU {s.cpu_per_call_us:6.0f} us/call"
        )
        channel.close()
        proc.terminate()
        proc.wait()


def report(results: dict[str, Series]) -> None:
    base = results["Ping (no-op)"]
    header = ("call", "median", "mean", "server CPU", "CPU ratio", "latency ratio")
    print("\n{:28s} {:>9s} {:>9s} {:>11s} {:>10s} {:>14s}".format(*header))
    for s in results.values():
        print(
            f"{s.name:28s} {s.median_us:7.0f}us {s.mean_us:7.0f}us {s.cpu_per_call_us:9.0f}us "
            f"{s.cpu_per_call_us / base.cpu_per_call_us:9.2f}x {s.median_us / base.median_us:13.2f}x"
        )


def id_lookups(size: str, seed: int, n: int = 1000, draws: int = 64, loops: int = 5) -> None:
    """µs to resolve n random SKU ids of the network to indices in this process, three ways: median over
    `draws` different draws (so the ids are not all in cache), best of `loops` passes."""
    from itertools import repeat

    from availability.catalog import IdIndex
    from omniroute.networkgen import generate_network

    snap = generate_network(size, seed=seed)
    ids = [s.id for s in snap.skus]
    del snap
    index = IdIndex("sku", ids)
    as_dict = {s: i for i, s in enumerate(ids)}
    rng = np.random.default_rng(seed + 1)
    picks = [[ids[i] for i in rng.choice(len(ids), min(n, len(ids)), replace=False).tolist()] for _ in range(draws)]
    wires = [apb.GetAvailabilityRequest(skus=p, channel="web").SerializeToString() for p in picks]
    field = apb.GetAvailabilityRequest.SKUS_FIELD_NUMBER
    ways: dict[str, Callable[[int], Any]] = {
        "dict probe per id (before)": lambda k: np.fromiter(
            map(as_dict.get, picks[k], repeat(-1)), dtype=np.int64, count=len(picks[k])
        ),
        "IdIndex.lookup_many (ids)": lambda k: index.lookup_many(picks[k]),
        "IdIndex.lookup_wire (request)": lambda k: index.lookup_wire(wires[k], field, len(picks[k])),
    }
    for fn in ways.values():  # warm-up, and every way agrees
        assert all(np.array_equal(fn(k), ways["dict probe per id (before)"](k)) for k in range(draws))
    print(f"in-process id lookups, {len(picks[0]):,} random ids of {len(ids):,} ({size}), median of {draws} draws:")
    for name, fn in ways.items():
        best = []
        for k in range(draws):
            t = []
            for _ in range(loops):
                t0 = time.perf_counter()
                fn(k)
                t.append(time.perf_counter() - t0)
            best.append(min(t))
        print(f"  {name:32s} {1e6 * statistics.median(best):7.1f} us")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="demo", help="demo network size (demo, small, medium, large)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4000, help="calls per kind")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=20, help="ApplyStockEvents batches of 5,000")
    parser.add_argument("--compare-sync", action="store_true")
    parser.add_argument("--threads", type=int, default=8, help="client threads of the holds/s throughput run")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per kind and round (throughput)")
    parser.add_argument(
        "--availability-only", action="store_true", help="Ping and GetAvailability only: no holds, no events"
    )
    parser.add_argument("--lookup-only", action="store_true", help="the in-process id lookups only: no server")
    ns = parser.parse_args()

    id_lookups(ns.size, ns.seed)
    if ns.lookup_only:
        return

    proc, target = start_server(["--demo-size", ns.size, "--demo-seed", str(ns.seed)])
    try:
        channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        diag = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        avail = availability_pb2_grpc.AvailabilityServiceStub(channel)
        inv = inventory_pb2_grpc.InventoryServiceStub(channel)
        info = diag.GetServerInfo(dpb.GetServerInfoRequest())
        rng = np.random.default_rng(ns.seed)
        sku_ids = [f"SKU{i + 1:06d}" for i in range(info.skus)]
        one = apb.GetAvailabilityRequest(skus=[sku_ids[0]], channel="web")
        many = apb.GetAvailabilityRequest(
            skus=[sku_ids[i] for i in rng.choice(info.skus, min(1000, info.skus), replace=False).tolist()],
            channel="web",
        )
        randoms = itertools.cycle(
            [
                apb.GetAvailabilityRequest(
                    skus=[sku_ids[i] for i in rng.choice(info.skus, min(1000, info.skus), replace=False).tolist()],
                    channel="web",
                )
                for _ in range(64)
            ]
        )
        ping = dpb.PingRequest()
        res = reservation_pb2_grpc.ReservationServiceStub(channel)
        check = avail.GetAvailability(many)
        assert len(check.quantity) == len(many.skus) and not any(check.unknown), (
            "SKU ids do not match the server"
        )
        print(
            f"server {target}: {info.version}, {info.locations} locations, {info.skus:,} SKUs, "
            f"{info.positions:,} positions; {os.cpu_count()} CPUs; grpcio {grpc.__version__}"
        )
        kinds: dict[str, Callable[[], Any]] = {
            "Ping (no-op)": lambda: diag.Ping(ping),
            "GetAvailability 1 SKU": lambda: avail.GetAvailability(one),
            "GetAvailability 1,000 SKUs": lambda: avail.GetAvailability(many),
            "GetAvailability 1,000 random": lambda: avail.GetAvailability(next(randoms)),
        }
        if ns.availability_only:
            report(measure(proc.pid, kinds, ns.calls, ns.rounds))
            return
        per_location, per_network = 3, 20
        loc_places, net_skus = hold_places(avail, sku_ids, per_location, per_network)
        loc_holds = hold_requests(loc_places, per_location, "loc")
        net_holds = hold_requests([(s, "") for s in net_skus], per_network, "net")
        print(
            f"room for {len(loc_places) * per_location:,} location holds and {len(net_skus) * per_network:,} "
            "network holds of one unit"
        )
        kinds["Reserve 1 line @location"] = lambda: res.Reserve(next(loc_holds))
        kinds["Reserve 1 line @network"] = lambda: res.Reserve(next(net_holds))
        results = measure(proc.pid, kinds, ns.calls, ns.rounds)
        report(results)
        base = results["Ping (no-op)"]
        for name in ("Reserve 1 line @location", "Reserve 1 line @network"):
            s = results[name]
            print(
                f"{name}, sequential client: {1e6 / s.mean_us:,.0f} holds/s against {1e6 / base.mean_us:,.0f} "
                f"no-op calls/s = {base.mean_us / s.mean_us:.2f} (goal >= 0.5)"
            )

        lock = threading.Lock()

        def one_hold() -> None:
            with lock:  # iterators are not thread-safe
                req = next(loc_holds)
            res.Reserve(req)

        rates = throughput(
            proc.pid,
            {"Ping (no-op)": lambda: diag.Ping(ping), "Reserve 1 line @location": one_hold},
            ns.threads,
            ns.seconds,
            ns.rounds // 2 or 1,
        )
        (ping_rate, ping_cpu), (hold_rate, hold_cpu) = rates.values()
        print(
            f"\n{ns.threads} client threads, {ns.seconds:g} s a kind x {ns.rounds // 2 or 1} rounds: "
            f"Ping {ping_rate:,.0f} calls/s ({ping_cpu:.0f} us server CPU/call), Reserve 1 line "
            f"{hold_rate:,.0f} holds/s ({hold_cpu:.0f} us server CPU/call): ratio {hold_rate / ping_rate:.2f} "
            f"(goal >= 0.5)"
        )

        batches = event_batches(ns.size, ns.seed, ns.batches + 2, 5000)
        for req in batches[:2]:  # warm-up
            inv.ApplyStockEvents(req, timeout=60)
        c0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        applied = 0
        for req in batches[2:]:
            resp = inv.ApplyStockEvents(req, timeout=60)
            applied += resp.applied
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - c0
        n = 5000 * ns.batches
        print(
            f"\nApplyStockEvents, {ns.batches} batches of 5,000: {n / wall:,.0f} events/s "
            f"({1e3 * wall / ns.batches:.1f} ms a batch, server CPU {1e6 * cpu / n:.1f} us/event, "
            f"{applied:,} applied)"
        )
        channel.close()
    finally:
        proc.terminate()
        proc.wait(30)
    if ns.compare_sync:
        compare_sync(ns.calls)


if __name__ == "__main__":
    main()
