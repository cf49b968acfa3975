"""The atomic primitives: every script call touches keys of one Redis Cluster slot only (so each is
atomic on a cluster too), scripts never enumerate keys, a Redis that forgot its scripts (restart,
SCRIPT FLUSH) gets them again without losing a write, and the keys are the documented ones."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from availability import AllocationRow, EventOutcome, EventType, Location, LocationType, StockEvent
from availability.ledger import SafetyStockEntry
from availability.ledger import scripts as scripts_module
from availability.ledger.redis_replica import as_bytes
from availability.ledger.scripts import Call
from availability.reservations import HoldLine, ReserveRequest
from omniroute.redis_server import RedisServer
from tests.redis.conftest import Replicas
from tests.scenarios import T0, Stock, everyday_stock, north_east_groups, north_east_locations, snapshot_of

LUA = Path(scripts_module.__file__).parent / "lua"


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM, the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: bytes) -> int:
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key) % 16384


def keys_of(call: Call) -> list[bytes]:
    """The KEYS of a packed call (the first n_keys bulk strings of its body)."""
    out: list[bytes] = []
    at = 0
    body = call.body
    for _ in range(call.n_keys):
        assert body[at : at + 1] == b"$"
        nl = body.index(b"\r\n", at)
        size = int(body[at + 1 : nl])
        out.append(body[nl + 2 : nl + 2 + size])
        at = nl + 2 + size + 2
    return out


def test_known_slots() -> None:
    assert key_slot(b"foo") == 12182 and key_slot(b"{user1000}.following") == key_slot(b"user1000")


def test_every_script_call_stays_in_one_slot(replicas: Replicas, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Call] = []
    original = scripts_module.Scripts.run

    def run(self: scripts_module.Scripts, batch: Sequence[Call]) -> list[Any]:
        calls.extend(batch)
        return original(self, batch)

    monkeypatch.setattr(scripts_module.Scripts, "run", run)
    first = replicas(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()), partitions=4)
    events = [StockEvent(f"e{i}", EventType.RECEIPT, "DC-WEST", f"SKU-{i % 9}", 1, T0 + i) for i in range(60)]
    events.append(StockEvent("e0", EventType.RECEIPT, "DC-WEST", "OTHER", 1, T0))  # reuse across partitions
    events.append(StockEvent("x", EventType.ADJUSTMENT, "DC-WEST", "TEE", -(10**9), T0))  # rejected: released
    first.apply_stock_events(events)
    first.set_safety_stock([SafetyStockEntry(f"SKU-{i}", "ST-BOS", i) for i in range(9)])
    first.set_allocations([AllocationRow(f"SKU-{i}", "web", 2) for i in range(9)])
    first.upsert_locations([Location("ST-PVD", "Providence", LocationType.STORE, 41.8, -71.4)])
    first.load_snapshot(snapshot_of(north_east_locations(), Stock(on_hand={("A", "DC-EAST"): 1})))
    replicas(partitions=4)  # a rebuild reads through read.lua
    kinds = {c.script for c in calls}
    assert {"events", "safety", "allocations", "network", "switch", "init", "read", "load"} <= kinds
    for call in calls:
        slots = {key_slot(k) for k in keys_of(call)}
        assert len(slots) <= 1, f"{call.script} touches keys of slots {slots}"


def test_scripts_never_enumerate_keys() -> None:
    for path in LUA.glob("*.lua"):
        text = path.read_text()
        assert not re.search(r"redis\.call\(\s*'(KEYS|SCAN|HSCAN|SSCAN|ZSCAN|EVAL)", text, re.I), path.name
        # every key a script touches comes from KEYS: the first argument of each command
        for m in re.finditer(r"redis\.call\('(\w+)',\s*([^,)]+)", text):
            assert m.group(2).startswith("KEYS[") or m.group(2) in ("key",), f"{path.name}: {m.group(0)}"


def test_a_redis_that_forgot_its_scripts_loads_them_again(replicas: Replicas, redis_server: RedisServer) -> None:
    ledger = replicas(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()))
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.script_flush()
    res = ledger.apply_stock_events([StockEvent("after-flush", EventType.RECEIPT, "DC-EAST", "TEE", 2, T0)])
    assert res.results[0].outcome is EventOutcome.APPLIED
    assert (
        ledger.apply_stock_events([StockEvent("after-flush", EventType.RECEIPT, "DC-EAST", "TEE", 2, T0)])
        .results[0]
        .outcome
        is EventOutcome.DUPLICATE
    )
    client.close()


def test_the_keys_are_the_documented_ones(replicas: Replicas, redis_server: RedisServer, prefix: str) -> None:
    ledger = replicas(snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups()), partitions=2)
    ledger.apply_stock_events(
        [StockEvent(f"id-{i}", EventType.RECEIPT, "DC-EAST", sku, 1, T0) for i, sku in enumerate(("TEE", "MUG", "N"))]
    )
    # a reservation whose lines fall in both partitions: a record, a deadline, saga steps
    lines = tuple(HoldLine(sku, 1, location="DC-EAST") for sku in ("TEE", "MUG", "N"))
    ledger.reserve(ReserveRequest("order-1", "web", lines))
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    documented = re.compile(
        rf"^{prefix}:(meta|g\d+:network)$"
        rf"|^\{{{prefix}:p\d+\}}:(meta|log|g\d+:(skus|inb|cat|c:[^ ]+)|id:[^ ]+|m:[^ ]+|wake:[0-9a-f]+"
        rf"|rsv:[^ ]+|due|pend|st:[^ ]+:[0-9a-f]+)$"
    )
    found = [k.decode() for k in client.scan_iter(match=f"*{prefix}*")]
    assert found and all(documented.match(k) for k in found), [k for k in found if not documented.match(k)]
    # a SKU's counters: integer fields and values (4*location + kind, ring-fences below -1, the sentinel
    # -1), and one packed journal per position that took deltas ('j<location>': 12-byte entries)
    for key in (k for k in found if ":c:" in k):
        for f, v in client.hgetall(key).items():
            field, value = as_bytes(f), as_bytes(v)
            if field.startswith(b"j"):
                assert field[1:].isdigit() and len(value) % 12 == 0, (key, field)
            else:
                assert re.fullmatch(rb"-?\d+", field) and re.fullmatch(rb"-?\d+", value), (key, field, value)
    client.close()
