"""The capacity book: shipments that held plans take from a location's daily capacity, per ship day, so
that a later RouteOrder (or quote) sees what earlier held plans took.

A plan held by RouteOrder (`hold=True`) claims one shipment at each of its locations on that shipment's
ship day, under its reservation id. Claims are checked and applied atomically against each location's
`daily_capacity` (a claim that would exceed it is refused, changing nothing, and the order is routed
again on the fresh figures); holding the same reservation again replaces its claims, so a repeated call
takes nothing more. Capacity comes back when the reservation no longer holds anything at a location: a
release (ReservationService.Release, or a reroute's release at a rejecting store) settles the claims of
that reservation against what it still holds or has fulfilled there (a fulfilled shipment did use that
day's capacity). Plans are held as confirmed reservations, which never expire; reconcile drops the
claims of reservations that are gone or closed, whatever closed them.

Where the book lives follows the ledger, so it is right wherever the holds are:
- `MemoryCapacityBook` beside the embedded ledger (one process: a dict under a lock);
- `RedisCapacityBook` in the Redis of a Redis ledger, shared by every replica and every worker of
  `serve --workers N`: claims go through one Lua script, and all of the book's keys share one hash tag
  (one Cluster slot), so each claim is one atomic step even on Redis Cluster.
Why a book beside the ledger rather than inside its hold scripts: a hold is per SKU partition (a plan's
lines may span partitions), while capacity is per location and day across SKUs; the book's claim comes
first and is undone if the stock hold fails, so a plan is never held without its capacity. A crash
between the two leaves a claim without a hold: `reconcile` (run once per process in the background,
after its first claim) drops claims of reservations that do not hold at that location, once they are
older than a grace period (a claim whose hold is still in flight on another replica is left alone).

Keys (tag T = {<prefix>:cap}): T:d:<day> hash location -> shipments claimed that day (expires a week
after the day); T:r:<reservation id> hash "<day>|<location>" -> 1, plus "@t" the claim time in ms;
T:all set of reservation ids with claims. Day counts and claims expire a week after their day (and no
sooner than a week after they were written).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from availability.errors import FailedPrecondition, NotFound
from availability.ledger import Ledger
from availability.reservations import Reservation, ReservationStatus
from router import CapacityUse

log = logging.getLogger(__name__)

RECONCILE_GRACE_MS = 60_000  # a claim this young may still have its hold in flight on another replica
KEEP_DAYS = 7  # a day's counts are kept this long after the day (reads never ask for the past)
MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class Claim:
    """One shipment of a held plan: from `location` on ship day `day` (a day number)."""

    location: str
    day: int


@dataclass(frozen=True, slots=True)
class Full:
    location: str
    day: int
    used: int  # shipments other plans hold there that day
    capacity: int


class CapacityFull(FailedPrecondition):
    """A claim would take a location past its daily capacity on a day: nothing was claimed."""

    def __init__(self, full: Sequence[Full]) -> None:
        self.full = tuple(full)
        where = ", ".join(f"{f.location} on day {f.day} ({f.used} of {f.capacity})" for f in self.full)
        super().__init__(f"no shipment capacity left at {where}")


class CapacityBook(Protocol):
    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        """For each day number, the shipments claimed per location id (absent: none)."""
        ...

    def claim(self, reservation_id: str, claims: Sequence[tuple[Claim, int]]) -> tuple[Claim, ...]:
        """Replace the reservation's claims by these (each with its location's daily capacity), all or
        nothing: CapacityFull when one would exceed its capacity (claims the reservation already has
        count as its own). Returns the claims it had before, for `restore`."""
        ...

    def restore(self, reservation_id: str, claims: Sequence[Claim]) -> None:
        """Set the reservation's claims back to these, unchecked (undoing a claim whose hold failed)."""
        ...

    def keep_only(self, reservation_id: str, locations: Iterable[str]) -> None:
        """Drop the reservation's claims at every other location (all of them for an empty set)."""
        ...

    def claims(self, reservation_id: str) -> tuple[tuple[Claim, ...], int]:
        """The reservation's claims and when they were made (ms; 0: none)."""
        ...

    def reservations(self) -> list[str]:
        """Every reservation id with claims."""
        ...

    def close(self) -> None: ...


def settle(book: CapacityBook, reservation: Reservation) -> None:
    """Give back the capacity a reservation no longer uses: its claims stay only at locations where it
    still holds units or has fulfilled some (a closed, released or expired reservation keeps none)."""
    if reservation.status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED):
        book.keep_only(reservation.reservation_id, ())
        return
    book.keep_only(
        reservation.reservation_id,
        {ln.place for ln in reservation.lines if ln.at_location and (ln.held > 0 or ln.fulfilled > 0)},
    )


def reconcile(
    book: CapacityBook, ledger: Ledger, *, now_ms: int | None = None, grace_ms: int = RECONCILE_GRACE_MS
) -> int:
    """Drop claims that no reservation backs (gone, closed, or no longer holding at the location), for
    claims older than `grace_ms`. Returns how many reservations were settled."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    settled = 0
    for rid in book.reservations():
        _, at = book.claims(rid)
        if at and now - at < grace_ms:
            continue
        try:
            r = ledger.get_reservation(rid)
        except NotFound:
            book.keep_only(rid, ())
            settled += 1
            continue
        settle(book, r)
        settled += 1
    return settled


class OthersUse:
    """A book's figures without one reservation's own claims: an order's own plan is not competition for
    it (routing it again must not find its own locations full)."""

    def __init__(self, book: CapacityBook, reservation_id: str) -> None:
        self.book = book
        self.own = book.claims(reservation_id)[0] if reservation_id else ()

    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        got = self.book.used(days)
        if not self.own:
            return got
        out = {d: dict(m) for d, m in got.items()}
        for c in self.own:
            day = out.get(c.day)
            if day is not None and day.get(c.location, 0) > 0:
                day[c.location] -= 1
                if not day[c.location]:
                    del day[c.location]
        return out


# ------------------------------------------------------------------------------------------ memory


class MemoryCapacityBook:
    """The book of the embedded ledger: one process, a lock. Not kept across restarts (see README)."""

    def __init__(self, clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._lock = threading.Lock()
        self._by_day: dict[int, dict[str, int]] = {}
        self._claims: dict[str, tuple[tuple[Claim, ...], int]] = {}
        self._clock_ms = clock_ms

    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        with self._lock:
            return {d: dict(self._by_day.get(d, {})) for d in days}

    def _set(self, reservation_id: str, claims: Sequence[Claim]) -> tuple[Claim, ...]:
        old, _ = self._claims.get(reservation_id, ((), 0))
        for c in old:
            day = self._by_day[c.day]
            day[c.location] -= 1
            if not day[c.location]:
                del day[c.location]
        for c in claims:
            day = self._by_day.setdefault(c.day, {})
            day[c.location] = day.get(c.location, 0) + 1
        if claims:
            self._claims[reservation_id] = (tuple(claims), self._clock_ms())
        else:
            self._claims.pop(reservation_id, None)
        return old

    def claim(self, reservation_id: str, claims: Sequence[tuple[Claim, int]]) -> tuple[Claim, ...]:
        wanted = _unique(claims)
        with self._lock:
            mine = set(self._claims.get(reservation_id, ((), 0))[0])
            full = [
                Full(c.location, c.day, used, cap)
                for c, cap in wanted
                if c not in mine and (used := self._by_day.get(c.day, {}).get(c.location, 0)) + 1 > cap
            ]
            if full:
                raise CapacityFull(full)
            return self._set(reservation_id, [c for c, _ in wanted])

    def restore(self, reservation_id: str, claims: Sequence[Claim]) -> None:
        with self._lock:
            self._set(reservation_id, list(dict.fromkeys(claims)))

    def keep_only(self, reservation_id: str, locations: Iterable[str]) -> None:
        keep = set(locations)
        with self._lock:
            old, _ = self._claims.get(reservation_id, ((), 0))
            left = [c for c in old if c.location in keep]
            if len(left) != len(old):
                self._set(reservation_id, left)

    def claims(self, reservation_id: str) -> tuple[tuple[Claim, ...], int]:
        with self._lock:
            return self._claims.get(reservation_id, ((), 0))

    def reservations(self) -> list[str]:
        with self._lock:
            return list(self._claims)

    def close(self) -> None:
        pass


def _unique(claims: Sequence[tuple[Claim, int]]) -> list[tuple[Claim, int]]:
    """One claim per (location, day): a plan has one shipment per location."""
    out: dict[Claim, int] = {}
    for c, cap in claims:
        out[c] = cap
    return list(out.items())


# ------------------------------------------------------------------------------------------ redis

# ARGV: base ("{<prefix>:cap}"), reservation id, now (ms), check (1/0), n, then n triples (day, location,
# capacity). KEYS[1] is the reservation's claim hash (every key of the book shares its hash tag).
# Answers {1, old fields...} or {0, day, location, used, capacity, ...} for each claim that does not fit.
_CLAIM = """
local base, rid, now, check, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', tonumber(ARGV[5])
local rkey = KEYS[1]
local keep = tonumber(ARGV[6 + 3 * n]) * 86400000
-- kept a week past the day, and at least a week from now (orders may be dated in the past)
local function expiry(day) return math.max((day + 1) * 86400000 + keep, tonumber(now) + keep) end
local old = redis.call('HKEYS', rkey)
local mine = {}
for _, f in ipairs(old) do if f ~= '@t' then mine[f] = true end end
local new = {}
local full = {}
for k = 0, n - 1 do
  local day, loc, cap = ARGV[6 + 3 * k], ARGV[7 + 3 * k], tonumber(ARGV[8 + 3 * k])
  local f = day .. '|' .. loc
  new[f] = {day, loc}
  if check and not mine[f] then
    local used = tonumber(redis.call('HGET', base .. ':d:' .. day, loc) or '0')
    if used + 1 > cap then
      table.insert(full, day); table.insert(full, loc); table.insert(full, used); table.insert(full, cap)
    end
  end
end
if #full > 0 then
  table.insert(full, 1, 0)
  return full
end
for f, _ in pairs(mine) do
  if not new[f] then
    local bar = string.find(f, '|', 1, true)
    local dkey = base .. ':d:' .. string.sub(f, 1, bar - 1)
    local loc = string.sub(f, bar + 1)
    if redis.call('HINCRBY', dkey, loc, -1) <= 0 then redis.call('HDEL', dkey, loc) end
  end
end
local latest = 0
for f, dl in pairs(new) do
  if not mine[f] then
    local dkey = base .. ':d:' .. dl[1]
    redis.call('HINCRBY', dkey, dl[2], 1)
    redis.call('PEXPIREAT', dkey, expiry(tonumber(dl[1])))
  end
  if tonumber(dl[1]) > latest then latest = tonumber(dl[1]) end
end
redis.call('DEL', rkey)
if next(new) ~= nil then
  local args = {'@t', now}
  for f, _ in pairs(new) do table.insert(args, f); table.insert(args, '1') end
  redis.call('HSET', rkey, unpack(args))
  redis.call('PEXPIREAT', rkey, expiry(latest))
  redis.call('SADD', base .. ':all', rid)
else
  redis.call('SREM', base .. ':all', rid)
end
local out = {1}
for _, f in ipairs(old) do if f ~= '@t' then table.insert(out, f) end end
return out
"""


class RedisCapacityBook:
    """The book in the Redis of a Redis ledger: shared by every replica (see the module docstring)."""

    def __init__(self, url: str, prefix: str) -> None:
        from availability.ledger.scripts import connect

        self.url = url
        self.base = "{" + prefix + ":cap}"
        self._client: Any = connect(url)
        self._claim = self._client.register_script(_CLAIM)
        self.reconciled = False  # by reconcile_once, on this process's first claim

    def _key(self, reservation_id: str) -> str:
        return f"{self.base}:r:{reservation_id}"

    def _call(self, reservation_id: str, claims: Sequence[tuple[Claim, int]], *, check: bool) -> list[Any]:
        from availability.ledger.scripts import reachable

        args: list[str | int] = [self.base, reservation_id, int(time.time() * 1000), int(check), len(claims)]
        for c, cap in claims:
            args += [c.day, c.location, cap]
        args.append(KEEP_DAYS)
        with reachable(self.url):
            out: list[Any] = self._claim(keys=[self._key(reservation_id)], args=args)
        return out

    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        from availability.ledger.scripts import reachable

        if not days:
            return {}
        with reachable(self.url):
            pipe = self._client.pipeline(transaction=False)
            for d in days:
                pipe.hgetall(f"{self.base}:d:{d}")
            got = pipe.execute()
        return {d: {k.decode(): int(v) for k, v in h.items() if int(v) > 0} for d, h in zip(days, got, strict=True)}

    def claim(self, reservation_id: str, claims: Sequence[tuple[Claim, int]]) -> tuple[Claim, ...]:
        out = self._call(reservation_id, _unique(claims), check=True)
        if int(out[0]) == 0:
            rest = [x.decode() if isinstance(x, bytes) else x for x in out[1:]]
            raise CapacityFull(
                [
                    Full(str(rest[i + 1]), int(rest[i]), int(rest[i + 2]), int(rest[i + 3]))
                    for i in range(0, len(rest), 4)
                ]
            )
        return tuple(_parse(f) for f in out[1:])

    def restore(self, reservation_id: str, claims: Sequence[Claim]) -> None:
        self._call(reservation_id, [(c, 0) for c in dict.fromkeys(claims)], check=False)

    def keep_only(self, reservation_id: str, locations: Iterable[str]) -> None:
        keep = set(locations)
        old, _ = self.claims(reservation_id)
        left = [c for c in old if c.location in keep]
        if len(left) != len(old):
            # a claim of the same reservation racing this settle is not a case the service makes: a
            # reservation is held by one call at a time (the ledger refuses a second confirm's moves)
            self.restore(reservation_id, left)

    def claims(self, reservation_id: str) -> tuple[tuple[Claim, ...], int]:
        from availability.ledger.scripts import reachable

        with reachable(self.url):
            h = self._client.hgetall(self._key(reservation_id))
        at = int(h.pop(b"@t", 0))
        return tuple(_parse(f) for f in h), at

    def reservations(self) -> list[str]:
        from availability.ledger.scripts import reachable

        with reachable(self.url):
            return sorted(m.decode() for m in self._client.smembers(f"{self.base}:all"))

    def close(self) -> None:
        self._client.close()


def _parse(field: bytes | str) -> Claim:
    text = field.decode() if isinstance(field, bytes) else field
    day, _, loc = text.partition("|")
    return Claim(loc, int(day))


# ------------------------------------------------------------------------------------------ per ledger

# weakly keyed: a ledger that is closed and dropped (a test server, a reload) takes its book with it
_BOOKS: weakref.WeakKeyDictionary[Ledger, CapacityBook] = weakref.WeakKeyDictionary()
_BOOKS_LOCK = threading.Lock()


def book_for(ledger: Ledger) -> CapacityBook:
    """The capacity book of a ledger, opened on first use (no I/O: safe on the event loop): in Redis for
    a Redis ledger, in memory otherwise. A shared book is reconciled on its first claim
    (`reconcile_once`), on a write thread."""
    with _BOOKS_LOCK:
        hit = _BOOKS.get(ledger)
        if hit is not None:
            return hit
        book: CapacityBook
        # by what it has rather than its class, so a wrapped Redis ledger still shares the Redis book
        url, keys = getattr(ledger, "url", None), getattr(ledger, "keys", None)
        if ledger.blocking_io and isinstance(url, str) and isinstance(getattr(keys, "prefix", None), str):
            book = RedisCapacityBook(url, keys.prefix)  # type: ignore[union-attr]
        else:
            book = MemoryCapacityBook()
        _BOOKS[ledger] = book
        return book


def reconcile_once(book: CapacityBook, ledger: Ledger) -> None:
    """Reconcile a shared book against its ledger once per process, on a background thread started by
    the first claim: a Redis book outlives processes, and a crash may have left claims without holds.
    In the background because it reads every claiming reservation (thousands on a busy day), which no
    checkout should wait for; a leftover claim only makes a location look busier until then."""
    if not isinstance(book, RedisCapacityBook):
        return
    with _BOOKS_LOCK:
        if book.reconciled:
            return
        book.reconciled = True

    def run() -> None:
        try:
            n = reconcile(book, ledger)
            log.info("capacity book reconciled: %d reservations with claims checked", n)
        except Exception:  # the next process start tries again; claims stay as they were
            log.warning("capacity book reconcile failed", exc_info=True)

    threading.Thread(target=run, name="omniroute-capacity-reconcile", daemon=True).start()


class DayCache:
    """A book's figures read once per day within one call (a quote builds several candidate pools over
    the same days: one read each, not one round trip each)."""

    def __init__(self, use: CapacityUse) -> None:
        self.use = use
        self._days: dict[int, Mapping[str, int]] = {}

    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        missing = [d for d in days if d not in self._days]
        if missing:
            self._days.update(self.use.used(missing))
        return {d: self._days[d] for d in days}
