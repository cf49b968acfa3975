"""Hold benchmarks (issue 3, "Must show"): reservations on the embedded and the Redis ledger, in-process
and over gRPC, side by side in one run on one machine.

    python benchmarks/bench_holds.py                  # the whole protocol, a few minutes
    python benchmarks/bench_holds.py --quick          # the same, shorter (under a minute)
    python benchmarks/bench_holds.py --json out.json  # results as JSON (default bench-results/holds.json)
    python benchmarks/bench_holds.py --profile        # also: cProfile of one-line holds on Redis

Data: the demo network (omniroute.networkgen.generate_network("demo", seed=7, base_date=today): 64
locations, 3,000 SKUs). Every SKU gets one place, the location where a web hold may take the most
(StockStore.hold_atp), and each hold takes one unit there; a reservation id is never reused. A one-line
reservation holds one SKU at its place; a ten-line one holds ten different SKUs, each at its place (so
with 4 partitions it spans partitions: the saga path). Redis is a private redis-server on a free port
(tests/support/redis_server.py, no persistence), never the one on 6379.

Protocol, in this order:
1. In-process, one caller: reserve then release (each timed on its own), one-line and ten-line in
   interleaved rounds, on the memory ledger, then the Redis ledger with 1 and with 4 partitions. holds/s =
   1 / mean reserve time; a cycle is reserve + release.
2. In the Redis rounds with 1 partition, two more kinds interleaved with the holds: the ledger's own no-op
   script through the same code path (`ledger._scripts.run([noop])`: its connection, its pipeline) and
   redis-py's `evalsha` of the same script. Ratio = median one-line reserve / median no-op (goal: <= 2x).
3. Time inside Redis per hold.lua call (1 partition): CONFIG RESETSTAT, then only one-line reserves, then
   only their releases, then ten-line reserves, then no-ops, reading INFO commandstats after each (the
   EVALSHA usec_per_call, and the commands the script ran, per call); SLOWLOG with log-slower-than 0
   gives the distribution (p50, p99) of the same calls. Issue target: 2-5 us for a one-line hold.
4. Over gRPC: `omniroute serve` in a subprocess (port 0; memory ledger on the same demo network, and the
   Redis ledger on the private server, created beforehand with --grpc-partitions), called through
   omniroute.Client. First one client, sequential: Ping, one-line and ten-line reserve + release,
   interleaved. Then --clients threads, each with its own Client (its own channel), in rounds of: Ping for
   --seconds, one-line reserves for --seconds (new ids, never short of stock), then the release of every
   hold of the round. Reported: calls/s, p50/p99 latency, CPU per call of the server process and of
   redis-server (from /proc), and holds/s over Ping calls/s (goal: at least half).
Why a subprocess and not the in-process ServerThread: with 32 client threads in the server's process the
clients and the server share one GIL, which measures the clients' Python, not the service.

All figures are measured, never asserted. The machine has other work on it: compare figures of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(ROOT))

from availability import StockStore  # noqa: E402
from availability.ledger import MemoryLedger  # noqa: E402
from availability.ledger.redis import RedisLedger  # noqa: E402
from availability.ledger.redis_keys import partition_of  # noqa: E402
from availability.locations import Scope  # noqa: E402
from availability.model import Snapshot  # noqa: E402
from availability.reservations import HoldLine, ReserveRequest  # noqa: E402
from benchmarks.bench_engine import machine  # noqa: E402
from omniroute import client as oc  # noqa: E402
from omniroute.networkgen import generate_network  # noqa: E402
from omniroute.processes import stop_process  # noqa: E402
from omniroute.redis_server import RedisServer  # noqa: E402

CHANNEL = "web"
TEN = 10
_T0 = time.perf_counter()
_TICK = os.sysconf("SC_CLK_TCK")


def progress(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


# ---------------------------------------------------------------------------------------------- data
@dataclass(frozen=True, slots=True)
class Place:
    sku: str
    location: str
    room: int  # units a web hold may take there at the start


def pick_places(snap: Snapshot) -> list[Place]:
    """One place per SKU: the location where a web hold may take the most, if it may take at least 2."""
    store = StockStore.from_snapshot(snap)
    chan = store.network.channel_index(CHANNEL)
    loc_ids = [loc.id for loc in snap.locations]
    best: dict[int, tuple[int, int]] = {}
    for s, li in zip(snap.stock_sku.tolist(), snap.stock_loc.tolist(), strict=True):
        room = store.hold_atp(s, chan, Scope.of_locations((loc_ids[li],)))
        if room > best.get(s, (0, -1))[0]:
            best[s] = (room, li)
    return [Place(snap.skus[s].id, loc_ids[li], room) for s, (room, li) in sorted(best.items()) if room >= 2]


def slots(places: Sequence[Place], cap: int = 20) -> list[Place]:
    """Places repeated by their room (at most `cap`, leaving one unit), every place once before any twice:
    holds taken in this order, one unit each and none released meanwhile, never run short."""
    out: list[Place] = []
    for rep in range(cap):
        out += [p for p in places if p.room - 1 > rep]
    return out


@dataclass
class Requests:
    """Reservation requests with ids never used before (`tag` keeps runs and ledgers apart)."""

    places: list[Place]
    tag: str
    _n: Iterator[int] = field(default_factory=itertools.count)

    def next_id(self) -> str:
        return f"bh-{self.tag}-{next(self._n)}"

    def lines(self, k: int, n: int) -> list[Place]:
        m = len(self.places)
        return [self.places[(k * n + j) % m] for j in range(n)]

    def request(self, n: int) -> ReserveRequest:
        rid = self.next_id()
        k = int(rid.rsplit("-", 1)[1])
        return ReserveRequest(rid, CHANNEL, tuple(HoldLine(p.sku, 1, location=p.location) for p in self.lines(k, n)))


@dataclass
class Accumulating:
    """Requests for holds that stay held: lines taken in turn from slots(places), `n` different SKUs per
    request, so that however many accumulate none is short of stock (until the slots run out)."""

    reqs: Requests
    _slots: Iterator[Place]
    _deferred: list[Place] = field(default_factory=list)

    @classmethod
    def over(cls, reqs: Requests) -> Accumulating:
        return cls(reqs, iter(slots(reqs.places)))

    def request(self, n: int) -> ReserveRequest:
        lines: dict[str, Place] = {}
        skipped: list[Place] = []
        while len(lines) < n:
            p = self._deferred.pop(0) if self._deferred else next(self._slots, None)
            if p is None:
                raise SystemExit("the demo network has no room left for more holds: fewer --inside-calls")
            if p.sku in lines:
                skipped.append(p)  # a second unit of a SKU goes into a later request
            else:
                lines[p.sku] = p
        self._deferred = skipped + self._deferred
        return ReserveRequest(
            self.reqs.next_id(), CHANNEL, tuple(HoldLine(p.sku, 1, location=p.location) for p in lines.values())
        )


# ---------------------------------------------------------------------------------------------- stats
def summary(ns: Sequence[int]) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e3
    if a.size == 0:
        return {"n": 0}
    return {
        "n": int(a.size),
        "p50_us": round(float(np.percentile(a, 50)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "mean_us": round(float(a.mean()), 1),
        "per_s": round(1e6 / float(a.mean())),
    }


Recorder = dict[str, list[int]]


def rounds(steps: dict[str, Callable[[Recorder], None]], n_rounds: int, per_round: int, label: str) -> Recorder:
    """Every step `per_round` times per round, the kinds interleaved round by round (drift hits all alike);
    a warm-up of a tenth of a round each first. Also records, under "cpu <kind>", the CPU time of this
    process (every thread: a Redis replica's readers too) per round of each kind."""
    rec: Recorder = {}
    scratch: Recorder = {}
    for step in steps.values():
        for _ in range(max(5, per_round // 10)):
            step(scratch)
    for r in range(n_rounds):
        for kind, step in steps.items():
            c0 = time.process_time_ns()
            for _ in range(per_round):
                step(rec)
            rec.setdefault(f"cpu {kind}", []).append(time.process_time_ns() - c0)
        progress(f"{label}: round {r + 1}/{n_rounds}")
    return rec


def hold_cycle(ledger: Any, reqs: Requests, lines: int, partitions: int = 1) -> Callable[[Recorder], None]:
    """Reserve a new reservation of `lines` lines, then release it; each call timed on its own. With
    partitions, also notes whether the reservation spans them (its record's and its SKUs' partitions
    differ: the saga path)."""
    name = f"{lines}-line"

    def step(rec: Recorder) -> None:
        req = reqs.request(lines)
        if partitions > 1:
            home = partition_of(req.reservation_id, partitions)
            spans = any(partition_of(ln.sku, partitions) != home for ln in req.lines)
            rec.setdefault(f"saga {name}", []).append(int(spans))
        t0 = time.perf_counter_ns()
        ledger.reserve(req)
        t1 = time.perf_counter_ns()
        ledger.release(req.reservation_id)
        t2 = time.perf_counter_ns()
        rec.setdefault(f"reserve {name}", []).append(t1 - t0)
        rec.setdefault(f"release {name}", []).append(t2 - t1)

    return step


def hold_rows(rec: Recorder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lines in (1, TEN):
        res, rel = rec.get(f"reserve {lines}-line", []), rec.get(f"release {lines}-line", [])
        if res:
            r, s = summary(res), summary(rel)
            out[f"{lines}-line"] = {
                "reserve": r,
                "release": s,
                "holds_per_s": r["per_s"],
                "cycles_per_s": round(1e6 / (r["mean_us"] + s["mean_us"])),
                "process_cpu_us_per_cycle": round(sum(rec[f"cpu {lines}-line"]) / len(res) / 1e3),
            }
    return out


# ---------------------------------------------------------------------------------------------- in-process
def in_process_memory(snap: Snapshot, places: list[Place], ns: argparse.Namespace) -> dict[str, Any]:
    ledger = MemoryLedger(StockStore.from_snapshot(snap))
    reqs = Requests(places, "mem")
    steps = {f"{n}-line": hold_cycle(ledger, reqs, n) for n in (1, TEN)}
    rec = rounds(steps, ns.rounds, ns.calls, "in-process memory")
    return hold_rows(rec)


def noop_steps(ledger: RedisLedger, raw: redis.Redis) -> dict[str, Callable[[Recorder], None]]:
    sc = ledger._scripts
    call = sc.noop()
    sc.run([call])  # loaded
    sha = sc.sha["noop"]

    def through_ledger(rec: Recorder) -> None:
        t0 = time.perf_counter_ns()
        sc.run([call])
        rec.setdefault("noop ledger", []).append(time.perf_counter_ns() - t0)

    def redis_py(rec: Recorder) -> None:
        t0 = time.perf_counter_ns()
        raw.evalsha(sha, 0)
        rec.setdefault("noop redis-py", []).append(time.perf_counter_ns() - t0)

    return {"noop ledger": through_ledger, "noop redis-py": redis_py}


def redis_ledger(server: RedisServer, snap: Snapshot, partitions: int, prefix: str) -> RedisLedger:
    t = time.perf_counter()
    ledger = RedisLedger(server.url, prefix=prefix, partitions=partitions, snapshot=snap)
    progress(f"Redis ledger {prefix!r}, {partitions} partition(s), created in {time.perf_counter() - t:.2f} s")
    return ledger


def in_process_redis(
    server: RedisServer, snap: Snapshot, places: list[Place], partitions: int, ns: argparse.Namespace
) -> dict[str, Any]:
    raw = redis.Redis(host="127.0.0.1", port=server.port)
    ledger = redis_ledger(server, snap, partitions, f"bench-p{partitions}")
    try:
        reqs = Requests(places, f"p{partitions}")
        steps = {f"{n}-line": hold_cycle(ledger, reqs, n, partitions) for n in (1, TEN)}
        if partitions == 1:
            steps.update(noop_steps(ledger, raw))
        rec = rounds(steps, ns.rounds, ns.calls, f"in-process Redis, {partitions} partition(s)")
        out: dict[str, Any] = hold_rows(rec)
        for key in ("1-line", "10-line"):
            spans = rec.get(f"saga {key}")
            if spans:
                out[key]["saga_share"] = round(sum(spans) / len(spans), 2)
        if partitions == 1:
            hold, noop, py = rec["reserve 1-line"], rec["noop ledger"], rec["noop redis-py"]
            out["noop_ledger"] = summary(noop)
            out["noop_redis_py"] = summary(py)
            med = float(np.median(hold))
            out["ratio_hold_to_noop"] = round(med / float(np.median(noop)), 2)
            out["ratio_hold_to_redis_py"] = round(med / float(np.median(py)), 2)
            out["inside_redis"] = inside_redis(ledger, raw, reqs, ns.inside_calls)
            if ns.lua_sections:
                out["lua_sections"] = lua_sections(ledger, raw, reqs, ns.inside_calls)
            out["breakdown"] = breakdown(ledger, reqs, ns.calls)
            if ns.profile:
                profile(ledger, reqs, ns.calls * 2)
        return out
    finally:
        ledger.close()
        raw.close()


# ---------------------------------------------------------------------------------------------- inside Redis
def commandstats(raw: redis.Redis) -> dict[str, tuple[int, int]]:
    stats: dict[str, Any] = raw.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


SLOWLOG_WINDOW = 40_000


def inside_redis(ledger: RedisLedger, raw: redis.Redis, reqs: Requests, n: int) -> dict[str, Any]:
    """Time Redis spends per EVALSHA of each kind, phase by phase: INFO commandstats over all `n` calls
    (nothing else calls EVALSHA meanwhile: the replica's readers use XREAD, the sweeper ZRANGEBYSCORE),
    and SLOWLOG (log-slower-than 0, the newest SLOWLOG_WINDOW entries) for the distribution of the script
    calls and the commands they ran (Redis logs those too, from client "?:0"). Durations are whole us."""
    progress(f"inside Redis: {n} calls of each kind (INFO commandstats, SLOWLOG)")
    sc = ledger._scripts
    noop = sc.noop()
    hold_sha = sc.sha["hold"].encode()
    old = raw.config_get("slowlog-*")
    raw.config_set("slowlog-max-len", str(SLOWLOG_WINDOW))
    held: list[str] = []
    ten: list[str] = []

    def reserve_one() -> None:
        req = reqs.request(1)
        ledger.reserve(req)
        held.append(req.reservation_id)

    accumulating = Accumulating.over(reqs)

    def reserve_ten() -> None:
        req = accumulating.request(TEN)
        ledger.reserve(req)
        ten.append(req.reservation_id)

    def release_one() -> None:
        ledger.release(held.pop())

    def noop_call() -> None:
        sc.run([noop])

    phases: list[tuple[str, Callable[[], None]]] = [
        ("reserve 1-line", reserve_one),
        ("release 1-line", release_one),
        ("reserve 10-line", reserve_ten),
        ("noop", noop_call),
    ]
    out: dict[str, Any] = {}
    try:
        for name, fn in phases:
            raw.config_set("slowlog-log-slower-than", "0")
            raw.slowlog_reset()
            raw.config_resetstat()
            for _ in range(n):
                fn()
            calls, usec = commandstats(raw).get("evalsha", (0, 0))
            raw.config_set("slowlog-log-slower-than", "-1")
            log = sorted(raw.slowlog_get(SLOWLOG_WINDOW), key=lambda e: int(e["id"]))
            durations: list[int] = []
            nested: dict[str, list[int]] = {}
            pending: dict[str, list[int]] = {}  # the commands of the script call not yet seen in the window
            for e in log:
                cmd = bytes(e["command"])
                word = cmd.split(b" ", 1)[0].decode().lower()
                if bytes(e["client_address"]) == b"?:0":  # run by a script: logged before the script itself
                    t = pending.setdefault(word, [0, 0])
                    t[0] += 1
                    t[1] += int(e["duration"])
                elif word == "evalsha":
                    if name == "noop" or hold_sha in cmd:
                        durations.append(int(e["duration"]))
                        for k, (c, u) in pending.items():
                            t = nested.setdefault(k, [0, 0])
                            t[0] += c
                            t[1] += u
                    pending = {}
            seen = max(1, len(durations))
            row: dict[str, Any] = {
                "evalsha_calls": calls,
                "usec_per_call": round(usec / max(1, calls), 2),
                "sampled_calls": len(durations),
                "commands_per_call": round(sum(c for c, _ in nested.values()) / seen, 2),
                "commands_usec_per_call": round(sum(u for _, u in nested.values()) / seen, 2),
                "commands": {
                    k: {"per_call": round(c / seen, 2), "usec_per_call": round(u / seen, 2)}
                    for k, (c, u) in sorted(nested.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))
                },
            }
            if durations:
                row["slowlog_p50_us"] = float(np.percentile(durations, 50))
                row["slowlog_p99_us"] = float(np.percentile(durations, 99))
            out[name] = row
    finally:
        for setting, value in old.items():
            raw.config_set(str(setting), str(value))
        for rid in held + ten:
            ledger.release(rid)
    out["lua_floor"] = lua_floor(raw)
    return out


# what a script costs on this machine, beyond the commands' own work: each redis.call, and each number
# turned into a string (tostring, string.format, a number passed to redis.call)
_FLOOR = {
    "noop": "return 1",
    "20 x redis.call HGET": "for i = 1, 20 do redis.call('HGET', KEYS[1], 'f5') end return 1",
    "1 x HMGET of 20 fields (string names)": "redis.call('HMGET', KEYS[1], unpack(ARGV)) return 1",
    "20 x tostring(number)": "local t = {} for i = 1, 20 do t[i] = tostring(-1000000 - i) end return 1",
    "20 x string.format('%d')": "local t = {} for i = 1, 20 do t[i] = string.format('%d', i) end return 1",
    "20 x local function": "local f = {} for i = 1, 20 do f[i] = function(x) return x + i end end return 1",
}


def lua_floor(raw: redis.Redis, calls: int = 2000) -> dict[str, float]:
    """usec inside Redis per call of tiny scripts (INFO commandstats), on a scratch key of this server."""
    key = "bench:floor"
    raw.hset(key, mapping={f"f{i}": i for i in range(40)})
    names = [f"f{i}" for i in range(20)]
    out: dict[str, float] = {}
    for name, src in _FLOOR.items():
        sha = raw.script_load(src)
        raw.evalsha(sha, 1, key, *names)
        raw.config_resetstat()
        for _ in range(calls):
            raw.evalsha(sha, 1, key, *names)
        out[name] = round(float(commandstats(raw)["evalsha"][1]) / calls, 2)
    raw.delete(key)
    return out


_MARK = "do local t = redis.call('TIME'); __T[#__T + 1] = t[1] * 1000000 + t[2] end"


def instrumented_hold(source: str) -> tuple[str, list[str]]:
    """hold.lua with a TIME mark before its top-level sections, the marks appended to its success reply.
    Sections are found by their lines (the first `local function`, the `-- N.` headings, the last
    `return {0, ...}`); those it does not find are left out. Each mark costs about 1 us itself."""
    lines = source.split("\n")
    out: list[str] = []
    labels: list[str] = []
    seen_function = False
    last_return = max((i for i, ln in enumerate(lines) if re.match(r"^return \{0, .*\}$", ln)), default=-1)
    for i, ln in enumerate(lines):
        label = ""
        if ln.startswith("local meta = ") and not labels:
            out.append("local __T = {}")
            label = "generation, mode and record checks, rows parsed"
        elif ln.startswith("local function ") and not seen_function:
            seen_function = True
            label = "helper functions defined"
        elif m := re.match(r"^-- (\d)\. ([^:;,(]*)", ln):
            label = f"{m.group(1)}. {m.group(2).strip()}"[:48]
        if label:
            out.append(_MARK)
            labels.append(label)
        if i == last_return:
            out.append(_MARK)
            out.append(ln[:-1] + ", __T}")
            continue
        out.append(ln)
    return "\n".join(out), labels


def lua_sections(ledger: RedisLedger, raw: redis.Redis, reqs: Requests, n: int) -> dict[str, Any]:
    """Median us between the marks of an instrumented copy of hold.lua, loaded into the private server and
    called instead of the real one by this ledger only (its Scripts' sha table), for one-line and
    ten-line reserves; the real script is back afterwards."""
    sc = ledger._scripts
    source = (ROOT / "availability/ledger/lua/hold.lua").read_text()
    text, labels = instrumented_hold(source)
    if len(labels) < 3:
        return {"skipped": "hold.lua's sections were not found"}
    real = sc.sha["hold"]
    sc.sha["hold"] = raw.script_load(text)
    marks: list[list[int]] = []
    inner_run = sc.run

    def run(calls: Sequence[Any]) -> list[Any]:
        replies = inner_run(calls)
        for call, reply in zip(calls, replies, strict=True):
            if call.script == "hold" and isinstance(reply, list) and reply and isinstance(reply[-1], list):
                marks.append([int(x) for x in reply[-1]])
        return replies

    out: dict[str, Any] = {"labels": labels}
    try:
        sc.run = run  # type: ignore[method-assign]
        for lines in (1, TEN):
            marks.clear()
            for _ in range(n):
                req = reqs.request(lines)
                ledger.reserve(req)
                mine = len(marks)
                ledger.release(req.reservation_id)
                del marks[mine:]  # the release's marks
            full = [m for m in marks if len(m) == len(labels) + 1]
            if full:
                d = np.diff(np.asarray(full, dtype=np.int64), axis=1)
                out[f"reserve {lines}-line"] = {
                    "sections_us": dict(zip(labels, np.median(d, axis=0).round(1).tolist(), strict=True)),
                    "total_us": float(np.median(d.sum(axis=1))),
                }
    finally:
        del sc.run
        sc.sha["hold"] = real
    return out


# ---------------------------------------------------------------------------------------------- where the time goes
class _Timed:
    """Wraps a bound method of one object and sums the time spent in it while `gate[0]` is true (an
    instance attribute: the class and every other instance are untouched; removed on exit)."""

    def __init__(self, owner: Any, name: str, gate: list[bool]) -> None:
        self.owner, self.name, self.gate = owner, name, gate
        self.inner: Callable[..., Any] = getattr(owner, name)
        self.ns = 0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.gate[0]:
            return self.inner(*args, **kwargs)
        t = time.perf_counter_ns()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.ns += time.perf_counter_ns() - t
            self.calls += 1

    def __enter__(self) -> _Timed:
        setattr(self.owner, self.name, self)
        return self

    def __exit__(self, *exc: object) -> None:
        delattr(self.owner, self.name)


def breakdown(ledger: RedisLedger, reqs: Requests, n: int) -> dict[str, Any]:
    """Where a one-line reserve and its release spend their time, per call: the script round trips
    (Scripts.run: send, Redis, read the reply), the record read of a transition (HGETALL), the replica
    update (Replica.apply_own), and the rest (Python: validation, records, JSON, packing, locks)."""
    progress(f"breakdown of {n} one-line reserves and releases (perf_counter_ns sections)")
    gate = [False]
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        run = stack.enter_context(_Timed(ledger._scripts, "run", gate))
        read = stack.enter_context(_Timed(ledger._client, "hgetall", gate))
        own = stack.enter_context(_Timed(ledger._replica, "apply_own", gate))
        for what in ("reserve", "release"):
            for t in (run, read, own):
                t.ns = t.calls = 0
            total = 0
            for _ in range(n):
                req = reqs.request(1)
                rid = req.reservation_id
                if what == "release":
                    ledger.reserve(req)
                gate[0] = True
                t0 = time.perf_counter_ns()
                if what == "reserve":
                    ledger.reserve(req)
                else:
                    ledger.release(rid)
                total += time.perf_counter_ns() - t0
                gate[0] = False
                if what == "reserve":
                    ledger.release(rid)
            out[what] = {
                "total_us": round(total / n / 1e3, 1),
                "script_round_trips_us": round(run.ns / n / 1e3, 1),
                "script_calls": round(run.calls / n, 2),
                "record_read_us": round(read.ns / n / 1e3, 1),
                "replica_apply_us": round(own.ns / n / 1e3, 1),
            }
    return out


def profile(ledger: RedisLedger, reqs: Requests, n: int) -> None:
    progress(f"cProfile of {n} one-line reserve + release cycles on Redis")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        req = reqs.request(1)
        ledger.reserve(req)
        ledger.release(req.reservation_id)
    prof.disable()
    st = pstats.Stats(prof, stream=sys.stderr)
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(30)


# ---------------------------------------------------------------------------------------------- over gRPC
@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    target: str
    log: Path
    stats: Path

    def reading(self) -> dict[str, Any]:
        """The server's cumulative figures (benchmarks/timed_serve.py): ledger calls and CPU per thread."""
        self.stats.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not self.stats.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"the server wrote no figures to {self.stats}")
            time.sleep(0.005)
        doc: dict[str, Any] = json.loads(self.stats.read_text())
        return doc

    def stop(self) -> None:
        stop_process(self.proc, 30)


def start_server(args: list[str], log_dir: Path, name: str) -> ServerProcess:
    """`omniroute serve --port 0` in a subprocess through benchmarks/timed_serve.py (which times the ledger
    calls and reports CPU per thread), its log in a file (a pipe nobody reads could fill)."""
    log = log_dir / f"{name}.log"
    stats = log_dir / f"{name}-stats.json"
    serve = [sys.executable, str(ROOT / "benchmarks" / "timed_serve.py"), "serve", "--port", "0"]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [*serve, "--log-level", "INFO", *args],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            cwd=ROOT,
            env={**os.environ, "BENCH_STATS": str(stats)},
        )
    deadline = time.monotonic() + 300
    target = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        m = re.search(r"listening on (\S+:\d+)", text)
        if m:
            target = m.group(1).rstrip(",")
        if target and "serving (ready" in text:
            return ServerProcess(proc, target, log, stats)
        if proc.poll() is not None:
            raise SystemExit(f"server {name} exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server {name} did not become ready; see {log}")


def client_cycle(c: oc.Client, reqs: Requests, lines: int) -> Callable[[Recorder], None]:
    name = f"{lines}-line"

    def step(rec: Recorder) -> None:
        rid = reqs.next_id()
        k = int(rid.rsplit("-", 1)[1])
        hl = [oc.HoldLine(p.sku, 1, location=p.location) for p in reqs.lines(k, lines)]
        t0 = time.perf_counter_ns()
        c.reserve(rid, CHANNEL, hl)
        t1 = time.perf_counter_ns()
        c.release(rid)
        t2 = time.perf_counter_ns()
        rec.setdefault(f"reserve {name}", []).append(t1 - t0)
        rec.setdefault(f"release {name}", []).append(t2 - t1)

    return step


def ping_step(c: oc.Client) -> Callable[[Recorder], None]:
    def step(rec: Recorder) -> None:
        t0 = time.perf_counter_ns()
        c.ping()
        rec.setdefault("ping", []).append(time.perf_counter_ns() - t0)

    return step


@dataclass
class Phase:
    lat: list[int] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    redis_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    ledger_calls: dict[str, list[float]] = field(default_factory=dict)  # method -> [calls, wall s, CPU s]
    threads: dict[str, float] = field(default_factory=dict)  # server thread name -> CPU s

    def add(self, other: Phase) -> None:
        self.lat += other.lat
        self.wall += other.wall
        self.server_cpu += other.server_cpu
        self.redis_cpu += other.redis_cpu
        self.client_cpu += other.client_cpu
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        for k, c in other.ledger_calls.items():
            mine = self.ledger_calls.setdefault(k, [0, 0.0, 0.0])
            for j in range(3):
                mine[j] += c[j]
        for k, t in other.threads.items():
            self.threads[k] = self.threads.get(k, 0.0) + t

    def measure_server(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        for k, c in after["calls"].items():
            b = before["calls"].get(k, [0, 0.0, 0.0])
            if c[0] > b[0]:
                self.ledger_calls[k] = [c[j] - b[j] for j in range(3)]
        for k, t in after["threads"].items():
            d = t - before["threads"].get(k, 0.0)
            if d > 0:
                self.threads[k] = d

    def row(self) -> dict[str, Any]:
        n = len(self.lat)
        out: dict[str, Any] = summary(self.lat)
        out["per_s"] = round(n / self.wall) if self.wall else 0
        out["server_cpu_us"] = round(1e6 * self.server_cpu / max(1, n))
        out["redis_cpu_us"] = round(1e6 * self.redis_cpu / max(1, n), 1)
        out["client_cpu_us"] = round(1e6 * self.client_cpu / max(1, n))
        out["ledger_calls"] = {
            k: {"calls": int(c[0]), "wall_us": round(1e6 * c[1] / c[0]), "thread_cpu_us": round(1e6 * c[2] / c[0])}
            for k, c in self.ledger_calls.items()
        }
        out["server_threads_cpu_us"] = {
            k: round(1e6 * t / max(1, n)) for k, t in sorted(self.threads.items(), key=lambda kv: -kv[1])
        }
        if self.errors:
            out["errors"] = dict(self.errors)
        return out


def run_threads(
    work: Callable[[int, Phase], None], threads: int, server: ServerProcess, redis_pid: int | None
) -> Phase:
    """`work(i, phase_i)` on `threads` threads started together; their phases merged, with the wall time,
    the CPU of the server, of redis-server and of this process over the whole phase, and the server's own
    figures (its ledger calls, CPU per thread)."""
    server_pid = server.proc.pid
    before = server.reading()
    parts = [Phase() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def body(i: int) -> None:
        barrier.wait()
        work(i, parts[i])

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    s0 = cpu_seconds(server_pid)
    r0 = cpu_seconds(redis_pid) if redis_pid else 0.0
    c0 = time.process_time()
    barrier.wait()
    w0 = time.perf_counter()
    for t in pool:
        t.join()
    out = Phase(
        wall=time.perf_counter() - w0,
        server_cpu=cpu_seconds(server_pid) - s0,
        redis_cpu=(cpu_seconds(redis_pid) - r0) if redis_pid else 0.0,
        client_cpu=time.process_time() - c0,
    )
    out.measure_server(before, server.reading())
    for p in parts:
        out.lat += p.lat
        for k, v in p.errors.items():
            out.errors[k] = out.errors.get(k, 0) + v
    return out


@dataclass
class RoundWork:
    """The three kinds of one concurrent round: thread i uses clients[i] and keeps its own holds."""

    clients: list[oc.Client]
    room: list[Place]
    prefix: str
    seconds: float
    counter: Iterator[int] = field(default_factory=itertools.count)
    held: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.held = [[] for _ in self.clients]

    @staticmethod
    def _error(p: Phase, err: oc.ServiceError) -> None:
        p.errors[err.status.name] = p.errors.get(err.status.name, 0) + 1

    def ping(self, i: int, p: Phase) -> None:
        c = self.clients[i]
        stop = time.perf_counter() + self.seconds
        while time.perf_counter() < stop:
            t0 = time.perf_counter_ns()
            c.ping()
            p.lat.append(time.perf_counter_ns() - t0)

    def reserve(self, i: int, p: Phase) -> None:
        c, mine = self.clients[i], self.held[i]
        stop = time.perf_counter() + self.seconds
        while time.perf_counter() < stop:
            k = next(self.counter)  # itertools.count: atomic under the GIL
            if k >= len(self.room):
                break
            place = self.room[k]
            rid = f"{self.prefix}-{k}"
            t0 = time.perf_counter_ns()
            try:
                c.reserve(rid, CHANNEL, [oc.HoldLine(place.sku, 1, location=place.location)])
            except oc.ServiceError as err:
                self._error(p, err)
                continue
            p.lat.append(time.perf_counter_ns() - t0)
            mine.append(rid)

    def release(self, i: int, p: Phase) -> None:
        c = self.clients[i]
        for rid in self.held[i]:
            t0 = time.perf_counter_ns()
            try:
                c.release(rid)
            except oc.ServiceError as err:
                self._error(p, err)
                continue
            p.lat.append(time.perf_counter_ns() - t0)


def concurrent(
    clients: list[oc.Client],
    places: list[Place],
    tag: str,
    ns: argparse.Namespace,
    server: ServerProcess,
    redis_pid: int | None,
    label: str,
) -> dict[str, Any]:
    """Rounds of: Ping for --seconds; one-line reserves for --seconds; the release of every hold of the
    round. Every thread has its own client; a hold's place comes from one shared sequence of slots, so
    no hold is short of stock. `redis_pid`: redis-server's process (None: no Redis)."""
    room = slots(places)
    totals = {"ping": Phase(), "reserve 1-line": Phase(), "release 1-line": Phase()}
    for r in range(ns.grpc_rounds):
        work = RoundWork(clients, room, f"bh-{tag}-r{r}", ns.seconds)
        kinds = {"ping": work.ping, "reserve 1-line": work.reserve, "release 1-line": work.release}
        for name, fn in kinds.items():
            totals[name].add(run_threads(fn, len(clients), server, redis_pid))
        progress(
            f"{label}, {len(clients)} clients: round {r + 1}/{ns.grpc_rounds} "
            f"({len(totals['reserve 1-line'].lat):,} holds so far)"
        )
    out = {name: ph.row() for name, ph in totals.items()}
    out["ratio_holds_to_pings"] = round(out["reserve 1-line"]["per_s"] / max(1, out["ping"]["per_s"]), 2)
    return out


def over_grpc(
    label: str, args: list[str], places: list[Place], ns: argparse.Namespace, log_dir: Path, redis_pid: int | None
) -> dict[str, Any]:
    progress(f"gRPC {label}: starting omniroute serve {' '.join(args)}")
    server = start_server(args, log_dir, label.replace(" ", "-"))
    clients: list[oc.Client] = []
    try:
        one = oc.Client(server.target, timeout=30)
        one.wait_until_serving()
        reqs = Requests(places, "g-" + re.sub(r"[^A-Za-z0-9]", "", label))
        steps = {"ping": ping_step(one), "1-line": client_cycle(one, reqs, 1), "10-line": client_cycle(one, reqs, TEN)}
        rec = rounds(steps, ns.rounds, max(10, ns.calls // 2), f"gRPC {label}, one client")
        seq: dict[str, Any] = hold_rows(rec)
        seq["ping"] = summary(rec["ping"])
        seq["ratio_holds_to_pings"] = round(seq["1-line"]["holds_per_s"] / max(1, seq["ping"]["per_s"]), 2)
        one.close()
        clients = [oc.Client(server.target, timeout=30) for _ in range(ns.clients)]
        for c in clients:  # connect every channel before timing
            c.ping()
        conc = concurrent(clients, places, reqs.tag, ns, server, redis_pid, f"gRPC {label}")
        return {"sequential": seq, "concurrent": conc}
    finally:
        for c in clients:
            c.close()
        server.stop()


# ---------------------------------------------------------------------------------------------- report
def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def aligned(rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]


def table(res: dict[str, Any]) -> str:
    lines: list[str] = []
    m, net = res["machine"], res["network"]
    lines.append(
        f"{m['cpu']}, {m['cores']} cores; python {m['python']}, redis-server {res['redis_version']}, "
        f"grpcio {res['grpcio']}; commit {m['commit']}"
    )
    lines.append(
        f"demo network: {net['locations']} locations, {net['skus']:,} SKUs, {net['positions']:,} positions; "
        f"{net['places']:,} hold places"
    )
    lines.append("")
    lines.append("1. holds, one caller (reserve then release; latency in us; CPU: this process, every thread)")
    head = ("where", "lines", "reserve p50", "p99", "holds/s", "release p50", "cycles/s", "CPU/cycle", "note")
    rows: list[tuple[str, ...]] = [head]

    def add(where: str, block: dict[str, Any], note1: str = "") -> None:
        for key in ("1-line", "10-line"):
            b = block.get(key)
            if not b:
                continue
            note = note1 if key == "1-line" else ""
            if "saga_share" in b:
                note = f"{b['saga_share']:.0%} of them by saga"
            rows.append(
                (
                    where,
                    key.split("-")[0],
                    f"{b['reserve']['p50_us']:.0f}",
                    f"{b['reserve']['p99_us']:.0f}",
                    fmt_rate(b["holds_per_s"]),
                    f"{b['release']['p50_us']:.0f}",
                    fmt_rate(b["cycles_per_s"]),
                    f"{b['process_cpu_us_per_cycle']:,}" if "grpc" not in where.lower() else "",
                    note,
                )
            )

    ip = res["in_process"]
    add("in-process, memory", ip["memory"])
    for key, block in ip.items():
        if key.startswith("redis_p"):
            add(f"in-process, Redis P={key.removeprefix('redis_p')}", block)
    for key, block in res.get("grpc", {}).items():
        seq = block["sequential"]
        add(
            f"gRPC, {key}",
            seq,
            f"Ping p50 {seq['ping']['p50_us']:.0f} us; 1-line holds/s / pings/s {seq['ratio_holds_to_pings']:.2f}",
        )
    lines += aligned(rows, frozenset(range(1, 8)))

    p1 = ip.get("redis_p1")
    if p1:
        lines.append("")
        lines.append("2. one-line hold against a no-op EVALSHA round trip (in-process Redis, P=1, interleaved)")
        lines.append(
            f"  reserve p50 {p1['1-line']['reserve']['p50_us']:.0f} us; no-op through the ledger "
            f"{p1['noop_ledger']['p50_us']:.0f} us, redis-py evalsha {p1['noop_redis_py']['p50_us']:.0f} us: "
            f"ratio {p1['ratio_hold_to_noop']:.1f}x (to redis-py's {p1['ratio_hold_to_redis_py']:.1f}x); goal <= 2x"
        )
        b = p1["breakdown"]
        for what in ("reserve", "release"):
            x = b[what]
            rest = x["total_us"] - x["script_round_trips_us"] - x["record_read_us"] - x["replica_apply_us"]
            lines.append(
                f"  {what} {x['total_us']:.0f} us = script round trip {x['script_round_trips_us']:.0f} us "
                f"({x['script_calls']:g} call) + record read {x['record_read_us']:.0f} us + replica update "
                f"{x['replica_apply_us']:.0f} us + Python around them {rest:.0f} us"
            )
        lines.append("")
        lines.append(
            "3. time inside Redis per script call (INFO commandstats; SLOWLOG p50/p99); target 2-5 us a one-line hold"
        )
        inside = p1["inside_redis"]
        for name, row in inside.items():
            if name == "lua_floor":
                continue
            top = ", ".join(
                f"{k} {v['per_call']:g}x {v['usec_per_call']:.1f}" for k, v in list(row["commands"].items())[:6]
            )
            sl = ""
            if "slowlog_p50_us" in row:
                sl = f" (p50 {row['slowlog_p50_us']:.0f}, p99 {row['slowlog_p99_us']:.0f})"
            lines.append(
                f"  {name:16s} {row['usec_per_call']:6.1f} us{sl}; {row['commands_per_call']:g} commands in it "
                f"take {row['commands_usec_per_call']:.1f} us: {top}"
            )
        floor = inside["lua_floor"]
        lines.append("  this machine's Lua, us per script: " + ", ".join(f"{k} {v:.1f}" for k, v in floor.items()))
        sections = p1.get("lua_sections")
        if sections and "labels" in sections:
            for key in ("reserve 1-line", "reserve 10-line"):
                sec = sections.get(key)
                if sec:
                    parts = "; ".join(f"{k} {v:.0f}" for k, v in sec["sections_us"].items())
                    lines.append(f"  hold.lua sections, {key} ({sec['total_us']:.0f} us with the marks): {parts}")
    if res.get("grpc"):
        lines.append("")
        lines.append(
            f"4. gRPC, {res['params']['clients']} concurrent clients (threads, own Client each), "
            f"{res['params']['seconds']:g} s a kind x {res['params']['grpc_rounds']} rounds; CPU per call"
        )
        head4 = ("server", "call", "calls/s", "p50 us", "p99 us", "server CPU", "redis CPU", "client CPU", "errors")
        rows4: list[tuple[str, ...]] = [head4]
        notes: list[str] = []
        for key, block in res["grpc"].items():
            conc = block["concurrent"]
            for call in ("ping", "reserve 1-line", "release 1-line"):
                c = conc[call]
                rows4.append(
                    (
                        key,
                        call,
                        fmt_rate(c["per_s"]),
                        f"{c.get('p50_us', 0):,.0f}",
                        f"{c.get('p99_us', 0):,.0f}",
                        f"{c['server_cpu_us']:,}",
                        f"{c['redis_cpu_us']:.0f}" if key != "memory" else "",
                        f"{c['client_cpu_us']:,}",
                        ", ".join(f"{k} {v}" for k, v in c.get("errors", {}).items()),
                    )
                )
                threads = ", ".join(f"{k} {v}" for k, v in list(c["server_threads_cpu_us"].items())[:5])
                calls = "; ".join(
                    f"ledger.{k}: wall {v['wall_us']:,} us, its thread's CPU {v['thread_cpu_us']:,} us"
                    for k, v in c["ledger_calls"].items()
                )
                notes.append(
                    f"  {key}, {call}: server CPU by thread (us per call): {threads}" + (f"; {calls}" if calls else "")
                )
            rows4.append(
                (key, "holds/s / pings/s", f"{conc['ratio_holds_to_pings']:.2f}", "goal >= 0.5", "", "", "", "", "")
            )
        lines += aligned(rows4, frozenset({2, 3, 4, 5, 6, 7}))
        lines += notes
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main
def run(ns: argparse.Namespace) -> dict[str, Any]:
    import grpc

    snap = generate_network("demo", seed=ns.seed, base_date=date.today())
    places = pick_places(snap)
    progress(f"demo network: {len(snap.skus):,} SKUs, {snap.positions:,} positions; {len(places):,} hold places")
    res: dict[str, Any] = {
        "machine": machine(),
        "grpcio": grpc.__version__,
        "params": {k: v for k, v in vars(ns).items() if k != "json"},
        "network": {
            "name": "demo",
            "seed": ns.seed,
            "locations": len(snap.locations),
            "skus": len(snap.skus),
            "positions": snap.positions,
            "places": len(places),
        },
        "in_process": {},
    }
    res["in_process"]["memory"] = in_process_memory(snap, places, ns)
    server = RedisServer().start()
    try:
        raw = redis.Redis(host="127.0.0.1", port=server.port)
        res["redis_version"] = raw.info("server")["redis_version"]
        for p in ns.partitions:
            res["in_process"][f"redis_p{p}"] = in_process_redis(server, snap, places, p, ns)
        if not ns.no_grpc:
            res["grpc"] = {}
            with tempfile.TemporaryDirectory(prefix="omniroute-bench-") as tmp:
                demo = ["--demo-size", "demo", "--demo-seed", str(ns.seed)]
                res["grpc"]["memory"] = over_grpc("memory", demo, places, ns, Path(tmp), None)
                assert server.proc is not None
                for p in ns.grpc_partitions:
                    prefix = f"bench-grpc-p{p}"
                    redis_ledger(server, snap, p, prefix).close()
                    args = ["--redis", server.url, "--redis-prefix", prefix]
                    name = f"Redis P={p}"
                    res["grpc"][name] = over_grpc(name, args, places, ns, Path(tmp), server.proc.pid)
        raw.close()
    finally:
        server.cleanup()
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="a short run (under a minute): fewer calls and rounds")
    p.add_argument("--json", type=Path, default=None, help="write the results here (default bench-results/holds.json)")
    p.add_argument("--seed", type=int, default=7, help="demo network seed")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the one-caller runs (10)")
    p.add_argument("--calls", type=int, default=None, help="calls of each kind per round (100)")
    p.add_argument("--inside-calls", type=int, default=None, help="calls of each kind inside Redis (2000)")
    p.add_argument("--partitions", type=int, nargs="+", default=[1, 4], help="Redis ledgers in-process")
    p.add_argument("--grpc-partitions", type=int, nargs="+", default=[1], help="Redis ledgers behind gRPC")
    p.add_argument("--clients", type=int, default=32, help="concurrent gRPC clients")
    p.add_argument("--seconds", type=float, default=None, help="seconds per kind and round, concurrent (2)")
    p.add_argument("--grpc-rounds", type=int, default=None, help="rounds of the concurrent runs (3)")
    p.add_argument("--no-grpc", action="store_true", help="in-process only")
    p.add_argument("--profile", action="store_true", help="cProfile one-line holds on Redis (to stderr)")
    p.add_argument("--lua-sections", action="store_true", help="time the sections of hold.lua (an instrumented copy)")
    ns = p.parse_args(argv)
    quick = ns.quick
    for name, full, short in (
        ("rounds", 10, 3),
        ("calls", 100, 30),
        ("inside_calls", 2000, 300),
        ("seconds", 2.0, 0.5),
        ("grpc_rounds", 3, 1),
    ):
        if getattr(ns, name) is None:
            setattr(ns, name, short if quick else full)
    res = run(ns)
    print(table(res))
    path = ns.json or ROOT / "bench-results" / ("holds-quick.json" if quick else "holds.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
