"""What the Redis ledger stores and streams, as bytes: packed rows (numpy dtypes that match the Lua
`struct` formats of lua/*.lua), change records read back from the streams, the catalogue as JSON, and
the integer lists the read script returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..locations import LocationTable
from .network_json import network_from_json, network_to_json

I64 = npt.NDArray[np.int64]

# '<BBi4i4i4i8h' in events.lua: one entry of an event call
ENTRY = np.dtype(
    [
        ("mode", "u1"),
        ("type", "u1"),
        ("sku", "<i4"),
        ("loc", "<i4"),
        ("qty", "<i4"),
        ("time", "<i8"),
        ("chan", "<i2"),
    ]
)
# '<i4i4i8hi4': one applied event in a change record
EVENT_ROW = np.dtype([("sku", "<i4"), ("loc", "<i4"), ("delta", "<i8"), ("chan", "<i2"), ("take", "<i4")])
SAFETY_ROW = np.dtype([("sku", "<i4"), ("loc", "<i4"), ("value", "<i4")])
ALLOC_ROW = np.dtype([("sku", "<i4"), ("chan", "<i4"), ("qty", "<i4"), ("consumed", "<i4")])
LOAD_ROW = np.dtype([("sku", "<i4"), ("loc", "<i4"), ("on_hand", "<i4"), ("safety", "<i4")])
INBOUND_ROW = np.dtype([("sku", "<i4"), ("loc", "<i4"), ("qty", "<i4"), ("day", "<i4"), ("type", "<i4")])
# '<i4i4i4i4i4i4i4i4i4i4' in hold.lua: one row of a hold step (see the script's header)
HOLD_STEP = np.dtype(
    [
        ("sku", "<i4"),
        ("loc", "<i4"),
        ("grp", "<i4"),
        ("d_held", "<i4"),
        ("d_on_hand", "<i4"),
        ("chan", "<i4"),
        ("fence", "<i4"),
        ("line", "<i4"),
        ("safety", "<i4"),
        ("eligible", "<i4"),
    ]
)
# '<i4i4i4i4i4i4i4': one row of a hold change record (fence: the channel's ring-fence consumed changed by)
HOLD_ROW = np.dtype(
    [
        ("sku", "<i4"),
        ("loc", "<i4"),
        ("grp", "<i4"),
        ("d_held", "<i4"),
        ("d_on_hand", "<i4"),
        ("chan", "<i4"),
        ("fence", "<i4"),
    ]
)
assert (HOLD_STEP.itemsize, HOLD_ROW.itemsize) == (40, 28)
assert (ENTRY.itemsize, EVENT_ROW.itemsize, SAFETY_ROW.itemsize, ALLOC_ROW.itemsize) == (24, 22, 12, 16)

# entry modes and reply codes of events.lua
MODE_APPLY_CLAIM = 1
MODE_APPLY_MARKED = 2
MODE_CLAIM = 3
MODE_PEEK = 4
MODE_RELEASE = 5
C_APPLIED = 0
C_DUPLICATE = 1
C_REUSED = 2
C_STALE_DELTA = 3
C_STALE_COUNT = 4
C_WINDOW = 5
C_RANGE = 6
C_CLAIMED = 7
C_NOT_SEEN = 8

KIND_EVENTS = "e"
KIND_SAFETY = "s"
KIND_ALLOCATIONS = "a"
KIND_NETWORK = "n"
KIND_EVERYTHING = "x"
KIND_HOLDS = "h"
KIND_REPAIR = "r"


@dataclass(frozen=True, slots=True)
class Record:
    """One change-stream entry: what one script call changed in one partition. Sequences prev+1..seq
    belong to it (an event record numbers its applied rows in order)."""

    partition: int
    seq: int
    prev: int
    kind: str
    gen: int
    skus: list[str] = field(default_factory=list)
    rows: bytes = b""
    high_water: int = 0
    window_start: int = 0
    version: int = 0


def record_from_entry(partition: int, entry_id: bytes, fields: dict[bytes, bytes]) -> Record:
    seq = int(entry_id.split(b"-", 1)[0])
    skus = fields.get(b"u", b"")
    return Record(
        partition=partition,
        seq=seq,
        prev=int(fields[b"p"]),
        kind=fields[b"k"].decode(),
        gen=int(fields[b"g"]),
        skus=skus.decode().split(" ") if skus else [],
        rows=fields.get(b"r", b""),
        high_water=int(fields.get(b"h", 0)),
        window_start=int(fields.get(b"w", -(2**53))),
        version=int(fields.get(b"v", 0)),
    )


# ---------------------------------------------------------------------------------------------- catalogue
def encode_network(table: LocationTable, version: int) -> bytes:
    return json.dumps({"version": version, **network_to_json(table)}, separators=(",", ":")).encode()


def decode_network(raw: bytes) -> tuple[LocationTable, int]:
    doc = json.loads(raw)
    return network_from_json(doc), int(doc["version"])


def encode_hold_catalogue(table: LocationTable) -> bytes:
    """What lua/hold.lua needs of the catalogue, laid out for O(1) reads with GETRANGE:
    header '<i4i4i4' (locations L, named groups NG, channels C); L default safety stocks '<i4'; L bytes
    enabled (0/1); per channel, L bytes of flags (1: the enabled location serves the channel, 2: a hold
    for the channel may draw on it, i.e. it also offers some method); per named group '<i4i4' (start,
    count) into the members that follow, '<i4' location indices."""
    n = len(table)
    groups = table.group_list
    chans = len(table.channels)
    enabled = table.enabled.astype(np.uint8)
    flags = np.zeros((chans, n), dtype=np.uint8)
    any_method = table.methods != 0
    for c in range(chans):
        serves = ((table.channel_bits >> np.uint64(c)) & np.uint64(1)) == 1
        on = serves & (enabled == 1)
        flags[c] = on.astype(np.uint8) | ((on & any_method).astype(np.uint8) << 1)
    members = [np.asarray(table.groups[g.id], dtype=np.int64) for g in groups]
    counts = np.array([m.shape[0] for m in members], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(groups) else np.zeros(0, np.int64)
    index = np.stack([starts, counts], axis=1).astype("<i4") if len(groups) else np.zeros((0, 2), "<i4")
    body = np.concatenate(members).astype("<i4") if members else np.zeros(0, "<i4")
    return b"".join(
        [
            np.array([n, len(groups), chans], dtype="<i4").tobytes(),
            table.default_safety.astype("<i4").tobytes(),
            enabled.tobytes(),
            flags.tobytes(),
            index.tobytes(),
            body.tobytes(),
        ]
    )


# ---------------------------------------------------------------------------------------------- counters
@dataclass(frozen=True, slots=True)
class CounterFields:
    """Every (SKU, field, value) of some counters hashes, as columns (see redis_keys for the fields)."""

    sku: I64
    field: I64
    value: I64


def parse_counters(text: bytes, skus: I64) -> CounterFields:
    """What read.lua returns for these SKUs (in order): per SKU a count of integers, then its fields and
    values, all comma-separated."""
    if not text:
        return CounterFields(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    arr = np.array(text.split(b","), dtype=np.int64)
    header = np.zeros(arr.shape[0], dtype=np.bool_)
    counts = np.zeros(skus.shape[0], dtype=np.int64)
    i = 0
    for k in range(skus.shape[0]):
        c = int(arr[i])
        header[i] = True
        counts[k] = c // 2
        i += 1 + c
    if i != arr.shape[0]:
        raise ValueError(f"counters reply: {arr.shape[0]} integers, expected {i}")
    body = arr[~header]
    return CounterFields(np.repeat(skus, counts), body[0::2].copy(), body[1::2].copy())


def pack_inbound_chunk(skus: list[str], rows: npt.NDArray[Any]) -> bytes:
    return " ".join(skus).encode() + b"\n" + rows.tobytes()


def unpack_inbound_chunk(raw: bytes) -> tuple[list[str], npt.NDArray[Any]]:
    head, _, body = raw.partition(b"\n")
    return head.decode().split(" ") if head else [], np.frombuffer(body, dtype=INBOUND_ROW)
