"""The capacity book (omniroute/capacity.py), the same contract on both backends: in memory, and in a real
redis-server (the session's, under a prefix of its own). Claims are all or nothing against each
location's daily capacity, a reservation's own claims never block it, replacing and restoring claims
keeps the day's counts exact, settling against a reservation gives back the locations it no longer
ships from, and reconcile drops claims no reservation backs (after the grace period)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence

import pytest
import redis

from availability import StockStore
from availability.ledger import MemoryLedger
from availability.reservations import HoldLine, LineQuantity, ReserveRequest
from omniroute.capacity import (
    CapacityBook,
    CapacityFull,
    Claim,
    DayCache,
    MemoryCapacityBook,
    OthersUse,
    RedisCapacityBook,
    reconcile,
    settle,
)
from omniroute.redis_server import RedisServer
from tests.omniroute.fixtures import tiny_network

DAY = 20_459  # 2026-01-06
_prefixes = itertools.count()


@pytest.fixture(params=["memory", "redis"])
def book(request: pytest.FixtureRequest) -> Iterator[CapacityBook]:
    if request.param == "memory":
        yield MemoryCapacityBook()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    b = RedisCapacityBook(server.url, f"cap{next(_prefixes)}")
    try:
        yield b
    finally:
        b.close()
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.flushall()
        client.close()


def test_claims_count_per_location_and_day_and_refuse_past_capacity(book: CapacityBook) -> None:
    assert book.claim("o-1", [(Claim("DC", DAY), 1), (Claim("S1", DAY), 5)]) == ()
    assert book.used([DAY, DAY + 1]) == {DAY: {"DC": 1, "S1": 1}, DAY + 1: {}}
    with pytest.raises(CapacityFull) as err:
        book.claim("o-2", [(Claim("S1", DAY), 5), (Claim("DC", DAY), 1)])
    assert [(f.location, f.day, f.used, f.capacity) for f in err.value.full] == [("DC", DAY, 1, 1)]
    assert book.used([DAY]) == {DAY: {"DC": 1, "S1": 1}}  # all or nothing: S1 was not claimed either
    book.claim("o-2", [(Claim("DC", DAY + 1), 1)])  # another day has its own capacity
    assert book.used([DAY + 1]) == {DAY + 1: {"DC": 1}}


def test_a_reservation_replaces_its_own_claims_and_restores_them(book: CapacityBook) -> None:
    book.claim("o-1", [(Claim("DC", DAY), 1)])
    assert book.claim("o-1", [(Claim("DC", DAY), 1)]) == (Claim("DC", DAY),)  # its own: not blocked
    before = book.claim("o-1", [(Claim("S1", DAY), 1)])
    assert before == (Claim("DC", DAY),) and book.used([DAY]) == {DAY: {"S1": 1}}
    book.restore("o-1", before)
    assert book.used([DAY]) == {DAY: {"DC": 1}}
    assert book.claims("o-1")[0] == (Claim("DC", DAY),) and book.claims("o-1")[1] > 0
    book.restore("o-1", ())
    assert book.used([DAY]) == {DAY: {}} and book.reservations() == [] and book.claims("o-1") == ((), 0)


def test_others_use_leaves_out_the_reservation_s_own_claims(book: CapacityBook) -> None:
    book.claim("o-1", [(Claim("DC", DAY), 2)])
    book.claim("o-2", [(Claim("DC", DAY), 2)])
    assert OthersUse(book, "o-1").used([DAY]) == {DAY: {"DC": 1}}
    assert OthersUse(book, "").used([DAY]) == {DAY: {"DC": 2}}


def test_settle_gives_back_what_a_reservation_no_longer_ships(book: CapacityBook) -> None:
    ledger = MemoryLedger(StockStore.from_snapshot(tiny_network()))
    lines = (HoldLine("SKU-1", 2, location="DC-EAST"), HoldLine("SKU-1", 1, location="S-BOS"))
    ledger.reserve(ReserveRequest("o-1", "web", lines))
    ledger.confirm("o-1")
    book.claim("o-1", [(Claim("DC-EAST", DAY), 10), (Claim("S-BOS", DAY), 10)])
    settle(book, ledger.release("o-1", (LineQuantity("SKU-1", "S-BOS", 1),)))
    assert book.used([DAY]) == {DAY: {"DC-EAST": 1}}
    settle(book, ledger.fulfill("o-1", (LineQuantity("SKU-1", "DC-EAST", 2),)))
    assert book.used([DAY]) == {DAY: {"DC-EAST": 1}}  # shipped: that day's capacity stays used
    ledger.reserve(ReserveRequest("o-2", "web", (HoldLine("SKU-1", 1, location="DC-EAST"),)))
    book.claim("o-2", [(Claim("DC-EAST", DAY), 10)])
    settle(book, ledger.release("o-2"))
    assert book.used([DAY]) == {DAY: {"DC-EAST": 1}} and book.reservations() == ["o-1"]


def test_reconcile_drops_claims_no_reservation_backs_after_the_grace(book: CapacityBook) -> None:
    ledger = MemoryLedger(StockStore.from_snapshot(tiny_network()))
    ledger.reserve(ReserveRequest("o-1", "web", (HoldLine("SKU-1", 1, location="DC-EAST"),)))
    book.claim("o-1", [(Claim("DC-EAST", DAY), 10), (Claim("S-BOS", DAY), 10)])  # S-BOS: no hold there
    book.claim("ghost", [(Claim("DC-EAST", DAY), 10)])  # a crash before its hold
    _, at = book.claims("ghost")
    assert reconcile(book, ledger, now_ms=at + 1_000) == 0  # in flight, perhaps: left alone
    assert reconcile(book, ledger, now_ms=at + 120_000) == 2
    assert book.used([DAY]) == {DAY: {"DC-EAST": 1}} and book.reservations() == ["o-1"]


def test_a_day_cache_reads_each_day_once(book: CapacityBook) -> None:
    class Counting:
        def __init__(self) -> None:
            self.reads: list[list[int]] = []

        def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
            self.reads.append(list(days))
            return book.used(days)

    book.claim("o-1", [(Claim("DC", DAY), 1)])
    counting = Counting()
    cache = DayCache(counting)
    assert cache.used([DAY]) == {DAY: {"DC": 1}}
    assert cache.used([DAY, DAY + 1]) == {DAY: {"DC": 1}, DAY + 1: {}}
    assert counting.reads == [[DAY], [DAY + 1]]
