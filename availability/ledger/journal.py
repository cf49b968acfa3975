"""The write-ahead journal of the embedded ledger's state directory (see statedir.py for the directory).

A journal segment is a file `journal-<N>.log`: a 16-byte header, then entries appended in the order the
ledger applied them. An entry is framed as

    u32 length of the body | u32 CRC-32 of the body | body
    body = u8 kind | i64 ledger clock (ms) the write saw | i64 ledger sequence after it | payload

so a reader can tell a whole entry from a torn one (a crash in the middle of a write leaves a short or
mismatching last entry) without trusting anything the torn bytes say. Little-endian throughout.

Payloads: a stock event batch is columnar binary (five NUL-joined UTF-8 string columns and two int64
columns: NUL cannot occur in an id, a location, a SKU, a channel or an event type), because batches of
thousands of events are the bulk of a journal and json costs several times more per event; every other
write is compact JSON of its request. Only requests that changed the ledger are journaled, each after it
was applied under the ledger's lock, so the journal's order is the ledger's order.

Durability: `append` hands the entry to the OS at once (it survives a crash of the process); `sync`
makes it survive a crash of the machine, with group commit: one fdatasync covers every entry appended
before it, so concurrent writers share the cost. With `fsync=False`, `sync` does nothing.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OmnirouteError
from ..model import (
    AllocationRow,
    EventType,
    Location,
    StockEvent,
)
from ..reservations import HoldLine, LineMove, LineQuantity, ReserveRequest
from .base import SafetyStockEntry
from .network_json import location_from_json, location_to_json

MAGIC = b"OMNIJRNL"
FORMAT = 1
_FILE_HEAD = struct.Struct("<8sII")  # magic, format, reserved
_FRAME = struct.Struct("<II")  # body length, CRC-32 of the body
_BODY = struct.Struct("<Bqq")  # kind, clock ms, sequence after
_U64 = struct.Struct("<Q")
FILE_HEAD_BYTES = _FILE_HEAD.size
MAX_ENTRY_BYTES = 1 << 30  # a batch of 50,000 events with 128-character ids is about 20 MB


class StateDirError(OmnirouteError):
    """The state directory cannot be used: in use by another process, corrupt, or not a state directory.
    The message names the file and says what to do."""


class Kind(IntEnum):
    """What an entry records. The numbers are the file format: never renumber, only add."""

    EVENTS = 1
    SAFETY = 2
    ALLOCATIONS = 3
    LOCATIONS = 4
    RESERVE = 5
    CONFIRM = 6
    EXTEND = 7
    RELEASE = 8
    FULFILL = 9
    EXPIRE = 10
    FORGET = 11
    REPAIR = 12


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    now_ms: int
    sequence: int  # the ledger's sequence right after the write: replay checks it
    payload: bytes
    offset: int  # where the entry starts in its segment (for error messages)


# ---------------------------------------------------------------------------------------------- files
def segment_name(number: int) -> str:
    return f"journal-{number:012d}.log"


def segment_number(name: str) -> int | None:
    if name.startswith("journal-") and name.endswith(".log") and name[8:-4].isdigit():
        return int(name[8:-4])
    return None


class JournalWriter:
    """Appends entries to one segment after another. `append` is called under the ledger's lock (so
    entries are in the ledger's order); `sync` is called after the lock is released, by every writer
    that must not answer before its entry is on disk. Positions are counted across segments, so a
    ticket from an older segment is always durable already (a rotation syncs the old segment)."""

    def __init__(self, directory: Path, number: int, *, fsync: bool) -> None:
        self.directory = directory
        self.fsync = fsync
        self._sync_lock = threading.Lock()
        self._written = 0  # bytes appended over every segment of this writer
        self._synced = 0
        self._segment_start = 0
        self._fd = -1
        self.number = number
        self.failure = ""  # set when a write failed: the ledger then refuses writes
        self._open(number)

    def _open(self, number: int) -> None:
        path = self.directory / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                os.write(fd, _FILE_HEAD.pack(MAGIC, FORMAT, 0))
            if self.fsync:
                os.fsync(fd)
                _fsync_dir(self.directory)  # the new file's name must survive a crash too
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self.number = number
        # a segment continued after a restart already holds entries: they count towards its checkpoint
        self._segment_start = self._written - max(size - FILE_HEAD_BYTES, 0)

    @property
    def segment_bytes(self) -> int:
        """Bytes of entries in the current segment."""
        return self._written - self._segment_start

    def append(self, kind: Kind, now_ms: int, sequence: int, payload: bytes) -> int:
        """Write one entry; returns its ticket for `sync`."""
        body_len = _BODY.size + len(payload)
        if body_len > MAX_ENTRY_BYTES:
            raise StateDirError(f"a journal entry of {body_len} bytes is over the {MAX_ENTRY_BYTES} limit")
        head = _BODY.pack(int(kind), now_ms, sequence)
        crc = zlib.crc32(payload, zlib.crc32(head))
        data = b"".join((_FRAME.pack(body_len, crc), head, payload))
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as err:
            self.failure = f"writing {self.directory / segment_name(self.number)} failed: {err}"
            raise StateDirError(self.failure) from err
        self._written += len(data)
        return self._written

    def sync(self, ticket: int) -> None:
        """Return once every entry up to `ticket` is on disk (a no-op without fsync)."""
        if not self.fsync or self._synced >= ticket:
            return
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another writer's fdatasync covered this entry meanwhile
            target = self._written  # everything handed to the OS so far goes down with this call
            try:
                os.fdatasync(self._fd)
            except OSError as err:
                self.failure = f"syncing {self.directory / segment_name(self.number)} failed: {err}"
                raise StateDirError(self.failure) from err
            self._synced = max(self._synced, target)

    def rotate(self, number: int) -> None:
        """Finish the current segment (synced) and continue in segment `number`. Under the ledger's lock."""
        with self._sync_lock:
            if self.fsync:
                os.fdatasync(self._fd)
            self._synced = self._written
            os.close(self._fd)
            self._fd = -1
        self._open(number)

    def close(self) -> None:
        with self._sync_lock:
            if self._fd >= 0:
                try:
                    if self.fsync:
                        os.fdatasync(self._fd)
                finally:
                    os.close(self._fd)
                    self._fd = -1
            self._synced = self._written


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class SegmentRead:
    entries: list[Entry]
    valid_bytes: int  # the segment's length up to the end of its last whole entry
    torn_bytes: int  # bytes after that (only ever in the last segment)


def read_segment(path: Path, *, last: bool) -> SegmentRead:
    """Every whole entry of a segment. In the last segment, a torn or damaged final entry (a crash in the
    middle of a write) is reported in `torn_bytes` for the caller to drop; anything damaged elsewhere is
    a StateDirError, since entries after it would be replayed without it."""
    data = path.read_bytes()
    if len(data) < FILE_HEAD_BYTES:
        if last:  # created, then the crash came before the header was written
            return SegmentRead([], 0, len(data))
        raise StateDirError(f"journal {path} is truncated ({len(data)} bytes, no header)")
    magic, fmt, _ = _FILE_HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise StateDirError(f"{path} is not an omniroute journal (bad magic {magic!r})")
    if fmt != FORMAT:
        raise StateDirError(f"journal {path} has format {fmt}; this version reads format {FORMAT}")
    entries: list[Entry] = []
    at = FILE_HEAD_BYTES
    size = len(data)
    while at < size:
        problem = ""
        if size - at < _FRAME.size:
            problem = "a partial entry header"
        else:
            length, crc = _FRAME.unpack_from(data, at)
            end = at + _FRAME.size + length
            if not _BODY.size <= length <= MAX_ENTRY_BYTES:
                problem = f"an entry length of {length}"
            elif end > size:
                problem = f"an entry of {length} bytes with {size - at - _FRAME.size} written"
            else:
                body = data[at + _FRAME.size : end]
                if zlib.crc32(body) != crc:
                    problem = "an entry whose checksum does not match"
                else:
                    kind, now_ms, seq = _BODY.unpack_from(body, 0)
                    try:
                        k = Kind(kind)
                    except ValueError:
                        problem = f"an entry of unknown kind {kind}"
                    else:
                        entries.append(Entry(k, now_ms, seq, body[_BODY.size :], at))
                        at = end
                        continue
        # A torn write is the last thing in the file: its frame is cut short, its declared length reaches
        # exactly to the end of the file or past it (a write the crash cut short, or whose last pages
        # never reached the disk), or only zeros follow (what some file systems show for such a write).
        # Anything else is damage in the middle of the journal: the entries after it must not be dropped
        # silently.
        torn = size - at < _FRAME.size or not data[at:].strip(b"\x00")
        if not torn:
            length = _FRAME.unpack_from(data, at)[0]
            torn = _BODY.size <= length <= MAX_ENTRY_BYTES and at + _FRAME.size + length >= size
        if last and torn:
            return SegmentRead(entries, at, size - at)
        raise StateDirError(
            f"journal {path} is damaged at byte {at}: {problem}, with {size - at} bytes after it "
            f"({len(entries)} whole entries before it). The writes after that point cannot be replayed. "
            f"To start from the state before it, truncate the file to {at} bytes "
            f"(truncate -s {at} {path}) and remove any later journal segments; this loses those writes."
        )
    return SegmentRead(entries, at, 0)


def truncate_segment(path: Path, length: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(length)
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------------------------------------- payloads
_COUNT = struct.Struct("<Q")
_get_id = attrgetter("event_id")
_get_type = attrgetter("type")
_get_location = attrgetter("location")
_get_sku = attrgetter("sku")
_get_quantity = attrgetter("quantity")
_get_time = attrgetter("occurred_at")
_get_channel = attrgetter("channel")
_EVENT_TYPES = {t.value: t for t in EventType}


def encode_columns(
    ids: Sequence[str],
    types: Sequence[str],
    locations: Sequence[str],
    skus: Sequence[str],
    channels: Sequence[str],
    quantities: Sequence[int] | np.ndarray,
    times: Sequence[int] | np.ndarray,
) -> bytes:
    """Columns of stock events (or of remembered event payloads) as one binary blob."""
    n = len(ids)
    parts = [_COUNT.pack(n)]
    for column in (ids, types, locations, skus, channels):
        blob = "\x00".join(column).encode()
        parts += [_U64.pack(len(blob)), blob]
    parts.append(np.asarray(quantities, dtype="<i8").tobytes())
    parts.append(np.asarray(times, dtype="<i8").tobytes())
    return b"".join(parts)


def decode_columns(data: bytes) -> tuple[list[str], list[str], list[str], list[str], list[str], list[int], list[int]]:
    """(ids, types, locations, skus, channels, quantities, times) of `encode_columns`."""
    try:
        (n,) = _COUNT.unpack_from(data, 0)
        at = _COUNT.size
        strings: list[list[str]] = []
        for _ in range(5):
            (length,) = _U64.unpack_from(data, at)
            at += _U64.size
            text = data[at : at + length].decode()
            at += length
            column = text.split("\x00") if n else []
            if len(column) != n:
                raise ValueError(f"a column of {len(column)} values for {n} events")
            strings.append(column)
        qty = np.frombuffer(data, dtype="<i8", count=n, offset=at)
        tms = np.frombuffer(data, dtype="<i8", count=n, offset=at + 8 * n)
        if at + 16 * n != len(data):
            raise ValueError(f"{len(data) - at - 16 * n} bytes left over")
    except (struct.error, UnicodeDecodeError, ValueError) as err:
        raise StateDirError(f"malformed stock event columns: {err}") from None
    return strings[0], strings[1], strings[2], strings[3], strings[4], qty.tolist(), tms.tolist()


def encode_events(events: Sequence[StockEvent]) -> bytes:
    return encode_columns(
        list(map(_get_id, events)),
        list(map(_get_type, events)),
        list(map(_get_location, events)),
        list(map(_get_sku, events)),
        list(map(_get_channel, events)),
        list(map(_get_quantity, events)),
        list(map(_get_time, events)),
    )


def decode_events(data: bytes) -> list[StockEvent]:
    ids, types, locs, skus, chans, qtys, times = decode_columns(data)
    try:
        kinds = [_EVENT_TYPES[t] for t in types]
    except KeyError as err:
        raise StateDirError(f"unknown stock event type {err.args[0]!r} in the journal") from None
    return list(map(StockEvent, ids, kinds, locs, skus, qtys, times, chans))


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _unjson(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as err:
        raise StateDirError(f"malformed journal entry: {err}") from None


def encode_safety(entries: Sequence[SafetyStockEntry]) -> bytes:
    return _json([[e.sku, e.location, e.quantity] for e in entries])


def decode_safety(data: bytes) -> list[SafetyStockEntry]:
    return [SafetyStockEntry(s, lo, q) for s, lo, q in _unjson(data)]


def encode_allocations(entries: Sequence[AllocationRow]) -> bytes:
    return _json([[a.sku, a.channel, a.quantity, a.consumed] for a in entries])


def decode_allocations(data: bytes) -> list[AllocationRow]:
    return [AllocationRow(s, c, q, u) for s, c, q, u in _unjson(data)]


def encode_locations(locations: Sequence[Location]) -> bytes:
    return _json([location_to_json(loc) for loc in locations])


def decode_locations(data: bytes) -> list[Location]:
    return [location_from_json(d) for d in _unjson(data)]


def encode_reserve(req: ReserveRequest) -> bytes:
    return _json(
        {
            "id": req.reservation_id,
            "channel": req.channel,
            "lines": [[ln.sku, ln.quantity, ln.location, ln.group] for ln in req.lines],
            "ttl": req.ttl_ms,
        }
    )


def decode_reserve(data: bytes) -> ReserveRequest:
    d = _unjson(data)
    return ReserveRequest(d["id"], d["channel"], tuple(HoldLine(s, q, lo, g) for s, q, lo, g in d["lines"]), d["ttl"])


def encode_confirm(reservation_id: str, moves: Sequence[LineMove]) -> bytes:
    return _json({"id": reservation_id, "moves": [[m.sku, m.place, [list(t) for t in m.to]] for m in moves]})


def decode_confirm(data: bytes) -> tuple[str, tuple[LineMove, ...]]:
    d = _unjson(data)
    return d["id"], tuple(LineMove(s, p, tuple((lo, q) for lo, q in to)) for s, p, to in d["moves"])


def encode_extend(reservation_id: str, ttl_ms: int) -> bytes:
    return _json({"id": reservation_id, "ttl": ttl_ms})


def decode_extend(data: bytes) -> tuple[str, int]:
    d = _unjson(data)
    return d["id"], d["ttl"]


def encode_lines(reservation_id: str, lines: Sequence[LineQuantity], operation_id: str) -> bytes:
    return _json({"id": reservation_id, "lines": [[q.sku, q.place, q.quantity] for q in lines], "op": operation_id})


def decode_lines(data: bytes) -> tuple[str, tuple[LineQuantity, ...], str]:
    d = _unjson(data)
    return d["id"], tuple(LineQuantity(s, p, q) for s, p, q in d["lines"]), d["op"]


def encode_json(obj: object) -> bytes:
    return _json(obj)


def decode_json(data: bytes) -> Any:
    return _unjson(data)


def iter_entries(reads: Sequence[SegmentRead]) -> Iterator[Entry]:
    for r in reads:
        yield from r.entries
