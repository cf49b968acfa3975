"""Id -> index resolution for many ids in one numba call: an open-addressing table of 64-bit hashes of
the ids' bytes (see catalog.IdIndex, which owns and maintains one per index).

Layout, all numpy arrays so that a lookup is one kernel call with no Python object per id:

- `keys`: uint8, the catalogue's id bytes as records appended one after another; the record at offset o
  is the id's index (4 bytes, little-endian), its byte length (1 byte, or 255 and 4 bytes for 255 and
  longer) and its bytes. Ids are encoded UTF-8 with "surrogatepass", so equal byte strings <=> equal str.
- `slots`: uint64, `size` slots and one trailing word holding the tag mask. A slot is 0 (empty) or
  tag << 32 | (record offset + 1), tag = the high 32 bits of the id's hash. Linear probing from
  slot (low 32 bits of the hash * size) >> 32; the load stays at most MAX_LOAD, so a probe always ends.

A slot whose tag matches is confirmed by comparing the bytes with its record, so a hash collision can
never return the wrong index (tests force that path with a zero tag mask, where every probe compares).

Concurrency: the table is appended to in place by the index's single writer, and read by any number of
readers without a lock. Every kernel here holds the GIL (no nogil), so a reader's whole lookup sees
each insert entirely or not at all; and an insert writes the record before the slot that points at it.
Growth builds new arrays and the owner swaps one reference (readers of the old table keep a complete
table of the ids added before the swap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit
from numba.core import types
from numba.core.types.common import Buffer
from numba.extending import intrinsic

U8 = npt.NDArray[np.uint8]
Buf = npt.NDArray[np.uint8] | bytes  # what the lookups read ids from
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

MAX_LOAD = 0.75
_LOW32 = np.uint64(0xFFFF_FFFF)
_HIGH32 = np.uint64(0xFFFF_FFFF_0000_0000)
FULL_TAGS = 0xFFFF_FFFF_0000_0000  # tag mask of a normal table: all 32 tag bits compared
_K0 = np.uint64(0x9E37_79B9_7F4A_7C15)
_K1 = np.uint64(0xBF58_476D_1CE4_E5B9)
_K2 = np.uint64(0x94D0_49BB_1331_11EB)
_SEED = np.uint64(0x6F6D_6E69_726F_7574)
_S8 = np.uint64(8)
_S16 = np.uint64(16)
_S27 = np.uint64(27)
_S29 = np.uint64(29)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_U0 = np.uint64(0)
# records store offsets in 32 bits (slot) and indices in 32 bits (record)
MAX_KEY_BYTES = (1 << 32) - 2
MAX_IDS = (1 << 31) - 1
_NEWLINE = 10


# ------------------------------------------------------------------------------------------ raw loads
# The hot loops read ids as 8-byte words at any offset. Indexing a uint8 array byte by byte (numba
# wraps negative indices, so LLVM cannot merge the loads) costs 3x more, and helpers that take arrays
# are called out of line with reference counting, so the helpers below take addresses: `_addr` of an
# argument array (alive for the whole kernel call) plus an offset. Callers never read outside an id.
def _addr_typer(typingctx: Any, arr: Any) -> Any:
    """The address of a contiguous buffer's first element, as an int64."""
    if not isinstance(arr, Buffer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.ptrtoint(ary.data, ir.IntType(64))

    return types.int64(arr), codegen


_addr: Any = intrinsic(_addr_typer)


def _loader(bits: int) -> Any:
    @intrinsic
    def load(typingctx: Any, addr: Any) -> Any:
        if not isinstance(addr, types.Integer):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ptr = builder.inttoptr(args[0], ir.IntType(bits).as_pointer())
            value = builder.load(ptr, align=1)
            return value if bits == 64 else builder.zext(value, ir.IntType(64))

        return types.uint64(addr), codegen

    return load


_ld64 = _loader(64)  # unaligned little-endian loads, zero-extended to uint64
_ld32 = _loader(32)
_ld8 = _loader(8)


# ---------------------------------------------------------------------------------------------- hashing
@njit(inline="always")
def _mix(h: np.uint64, w: np.uint64) -> np.uint64:
    h = (h ^ (w * _K1)) * _K0
    return h ^ (h >> _S29)


@njit(inline="always")
def _hash(a: int, n: int) -> np.uint64:
    """64-bit hash of the n bytes at address a: whole 8-byte words, then the last 8 bytes (overlapping
    the previous word; the length is mixed in first), or for short ids two overlapping 4-byte words or
    up to 3 bytes; then splitmix64's finaliser. Reads only those n bytes."""
    h = _SEED ^ (np.uint64(n) * _K0)
    if n >= 8:
        i = 0
        while i + 8 < n:
            h = _mix(h, _ld64(a + i))
            i += 8
        h = _mix(h, _ld64(a + n - 8))
    elif n >= 4:
        h = _mix(h, _ld32(a) | (_ld32(a + n - 4) << _S32))
    elif n > 0:
        h = _mix(h, _ld8(a) | (_ld8(a + n // 2) << _S8) | (_ld8(a + n - 1) << _S16))
    h ^= h >> _S30
    h *= _K1
    h ^= h >> _S27
    h *= _K2
    h ^= h >> _S31
    return h


@njit(inline="always")
def _equal(a: int, b: int, n: int) -> bool:
    """The n bytes at a equal the n bytes at b (reads only those)."""
    if n >= 8:
        i = 0
        while i + 8 < n:
            if _ld64(a + i) != _ld64(b + i):
                return False
            i += 8
        return bool(_ld64(a + n - 8) == _ld64(b + n - 8))
    if n >= 4:
        return bool(_ld32(a) == _ld32(b) and _ld32(a + n - 4) == _ld32(b + n - 4))
    i = 0
    while i < n and _ld8(a + i) == _ld8(b + i):
        i += 1
    return i == n


@njit(inline="always")
def _start(h: np.uint64, size: int) -> int:
    """First slot for hash h: its low 32 bits scaled to the table size (any size, not only powers of 2)."""
    return int(np.int64(((h & _LOW32) * np.uint64(size)) >> _S32))


@njit(inline="always")
def _record(ka: int, off: int) -> tuple[int, int]:
    """(address, length) of the id bytes of the record at offset off of the keys at address ka."""
    n = int(np.int64(_ld8(ka + off + 4)))
    if n < 255:
        return ka + off + 5, n
    return ka + off + 9, int(np.int64(_ld32(ka + off + 5)))


@njit(inline="always")
def _place(slots: U64, ka: int, off: int) -> None:
    """Point a free slot at the record at off (not in the table yet)."""
    size = slots.shape[0] - 1
    a, m = _record(ka, off)
    h = _hash(a, m)
    p = _start(h, size)
    while slots[p] != _U0:
        p += 1
        if p == size:
            p = 0
    slots[p] = (h & slots[size] & _HIGH32) | np.uint64(off + 1)


def record_size(nbytes: int) -> int:
    """Bytes a record of an id of nbytes bytes takes in `keys`."""
    return 4 + (1 if nbytes < 255 else 5) + nbytes


# ---------------------------------------------------------------------------------------------- kernels
@njit(cache=True)
def append_many(slots: U64, keys: U8, used: int, blob: U8, los: I64, his: I64, first_index: int) -> int:
    """Add ids first_index, first_index+1, ... whose bytes are blob[los[k]:his[k]], none of them in the
    table yet. The caller has checked that their records fit in keys[used:] and that the load allows
    them. Each record is written before the slot that points at it. Returns the new used length of
    keys."""
    ka = _addr(keys)
    for k in range(los.shape[0]):
        lo = los[k]
        hi = his[k]
        n = hi - lo
        index = first_index + k
        keys[used] = index & 0xFF
        keys[used + 1] = (index >> 8) & 0xFF
        keys[used + 2] = (index >> 16) & 0xFF
        keys[used + 3] = (index >> 24) & 0xFF
        p = used + 4
        if n < 255:
            keys[p] = n
            p += 1
        else:
            keys[p] = 255
            keys[p + 1] = n & 0xFF
            keys[p + 2] = (n >> 8) & 0xFF
            keys[p + 3] = (n >> 16) & 0xFF
            keys[p + 4] = (n >> 24) & 0xFF
            p += 5
        keys[p : p + n] = blob[lo:hi]
        _place(slots, ka, used)
        used = p + n
    return used


@njit(cache=True)
def rehash(slots: U64, keys: U8, used: int) -> int:
    """Place every record of keys[:used] in an empty table; returns how many."""
    ka = _addr(keys)
    off = 0
    count = 0
    while off < used:
        a, m = _record(ka, off)
        _place(slots, ka, off)
        off = a - ka + m
        count += 1
    return count


_BLOCK = 64  # ids per block of the lookup's memory passes


@njit(cache=True)
def _lookup_spans(slots: U64, keys: U8, b: Buf, los: I64, his: I64, out: I64) -> int:
    """out[k] = index of the id b[los[k]:his[k]], -1 when unknown. Random ids of a big catalogue miss the
    cache twice each (slot, then record), so the work goes in passes whose loads are independent (the
    memory system overlaps them instead of waiting for one miss at a time): hash every id first, then
    per block of ids load their first slots, load the records those slots point at, and probe. Measured
    on 1,000 random ids of a 100k-id table just evicted from the caches: 100 us, against 125 us with the
    hashing in the first block pass and several times that probing id by id. Returns a checksum of the
    touched words, only so that the touching loads are not optimised away."""
    n = out.shape[0]
    size = slots.shape[0] - 1
    tags = slots[size] & _HIGH32
    ka = _addr(keys)
    ba = _addr(b)
    hs = np.empty(n, dtype=np.uint64)
    ps = np.empty(n, dtype=np.int64)
    for k in range(n):
        h = _hash(ba + los[k], his[k] - los[k])
        hs[k] = h
        ps[k] = _start(h, size)
    sink = _U0
    for k0 in range(0, n, _BLOCK):
        k1 = min(k0 + _BLOCK, n)
        for k in range(k0, k1):
            sink += slots[ps[k]]
        for k in range(k0, k1):
            e = slots[ps[k]]
            if e != _U0:
                sink += np.uint64(keys[int(np.int64(e & _LOW32)) - 1])
        for k in range(k0, k1):
            tag = hs[k] & tags
            p = ps[k]
            a = ba + los[k]
            n_k = his[k] - los[k]
            found = -1
            while True:
                e = slots[p]
                if e == _U0:
                    break
                if (e & _HIGH32) == tag:
                    off = int(np.int64(e & _LOW32)) - 1
                    ra, m = _record(ka, off)
                    if m == n_k and _equal(ra, a, n_k):
                        found = int(np.int64(_ld32(ka + off)))
                        break
                p += 1
                if p == size:
                    p = 0
            out[k] = found
    return int(np.int64(sink >> np.uint64(2)))  # non-negative


@njit(cache=True)
def _split_lines(q: Buf, los: I64, his: I64) -> bool:
    """Spans of the newline-separated ids of q; False when q does not hold exactly los.shape[0] ids
    (some id contained a newline)."""
    n = los.shape[0]
    k = 0
    lo = 0
    for i in range(len(q)):
        if q[i] == _NEWLINE:
            if k >= n - 1:
                return False
            los[k] = lo
            his[k] = i
            k += 1
            lo = i + 1
    if k != n - 1:
        return False
    los[k] = lo
    his[k] = len(q)
    return True


@njit(inline="always")
def _varint(b: Buf, p: int, end: int) -> tuple[int, int]:
    """(value, next position); position end + 1 when the varint runs past end or is over 10 bytes. Only
    keys and lengths use the value, so the bits past 63 of a huge uint64 field are dropped."""
    v = 0
    shift = 0
    while p < end and shift < 70:
        c = int(b[p])
        p += 1
        if shift < 63:
            v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, p
        shift += 7
    return 0, end + 1


@njit(cache=True)
def _field_spans(msg: Buf, field: int, los: I64, his: I64) -> bool:
    """Spans of the values of the top-level length-delimited field `field` (a repeated string) of a
    serialized protobuf message, in order. False when the message does not carry exactly los.shape[0]
    of them or is not plain wire format (groups, truncated data)."""
    n = los.shape[0]
    end = len(msg)
    wanted = (field << 3) | 2
    p = 0
    k = 0
    while p < end:
        key, p = _varint(msg, p, end)
        wt = key & 7
        if wt == 0:
            _, p = _varint(msg, p, end)
        elif wt == 1:
            p += 8
        elif wt == 5:
            p += 4
        elif wt == 2:
            ln, p = _varint(msg, p, end)
            if ln < 0 or p + ln > end:
                return False
            if key == wanted:
                if k >= n:
                    return False
                los[k] = p
                his[k] = p + ln
                k += 1
            p += ln
        else:
            return False
        if p > end:
            return False
    return bool(k == n)


@njit(cache=True)
def lookup_joined(slots: U64, keys: U8, q: Buf, out: I64) -> int:
    """out[k] = index of the k-th newline-separated id of q, -1 when unknown. Returns -1 (out undefined)
    when q does not hold exactly out.shape[0] ids, i.e. some id contained a newline; otherwise a
    non-negative checksum (see _lookup_spans)."""
    n = out.shape[0]
    los = np.empty(n, dtype=np.int64)
    his = np.empty(n, dtype=np.int64)
    if not _split_lines(q, los, his):
        return -1
    return _lookup_spans(slots, keys, q, los, his, out)


@njit(cache=True)
def lookup_field(slots: U64, keys: U8, msg: Buf, field: int, out: I64) -> int:
    """The ids carried by a serialized protobuf message as its repeated string field `field` (top level,
    in order): out[k] = index of the k-th, -1 when unknown. Returns -1 (out undefined) when the message
    does not carry exactly out.shape[0] of them or is not plain wire format (groups, truncated data);
    otherwise a non-negative checksum (see _lookup_spans)."""
    n = out.shape[0]
    los = np.empty(n, dtype=np.int64)
    his = np.empty(n, dtype=np.int64)
    if not _field_spans(msg, field, los, his):
        return -1
    return _lookup_spans(slots, keys, msg, los, his, out)


# --------------------------------------------------------------------------------- batch answers on the wire
@njit(inline="always")
def _varint_size(v: np.uint64) -> int:
    n = 1
    while v >= np.uint64(0x80):
        v >>= np.uint64(7)
        n += 1
    return n


@njit(inline="always")
def _put_varint(out: U8, p: int, v: np.uint64) -> int:
    while v >= np.uint64(0x80):
        out[p] = np.uint8((v & np.uint64(0x7F)) | np.uint64(0x80))
        v >>= np.uint64(7)
        p += 1
    out[p] = np.uint8(v)
    return p + 1


@njit(cache=True)
def encode_availability(qty: I64, idx: I64, low_at_most: int, sequence: int) -> U8:
    """A serialized availability answer of network quantities (omniroute.v1.GetAvailabilityResponse, its
    first four fields), byte for byte what the protobuf serializer makes of it: quantity (field 1, packed
    int64), status (2, packed enum: 1 out of stock at 0 or less, 2 low stock up to low_at_most, 3 in stock
    above, i.e. availability.atp.statuses + 1), unknown (3, packed bool: idx < 0), sequence (4, omitted
    at 0). Packed fields of no elements are omitted."""
    n = qty.shape[0]
    qbytes = 0
    for k in range(n):
        qbytes += _varint_size(np.uint64(qty[k]))
    size = 0
    if n > 0:
        size = 1 + _varint_size(np.uint64(qbytes)) + qbytes + 2 * (1 + _varint_size(np.uint64(n)) + n)
    seq = np.uint64(sequence)
    if sequence != 0:
        size += 1 + _varint_size(seq)
    out = np.empty(size, dtype=np.uint8)
    p = 0
    if n > 0:
        out[p] = 0x0A  # field 1, length-delimited
        p = _put_varint(out, p + 1, np.uint64(qbytes))
        for k in range(n):
            p = _put_varint(out, p, np.uint64(qty[k]))
        out[p] = 0x12  # field 2
        p = _put_varint(out, p + 1, np.uint64(n))
        for k in range(n):
            q = qty[k]
            out[p + k] = 1 if q <= 0 else (2 if q <= low_at_most else 3)
        p += n
        out[p] = 0x1A  # field 3
        p = _put_varint(out, p + 1, np.uint64(n))
        for k in range(n):
            out[p + k] = 1 if idx[k] < 0 else 0
        p += n
    if sequence != 0:
        out[p] = 0x20  # field 4, varint
        p = _put_varint(out, p + 1, seq)
    return out


# ---------------------------------------------------------------------------------------------- the table
def encode(ident: str) -> bytes:
    """An id's bytes in the table: UTF-8, lone surrogates included (so distinct str <=> distinct bytes)."""
    return ident.encode("utf-8", "surrogatepass")


class IdHashTable:
    """One table (slots + key records). Owned by an IdIndex: only its writer calls add; a full table
    returns a grown copy from add, which the owner swaps in."""

    __slots__ = ("count", "keys", "max_count", "slots", "used")

    def __init__(self, size: int, key_capacity: int, tag_mask: int = FULL_TAGS) -> None:
        size = max(2, int(size))
        self.slots: U64 = np.zeros(size + 1, dtype=np.uint64)
        self.slots[size] = np.uint64(tag_mask)
        self.keys: U8 = np.empty(max(16, int(key_capacity)), dtype=np.uint8)
        self.used = 0
        self.count = 0
        self.max_count = min(int(size * MAX_LOAD), size - 1)

    @property
    def size(self) -> int:
        return int(self.slots.shape[0] - 1)

    @property
    def tag_mask(self) -> int:
        return int(self.slots[-1])

    def nbytes(self) -> int:
        return int(self.slots.nbytes + self.keys.nbytes)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        *,
        room: int | None = None,
        size: int | None = None,
        tag_mask: int = FULL_TAGS,
    ) -> IdHashTable:
        """A table of ids[k] -> k with room for `room` more ids (default: an eighth more) before it grows.
        Raises TypeError / UnicodeError for an id that is not a str."""
        n = len(ids)
        # one str join and one encode (a few ms for 500k ids), split by a kernel; one by one only when
        # some id holds a newline
        blob = np.frombuffer("\n".join(ids).encode("utf-8", "surrogatepass"), dtype=np.uint8)
        los = np.empty(n, dtype=np.int64)
        his = np.empty(n, dtype=np.int64)
        if n and not _split_lines(blob, los, his):
            parts = [encode(s) for s in ids]
            blob = np.frombuffer(b"".join(parts), dtype=np.uint8)
            his = np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=n))
            los = np.concatenate([np.zeros(1, dtype=np.int64), his[:-1]])
            del parts
        lengths = his - los
        extra = n // 8 + 16 if room is None else room
        if size is None:
            size = int((n + extra) / MAX_LOAD) + 1
        size = max(size, int(n / MAX_LOAD) + 1)
        need = int(lengths.sum()) + 5 * n + 4 * int(np.count_nonzero(lengths >= 255))
        if need > MAX_KEY_BYTES or n > MAX_IDS:
            raise OverflowError("too many id bytes for a 32-bit offset table")
        t = cls(size, need + (need * extra) // max(n, 1) + 64, tag_mask)
        if n:
            t.used = int(append_many(t.slots, t.keys, 0, blob, los, his, 0))
        t.count = n
        return t

    def grown(self, more_slots: bool, more_key_bytes: int) -> IdHashTable:
        """A copy with more room: twice the slots when asked (rehashed), key capacity for at least
        `more_key_bytes` more bytes."""
        size = self.size * 2 if more_slots else self.size
        cap = int(self.keys.shape[0])
        if self.used + more_key_bytes > cap:
            cap = max(2 * cap, self.used + more_key_bytes + 64)
        if cap > MAX_KEY_BYTES + 1:
            cap = MAX_KEY_BYTES + 1
        if self.used + more_key_bytes > cap:
            raise OverflowError("too many id bytes for a 32-bit offset table")
        t = IdHashTable(size, cap, self.tag_mask)
        t.keys[: self.used] = self.keys[: self.used]
        t.used = self.used
        if more_slots:
            t.count = int(rehash(t.slots, t.keys, t.used))
        else:
            t.slots[:] = self.slots
            t.count = self.count
        return t

    def add(self, key: bytes, index: int) -> IdHashTable:
        """Add an id (not in the table yet) with this index: in place when it fits, else into a grown copy,
        which is returned (and must replace this table in its owner). Raises OverflowError past the
        32-bit limits."""
        if index > MAX_IDS:
            raise OverflowError("too many ids for the table")
        need = record_size(len(key))
        t = self
        if self.count + 1 > self.max_count or self.used + need > self.keys.shape[0]:
            t = self.grown(self.count + 1 > self.max_count, need)
        blob = np.frombuffer(key, dtype=np.uint8)
        span = np.array([0, len(key)], dtype=np.int64)
        t.used = int(append_many(t.slots, t.keys, t.used, blob, span[:1], span[1:], index))
        t.count += 1
        return t

    def copy(self) -> IdHashTable:
        t = IdHashTable.__new__(IdHashTable)
        t.slots = self.slots.copy()
        t.keys = self.keys.copy()
        t.used = self.used
        t.count = self.count
        t.max_count = self.max_count
        return t


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel of this module."""
    t = IdHashTable.build(["a", "b" * 300])
    t = t.add(b"c", 2)
    out = np.empty(2, dtype=np.int64)
    lookup_joined(t.slots, t.keys, b"a\nz", out)
    lookup_field(t.slots, t.keys, b"\x0a\x01a\x0a\x01z", 1, out)
    t.grown(True, 1)
    encode_availability(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), 10, 1)
