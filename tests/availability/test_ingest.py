"""Snapshot files: the sample loads, both formats round-trip exactly, and every validation rule names the
file, row, column and value of each bad row while loading nothing."""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from availability.errors import InvalidArgument
from availability.ingest import MAX_STORED_ERRORS, RowError, SnapshotError, load_snapshot, write_snapshot
from availability.ledger import MemoryLedger
from availability.model import (
    Channel,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Sku,
    Snapshot,
    check_id,
    day_number,
)
from availability.store import StockStore

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot"
ARRAYS = [
    *("stock_sku", "stock_loc", "stock_on_hand", "stock_safety"),
    *("inbound_sku", "inbound_loc", "inbound_qty", "inbound_day", "inbound_type"),
    *("alloc_sku", "alloc_channel", "alloc_qty", "alloc_consumed"),
]


def assert_same_snapshot(a: Snapshot, b: Snapshot) -> None:
    assert a.locations == b.locations
    assert a.channels == b.channels
    assert a.skus == b.skus
    assert a.groups == b.groups
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == np.int32 and y.dtype == np.int32, name
        np.testing.assert_array_equal(x, y, err_msg=name)


# ------------------------------------------------------------------------------------------ CSV editing
def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)


def set_cell(d: Path, table: str, row: int, column: str, value: str) -> None:
    header, rows = _rows(d / f"{table}.csv")
    rows[row - 1][column] = value
    _write(d / f"{table}.csv", header, rows)


def append_row(d: Path, table: str, **values: str) -> int:
    """Append a row; returns its 1-based data row number."""
    header, rows = _rows(d / f"{table}.csv")
    rows.append({h: values.get(h, "") for h in header})
    _write(d / f"{table}.csv", header, rows)
    return len(rows)


def drop_column(d: Path, table: str, column: str) -> None:
    header, rows = _rows(d / f"{table}.csv")
    _write(
        d / f"{table}.csv",
        [h for h in header if h != column],
        [{k: v for k, v in r.items() if k != column} for r in rows],
    )


def rename_column(d: Path, table: str, old: str, new: str) -> None:
    header, rows = _rows(d / f"{table}.csv")
    _write(
        d / f"{table}.csv",
        [new if h == old else h for h in header],
        [{(new if k == old else k): v for k, v in r.items()} for r in rows],
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of examples/snapshot that a test may break."""
    d = tmp_path / "snap"
    shutil.copytree(SAMPLE, d)
    return d


def load_errors(d: Path) -> SnapshotError:
    with pytest.raises(SnapshotError) as info:
        load_snapshot(d)
    return info.value


def find(err: SnapshotError, file: str, row: int, column: str) -> RowError:
    hits = [e for e in err.errors if (e.file, e.row, e.column) == (file, row, column)]
    assert hits, f"no error at {file} row {row} column {column}; got {err.errors}"
    return hits[0]


# ------------------------------------------------------------------------------------------ the sample
def test_sample_loads_with_expected_contents() -> None:
    snap = load_snapshot(SAMPLE)
    assert [loc.id for loc in snap.locations] == ["DC-EAST", "NYC-01", "BKN-01", "JC-01", "QNS-DK"]
    assert snap.locations[0].type is LocationType.DISTRIBUTION_CENTER  # written "dc"
    assert snap.locations[2].methods == frozenset(Method)
    assert snap.locations[1].cutoff == time(18, 0)
    assert [c.id for c in snap.channels] == ["web", "marketplace", "store_pos"]
    assert len(snap.skus) == 10 and snap.skus[-1] == Sku("GIFT-CARD-25", None)
    assert snap.groups == [
        LocationGroup("nyc-stores", ("NYC-01", "BKN-01", "QNS-DK"), "New York City stores")
    ]
    assert snap.positions == 27
    for name in ARRAYS:
        assert getattr(snap, name).dtype == np.int32
    # TEE-WHT-M at DC-EAST has an explicit safety stock of 20; at NYC-01 the cell is empty: type default
    assert (snap.stock_sku[0], snap.stock_loc[0], snap.stock_on_hand[0], snap.stock_safety[0]) == (
        0,
        0,
        240,
        20,
    )
    assert snap.stock_safety[1] == -1
    assert snap.inbound_day.tolist() == [day_number(date(2026, 12, d)) for d in (1, 14, 21)]
    assert snap.inbound_type.tolist() == [InboundType.IN_TRANSIT, InboundType.ON_ORDER, InboundType.ON_ORDER]
    assert snap.alloc_qty.tolist() == [30, 2] and snap.alloc_consumed.tolist() == [10, 0]
    StockStore.from_snapshot(snap)  # and the read model accepts it


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_sample_round_trips(tmp_path: Path, fmt: str) -> None:
    snap = load_snapshot(SAMPLE)
    write_snapshot(snap, tmp_path / "out", format=fmt)  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{t}.{fmt}"
        for t in ("channels", "skus", "locations", "location_groups", "stock", "inbound", "allocations")
    )
    assert_same_snapshot(load_snapshot(tmp_path / "out"), snap)


def test_unsorted_stock_is_sorted_with_its_values(sample: Path) -> None:
    header, rows = _rows(sample / "stock.csv")
    _write(sample / "stock.csv", header, rows[::-1])
    snap = load_snapshot(sample)
    key = snap.stock_sku.astype(np.int64) * len(snap.locations) + snap.stock_loc
    assert np.all(np.diff(key) > 0)
    assert_same_snapshot(snap, load_snapshot(SAMPLE))


def test_optional_files_and_columns_may_be_left_out(sample: Path) -> None:
    for table in ("inbound", "allocations", "location_groups"):
        (sample / f"{table}.csv").unlink()
    for column in ("timezone", "cutoff", "processing_hours", "enabled", "priority", "name"):
        drop_column(sample, "locations", column)
    drop_column(sample, "stock", "safety_stock")
    snap = load_snapshot(sample)
    loc = snap.locations[1]
    assert (loc.timezone, loc.cutoff, loc.processing_hours, loc.enabled, loc.priority, loc.name) == (
        "UTC",
        time(14, 0),
        24,
        True,
        100,
        "",
    )
    assert snap.stock_safety.tolist() == [-1] * 27
    assert snap.inbound_sku.size == 0 and snap.alloc_sku.size == 0 and snap.groups == []


def test_parquet_with_native_types_loads(tmp_path: Path) -> None:
    snap = load_snapshot(SAMPLE)
    write_snapshot(snap, tmp_path, format="parquet")
    # a Parquet writer elsewhere may use other integer widths and a real date type: all fine
    stock = pl.read_parquet(tmp_path / "stock.parquet").with_columns(pl.col("on_hand").cast(pl.UInt16))
    stock.write_parquet(tmp_path / "stock.parquet")
    inbound = pl.read_parquet(tmp_path / "inbound.parquet")
    assert inbound.schema["expected_date"] == pl.Date
    assert_same_snapshot(load_snapshot(tmp_path), snap)


# ------------------------------------------------------------------------------------------ validation
Edit = Callable[[Path], object]
Where = tuple[str, int, str, str | None]  # file, row, column, value the error must name
_SAME = "<the new cell>"


def bad_cell(
    what: str, table: str, row: int, column: str, value: str, reason: str, shown: str | None = _SAME
) -> object:
    """A case that puts `value` into one cell; the error must name exactly that cell."""
    expect = value if shown == _SAME else shown
    if expect == "":
        expect = None  # an empty cell is reported without a value

    def edit(d: Path) -> None:
        set_cell(d, table, row, column, value)

    return pytest.param(edit, (f"{table}.csv", row, column, expect), reason, id=what)


def bad_edit(what: str, edit: Edit, where: Where, reason: str) -> object:
    return pytest.param(edit, where, reason, id=what)


CASES = [
    bad_edit(
        "missing file",
        lambda d: (d / "stock.csv").unlink(),
        ("stock.csv", 0, "", None),
        "missing required file",
    ),
    bad_edit(
        "both formats",
        lambda d: pl.read_csv(d / "skus.csv").write_parquet(d / "skus.parquet"),
        ("skus.csv", 0, "", None),
        "keep one",
    ),
    bad_edit(
        "missing column",
        lambda d: drop_column(d, "locations", "latitude"),
        ("locations.csv", 0, "latitude", None),
        "missing required column",
    ),
    bad_edit(
        "unknown column",
        lambda d: rename_column(d, "stock", "safety_stock", "saftey_stock"),
        ("stock.csv", 0, "saftey_stock", None),
        "unknown column",
    ),
    bad_cell("empty quantity", "stock", 3, "on_hand", "", "is required"),
    bad_cell("decimal quantity", "stock", 4, "on_hand", "2.5", "must be an integer"),
    bad_cell("text quantity", "stock", 5, "on_hand", "lots", "must be an integer"),
    bad_cell("negative quantity", "stock", 6, "on_hand", "-3", "must not be negative"),
    bad_cell("huge quantity", "stock", 7, "on_hand", "1000000001", "must be at most 1000000000"),
    bad_cell("int64 overflow", "stock", 7, "on_hand", "99999999999999999999", "must be an integer"),
    bad_cell("negative safety", "stock", 2, "safety_stock", "-1", "must not be negative"),
    bad_cell("bad location type", "locations", 2, "type", "warehouse", "must be one of"),
    bad_cell("bad inbound type", "inbound", 1, "type", "pending", "must be one of"),
    bad_cell("bad method", "locations", 3, "methods", "ship;drone", "must be one of", shown="drone"),
    bad_cell("latitude range", "locations", 1, "latitude", "91.5", "[-90, 90]"),
    bad_cell("longitude range", "locations", 4, "longitude", "-200", "[-180, 180]"),
    bad_cell("latitude text", "locations", 1, "latitude", "north", "must be a number"),
    bad_cell("latitude nan", "locations", 1, "latitude", "nan", "must be a number"),
    bad_cell("sku id with space", "skus", 2, "id", "TEE BLK", "1-128 characters"),
    bad_cell("location id sign", "locations", 5, "id", "-QNS", "1-128 characters"),
    bad_cell("empty channel id", "channels", 2, "id", "", "is required"),
    bad_cell("long id", "skus", 3, "id", "J" * 129, "1-128 characters"),
    bad_cell("duplicate location", "locations", 4, "id", "NYC-01", "duplicate location id, also on row 2"),
    bad_edit(
        "duplicate sku",
        lambda d: append_row(d, "skus", id="MUG-12OZ", unit_weight_g="1"),
        ("skus.csv", 11, "id", "MUG-12OZ"),
        "duplicate SKU id, also on row 6",
    ),
    bad_edit(
        "duplicate channel",
        lambda d: append_row(d, "channels", id="web"),
        ("channels.csv", 4, "id", "web"),
        "duplicate channel id, also on row 1",
    ),
    bad_edit(
        "duplicate position",
        lambda d: append_row(d, "stock", sku="JEANS-32", location="NYC-01", on_hand="1"),
        ("stock.csv", 28, "sku, location", "JEANS-32, NYC-01"),
        "duplicate (sku, location) position, also on row 10",
    ),
    bad_edit(
        "duplicate allocation",
        lambda d: append_row(d, "allocations", sku="TEE-WHT-M", channel="marketplace", quantity="1"),
        ("allocations.csv", 3, "sku, channel", "TEE-WHT-M, marketplace"),
        "duplicate (sku, channel) allocation, also on row 1",
    ),
    bad_cell("unknown stock sku", "stock", 9, "sku", "NOPE", "unknown SKU"),
    bad_cell("unknown stock location", "stock", 9, "location", "LA-01", "unknown location"),
    bad_cell("bad stock sku id", "stock", 9, "sku", "no pe", "1-128 characters"),
    bad_cell("unknown group member", "location_groups", 2, "location_id", "BKN-99", "unknown location"),
    bad_cell(
        "unknown location channel",
        "locations",
        2,
        "channels",
        "web;tiktok",
        "unknown channel",
        shown="tiktok",
    ),
    bad_cell("unknown allocation channel", "allocations", 2, "channel", "tiktok", "unknown channel"),
    bad_cell("unknown inbound sku", "inbound", 3, "sku", "CAP-BLUE", "unknown SKU"),
    bad_cell("unknown inbound location", "inbound", 3, "location", "DC-WEST", "unknown location"),
    bad_cell("impossible date", "inbound", 2, "expected_date", "2026-02-30", "YYYY-MM-DD"),
    bad_cell("US date", "inbound", 2, "expected_date", "12/14/2026", "YYYY-MM-DD"),
    bad_cell("empty date", "inbound", 2, "expected_date", "", "is required"),
    bad_cell("bad cutoff", "locations", 1, "cutoff", "25:00", "HH:MM"),
    bad_cell("bad enabled", "locations", 1, "enabled", "maybe", "true or false"),
    bad_cell("negative capacity", "locations", 3, "daily_capacity", "-1", "must not be negative"),
    bad_cell("negative weight", "skus", 1, "unit_weight_g", "-180", "must not be negative"),
    bad_cell("negative inbound", "inbound", 1, "quantity", "-6", "must not be negative"),
    bad_cell("consumed above quantity", "allocations", 1, "consumed", "31", "must not exceed quantity"),
    bad_cell("group name conflict", "location_groups", 3, "name", "Queens", "conflicts with"),
    bad_edit(
        "group id is a location",
        lambda d: append_row(d, "location_groups", group_id="JC-01", location_id="NYC-01"),
        ("location_groups.csv", 4, "group_id", "JC-01"),
        "also a location id",
    ),
    bad_edit(
        "group member twice",
        lambda d: append_row(d, "location_groups", group_id="nyc-stores", location_id="NYC-01"),
        ("location_groups.csv", 4, "location_id", "nyc-stores, NYC-01"),
        "duplicate member of this group, also on row 1",
    ),
    bad_edit(
        "ragged csv",
        lambda d: (d / "skus.csv").write_text("id,unit_weight_g\nA,1,2,3\n"),
        ("skus.csv", 0, "", None),
        "cannot read",
    ),
]


@pytest.mark.parametrize(("edit", "where", "reason"), CASES)
def test_each_rule_names_file_row_column_value(sample: Path, edit: Edit, where: Where, reason: str) -> None:
    edit(sample)
    err = load_errors(sample)
    file, row, column, value = where
    hit = find(err, file, row, column)
    assert hit.value == value
    assert reason in hit.reason
    assert isinstance(err, InvalidArgument)  # the service maps it to INVALID_ARGUMENT
    assert str(hit) in str(err)


def test_too_many_channels(sample: Path) -> None:
    for i in range(62):
        append_row(sample, "channels", id=f"ch{i}")
    err = load_errors(sample)
    hit = find(err, "channels.csv", 65, "id")
    assert hit.value == "ch61" and "at most 64" in hit.reason


def test_parquet_types_that_are_not_integers(tmp_path: Path) -> None:
    write_snapshot(load_snapshot(SAMPLE), tmp_path, format="parquet")
    stock = pl.read_parquet(tmp_path / "stock.parquet")
    on_hand = stock["on_hand"].cast(pl.Float64).scatter(1, 2.5)
    stock.with_columns(on_hand).write_parquet(tmp_path / "stock.parquet")
    inbound = pl.read_parquet(tmp_path / "inbound.parquet").with_columns(pl.lit(True).alias("quantity"))
    inbound.write_parquet(tmp_path / "inbound.parquet")
    err = load_errors(tmp_path)
    assert find(err, "stock.parquet", 2, "on_hand").value == "2.5"
    assert find(err, "inbound.parquet", 1, "quantity").reason == "must be an integer"
    assert err.total == 4  # one float cell, three boolean cells


def test_every_bad_row_of_every_file_is_reported_and_counted(sample: Path) -> None:
    for row in range(1, 28):
        set_cell(sample, "stock", row, "on_hand", "-1")
    set_cell(sample, "skus", 4, "id", "bad id")  # SOCKS-3PK vanishes: its 5 stock rows are unknown too
    set_cell(sample, "allocations", 2, "quantity", "x")
    err = load_errors(sample)
    assert err.total == 27 + 1 + 5 + 1
    assert len(err.errors) == err.total
    assert [e.file for e in err.errors][:1] == ["skus.csv"]  # file order, then row order
    stock_rows = [e.row for e in err.errors if e.file == "stock.csv"]
    assert stock_rows == sorted(stock_rows)
    message = str(err)
    assert message.startswith(f"snapshot {sample} has 34 errors (first 20 shown):")
    assert message.count("\n") == 20
    assert "skus.csv row 4, column id, value 'bad id'" in message


def test_stored_errors_are_capped_but_counted(tmp_path: Path) -> None:
    snap = load_snapshot(SAMPLE)
    write_snapshot(snap, tmp_path, format="parquet")
    n = 3 * MAX_STORED_ERRORS
    bad = pl.DataFrame(
        {
            "sku": ["TEE-WHT-M"] * n,
            "location": [f"X{i}" for i in range(n)],
            "on_hand": pl.Series([-1] * n, dtype=pl.Int32),
            "safety_stock": pl.Series([None] * n, dtype=pl.Int32),
        }
    )
    bad.write_parquet(tmp_path / "stock.parquet")
    err = load_errors(tmp_path)
    assert err.total == 2 * n
    assert len(err.errors) == MAX_STORED_ERRORS
    assert err.errors[0] == RowError("stock.parquet", 1, "location", "X0", "unknown location")
    assert "(first 20 shown)" in str(err)


def test_a_failed_load_changes_nothing(sample: Path) -> None:
    store = StockStore.from_snapshot(load_snapshot(SAMPLE))
    ledger = MemoryLedger(store)
    before = (ledger.sequence, store.totals(), store.position_count)
    append_row(sample, "allocations", sku="NOPE", channel="web", quantity="1")  # only the last file is bad
    with pytest.raises(SnapshotError):
        ledger.load_snapshot(load_snapshot(sample))
    assert (ledger.sequence, store.totals(), store.position_count) == before


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="is not a directory"):
        load_snapshot(tmp_path / "nowhere")


def test_write_refuses_mixed_formats_and_unknown_format(tmp_path: Path) -> None:
    snap = load_snapshot(SAMPLE)
    write_snapshot(snap, tmp_path, format="csv")
    with pytest.raises(InvalidArgument, match="already holds"):
        write_snapshot(snap, tmp_path, format="parquet")
    with pytest.raises(InvalidArgument, match="csv or parquet"):
        write_snapshot(snap, tmp_path, format="xlsx")  # type: ignore[arg-type]
    write_snapshot(snap, tmp_path, format="csv")  # overwriting the same format is fine


# ------------------------------------------------------------------------------------------ properties
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=140))
def test_file_id_rule_is_the_api_id_rule(text: str) -> None:
    from availability.ingest import _ID_PATTERN

    in_files = bool(pl.Series([text]).str.contains(_ID_PATTERN)[0])
    try:
        check_id("id", text)
        in_api = True
    except InvalidArgument:
        in_api = False
    if text.endswith("\n"):  # Python's `$` lets one trailing newline through; files are stricter
        assert not in_files
    else:
        assert in_files == in_api


ids = st.from_regex(re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,11}"), fullmatch=True)
# a blank cell (whitespace only) reads as empty, by rule: free text is either empty or has a visible character
free_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20).filter(lambda s: s == "" or s.strip() != "")
ints = st.integers(0, 10_000)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    channel_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    loc_ids = draw(st.lists(ids, min_size=1, max_size=5, unique=True))
    sku_ids = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    group_ids = draw(st.lists(ids.filter(lambda g: g not in loc_ids), max_size=2, unique=True))
    locations = [
        Location(
            id=lid,
            name=draw(free_text),
            type=draw(st.sampled_from(LocationType)),
            latitude=draw(st.floats(-90, 90)),
            longitude=draw(st.floats(-180, 180)),
            timezone=draw(st.sampled_from(["UTC", "America/New_York", "Europe/Paris"])),
            methods=frozenset(draw(st.sets(st.sampled_from(Method)))),
            channels=frozenset(draw(st.sets(st.sampled_from(channel_ids)))),
            processing_hours=draw(ints),
            cutoff=time(
                draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.sampled_from([0, 0, 30]))
            ),
            daily_capacity=draw(ints),
            handling_cost_per_order=draw(ints),
            handling_cost_per_unit=draw(ints),
            priority=draw(st.integers(-1000, 1000)),
            enabled=draw(st.booleans()),
        )
        for lid in loc_ids
    ]
    groups = [
        LocationGroup(g, tuple(draw(st.lists(st.sampled_from(loc_ids), unique=True))), draw(free_text))
        for g in group_ids
    ]
    pairs = sorted(
        draw(st.sets(st.tuples(st.integers(0, len(sku_ids) - 1), st.integers(0, len(loc_ids) - 1))))
    )
    n = len(pairs)
    inbound_n = draw(st.integers(0, 4))
    alloc = sorted(
        draw(st.sets(st.tuples(st.integers(0, len(sku_ids) - 1), st.integers(0, len(channel_ids) - 1))))
    )
    alloc_qty = [draw(ints) for _ in alloc]

    def arr(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int32).reshape(-1)

    return Snapshot(
        locations=locations,
        channels=[Channel(c, draw(free_text)) for c in channel_ids],
        skus=[Sku(s, draw(st.none() | ints)) for s in sku_ids],
        groups=groups,
        stock_sku=arr([p[0] for p in pairs]),
        stock_loc=arr([p[1] for p in pairs]),
        stock_on_hand=arr([draw(ints) for _ in range(n)]),
        stock_safety=arr([draw(st.integers(-1, 50)) for _ in range(n)]),
        inbound_sku=arr([draw(st.integers(0, len(sku_ids) - 1)) for _ in range(inbound_n)]),
        inbound_loc=arr([draw(st.integers(0, len(loc_ids) - 1)) for _ in range(inbound_n)]),
        inbound_qty=arr([draw(ints) for _ in range(inbound_n)]),
        inbound_day=arr(
            [day_number(draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))) for _ in range(inbound_n)]
        ),
        inbound_type=arr([int(draw(st.sampled_from(InboundType))) for _ in range(inbound_n)]),
        alloc_sku=arr([a[0] for a in alloc]),
        alloc_channel=arr([a[1] for a in alloc]),
        alloc_qty=arr(alloc_qty),
        alloc_consumed=arr([draw(st.integers(0, q)) for q in alloc_qty]),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(), st.sampled_from(["csv", "parquet"]))
def test_any_snapshot_round_trips_exactly(snap: Snapshot, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_snapshot(snap, Path(tmp), format=fmt)  # type: ignore[arg-type]
        assert_same_snapshot(load_snapshot(Path(tmp)), snap)
