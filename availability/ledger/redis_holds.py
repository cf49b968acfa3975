"""Reservations of the Redis ledger: the state machine of availability/reservations.py, the stock checks
of lua/hold.lua, and records in Redis, so that any number of replicas share them.

Where things live: a reservation's record in the partition of its id (`T:rsv:<id>`, a hash: version,
state as JSON, ring-fence units per line); its hold counters in the partitions of its SKUs (the
reserved field of a location, or a hold group's field, in each SKU's counters hash). Every change of
counters is a hold.lua call that also appends a change record ('h') to the partition's stream, which
every replica applies to its arrays.

How an operation is made atomic:
- when the record and every SKU it touches share one partition (always with one partition), a single
  hold.lua call ('local') checks the record's version, checks and applies every line, and writes the
  record: all or nothing, like any script;
- otherwise (Redis Cluster shards partitions over nodes, and no script may span them) it is a saga:
  `begin` writes the operation into the record (epoch, new state, and the rows of every step, so that
  anyone can roll it back), one 'apply' step per partition of SKUs runs (pipelined: one round trip),
  then `commit` makes the new state the record's. If a step is short of stock, every step is undone
  and the operation aborted; the caller gets every shortfall. Each step is idempotent by its step key
  (reservation id and epoch): a retry, or a second client joining the same reservation, answers what
  the step did; an undo marks the key so that a late step never applies after its roll-back. A crash
  between steps leaves the operation in flight; anyone who meets it after its roll-back time (the
  sweeper of every replica, or the next operation on that reservation) marks it (a commit is then
  refused), undoes its steps and aborts it. So the counters always equal what the committed records
  hold, except for an operation in flight, which is either committed or rolled back within
  PENDING_MS (plus one sweep).
- Transitions read the record, compute the new state with the shared state machine, and write it only
  if the record is still at the version read (compare-and-set); a concurrent change makes them read
  again.

Expiry: held reservations sit in their record partition's deadline set (a sorted set), and every
replica sweeps the sets every SWEEP_INTERVAL_S. Expiring is a transition like any other, so two
sweepers cannot both expire a reservation. Deadlines live in Redis, so a hold expires on time across
restarts of every replica.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AlreadyExists, InsufficientStock, InvalidArgument, NotFound, Shortfall, Unavailable
from ..locations import LocationTable, Scope
from ..model import check_id
from ..reservations import (
    NETWORK_GROUP,
    HoldDelta,
    Inconsistency,
    LineMove,
    LineQuantity,
    LineState,
    ReconcileReport,
    Reservation,
    ReservationRecord,
    ReservationStatus,
    ReserveRequest,
    apply_confirm,
    apply_expire,
    apply_extend,
    apply_fulfill,
    apply_release,
    new_record,
    reserve_deltas,
)
from ..store import StockStore
from .redis_codec import HOLD_STEP, KIND_HOLDS, KIND_REPAIR, Record
from .redis_keys import F_RESERVED, HOLD_BASE, Keys, partition_of
from .scripts import Arg, GenerationChanged, reachable, redacted

if TYPE_CHECKING:
    from .redis import RedisLedger

log = logging.getLogger(__name__)

_NETWORK = Scope()
PENDING_MS = 10_000  # an operation in flight longer than this is rolled back by whoever meets it
STEP_RETENTION_MS = 24 * 3600 * 1000
CLOSED_RETENTION_MS = 24 * 3600 * 1000
SWEEP_INTERVAL_S = 0.5
SWEEP_BATCH = 500
MAX_ATTEMPTS = 200
LOAD_WAIT_S = 60.0  # how long an operation waits for a snapshot load that is carrying holds over
LOCK_POLL_S = 0.01
CARRY_LOCK_MS = 60_000


# ---------------------------------------------------------------------------------------------- records
def _tuples(x: Any) -> Any:
    return tuple(_tuples(i) for i in x) if isinstance(x, list) else x


def encode_record(rec: ReservationRecord) -> str:
    return json.dumps(
        {
            "id": rec.reservation_id,
            "ch": rec.channel,
            "st": rec.status.value,
            "l": [
                [sku, place, rec.at_location[(sku, place)], st.held, st.fulfilled, st.released]
                for (sku, place), st in rec.lines.items()
            ],
            "c": rec.created_at_ms,
            "x": rec.expires_at_ms,
            "p": rec.payload,
            "o": rec.operations,
        },
        separators=(",", ":"),
    )


def decode_record(text: str) -> ReservationRecord:
    d = json.loads(text)
    lines: dict[tuple[str, str], LineState] = {}
    at: dict[tuple[str, str], bool] = {}
    for sku, place, at_location, held, fulfilled, released in d["l"]:
        lines[(sku, place)] = LineState(held, fulfilled, released)
        at[(sku, place)] = bool(at_location)
    return ReservationRecord(
        reservation_id=d["id"],
        channel=d["ch"],
        status=ReservationStatus(d["st"]),
        lines=lines,
        at_location=at,
        created_at_ms=int(d["c"]),
        expires_at_ms=int(d["x"]),
        payload=_tuples(d["p"]),
        operations={k: _tuples(v) for k, v in d["o"].items()},
    )


def fence_field(sku: str, place: str) -> str:
    return f"f:{sku} {place}"


@dataclass(slots=True)
class _Stored:
    """A record as read from Redis."""

    key: str
    part: int
    version: int
    rec: ReservationRecord | None
    fences: dict[tuple[str, str], int]
    epoch: str = ""
    steps: str = ""
    step_gen: int = 0  # the generation an operation in flight wrote its steps to


@dataclass(slots=True)
class _Row:
    part: int
    sku: str
    loc: int
    grp: int
    d_held: int
    d_on_hand: int
    chan: int
    fence: int  # increase: 1 counts against the channel's ring-fence; decrease: units to give back
    line: int  # shortfalls are reported by it
    place: str
    fence_field: str = ""
    safety: int = 0  # the location's default safety stock (catalogue)
    eligible: int = 0  # 1 when a hold of the channel may draw on the location (catalogue)


@dataclass(slots=True)
class _Plan:
    rows: list[_Row]
    extra: dict[str, int] = field(default_factory=dict)  # record fields to increment at commit
    checks: list[Arg] = field(default_factory=list)  # hold.lua's ARGV 15 on
    _parts: dict[int, list[_Row]] | None = None

    def by_partition(self) -> dict[int, list[_Row]]:
        """The rows of each partition's step (grouped once)."""
        if self._parts is None:
            parts: dict[int, list[_Row]] = {}
            for r in self.rows:
                parts.setdefault(r.part, []).append(r)
            self._parts = parts
        return self._parts


_Difference = tuple[str, int, int, str, int, int, tuple[str, ...]]  # sku, loc, group, counter, want, found, who
_Change = Callable[["_Stored", ReservationRecord], tuple[ReservationRecord, "_Plan | None"]]


class _Conflict(Exception):
    """The record changed since it was read (or an operation is in flight): read again."""

    def __init__(self, version: int, text: str, epoch: str) -> None:
        self.version = version
        self.text = text
        self.epoch = epoch


_STEP = struct.Struct("<iiiiiiiiii")
assert _STEP.size == HOLD_STEP.itemsize


def _pack(rows: list[_Row]) -> tuple[list[str], bytes]:
    table: dict[str, int] = {}
    out = b"".join(
        _STEP.pack(
            table.setdefault(r.sku, len(table)), r.loc, r.grp, r.d_held, r.d_on_hand, r.chan, r.fence, r.line,
            r.safety, r.eligible,
        )
        for r in rows
    )  # fmt: skip
    return list(table), out


class _StaleCatalogue(Exception):
    """The rows were made with an older catalogue than the partition's: make them again."""


class RedisHolds:
    """Reservations over one RedisLedger (its client, scripts, keys and replica)."""

    def __init__(self, ledger: RedisLedger) -> None:
        self._l = ledger
        self.expired_total = 0  # reservations this process expired (each replica sweeps; see expire_due)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._reconciling = threading.Lock()
        self._cache: dict[tuple[int, int], tuple[LocationTable, npt.NDArray[np.int64], list[Arg]]] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def _net(self) -> LocationTable:
        return self._l.store.network

    def _part(self, ident: str) -> int:
        return partition_of(ident, self._l.partitions)

    def _read(self, reservation_id: str) -> _Stored:
        p = self._part(reservation_id)
        key = self._l.keys.record(p, reservation_id)
        raw: dict[bytes, bytes] = self._l._client.hgetall(key)  # type: ignore[assignment]
        fences: dict[tuple[str, str], int] = {}
        version = int(raw.get(b"v", b"0"))
        text = raw.get(b"d")
        for k, v in raw.items():
            if k.startswith(b"f:"):
                sku, _, place = k[2:].decode().partition(" ")
                fences[(sku, place)] = int(v)
        rec = decode_record(text.decode()) if text is not None else None
        epoch, steps = raw.get(b"pe", b"").decode(), raw.get(b"pr", b"").decode()
        return _Stored(key, p, version, rec, fences, epoch, steps, int(raw.get(b"pg", b"0")))

    def _rows(self, chan: int, deltas: list[HoldDelta], *, consume: bool, fences: dict[tuple[str, str], int]) -> _Plan:
        """Step rows of a transition's hold deltas (decreases first within each SKU's order as given)."""
        net = self._net
        rows: list[_Row] = []
        k = 0
        left = dict(fences)
        for d in deltas:
            li, g = net.hold_place(d.place, chan, d.at_location)
            fence = 0
            ff = ""
            if d.d_held > 0:
                line = k
                k += 1
                if consume:
                    fence, ff = 1, fence_field(d.sku, d.place)
            else:
                line = -1
                if d.d_on_hand == 0:
                    have = left.get((d.sku, d.place), 0)
                    fence = min(have, -d.d_held)
                    if fence:
                        left[(d.sku, d.place)] = have - fence
                        ff = fence_field(d.sku, d.place)
            safety, eligible = (int(net.default_safety[li]), int(self._eligible(net, chan)[li])) if li >= 0 else (0, 0)
            rows.append(
                _Row(
                    self._part(d.sku),
                    d.sku,
                    li,
                    g,
                    d.d_held,
                    d.d_on_hand,
                    chan,
                    fence,
                    line,
                    d.place,
                    ff,
                    safety,
                    eligible,
                )
            )
        return _Plan(rows, checks=self._checks(net, chan))

    def _eligible(self, net: LocationTable, chan: int) -> npt.NDArray[np.int64]:
        """Per location: 1 when a hold of the channel may draw on it (hold_mask's in-scope bit)."""
        key = (id(net), chan)
        got = self._cache.get(key)
        if got is None or got[0] is not net:
            got = (net, net.hold_mask(chan, _NETWORK) & 1, self._check_fields(net, chan))
            self._cache[key] = got
        return got[1]

    def _checks(self, net: LocationTable, chan: int) -> list[Arg]:
        self._eligible(net, chan)
        return [self._l._replica.state.version, *self._cache[(id(net), chan)][2]]

    @staticmethod
    def _check_fields(net: LocationTable, chan: int) -> list[Arg]:
        """The channel's ring-fence fields, then the fields that send a location hold to the full check:
        other channels' ring-fences (pairs) and every hold group's units."""
        others = [str(f) for c in range(len(net.channels)) if c != chan for f in (-2 - 2 * c, -3 - 2 * c)]
        groups = [str(HOLD_BASE - g) for g in range(net.hold_group_count)]
        return [str(-2 - 2 * chan), str(-3 - 2 * chan), len(others), *others, *groups]

    # ------------------------------------------------------------------ running an operation
    def _execute(
        self,
        rid: str,
        stored_version: int,
        out: ReservationRecord,
        plan: _Plan,
        *,
        new_text: str = "",
    ) -> None:
        """Write `out` (from `stored_version`) and apply the plan's rows, atomically (one call) or as a
        saga. Raises _Conflict, InsufficientStock or Unavailable."""
        led = self._l
        rp = self._part(rid)
        key = led.keys.record(rp, rid)
        text = encode_record(out)
        status = out.status
        deadline = out.expires_at_ms if status is ReservationStatus.HELD else 0
        ttl = 0 if status in (ReservationStatus.HELD, ReservationStatus.CONFIRMED) else CLOSED_RETENTION_MS
        parts = set(plan.by_partition())
        until = time.monotonic() + LOAD_WAIT_S
        for _attempt in range(3):
            gen = led._replica.state.gen
            if parts <= {rp}:
                done = self._local(rid, rp, key, gen, stored_version, text, status, deadline, ttl, plan)
                while done is None and time.monotonic() < until:  # a load is carrying holds over
                    time.sleep(LOCK_POLL_S)
                    done = self._local(rid, rp, key, gen, stored_version, text, status, deadline, ttl, plan)
                if done:
                    return
            else:
                if self._saga(rid, rp, key, gen, stored_version, text, status, deadline, ttl, plan, new_text):
                    return
        raise Unavailable(f"ledger at {redacted(led.url)}: snapshot loads keep switching generations; try again")

    def _shortfalls(self, rows: list[_Row], packed: list[bytes]) -> InsufficientStock:
        by_line = {r.line: r for r in rows if r.line >= 0}
        out: list[Shortfall] = []
        for blob in packed:
            for line, wanted, avail in np.frombuffer(blob, dtype="<i4").reshape(-1, 3).tolist():
                r = by_line[line]
                place = "" if r.place == NETWORK_GROUP else r.place
                out.append(Shortfall(line, r.sku, place, wanted, avail))
        out.sort(key=lambda s: s.line)
        return InsufficientStock(out)

    def _local(
        self,
        rid: str,
        rp: int,
        key: str,
        gen: int,
        version: int,
        text: str,
        status: ReservationStatus,
        deadline: int,
        ttl: int,
        plan: _Plan,
    ) -> bool | None:
        """True when done, False after a generation switch (try again), None while a load holds the
        partition's holds still."""
        led = self._l
        skus, packed = _pack(plan.rows)
        fields = "\n".join(r.fence_field for r in plan.rows)
        extra = "\n".join(f"{k}\n{v}" for k, v in plan.extra.items() if v)
        call = led._scripts.hold(
            rp,
            gen,
            "local",
            skus,
            packed,
            maxlen=led.stream_maxlen,
            retention_ms=STEP_RETENTION_MS,
            record_key=key,
            local=[version, text, status.value, deadline, fields, extra, ttl],
            checks=plan.checks or [led._replica.state.version, "", "", 0],
        )
        with led._replica.writing([rp]):
            reply = led._scripts.run([call])[0]
            code = int(reply[0])
            if code == -2:
                return None
            if code == -3:
                raise _StaleCatalogue()
            if code == -1:
                led._follow_generation(GenerationChanged(int(reply[1]) if reply[1] else 0))
                return False
            if code == 1:
                raise self._shortfalls(plan.rows, [bytes(reply[1])])
            if code == 2:
                raise _Conflict(int(reply[1]), bytes(reply[2]).decode(), "")
            s0, s1 = int(reply[2]), int(reply[3])
            if s1 > s0:
                led._replica.apply_own([Record(rp, s1, s0, KIND_HOLDS, gen, skus=skus, rows=bytes(reply[5]))])
        return True

    def _saga(
        self,
        rid: str,
        rp: int,
        key: str,
        gen: int,
        version: int,
        text: str,
        status: ReservationStatus,
        deadline: int,
        ttl: int,
        plan: _Plan,
        new_text: str,
    ) -> bool:
        led = self._l
        sc = led._scripts
        packed = {p: _pack(rows) for p, rows in plan.by_partition().items()}
        steps = json.dumps({str(p): [" ".join(s), base64.b64encode(b).decode()] for p, (s, b) in packed.items()})
        epoch = secrets.token_hex(6)
        now = led._clock_ms()
        begin = sc.rsv(
            rp, key, "begin", epoch, [version, text, status.value, deadline, now + PENDING_MS, steps, new_text, gen]
        )
        got = sc.run([begin])[0]
        if int(got[0]) == 2:
            raise _Conflict(int(got[1]), bytes(got[2]).decode(), bytes(got[3]).decode())
        return self._run_steps(rid, rp, key, gen, epoch, packed, plan, ttl)

    def _run_steps(
        self,
        rid: str,
        rp: int,
        key: str,
        gen: int,
        epoch: str,
        packed: dict[int, tuple[list[str], bytes]],
        plan: _Plan,
        ttl: int,
    ) -> bool:
        """The steps of operation `epoch` (`packed`: each partition's SKUs and rows), then its commit (or
        its roll-back)."""
        led = self._l
        by_part = plan.by_partition()
        sc = led._scripts
        order = sorted(by_part)
        calls = [
            sc.hold(
                p,
                gen,
                "apply",
                packed[p][0],
                packed[p][1],
                maxlen=led.stream_maxlen,
                retention_ms=STEP_RETENTION_MS,
                step_key=led.keys.step(p, rid, epoch),
                checks=plan.checks or [led._replica.state.version, "", "", 0],
            )
            for p in order
        ]
        records: list[Record] = []
        short: list[bytes] = []
        failed = ""
        fence_items: dict[str, int] = dict(plan.extra)
        with led._replica.writing(order):
            replies = sc.run(calls)
            until = time.monotonic() + LOAD_WAIT_S
            locked = [k for k, r in enumerate(replies) if int(r[0]) == -2]
            while locked and time.monotonic() < until:  # a load is carrying holds over: its steps wait
                time.sleep(LOCK_POLL_S)
                for k, r in zip(locked, sc.run([calls[k] for k in locked]), strict=True):
                    replies[k] = r
                locked = [k for k, r in enumerate(replies) if int(r[0]) == -2]
            changed: GenerationChanged | None = None
            for p, reply in zip(order, replies, strict=True):
                code = int(reply[0])
                if code == -1:
                    changed = GenerationChanged(int(reply[1]) if reply[1] else 0)
                    failed = failed or "generation"
                elif code == -2:
                    failed = failed or "locked"
                elif code == -3:
                    failed = failed or "catalogue"
                elif code == 1:
                    short.append(bytes(reply[1]))
                elif code == 3:
                    failed = failed or "undone"
                else:
                    s0, s1 = int(reply[2]), int(reply[3])
                    if s1 > s0:
                        skus, _ = packed[p]
                        records.append(Record(p, s1, s0, KIND_HOLDS, gen, skus=skus, rows=bytes(reply[5])))
                    amounts = np.frombuffer(bytes(reply[4]), dtype="<i4").tolist()
                    for r, a in zip(by_part[p], amounts, strict=False):
                        if a and r.fence_field:
                            fence_items[r.fence_field] = fence_items.get(r.fence_field, 0) + a
            led._replica.apply_own(records)
        if not short and not failed:
            extra = "\n".join(f"{k}\n{v}" for k, v in fence_items.items() if v)
            commit = sc.rsv(rp, key, "commit", epoch, [extra, ttl])
            got = sc.run([commit])[0]
            until = time.monotonic() + LOAD_WAIT_S
            while int(got[0]) == -2 and time.monotonic() < until:
                time.sleep(LOCK_POLL_S)
                got = sc.run([commit])[0]
            if int(got[0]) == 0:
                return True
            if int(got[0]) == 4:
                # a load replaced the generation these steps wrote to: roll back, then start again
                self.roll_back(rp, key, epoch, packed, gen)
                return False
            raise Unavailable(f"reservation {rid!r}: the operation took too long and was rolled back; try again")
        self.roll_back(rp, key, epoch, packed, gen)
        if short:
            raise self._shortfalls(plan.rows, short)
        if failed == "catalogue":
            raise _StaleCatalogue()
        if changed is not None:
            led._follow_generation(changed)
            return False
        raise Unavailable(f"reservation {rid!r}: a concurrent operation rolled this one back; try again")

    def roll_back(self, rp: int, key: str, epoch: str, steps: dict[int, tuple[list[str], bytes]], gen: int) -> bool:
        """Roll back operation `epoch` of a record, whose steps wrote to generation `gen`: mark it (no
        commit after this), undo every step, abort. Idempotent; False when the operation is no longer
        in flight (committed or rolled back). Steps in a generation a load has replaced went with it:
        their undo finds another generation and changes nothing."""
        led = self._l
        sc = led._scripts
        if int(sc.run([sc.rsv(rp, key, "mark", epoch)])[0][0]) != 0:
            return False
        rid = key.split(":rsv:", 1)[1]
        order = sorted(steps)
        calls = [
            sc.hold(
                p,
                gen,
                "undo",
                steps[p][0],
                steps[p][1],
                maxlen=led.stream_maxlen,
                retention_ms=STEP_RETENTION_MS,
                step_key=led.keys.step(p, rid, epoch),
            )
            for p in order
        ]
        records: list[Record] = []
        with led._replica.writing(order):
            for p, reply in zip(order, sc.run(calls), strict=True):
                if int(reply[0]) == 0 and int(reply[3]) > int(reply[2]):
                    records.append(
                        Record(p, int(reply[3]), int(reply[2]), KIND_HOLDS, gen, skus=steps[p][0], rows=bytes(reply[5]))
                    )
            led._replica.apply_own(records)
        sc.run([sc.rsv(rp, key, "abort", epoch)])
        return True

    def _settle(self, st: _Stored) -> None:
        """An operation is in flight on this record: roll it back if it is overdue, else wait a little."""
        led = self._l
        score = led._client.zscore(led.keys.pending(st.part), st.key)
        if score is not None and score <= led._clock_ms():
            self.roll_back(st.part, st.key, st.epoch, parse_steps(st.steps), st.step_gen)
        else:
            time.sleep(0.002)

    def _transition(self, reservation_id: str, change: _Change) -> Reservation:
        led = self._l
        check_id("reservation_id", reservation_id)
        with reachable(led.url):
            for _attempt in range(MAX_ATTEMPTS):
                st = self._read(reservation_id)
                if st.rec is None or st.version == 0:
                    if st.epoch and st.version == 0:
                        self._settle(st)  # a new reservation is being made: it either appears or not
                        if st.rec is not None and self._read(reservation_id).rec is not None:
                            continue
                    raise NotFound("reservation", reservation_id)
                if st.epoch:
                    self._settle(st)
                    continue
                out, plan = change(st, st.rec)
                if out is st.rec or plan is None:
                    return self._view(st.rec)
                try:
                    self._execute(reservation_id, st.version, out, plan)
                except _Conflict:
                    continue
                except _StaleCatalogue:
                    time.sleep(LOCK_POLL_S)
                    continue
                return self._view(out)
        raise Unavailable(f"reservation {reservation_id!r} keeps changing; try again")

    def _view(self, rec: ReservationRecord) -> Reservation:
        rec.sequence = self._l.store.sequence
        return rec.view()

    # ------------------------------------------------------------------ operations
    def reserve(self, req: ReserveRequest) -> Reservation:
        req.validate()
        net = self._net
        chan = req.check_places(net)
        led = self._l
        with reachable(led.url):
            rec = new_record(req, led._clock_ms(), {ln.location: True for ln in req.lines if ln.location})
            text = encode_record(rec)
            for _attempt in range(MAX_ATTEMPTS):
                plan = self._rows(chan, reserve_deltas(rec), consume=True, fences={})
                try:
                    self._execute(req.reservation_id, 0, rec, plan, new_text=text)
                    return self._view(rec)
                except _StaleCatalogue:
                    time.sleep(LOCK_POLL_S)  # this replica has not applied the newest catalogue yet
                    continue
                except _Conflict as c:
                    if not c.text:
                        continue  # the record vanished meanwhile (an aborted attempt): try again
                    prior = decode_record(c.text)
                    if prior.payload != req.payload_key():
                        raise AlreadyExists("reservation", req.reservation_id) from None
                    if c.version > 0:
                        return self._view(self._read(req.reservation_id).rec or prior)
                    # the same request in flight (a retry after a crash, or a twin): join it
                    if c.epoch and self._join(req.reservation_id, c.epoch, plan):
                        return self._view(self._read(req.reservation_id).rec or prior)
            raise Unavailable(f"reservation {req.reservation_id!r} keeps changing; try again")

    def _join(self, rid: str, epoch: str, plan: _Plan) -> bool:
        """Run the steps of an in-flight creation of the same reservation, then commit it."""
        led = self._l
        rp = self._part(rid)
        key = led.keys.record(rp, rid)
        packed = {p: _pack(rows) for p, rows in plan.by_partition().items()}
        try:
            return self._run_steps(rid, rp, key, led._replica.state.gen, epoch, packed, plan, 0)
        except Unavailable:
            return False

    def confirm(self, reservation_id: str, moves: tuple[LineMove, ...] = ()) -> Reservation:
        def change(st: _Stored, rec: ReservationRecord) -> tuple[ReservationRecord, _Plan | None]:
            net = self._net
            is_location = {loc: True for mv in moves for loc, _q in mv.to if loc in net.index}
            out, deltas = apply_confirm(rec, moves, is_location)
            if out is rec:
                return rec, None
            chan = net.channel_index(rec.channel)
            ordered = [d for d in deltas if d.d_held < 0] + [d for d in deltas if d.d_held > 0]
            plan = self._rows(chan, ordered, consume=False, fences={})
            for r in plan.rows:
                r.fence, r.fence_field = 0, ""
            # a moved line keeps the ring-fence it consumed: re-key it to the new lines, in order
            for mv in moves:
                fenced = st.fences.get((mv.sku, mv.place), 0)
                for loc, q in mv.to:
                    take = min(fenced, q)
                    if take:
                        to, fro = fence_field(mv.sku, loc), fence_field(mv.sku, mv.place)
                        plan.extra[to] = plan.extra.get(to, 0) + take
                        plan.extra[fro] = plan.extra.get(fro, 0) - take
                        fenced -= take
            return out, plan

        return self._transition(reservation_id, change)

    def extend(self, reservation_id: str, ttl_ms: int) -> Reservation:
        def change(st: _Stored, rec: ReservationRecord) -> tuple[ReservationRecord, _Plan | None]:
            return apply_extend(rec, ttl_ms, self._l._clock_ms()), _Plan([])

        return self._transition(reservation_id, change)

    def _release_like(
        self, st: _Stored, rec: ReservationRecord, out: ReservationRecord, deltas: list[HoldDelta]
    ) -> tuple[ReservationRecord, _Plan | None]:
        if out is rec:
            return rec, None
        chan = self._net.channel_index(rec.channel)
        return out, self._rows(chan, deltas, consume=False, fences=st.fences)

    def release(self, reservation_id: str, lines: tuple[LineQuantity, ...] = (), operation_id: str = "") -> Reservation:
        def change(st: _Stored, rec: ReservationRecord) -> tuple[ReservationRecord, _Plan | None]:
            out, deltas = apply_release(rec, lines, operation_id)
            return self._release_like(st, rec, out, deltas)

        return self._transition(reservation_id, change)

    def fulfill(self, reservation_id: str, lines: tuple[LineQuantity, ...], operation_id: str = "") -> Reservation:
        def change(st: _Stored, rec: ReservationRecord) -> tuple[ReservationRecord, _Plan | None]:
            out, deltas = apply_fulfill(rec, lines, operation_id)
            return self._release_like(st, rec, out, deltas)

        return self._transition(reservation_id, change)

    def get(self, reservation_id: str) -> Reservation:
        check_id("reservation_id", reservation_id)
        with reachable(self._l.url):
            st = self._read(reservation_id)
        if st.rec is None or st.version == 0:  # version 0: still being made (it may yet be rolled back)
            raise NotFound("reservation", reservation_id)
        return self._view(st.rec)

    # ------------------------------------------------------------------ expiry and roll-backs
    def expire_due(self, now_ms: int | None = None) -> int:
        """Expire every held reservation whose deadline has passed, and roll back every operation in
        flight past its roll-back time, in every partition; idempotent. Returns how many expired."""
        led = self._l
        now = led._clock_ms() if now_ms is None else now_ms
        n = 0
        with reachable(led.url):
            for p in range(led.partitions):
                for raw in led._client.zrangebyscore(led.keys.pending(p), "-inf", now, start=0, num=SWEEP_BATCH):
                    key = raw.decode() if isinstance(raw, bytes) else str(raw)
                    got: list[bytes | None] = led._client.hmget(key, ["pe", "pr", "pg"])  # type: ignore[assignment]
                    if got[0]:
                        steps = parse_steps((got[1] or b"{}").decode())
                        self.roll_back(p, key, got[0].decode(), steps, int(got[2] or 0))
                    else:
                        led._client.zrem(led.keys.pending(p), key)
                for raw in led._client.zrangebyscore(led.keys.due(p), "-inf", now, start=0, num=SWEEP_BATCH):
                    key = raw.decode() if isinstance(raw, bytes) else str(raw)
                    rid = key.split(":rsv:", 1)[1]
                    if self._expire_one(rid, now):
                        n += 1
                        self.expired_total += 1  # as they go: an outage midway keeps what was done
        return n

    def _expire_one(self, rid: str, now: int) -> bool:
        expired = False

        def change(st: _Stored, rec: ReservationRecord) -> tuple[ReservationRecord, _Plan | None]:
            nonlocal expired
            if rec.status is not ReservationStatus.HELD or rec.expires_at_ms > now:
                return rec, None
            out, deltas = apply_expire(rec)
            expired = True
            return self._release_like(st, rec, out, deltas)

        try:
            self._transition(rid, change)
        except NotFound:
            led = self._l
            p = self._part(rid)
            led._client.zrem(led.keys.due(p), led.keys.record(p, rid))
            return False
        return expired

    def start_sweeper(self, interval_s: float = SWEEP_INTERVAL_S) -> None:
        if self._sweeper is not None or interval_s <= 0:
            return

        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.expire_due()
                except Unavailable:
                    pass  # Redis down: the next sweep after it is back catches up
                except Exception:  # the sweeper must outlive any one bad record
                    log.exception("reservation sweeper")

        self._sweeper = threading.Thread(target=run, name="omniroute-redis-expiry", daemon=True)
        self._sweeper.start()

    def stop_sweeper(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None

    # ------------------------------------------------------------------ reconcile
    def open_records(self) -> list[_Stored]:
        led = self._l
        out: list[_Stored] = []
        # one SCAN of every master (redis-py's cluster client scans each primary) for all partitions
        found = led._client.scan_iter(match=led.keys.records_pattern(), count=1000)
        for _key, _p, rest in led.keys.keys_in(found, "rsv"):
            st = self._read(rest[1:])
            if st.rec is not None and st.version > 0:
                out.append(st)
        return out

    def expected_holds(
        self, records: list[_Stored], skus: frozenset[str]
    ) -> tuple[dict[tuple[str, int, int], int], dict[tuple[str, int, int], list[str]]]:
        """Units each (sku, location, hold group) should hold according to the committed records."""
        net = self._net
        want: dict[tuple[str, int, int], int] = {}
        who: dict[tuple[str, int, int], list[str]] = {}
        for st in records:
            rec = st.rec
            assert rec is not None
            if rec.status not in (ReservationStatus.HELD, ReservationStatus.CONFIRMED):
                continue
            chan = net.channel_index(rec.channel)
            for (sku, place), ls in rec.lines.items():
                if not ls.held or (skus and sku not in skus) or self._l.store.skus.get(sku) is None:
                    continue  # a SKU that a snapshot load dropped holds nothing any more
                li, g = net.hold_place(place, chan, rec.at_location[(sku, place)])
                k = (sku, li, g)
                want[k] = want.get(k, 0) + ls.held
                who.setdefault(k, []).append(rec.reservation_id)
        return want, who

    def reconcile(self, *, repair: bool, skus: frozenset[str] = frozenset()) -> ReconcileReport:
        """Compare the hold counters in Redis with the committed records (and this replica's arrays with
        Redis); operations in flight are left out (they commit or roll back on their own). A difference
        must persist across two reads to be reported, since writers keep going meanwhile."""
        led = self._l
        with self._reconciling, reachable(led.url):  # one at a time: repairs must not interleave
            first, positions, records = self._differences(skus)
            stable: list[_Difference] = []
            if first:
                time.sleep(0.05)
                second, positions, records = self._differences(skus)
                stable = [d for d in second if d in first]
            out: list[Inconsistency] = []
            for sku, li, g, counter, expected, found, who in stable:
                place = self._net.index.id(li) if li >= 0 else self._net.hold_group_name(g)
                fixed = False
                if repair:
                    fixed = self._repair(sku, li, g, counter, expected - found)
                out.append(Inconsistency(sku, place, counter, expected, found, who, fixed))
            return ReconcileReport(out, positions, records, led.store.sequence)

    def _differences(self, skus: frozenset[str]) -> tuple[list[_Difference], int, int]:
        """The differences, the positions and the committed open reservations checked."""
        led = self._l
        records = [st for st in self.open_records() if not st.epoch]
        want, who = self.expected_holds(records, skus)
        # operations in flight hold units no committed record explains yet: leave their SKUs out
        busy: set[str] = set()
        for p in range(led.partitions):
            for raw in led._client.zrange(led.keys.pending(p), 0, -1):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                pr: bytes | None = led._client.hget(key, "pr")  # type: ignore[assignment]
                steps = parse_steps((pr or b"{}").decode())
                for names, _rows in steps.values():
                    busy.update(names)
        found, positions = self._counters(skus)
        out: list[_Difference] = []
        for k in sorted(set(want) | set(found)):
            if k[0] in busy:
                continue
            e, f = want.get(k, 0), found.get(k, 0)
            if e != f:
                out.append((k[0], k[1], k[2], "reserved" if k[1] >= 0 else "group_hold", e, f, tuple(who.get(k, ()))))
        # this replica's arrays against Redis: on hand and reserved, as the applied change records left them
        # (where Redis differs from the records, its repair sets the replicas too)
        drifted = {d[0] for d in out}
        out.extend(self._replica_differences(skus, busy | drifted, positions))
        return out, len(positions), len(records)

    def _counters(
        self, skus: frozenset[str]
    ) -> tuple[dict[tuple[str, int, int], int], dict[tuple[str, int], tuple[int, int]]]:
        """Hold counters in Redis, (sku, location, -1) reserved and (sku, -1, group) group holds, and every
        position's (on hand, reserved) by (sku, location)."""
        led = self._l
        gen = led._replica.state.gen
        found: dict[tuple[str, int, int], int] = {}
        positions: dict[tuple[str, int], tuple[int, int]] = {}
        for p in range(led.partitions):
            names = [
                (raw.decode() if isinstance(raw, bytes) else str(raw))
                for raw in led._client.hkeys(led.keys.skus(p, gen))
            ]
            if skus:
                names = [s for s in names if s in skus]
            for a in range(0, len(names), 500):
                chunk = names[a : a + 500]
                pipe = led._client.pipeline(transaction=False)
                for s in chunk:
                    pipe.hgetall(led.keys.counters_prefix(p, gen) + s)
                for s, h in zip(chunk, pipe.execute(), strict=True):
                    for fk, fv in h.items():
                        try:
                            f = int(fk)
                        except ValueError:
                            continue
                        v = int(fv)
                        if f >= 0:
                            loc, kind = divmod(f, 4)
                            if kind == 0:
                                positions[(s, loc)] = (v, positions.get((s, loc), (0, 0))[1])
                            elif kind == F_RESERVED:
                                positions[(s, loc)] = (positions.get((s, loc), (0, 0))[0], v)
                                if v:
                                    found[(s, loc, -1)] = v
                        elif f <= HOLD_BASE and v:
                            found[(s, -1, HOLD_BASE - f)] = v
        return found, positions

    def _replica_differences(
        self, skus: frozenset[str], busy: set[str], redis_positions: dict[tuple[str, int], tuple[int, int]]
    ) -> list[_Difference]:
        store = self._l.store
        gs = store.generation
        mine: dict[tuple[str, int], tuple[int, int]] = {}
        for s in range(len(store.skus)):
            sku = store.skus.id(s)
            if skus and sku not in skus:
                continue
            a, u = int(gs.idx[s, 0]), int(gs.idx[s, 1])
            on_hand = gs.pos[1, a : a + u].astype(np.int64)
            reserved = on_hand - gs.pos[2, a : a + u]
            for loc, o, r in zip(gs.pos[0, a : a + u].tolist(), on_hand.tolist(), reserved.tolist(), strict=True):
                mine[(sku, loc)] = (int(o), int(r))
        out: list[_Difference] = []
        for key in sorted(set(redis_positions) | set(mine)):
            sku, loc = key
            if sku in busy:
                continue
            oh, rs = redis_positions.get(key, (0, 0))
            have_oh, have_rs = mine.get(key, (0, 0))
            if have_oh != oh:
                out.append((sku, loc, -1, "replica_on_hand", oh, have_oh, ()))
            if have_rs != rs:
                out.append((sku, loc, -1, "replica_reserved", rs, have_rs, ()))
        return out

    def _repair(self, sku: str, li: int, g: int, counter: str, delta: int) -> bool:
        led = self._l
        if counter.startswith("replica_"):
            led._replica.request_rebuild(f"reconcile: {counter} of {sku} differs from Redis")
            return True
        p = self._part(sku)
        gen = led._replica.state.gen
        rows = [_Row(p, sku, li, g, delta, 0, -1, 0, -1, "")]
        skus_, packed = _pack(rows)
        # a recorded change without stock checks (it may have to lower a counter below what is free)
        call = led._scripts.hold(
            p,
            gen,
            "force",
            skus_,
            packed,
            maxlen=led.stream_maxlen,
            retention_ms=STEP_RETENTION_MS,
            checks=[led._replica.state.version, "", "", 0],
        )
        with led._replica.writing([p]):
            reply = led._scripts.run([call])[0]
            if int(reply[0]) != 0:
                return False
            s0, s1 = int(reply[2]), int(reply[3])
            if s1 > s0:
                led._replica.apply_own([Record(p, s1, s0, KIND_REPAIR, gen, skus=skus_, rows=bytes(reply[5]))])
        return True


def carry_holds(client: Any, keys: Keys, partitions: int, gen: int, fresh: StockStore) -> int:
    """Before a snapshot load switches to generation `gen`: stop new holds and commits in every
    partition (a lock that lua/switch.lua lifts, or time, should the load die), then write the holds of
    every committed open reservation into `gen`'s counters (not live yet) and onto `fresh`, the store
    that goes live with it. Operations in flight keep their old state: their commits are refused (their
    steps wrote to the old generation) and their callers start again. Lines whose SKU, location or
    group the new snapshot lacks hold nothing any more, as in the embedded ledger. Returns the number
    of lines carried."""
    sec, usec = client.time()
    lock = int(sec) * 1000 + int(usec) // 1000 + CARRY_LOCK_MS
    pipe = client.pipeline(transaction=False)
    for p in range(partitions):
        pipe.hset(keys.partition_meta(p), "lk", lock)
    pipe.execute()
    net = fresh.network
    carried = 0
    writes = client.pipeline(transaction=False)
    # one SCAN of every master (redis-py's cluster client scans each primary) for all partitions
    for raw_key, _p, _rest in keys.keys_in(client.scan_iter(match=keys.records_pattern(), count=1000), "rsv"):
        got = client.hmget(raw_key, ["v", "d"])
        if got[1] is None or int(got[0] or 0) < 1:
            continue
        rec = decode_record(got[1].decode())
        chan = net.channels.get(rec.channel)
        if rec.status not in (ReservationStatus.HELD, ReservationStatus.CONFIRMED) or chan is None:
            continue
        for (sku, place), ls in rec.lines.items():
            s = fresh.skus.get(sku)
            if not ls.held or s is None:
                continue
            if rec.at_location[(sku, place)]:
                li = net.index.get(place)
                if li is None:
                    continue
                slots = fresh.ensure_slots(np.array([s], np.int64), np.array([li], np.int64))
                fresh.apply_deltas(slots, np.zeros(1, np.int64), np.array([ls.held], np.int64), fresh.sequence)
                fld = 4 * li + F_RESERVED
            else:
                try:
                    g = net.hold_group_index(place, chan)
                except InvalidArgument:
                    continue
                fresh.add_group_hold(s, g, ls.held)
                fld = HOLD_BASE - g
            writes.hincrby(keys.counters_prefix(partition_of(sku, partitions), gen) + sku, str(fld), ls.held)
            carried += 1
    writes.execute()
    return carried


def parse_steps(text: str) -> dict[int, tuple[list[str], bytes]]:
    """The rows of an operation's steps as kept in its record (for a roll-back by anyone)."""
    if not text:
        return {}
    doc = json.loads(text)
    return {int(p): (names.split(" ") if names else [], base64.b64decode(rows)) for p, (names, rows) in doc.items()}
