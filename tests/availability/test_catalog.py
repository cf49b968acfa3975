"""IdIndex batch lookups through the numba hash table (availability._idhash) agree with the dict, always:
known, unknown, appended after the table was built, after a snapshot replaced the index, odd but valid
ids, forced hash collisions, and appends racing readers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability import IdIndex, _idhash
from availability.atp import AvailabilityQuery, get_availability, resolve_skus, statuses
from availability.catalog import MIN_TABLE_BATCH
from availability.model import Sku
from availability.store import StockStore
from omniroute.servicers._convert import date_of, method_of, scope_of
from omniroute.servicers.availability import _network_answer
from omniroute.v1 import availability_pb2 as pb
from omniroute.v1 import common_pb2 as cpb
from tests.scenarios import (
    Stock,
    everyday_stock,
    grid_store,
    marketplace_ring_fence,
    north_east,
    north_east_locations,
)

SKUS_FIELD = pb.GetAvailabilityRequest.SKUS_FIELD_NUMBER

ODD_IDS = [
    "",
    "a",
    "ab",
    "abc",
    "abcd",
    "abcdefg",
    "abcdefgh",
    "abcdefghi",
    "abcdefghijklmnop",
    "abcdefghijklmnopq",
    "SKU1",
    "SKU10",
    "SKU100",
    "sku1",
    "é",
    "e\u0301",  # the same letter decomposed: a different id
    "日本語-123",
    "😀",
    "\ud83d\ude00",  # a surrogate pair as two code points: not the emoji above
    "\ud800",  # a lone surrogate
    "tab\there",
    "nul\x00byte",
    " leading space",
    "x" * 254,
    "x" * 255,
    "x" * 256,
    "y" * 1000,
    "A-1._:/#@+",
]


def expected(ix: IdIndex, ids: list[str]) -> list[int]:
    return [i if (i := ix.get(s)) is not None else -1 for s in ids]


def wire(ids: list[str], **fields: object) -> bytes:
    return pb.GetAvailabilityRequest(skus=ids, **fields).SerializeToString()  # type: ignore[arg-type]


def test_known_and_unknown_ids() -> None:
    ids = [f"SKU{i:06d}" for i in range(5_000)]
    ix = IdIndex("sku", ids)
    assert ix.table_nbytes() > 0
    rng = np.random.default_rng(3)
    query = [ids[i] for i in rng.choice(5_000, 1_000, replace=False).tolist()]
    query[::7] = [f"NOPE{k}" for k in range(len(query[::7]))]
    query += ["SKU000001", "SKU0000010", "SKU00000", "sku000001", ""]
    want = expected(ix, query)
    assert -1 in want
    assert ix.lookup_many(query).tolist() == want
    assert ix.lookup_wire(wire(query, channel="web"), SKUS_FIELD, len(query)).tolist() == want  # type: ignore[union-attr]
    # small batches (the dict) and big ones (the table) agree at every size around the cut-over
    for n in range(1, 2 * MIN_TABLE_BATCH):
        assert ix.lookup_many(query[:n]).tolist() == want[:n]
    assert ix.lookup_many([]).tolist() == []


def test_odd_but_valid_ids() -> None:
    ix = IdIndex("sku", ODD_IDS)
    assert len(ix) == len(ODD_IDS)
    query = ODD_IDS + [s + "z" for s in ODD_IDS] + ["x" * 253, "e", "\ud801", "日本", "y" * 999]
    want = expected(ix, query)
    assert want[: len(ODD_IDS)] == list(range(len(ODD_IDS)))
    assert want[len(ODD_IDS) :] == [-1] * (len(query) - len(ODD_IDS))
    assert ix.lookup_many(query).tolist() == want
    # the wire carries UTF-8, so only ids without lone surrogates travel there
    valid = [s for s in query if "\ud800" not in s and "\ud801" not in s and "\ud83d" not in s]
    assert ix.lookup_wire(wire(valid), SKUS_FIELD, len(valid)).tolist() == expected(ix, valid)  # type: ignore[union-attr]


def test_ids_with_a_newline_fall_back_to_the_dict() -> None:
    ix = IdIndex("sku", ["a\nb", "a", "b", *[f"k{i}" for i in range(20)]])
    query = ["a\nb", "a", "b", "a\nc", *[f"k{i}" for i in range(20)]]
    assert ix.lookup_many(query).tolist() == [0, 1, 2, -1, *range(3, 23)]
    # and the table itself holds them: the wire needs no separator
    assert ix.lookup_wire(wire(query), SKUS_FIELD, len(query)).tolist() == [0, 1, 2, -1, *range(3, 23)]  # type: ignore[union-attr]


def test_ids_appended_after_the_table_was_built() -> None:
    ix = IdIndex("sku", [f"old{i}" for i in range(10)])
    size0 = ix.table_nbytes()
    for i in range(5_000):  # many times the first table's room: it grows, again and again
        assert ix.add(f"new{i}") == 10 + i
        assert ix.add(f"old{i % 10}") == i % 10
    assert ix.table_nbytes() > size0
    query = (
        [f"new{i}" for i in range(0, 5_000, 3)]
        + [f"old{i}" for i in range(12)]
        + [f"new{i}" for i in range(5_000, 5_010)]
    )
    assert ix.lookup_many(query).tolist() == expected(ix, query)
    assert ix.lookup_wire(wire(query), SKUS_FIELD, len(query)).tolist() == expected(ix, query)  # type: ignore[union-attr]
    # a long id appended in place (no growth) and one that needs more key room
    ix.add("z" * 300)
    ix.add("w" * 100_000)
    assert ix.lookup_many(["z" * 300, "w" * 100_000, *query[:10]]).tolist() == expected(
        ix, ["z" * 300, "w" * 100_000, *query[:10]]
    )


def test_an_empty_index_grows_from_nothing() -> None:
    ix = IdIndex("sku")
    assert ix.lookup_many([f"s{i}" for i in range(10)]).tolist() == [-1] * 10
    for i in range(100):
        ix.add(f"s{i}")
    assert ix.lookup_many([f"s{i}" for i in range(110)]).tolist() == [*range(100), *[-1] * 10]


def test_a_copy_has_its_own_table() -> None:
    ix = IdIndex("sku", [f"s{i}" for i in range(20)])
    other = ix.copy()
    other.add("only-in-copy")
    ix.add("only-in-original")
    query = ["only-in-copy", "only-in-original", *[f"s{i}" for i in range(20)]]
    assert ix.lookup_many(query).tolist() == [-1, 20, *range(20)]
    assert other.lookup_many(query).tolist() == [20, -1, *range(20)]


def test_a_snapshot_replaced_index() -> None:
    store = grid_store(3, {("A", "L0000"): 1, ("B", "L0001"): 2})
    ids = ["A", "B", *[f"P{i}" for i in range(30)]]
    before = store.skus
    for i in range(30):
        store.add_sku(Sku(f"P{i}"))
    assert resolve_skus(store, ids)[0].tolist() == list(range(32))
    replacement = grid_store(3, {("P7", "L0000"): 1, ("Z", "L0002"): 5, ("A", "L0001"): 1})
    store.replace_contents(replacement)
    assert store.skus is not before
    idx, unknown = resolve_skus(store, [*ids, "Z"])
    assert idx.tolist() == expected(store.skus, [*ids, "Z"])
    assert sorted(i for i in idx.tolist() if i >= 0) == [0, 1, 2]
    assert unknown.tolist() == [i < 0 for i in idx.tolist()]
    # the old index (still held by readers that took it before the swap) answers as before
    assert before.lookup_many(ids).tolist() == list(range(32))


def test_malformed_and_unknown_ids_after_a_batch_lookup() -> None:
    store = grid_store(3, {("A", "L0000"): 1})
    idx, unknown = resolve_skus(store, ["A", *[f"UNKNOWN-{i}" for i in range(10)]])
    assert idx.tolist() == [0, *[-1] * 10] and unknown.tolist() == [False, *[True] * 10]
    with pytest.raises(ValueError, match=r"skus\[3\]"):
        resolve_skus(store, ["A", "B-1", "C", "bad id", *["A"] * 10])


@pytest.mark.parametrize("tag_mask", [0, _idhash.FULL_TAGS])
def test_forced_collisions_never_return_the_wrong_index(tag_mask: int) -> None:
    """A table of 2 slots grows as ids arrive; with a zero tag mask every slot of a probe chain looks like
    a hash match, so only the byte comparison tells ids apart (same lengths, one byte different)."""
    ids = [f"K{i:04d}" for i in range(600)] + ODD_IDS
    ix = IdIndex("sku", ids[:3])
    ix._use_table(2, tag_mask)
    for s in ids[3:]:
        ix.add(s)
    query = ids + [f"K{i:04d}" for i in range(600, 700)] + [s + "!" for s in ids[:50]] + ["K000", "K00000"]
    assert ix.lookup_many(query).tolist() == expected(ix, query)
    # a full table of minimal size (load at its limit), built at once
    ix._use_table(1, tag_mask)
    assert ix.lookup_many(query).tolist() == expected(ix, query)
    assert ix.lookup_wire(wire(query[:600]), SKUS_FIELD, 600).tolist() == expected(ix, query[:600])  # type: ignore[union-attr]


def test_non_str_ids_and_items() -> None:
    odd = IdIndex("x", [1, 2, "a"])  # type: ignore[list-item]
    assert odd.table_nbytes() == 0  # not all str: no table, the dict answers
    assert odd.lookup_many([2, "a", 3, *["a"] * 10]).tolist() == [1, 2, -1, *[2] * 10]  # type: ignore[list-item]
    ix = IdIndex("sku", [f"s{i}" for i in range(10)])
    assert ix.lookup_many(["s1", 5, *[f"s{i}" for i in range(10)]]).tolist() == [1, -1, *range(10)]  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ix.lookup_many(["s1", ["unhashable"], *[f"s{i}" for i in range(10)]])  # type: ignore[list-item]
    ix.add(7)  # type: ignore[arg-type]
    assert ix.table_nbytes() == 0  # the table cannot hold it: batches use the dict from now on
    assert ix.lookup_many([7, *[f"s{i}" for i in range(10)]]).tolist() == [10, *range(10)]  # type: ignore[list-item]


def test_lookup_wire_needs_exactly_the_announced_ids() -> None:
    ix = IdIndex("sku", [f"s{i}" for i in range(10)])
    msg = wire(["s1", "zz", "s3"], channel="web", method=2, per_location=True, min_sequence=2**64 - 1)
    assert ix.lookup_wire(msg, SKUS_FIELD, 3).tolist() == [1, -1, 3]  # type: ignore[union-attr]
    assert ix.lookup_wire(msg, SKUS_FIELD, 2) is None
    assert ix.lookup_wire(msg, SKUS_FIELD, 4) is None
    assert ix.lookup_wire(msg[:-3], SKUS_FIELD, 3) is None  # truncated
    assert ix.lookup_wire(b"\x0b\x0c", SKUS_FIELD, 0) is None  # a group: not ours to parse
    assert ix.lookup_wire(b"", SKUS_FIELD, 0).tolist() == []  # type: ignore[union-attr]
    negative_enum = pb.GetAvailabilityRequest(skus=["s2"], method=-1).SerializeToString()  # type: ignore[arg-type]  # a 10-byte varint
    assert ix.lookup_wire(negative_enum, SKUS_FIELD, 1).tolist() == [2]  # type: ignore[union-attr]
    assert IdIndex("x", [1]).lookup_wire(msg, SKUS_FIELD, 3) is None  # type: ignore[list-item]


def test_concurrent_appends_while_reading() -> None:
    """One writer appends (the table grows several times under the readers); readers never see a wrong
    index, only the right one or -1 for an id not added yet; once the writer is done they see all."""
    ix = IdIndex("sku", [f"base{i}" for i in range(50)])
    new = [f"new-{i}-{'x' * (i % 40)}" for i in range(20_000)]
    stop = threading.Event()
    errors: list[str] = []
    rng = np.random.default_rng(11)
    picks = [rng.choice(len(new), 200, replace=False).tolist() for _ in range(50)]

    def read() -> None:
        k = 0
        while not stop.is_set() or k < 3:
            query = [new[i] for i in picks[k % len(picks)]] + ["base3"]
            got = ix.lookup_many(query).tolist()
            for i, g in zip(picks[k % len(picks)], got, strict=False):
                if g not in (-1, 50 + i):
                    errors.append(f"{new[i]} -> {g}")
            if got[-1] != 3:
                errors.append(f"base3 -> {got[-1]}")
            k += 1

    readers = [threading.Thread(target=read) for _ in range(3)]
    for r in readers:
        r.start()
    try:
        for s in new:
            ix.add(s)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert not errors, errors[:5]
    assert ix.lookup_many(new).tolist() == list(range(50, 50 + len(new)))


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text(min_size=0, max_size=20), max_size=60, unique=True),
    extra=st.lists(st.text(min_size=0, max_size=20), max_size=30),
    tiny=st.booleans(),
)
def test_batch_lookups_agree_with_the_dict(ids: list[str], extra: list[str], tiny: bool) -> None:
    ix = IdIndex("sku", ids[: len(ids) // 2])
    if tiny:
        ix._use_table(2, 0)
    for s in ids[len(ids) // 2 :]:
        ix.add(s)
    query = ids + extra + ids[::-1] + ["pad"] * MIN_TABLE_BATCH
    assert ix.lookup_many(query).tolist() == expected(ix, query)


# ------------------------------------------------------------------------------ the wire path of the servicer
def test_encode_availability_is_what_the_serializer_makes() -> None:
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 127, 128, 1_000, 20_000):
        qty = rng.integers(-5, 100_000, n).astype(np.int64)
        if n > 3:
            qty[:3] = [-(2**63), 2**63 - 1, 0]
        idx = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 1_000, n)).astype(np.int64)
        for seq in (0, 1, 300, 2**63 - 1):
            want = pb.GetAvailabilityResponse(
                quantity=qty.tolist(),
                status=(statuses(qty, 10) + 1).tolist(),
                unknown=(idx < 0).tolist(),
                sequence=seq,
            )
            assert _idhash.encode_availability(qty, idx, 10, seq).tobytes() == want.SerializeToString()


def _reference(store: StockStore, request: pb.GetAvailabilityRequest) -> pb.GetAvailabilityResponse:
    """What GetAvailability answered before the wire path: get_availability over the request's ids."""
    result = get_availability(
        store,
        AvailabilityQuery(
            skus=request.skus[:],
            channel=request.channel,
            method=method_of(request.method),
            scope=scope_of(request.scope),
            as_of=date_of(request.as_of, "as_of") if request.HasField("as_of") else None,
        ),
    )
    return pb.GetAvailabilityResponse(
        quantity=result.quantity.tolist(),
        status=(result.status + 1).tolist(),
        unknown=result.unknown.tolist(),
        sequence=result.sequence,
    )


def _outcome(fn: Callable[[], pb.GetAvailabilityResponse]) -> object:
    try:
        return fn()
    except Exception as err:
        return (type(err), str(err))


def test_the_servicer_answers_as_get_availability_does() -> None:
    extra = {
        (f"P{i:03d}", loc.id): (i * 7 + k) % 23 for i in range(300) for k, loc in enumerate(north_east_locations())
    }
    ring = marketplace_ring_fence()
    store = north_east(
        Stock(on_hand={**everyday_stock().on_hand, **ring.on_hand, **extra}, allocations=ring.allocations)
    )
    store.sequence = 42
    known = list(store.skus.ids)
    rng = np.random.default_rng(9)
    many = [known[i] for i in rng.choice(len(known), 250).tolist()] + ["NOPE-1", "TEE", "NOPE-2"]
    future = date.today() + timedelta(days=3)
    requests = [
        pb.GetAvailabilityRequest(skus=["TEE"], channel="web"),
        pb.GetAvailabilityRequest(skus=["NOPE"], channel="web"),
        pb.GetAvailabilityRequest(skus=many, channel="web"),
        pb.GetAvailabilityRequest(skus=many, channel="marketplace", method=cpb.PICKUP),
        pb.GetAvailabilityRequest(skus=many, channel="app", scope=cpb.Scope(group="NE-STORES")),
        pb.GetAvailabilityRequest(
            skus=many, channel="web", scope=cpb.Scope(locations=cpb.LocationList(ids=["ST-BOS", "DC-EAST"]))
        ),
        pb.GetAvailabilityRequest(
            skus=many[:20],
            channel="web",
            as_of=cpb.Date(year=future.year, month=future.month, day=future.day),
        ),
        pb.GetAvailabilityRequest(skus=["TEE", *["LAMP"] * 9], channel="web", min_sequence=3),
        # every error, in get_availability's order
        pb.GetAvailabilityRequest(skus=many, channel="nope"),
        pb.GetAvailabilityRequest(skus=[], channel="web"),
        pb.GetAvailabilityRequest(skus=["TEE"] * 10_001, channel="web"),
        pb.GetAvailabilityRequest(skus=[*many[:30], "bad id", "worse id!"], channel="web"),
        pb.GetAvailabilityRequest(skus=["bad id"], channel="nope"),
        pb.GetAvailabilityRequest(skus=["bad id"] * 9, channel="web", method=99),  # type: ignore[arg-type]
        pb.GetAvailabilityRequest(skus=many, channel="web", scope=cpb.Scope(group="")),
        pb.GetAvailabilityRequest(skus=many, channel="web", scope=cpb.Scope(group="NOPE")),
        pb.GetAvailabilityRequest(skus=many, channel="web", as_of=cpb.Date(year=2001, month=2, day=30)),
        pb.GetAvailabilityRequest(skus=many, channel="web", as_of=cpb.Date(year=2001, month=2, day=3)),
    ]
    for request in requests:
        got = _outcome(lambda r=request: _network_answer(store, r))  # type: ignore[misc]
        want = _outcome(lambda r=request: _reference(store, r))  # type: ignore[misc]
        assert got == want, (request.channel, len(request.skus))
