"""Snapshots on disk: a directory of CSV or Parquet files, read and written with polars.

One file per table (`locations`, `location_groups`, `channels`, `skus`, `stock`, `inbound`,
`allocations`), each `<table>.csv` or `<table>.parquet`; the README part "Files and feeds" documents
every column. Loading is all-or-nothing: every bad row of every file is collected (file, row, column,
value, reason) and a single `SnapshotError` is raised before anything is returned.

The stock table can hold tens of millions of rows, so its checks and the mapping of ids to dense indices
are whole-column operations: ids become indices by a cast to a polars Enum whose categories are the SKU
(or location) ids in snapshot order, so the Enum's physical code *is* the dense index; integer columns
are settled by their min, max and null count when clean, and duplicate keys by numpy on int64 keys.
Per-row Python runs only over the small tables (locations, groups, channels) and over bad rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import time
from enum import IntEnum
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from .errors import InvalidArgument
from .locations import MAX_CHANNELS
from .model import (
    _ID_RE,
    MAX_QUANTITY,
    AtpConfig,
    Channel,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Sku,
    Snapshot,
    load_atp_config,
)

__all__ = ["MAX_STORED_ERRORS", "TABLES", "RowError", "SnapshotError", "load_snapshot", "write_snapshot"]

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

# The full error list of a badly broken 50M-row file would itself be huge; the total is still counted.
MAX_STORED_ERRORS = 1000
_SHOWN_IN_MESSAGE = 20
_ROW = "__row__"

# The id rule of availability.model.check_id, applied by polars' (Rust) regex engine; keeping one source
# means the files accept exactly the ids the API accepts. Rust's `$` is end of text, which is stricter
# than Python's (no trailing newline), and that is what a file should get.
# model.py now ends the pattern with Python's `\Z`, which Rust's regex does not know; `$` means the same there.
_ID_PATTERN = _ID_RE.pattern.removesuffix(r"\Z").removesuffix("$") + "$"
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")

# Column name -> required. Optional columns may be left out of a file; their empty cells take defaults.
TABLES: dict[str, dict[str, bool]] = {
    "channels": {"id": True, "name": False},
    "skus": {"id": True, "unit_weight_g": False},
    "locations": {
        "id": True,
        "name": False,
        "type": True,
        "latitude": True,
        "longitude": True,
        "timezone": False,
        "methods": True,
        "channels": True,
        "processing_hours": False,
        "cutoff": False,
        "daily_capacity": False,
        "handling_cost_per_order": False,
        "handling_cost_per_unit": False,
        "priority": False,
        "enabled": False,
    },
    "location_groups": {"group_id": True, "location_id": True, "name": False},
    "stock": {"sku": True, "location": True, "on_hand": True, "safety_stock": False},
    "inbound": {"sku": True, "location": True, "quantity": True, "expected_date": True, "type": False},
    "allocations": {"sku": True, "channel": True, "quantity": True, "consumed": False},
}
_REQUIRED_TABLES = ("channels", "skus", "locations", "stock")
_SUFFIXES = (".csv", ".parquet")
_DEFAULTS = Location("default", "", LocationType.STORE, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in a snapshot file. `row` is the 1-based data row (the line after a CSV's header is
    row 1); 0 means the whole file or column. `value` is the cell as text, None when it was empty."""

    file: str
    row: int
    column: str
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.row == 0 else f"{self.file} row {self.row}"
        if self.column:
            where += f", column {self.column}"
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            where += f", value {shown!r}"
        return f"{where}: {self.reason}"


class SnapshotError(InvalidArgument):
    """A snapshot failed validation; nothing was loaded. `errors` holds the first MAX_STORED_ERRORS
    problems in file and row order, `total` counts all of them."""

    def __init__(self, errors: Sequence[RowError], total: int | None = None, directory: str = "") -> None:
        self.errors: list[RowError] = list(errors)
        self.total = len(self.errors) if total is None else total
        self.directory = directory
        count = f"{self.total} error" + ("" if self.total == 1 else "s")
        super().__init__("snapshot", directory, count)
        shown = self.errors[:_SHOWN_IN_MESSAGE]
        head = f"snapshot {directory} has {count}" if directory else f"snapshot has {count}"
        if self.total > len(shown):
            head += f" (first {len(shown)} shown)"
        # the parent's "field=value: reason" line is too terse for a file report; keep its attributes only
        self.args = ("\n  ".join([head + ":", *(str(e) for e in shown)]),)


class _Errors:
    def __init__(self, cap: int = MAX_STORED_ERRORS) -> None:
        self.cap = cap
        self.items: list[RowError] = []
        self.total = 0

    def add(self, error: RowError) -> None:
        self.total += 1
        self.items.append(error)

    def sorted(self, file_order: Sequence[str]) -> list[RowError]:
        rank = {f: i for i, f in enumerate(file_order)}

        def key(e: RowError) -> tuple[int, str, int]:
            return (rank.get(e.file.rsplit(".", 1)[0], -1), e.file, e.row)

        # each check keeps up to `cap` of its own rows, so after sorting the first `cap` are the earliest
        return sorted(self.items, key=key)[: self.cap]


# ---------------------------------------------------------------------------------------------- columns
class _Table:
    """One file being validated: its frame (with original row numbers) and typed column parsers that
    report every bad cell and return the column with bad cells as nulls."""

    def __init__(self, file: str, df: pl.DataFrame, errors: _Errors) -> None:
        self.file = file
        self.df = df
        self.errors = errors
        self.rows = df[_ROW]

    def __len__(self) -> int:
        return self.df.height

    def flag(self, mask: pl.Series, column: str, reason: str, values: pl.Series | None = None) -> None:
        """Report every row where `mask` is true. `values` (aligned with the table) default to the cell."""
        if not mask.any():
            return
        self.flag_at(mask.arg_true(), column, reason, values)

    def flag_row(self, k: int, column: str, value: str | None, reason: str) -> None:
        """Report the k-th row (0-based position in the file), from per-row Python checks."""
        self.errors.add(RowError(self.file, int(self.rows[k]), column, value, reason))

    def flag_at(
        self,
        positions: pl.Series,
        column: str,
        reason: str | Callable[[int], str],
        values: pl.Series | Sequence[str] | None = None,
    ) -> None:
        """Report the rows at these 0-based positions. `values` is a Series aligned with the table, or
        names of columns whose cells are shown joined (a composite key); default: the cell itself."""
        n = positions.len()
        if n == 0:
            return
        keep = positions.head(self.errors.cap)
        rows = self.rows.gather(keep).to_list()
        if values is None:
            shown = self.df[column].gather(keep).cast(pl.String).to_list()
        elif isinstance(values, pl.Series):
            shown = values.gather(keep).cast(pl.String).to_list()
        else:
            parts = [self.df[c].gather(keep).cast(pl.String).fill_null("").to_list() for c in values]
            shown = [", ".join(cells) for cells in zip(*parts, strict=True)]
        for k, (row, value) in enumerate(zip(rows, shown, strict=True)):
            text = reason if isinstance(reason, str) else reason(k)
            self.errors.items.append(RowError(self.file, int(row), column, value, text))
        # counted once here rather than per add(), so the total stays exact even when rows were cut
        self.errors.total += n

    def strings(self, column: str) -> pl.Series:
        """The column as text with blank cells as nulls (CSV gives text; Parquet may give anything)."""
        raw = self.df[column]
        if raw.dtype != pl.String:
            raw = raw.cast(pl.String)
        return pl.select(
            pl.when(raw.str.strip_chars() == "").then(None).otherwise(raw).alias(column)
        ).to_series()

    def required(self, column: str, present: pl.Series) -> None:
        self.flag(present.is_null(), column, "is required")

    def ids(self, column: str, *, nullable: bool = False) -> pl.Series:
        """Ids checked against the id rule (no trimming: a stray space is a different id)."""
        raw = self.df[column]
        if raw.dtype != pl.String:
            raw = raw.cast(pl.String)
        missing = raw.is_null() | (raw == "")
        if not nullable:
            self.flag(missing, column, "is required")
        bad = ~missing & ~raw.str.contains(_ID_PATTERN)
        self.flag(
            bad, column, "must be 1-128 characters [A-Za-z0-9._:/#@+-], starting with a letter or digit"
        )
        return pl.select(pl.when(missing | bad).then(None).otherwise(raw).alias(column)).to_series()

    def ints(
        self,
        column: str,
        *,
        default: int | None = None,
        lo: int = 0,
        hi: int = MAX_QUANTITY,
    ) -> pl.Series:
        """Integer values; `default` fills empty cells, and with no default an empty cell is an error."""
        raw = self.df[column]
        n = raw.len()
        if raw.dtype.is_integer():
            # the usual Parquet case, and the one with 50M rows: min, max and a null count decide it
            nulls = raw.null_count()
            lowest, highest = raw.min(), raw.max()
            in_range = nulls == n or (
                isinstance(lowest, int) and isinstance(highest, int) and lo <= lowest and highest <= hi
            )
            if in_range and (nulls == 0 or default is not None):
                return (raw if nulls == 0 else raw.fill_null(default)).alias(column)
        if raw.dtype == pl.String:
            text = raw.str.strip_chars()
            missing = text.is_null() | (text == "")
            value = text.cast(pl.Int64, strict=False)
            bad = ~missing & value.is_null()
        elif raw.dtype.is_integer():
            missing = raw.is_null()
            value = raw.cast(pl.Int64, strict=False)  # a UInt64 above 2**63 becomes null: reported as bad
            bad = ~missing & value.is_null()
        elif raw.dtype.is_float():
            missing = raw.is_null() | raw.is_nan()
            ok = (raw.is_finite() & (raw == raw.floor()) & (raw.abs() <= 2.0**53)).fill_null(False)
            value = pl.select(pl.when(ok).then(raw).otherwise(None).cast(pl.Int64)).to_series()
            bad = ~missing & ~ok
        else:  # an all-empty Parquet column (Null) is fine; booleans, dates and the like are not integers
            missing = raw.is_null()
            value = pl.Series(column, [None] * n, dtype=pl.Int64)
            bad = ~missing
        missing = missing.fill_null(True)
        if default is None:
            self.flag(missing, column, "is required")
        self.flag(bad.fill_null(False), column, "must be an integer")
        if lo == 0:
            self.flag((value < 0).fill_null(False), column, "must not be negative")
        else:
            self.flag((value < lo).fill_null(False), column, f"must be at least {lo}")
        self.flag((value > hi).fill_null(False), column, f"must be at most {hi}")
        value = pl.select(pl.when((value < lo) | (value > hi)).then(None).otherwise(value)).to_series()
        if default is not None:
            value = pl.select(pl.when(missing).then(default).otherwise(value)).to_series()
        return value.alias(column)

    def floats(self, column: str, lo: float, hi: float) -> pl.Series:
        raw = self.df[column]
        if raw.dtype == pl.String:
            text = raw.str.strip_chars()
            missing = (text.is_null() | (text == "")).fill_null(True)
            value = text.cast(pl.Float64, strict=False)
        elif raw.dtype.is_numeric():
            missing = raw.is_null()
            value = raw.cast(pl.Float64)
        else:
            missing = raw.is_null()
            value = pl.Series(column, [None] * raw.len(), dtype=pl.Float64)
        self.flag(missing, column, "is required")
        bad = ~missing & (value.is_null() | ~value.is_finite()).fill_null(True)
        self.flag(bad, column, "must be a number")
        out = ~bad & ~missing & ((value < lo) | (value > hi)).fill_null(False)
        self.flag(out, column, f"must be in [{lo:g}, {hi:g}]")
        return pl.select(pl.when(bad | out | missing).then(None).otherwise(value).alias(column)).to_series()

    def text(self, column: str, default: str) -> list[str]:
        """Free text kept as written (spaces included); only an empty cell takes the default."""
        raw = self.df[column]
        if raw.dtype != pl.String:
            raw = raw.cast(pl.String)
        return [default if v is None else v for v in raw.to_list()]

    def bools(self, column: str, default: bool) -> list[bool]:
        raw = self.df[column]
        if raw.dtype == pl.Boolean:
            return [default if v is None else bool(v) for v in raw.to_list()]
        out: list[bool] = []
        for k, v in enumerate(self.strings(column).to_list()):
            word = None if v is None else v.strip().lower()
            if word is None:
                out.append(default)
            elif word in _TRUE or word in _FALSE:
                out.append(word in _TRUE)
            else:
                out.append(default)
                self.flag_row(k, column, v, "must be true or false")
        return out

    def enum(self, column: str, parse: Callable[[str, str], IntEnum], default: IntEnum | None) -> pl.Series:
        """Codes (Int32) of an IntEnum column. Only the distinct values go through the model's own parser,
        so aliases ("dc", "po") are accepted exactly as the API accepts them, at column speed."""
        text = self.strings(column)
        mapping: dict[str, int] = {}
        for value in text.unique().drop_nulls().sort().to_list():
            try:
                mapping[value] = int(parse(value, column))
            except InvalidArgument as exc:
                self.flag((text == value).fill_null(False), column, exc.reason)
        missing = text.is_null()
        if default is None:
            self.flag(missing, column, "is required")
        codes = text.replace_strict(mapping, default=None, return_dtype=pl.Int32)
        fill = None if default is None else int(default)
        return pl.select(
            pl.when(missing).then(pl.lit(fill, dtype=pl.Int32)).otherwise(codes).alias(column)
        ).to_series()

    def dates(self, column: str) -> pl.Series:
        """Day numbers (days since 1970-01-01, Int32); ISO dates only, so 03/04 is never ambiguous."""
        raw = self.df[column]
        if raw.dtype == pl.Date:
            self.required(column, raw)
            return raw.cast(pl.Int32).alias(column)
        text = self.strings(column)
        self.required(column, text)
        parsed = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        bad = text.is_not_null() & (~text.str.contains(_DATE_PATTERN).fill_null(False) | parsed.is_null())
        self.flag(bad, column, "must be a date YYYY-MM-DD")
        return pl.select(pl.when(bad).then(None).otherwise(parsed.cast(pl.Int32)).alias(column)).to_series()

    def refs(self, column: str, targets: pl.Series, kind: str, *, nullable: bool = False) -> pl.Series:
        """Dense indices (UInt32) of references to `targets` (ids in snapshot order); unknown ids are
        reported and become nulls. The cast to an Enum of the targets is a hash lookup per row and no
        join, which is what keeps 50 million stock rows within seconds."""
        raw = self.df[column]
        if raw.dtype != pl.String:
            raw = raw.cast(pl.String)
        codes = raw.cast(pl.Enum(targets), strict=False).to_physical()
        if codes.null_count() == 0:
            return codes.alias(column)  # every cell names a known id: nothing else to look at
        missing = raw.is_null() | (raw == "")
        if not nullable:
            self.flag(missing, column, "is required")
        unknown = codes.is_null() & ~missing
        if unknown.any():
            where = unknown.arg_true()
            form_ok = raw.gather(where).str.contains(_ID_PATTERN)
            self.flag_at(where.filter(form_ok), column, f"unknown {kind}")
            self.flag_at(
                where.filter(~form_ok),
                column,
                "must be 1-128 characters [A-Za-z0-9._:/#@+-], starting with a letter or digit",
            )
        return codes.alias(column)

    def duplicates(self, key: I64, column: str, label: str, shown: Sequence[str]) -> I64 | None:
        """Report rows whose key (negative: no key, ignored) already appeared on an earlier row, showing
        the `shown` columns. Returns the row positions in key order, or None when the file already is
        in key order. numpy, not polars, for this one: plain int64 arithmetic on 50M rows is several
        times faster there, and most files arrive sorted, so the whole check is one look at neighbours."""
        valid = key >= 0
        where = None if bool(valid.all()) else np.flatnonzero(valid)  # None: every row, in file order
        k = key if where is None else key[where]
        del valid
        if k.shape[0] > 1 and not bool(np.all(k[1:] > k[:-1])):
            order = np.argsort(k, kind="stable")  # stable: "also on row" names the earlier row
            where = order if where is None else where[order]
            k = k[order]
            del order
        dup = np.flatnonzero(k[1:] == k[:-1]) + 1
        if dup.shape[0]:
            at, before = (dup, dup - 1) if where is None else (where[dup], where[dup - 1])
            previous = self.rows.gather(pl.Series(before)).to_list()
            self.flag_at(
                pl.Series(at), column, lambda i: f"duplicate {label}, also on row {previous[i]}", shown
            )
        return where


def _key(a: pl.Series, b: pl.Series, n_b: int) -> I64:
    """a * n_b + b as int64, -1 where either is null (an unknown id, already reported)."""
    if a.null_count() == 0 and b.null_count() == 0:
        key: I64 = a.to_numpy().astype(np.int64) * max(1, n_b) + b.to_numpy()
        return key
    ok = (a.is_not_null() & b.is_not_null()).to_numpy()
    av = a.fill_null(0).to_numpy().astype(np.int64)
    bv = b.fill_null(0).to_numpy().astype(np.int64)
    return np.where(ok, av * max(1, n_b) + bv, -1)


def _int32(column: pl.Series) -> I32:
    """The numpy int32 array of a validated, null-free integer column (zero-copy when it is Int32)."""
    out = column.to_numpy()
    return out if out.dtype == np.int32 else out.astype(np.int32)


# ---------------------------------------------------------------------------------------------- reading
def _find(directory: Path, table: str, errors: _Errors) -> Path | None:
    found = [directory / f"{table}{sfx}" for sfx in _SUFFIXES if (directory / f"{table}{sfx}").is_file()]
    if len(found) > 1:
        reason = f"both {table}.csv and {table}.parquet exist; keep one"
        errors.add(RowError(found[0].name, 0, "", None, reason))
        return None
    if not found:
        if table in _REQUIRED_TABLES:
            reason = f"missing required file {table}.csv or {table}.parquet"
            errors.add(RowError(f"{table}.csv", 0, "", None, reason))
        return None
    return found[0]


def _read(directory: Path, table: str, errors: _Errors) -> _Table | None:
    path = _find(directory, table, errors)
    if path is None:
        return None
    try:
        # CSV as text only: every cell is checked by our parsers, so a bad cell is reported, not guessed at
        df = pl.read_csv(path, infer_schema=False) if path.suffix == ".csv" else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        errors.add(RowError(path.name, 0, "", None, f"cannot read the file: {str(exc).splitlines()[0]}"))
        return None
    spec = TABLES[table]
    ok = True
    for column, required in spec.items():
        if column not in df.columns:
            if required:
                errors.add(RowError(path.name, 0, column, None, "missing required column"))
                ok = False
            else:
                df = df.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    for column in df.columns:
        if column not in spec:
            errors.add(RowError(path.name, 0, column, None, f"unknown column; expected some of {list(spec)}"))
    if not ok:
        return None
    df = df.select(list(spec)).with_row_index(_ROW, offset=1)
    return _Table(path.name, df, errors)


# ---------------------------------------------------------------------------------------------- tables
def _codes(ids: pl.Series) -> I64:
    """A dense int64 code per distinct id (-1 for null), for duplicate checks."""
    codes = ids.cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1)
    return codes.to_numpy()


def _channels(t: _Table) -> list[Channel]:
    ids = t.ids("id")
    t.duplicates(_codes(ids), "id", "channel id", ["id"])
    names = t.text("name", "")
    out: list[Channel] = []
    seen: set[str] = set()
    for k, (ident, name) in enumerate(zip(ids.to_list(), names, strict=True)):
        if ident is None or ident in seen:
            continue
        seen.add(ident)
        if len(out) == MAX_CHANNELS:
            t.flag_row(k, "id", ident, f"at most {MAX_CHANNELS} channels are supported")
            continue
        out.append(Channel(ident, name))
    return out


def _skus(t: _Table) -> tuple[list[str], list[int | None]]:
    ids = t.ids("id")
    t.duplicates(_codes(ids), "id", "SKU id", ["id"])
    weights = t.ints("unit_weight_g", default=-1)
    # first occurrence of each valid id, in file order (a bad snapshot is rejected anyway)
    keep = ids.is_not_null() & ids.is_first_distinct()
    kept_ids = ids.filter(keep).to_list()
    kept_w = weights.filter(keep).to_list()
    return kept_ids, [None if w is None or w < 0 else int(w) for w in kept_w]


def _parse_time(text: str) -> time | None:
    m = _HHMM.match(text.strip())
    if not m:
        return None
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        return None
    return time(h, mi, s)


def _locations(t: _Table, channel_ids: set[str]) -> list[Location]:
    ids = t.ids("id")
    t.duplicates(_codes(ids), "id", "location id", ["id"])
    types = t.enum("type", LocationType.parse, None).to_list()
    lats = t.floats("latitude", -90, 90).to_list()
    lons = t.floats("longitude", -180, 180).to_list()
    names = t.text("name", _DEFAULTS.name)
    zones = t.text("timezone", _DEFAULTS.timezone)
    processing = t.ints("processing_hours", default=_DEFAULTS.processing_hours).to_list()
    capacity = t.ints("daily_capacity", default=_DEFAULTS.daily_capacity).to_list()
    per_order = t.ints("handling_cost_per_order", default=_DEFAULTS.handling_cost_per_order).to_list()
    per_unit = t.ints("handling_cost_per_unit", default=_DEFAULTS.handling_cost_per_unit).to_list()
    priority = t.ints("priority", default=_DEFAULTS.priority, lo=-MAX_QUANTITY).to_list()
    enabled = t.bools("enabled", _DEFAULTS.enabled)
    methods_text = t.strings("methods").to_list()
    channels_text = t.strings("channels").to_list()
    cutoffs = t.strings("cutoff").to_list()
    id_list = ids.to_list()

    out: list[Location] = []
    seen: set[str] = set()
    for k in range(len(t)):
        ok = True
        methods: set[Method] = set()
        for token in (methods_text[k] or "").split(";"):
            if token.strip():
                try:
                    methods.add(Method.parse(token, "methods"))
                except InvalidArgument as exc:
                    t.flag_row(k, "methods", token, exc.reason)
                    ok = False
        channels: set[str] = set()
        for token in (channels_text[k] or "").split(";"):
            name = token.strip()
            if name:
                if name not in channel_ids:
                    t.flag_row(k, "channels", name, "unknown channel")
                    ok = False
                channels.add(name)
        cutoff = _DEFAULTS.cutoff
        if cutoffs[k] is not None:
            parsed = _parse_time(cutoffs[k])
            if parsed is None:
                t.flag_row(k, "cutoff", cutoffs[k], "must be a time HH:MM (24-hour)")
                ok = False
            else:
                cutoff = parsed
        ident = id_list[k]
        typ, lat, lon = types[k], lats[k], lons[k]
        ints = (processing[k], capacity[k], per_order[k], per_unit[k], priority[k])
        # a null here was reported by its column's parser; the row is skipped, the load fails anyway
        if not ok or None in (ident, typ, lat, lon, *ints) or ident in seen:
            continue
        seen.add(ident)
        try:
            out.append(
                Location(
                    id=ident,
                    name=names[k],
                    type=LocationType(typ),
                    latitude=lat,
                    longitude=lon,
                    timezone=zones[k],
                    methods=frozenset(methods),
                    channels=frozenset(channels),
                    processing_hours=processing[k],
                    cutoff=cutoff,
                    daily_capacity=capacity[k],
                    handling_cost_per_order=per_order[k],
                    handling_cost_per_unit=per_unit[k],
                    priority=priority[k],
                    enabled=enabled[k],
                )
            )
        except InvalidArgument as exc:  # a rule of the model not mirrored above still names its row
            t.flag_row(k, exc.field.removeprefix("location."), str(exc.value), exc.reason)
    return out


def _groups(t: _Table, location_ids: pl.Series) -> list[LocationGroup]:
    gids = t.ids("group_id")
    members = t.refs("location_id", location_ids, "location", nullable=True)
    t.flag(
        gids.is_in(location_ids.implode()).fill_null(False),
        "group_id",
        "is also a location id; groups and locations share one namespace in queries",
    )
    member_text = t.df["location_id"].cast(pl.String)
    group_code = pl.Series(_codes(gids)).cast(pl.Int64)
    key = _key(pl.select(pl.when(group_code >= 0).then(group_code)).to_series(), members, location_ids.len())
    t.duplicates(key, "location_id", "member of this group", ["group_id", "location_id"])

    names = t.strings("name").to_list()
    first_name: dict[str, str] = {}
    listed: dict[str, list[str]] = {}  # insertion order is the groups' file order
    rows = zip(gids.to_list(), member_text.to_list(), members.to_list(), names, strict=True)
    for k, (g, m, idx, name) in enumerate(rows):
        if g is None:
            continue
        listed.setdefault(g, [])
        if name is not None:
            if g not in first_name:
                first_name[g] = name
            elif first_name[g] != name:
                t.flag_row(
                    k, "name", name, f"conflicts with the group's name {first_name[g]!r} on an earlier row"
                )
        if idx is not None and m is not None:
            listed[g].append(m)
    return [LocationGroup(g, tuple(dict.fromkeys(ms)), first_name.get(g, "")) for g, ms in listed.items()]


def _stock(t: _Table, sku_ids: pl.Series, location_ids: pl.Series) -> tuple[I32, I32, I32, I32]:
    s = t.refs("sku", sku_ids, "SKU")
    loc = t.refs("location", location_ids, "location")
    on_hand = t.ints("on_hand")
    safety = t.ints("safety_stock", default=-1)
    key = _key(s, loc, location_ids.len())
    order = t.duplicates(key, "sku, location", "(sku, location) position", ["sku", "location"])
    del key
    if t.errors.total:
        return _empty4()
    out = (_int32(s), _int32(loc), _int32(on_hand), _int32(safety))
    if order is not None:
        # snapshot order is (sku, location): the read model then needs no sort of its own
        return (out[0][order], out[1][order], out[2][order], out[3][order])
    return out


def _empty4() -> tuple[I32, I32, I32, I32]:
    e = np.zeros(0, dtype=np.int32)
    return e, e, e, e


def _inbound(t: _Table, sku_ids: pl.Series, location_ids: pl.Series) -> tuple[I32, I32, I32, I32, I32]:
    s = t.refs("sku", sku_ids, "SKU")
    loc = t.refs("location", location_ids, "location")
    qty = t.ints("quantity")
    day = t.dates("expected_date")
    kind = t.enum("type", InboundType.parse, InboundType.IN_TRANSIT)
    if t.errors.total:
        e = np.zeros(0, dtype=np.int32)
        return e, e, e, e, e
    return (_int32(s), _int32(loc), _int32(qty), _int32(day), _int32(kind))


def _allocations(t: _Table, sku_ids: pl.Series, channel_ids: pl.Series) -> tuple[I32, I32, I32, I32]:
    s = t.refs("sku", sku_ids, "SKU")
    chan = t.refs("channel", channel_ids, "channel")
    qty = t.ints("quantity")
    consumed = t.ints("consumed", default=0)
    t.flag((consumed > qty).fill_null(False), "consumed", "must not exceed quantity")
    t.duplicates(
        _key(s, chan, channel_ids.len()), "sku, channel", "(sku, channel) allocation", ["sku", "channel"]
    )
    if t.errors.total:
        return _empty4()
    return (_int32(s), _int32(chan), _int32(qty), _int32(consumed))


def load_snapshot(directory: Path) -> Snapshot:
    """Read and validate a snapshot directory. Raises SnapshotError naming every bad row; on success the
    stock columns are sorted by (sku, location) and all index columns are int32."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidArgument("directory", str(directory), "is not a directory")
    errors = _Errors()
    tables = {name: _read(directory, name, errors) for name in TABLES}

    channels: list[Channel] = []
    if (t := tables["channels"]) is not None:
        channels = _channels(t)
    channel_ids = pl.Series([c.id for c in channels], dtype=pl.String)
    sku_list: list[str] = []
    weights: list[int | None] = []
    if (t := tables["skus"]) is not None:
        sku_list, weights = _skus(t)
    sku_ids = pl.Series(sku_list, dtype=pl.String)
    locations: list[Location] = []
    if (t := tables["locations"]) is not None:
        locations = _locations(t, set(channel_ids.to_list()))
    location_ids = pl.Series([loc.id for loc in locations], dtype=pl.String)
    groups: list[LocationGroup] = []
    if (t := tables["location_groups"]) is not None:
        groups = _groups(t, location_ids)

    snap = Snapshot(locations=locations, channels=channels, skus=[])
    if (directory / ATP_CONFIG_FILE).exists():
        snap.config = load_atp_config(directory / ATP_CONFIG_FILE)
    if (t := tables["stock"]) is not None:
        (snap.stock_sku, snap.stock_loc, snap.stock_on_hand, snap.stock_safety) = _stock(
            t, sku_ids, location_ids
        )
    if (t := tables["inbound"]) is not None:
        (snap.inbound_sku, snap.inbound_loc, snap.inbound_qty, snap.inbound_day, snap.inbound_type) = (
            _inbound(t, sku_ids, location_ids)
        )
    if (t := tables["allocations"]) is not None:
        (snap.alloc_sku, snap.alloc_channel, snap.alloc_qty, snap.alloc_consumed) = _allocations(
            t, sku_ids, channel_ids
        )
    if errors.total:
        raise SnapshotError(errors.sorted(list(TABLES)), errors.total, str(directory))
    snap.groups = groups
    snap.skus = [Sku(i, w) for i, w in zip(sku_list, weights, strict=True)]
    return snap


# ---------------------------------------------------------------------------------------------- writing
def _ids_at(ids: Sequence[str], codes: I32) -> pl.Series:
    return pl.Series(list(ids), dtype=pl.String).gather(pl.Series(codes.astype(np.uint32, copy=False)))


def _cutoff_text(t: time) -> str:
    if t.microsecond:
        raise InvalidArgument(
            "location.cutoff", t.isoformat(), "a snapshot cutoff has at most second precision"
        )
    return t.strftime("%H:%M" if t.second == 0 else "%H:%M:%S")


def _frames(snapshot: Snapshot) -> dict[str, pl.DataFrame]:
    locs = snapshot.locations
    sku_ids = [s.id for s in snapshot.skus]
    loc_ids = [loc.id for loc in locs]
    chan_ids = [c.id for c in snapshot.channels]
    group_rows: list[tuple[str, str | None, str]] = []
    for g in snapshot.groups:
        if g.locations:
            group_rows.extend((g.id, m, g.name) for m in g.locations)
        else:  # a group with no members is still written, as one row without a location
            group_rows.append((g.id, None, g.name))
    safety = pl.Series(snapshot.stock_safety, dtype=pl.Int32)
    return {
        "channels": pl.DataFrame(
            {"id": chan_ids, "name": [c.name for c in snapshot.channels]},
            schema={"id": pl.String, "name": pl.String},
        ),
        "skus": pl.DataFrame(
            {"id": sku_ids, "unit_weight_g": [s.unit_weight_g for s in snapshot.skus]},
            schema={"id": pl.String, "unit_weight_g": pl.Int64},
        ),
        "locations": pl.DataFrame(
            {
                "id": loc_ids,
                "name": [loc.name for loc in locs],
                "type": [loc.type.name.lower() for loc in locs],
                "latitude": [float(loc.latitude) for loc in locs],
                "longitude": [float(loc.longitude) for loc in locs],
                "timezone": [loc.timezone for loc in locs],
                "methods": [";".join(m.name.lower() for m in sorted(loc.methods)) for loc in locs],
                "channels": [";".join(sorted(loc.channels)) for loc in locs],
                "processing_hours": [loc.processing_hours for loc in locs],
                "cutoff": [_cutoff_text(loc.cutoff) for loc in locs],
                "daily_capacity": [loc.daily_capacity for loc in locs],
                "handling_cost_per_order": [loc.handling_cost_per_order for loc in locs],
                "handling_cost_per_unit": [loc.handling_cost_per_unit for loc in locs],
                "priority": [loc.priority for loc in locs],
                "enabled": [loc.enabled for loc in locs],
            },
            schema={
                "id": pl.String,
                "name": pl.String,
                "type": pl.String,
                "latitude": pl.Float64,
                "longitude": pl.Float64,
                "timezone": pl.String,
                "methods": pl.String,
                "channels": pl.String,
                "processing_hours": pl.Int64,
                "cutoff": pl.String,
                "daily_capacity": pl.Int64,
                "handling_cost_per_order": pl.Int64,
                "handling_cost_per_unit": pl.Int64,
                "priority": pl.Int64,
                "enabled": pl.Boolean,
            },
        ),
        "location_groups": pl.DataFrame(
            group_rows,
            schema={"group_id": pl.String, "location_id": pl.String, "name": pl.String},
            orient="row",
        ),
        "stock": pl.DataFrame(
            {
                "sku": _ids_at(sku_ids, snapshot.stock_sku),
                "location": _ids_at(loc_ids, snapshot.stock_loc),
                "on_hand": pl.Series(snapshot.stock_on_hand, dtype=pl.Int32),
                "safety_stock": pl.select(pl.when(safety >= 0).then(safety).otherwise(None)).to_series(),
            }
        ),
        "inbound": pl.DataFrame(
            {
                "sku": _ids_at(sku_ids, snapshot.inbound_sku),
                "location": _ids_at(loc_ids, snapshot.inbound_loc),
                "quantity": pl.Series(snapshot.inbound_qty, dtype=pl.Int32),
                "expected_date": pl.Series(snapshot.inbound_day, dtype=pl.Int32).cast(pl.Date),
                "type": pl.Series(snapshot.inbound_type, dtype=pl.Int32).replace_strict(
                    {int(t): t.name.lower() for t in InboundType}, return_dtype=pl.String
                ),
            }
        ),
        "allocations": pl.DataFrame(
            {
                "sku": _ids_at(sku_ids, snapshot.alloc_sku),
                "channel": _ids_at(chan_ids, snapshot.alloc_channel),
                "quantity": pl.Series(snapshot.alloc_qty, dtype=pl.Int32),
                "consumed": pl.Series(snapshot.alloc_consumed, dtype=pl.Int32),
            }
        ),
    }


ATP_CONFIG_FILE = "atp.toml"


def atp_config_toml(config: AtpConfig) -> str:
    """The TOML form of an AtpConfig (what load_atp_config reads back)."""
    t, o = config.inbound_share_bp
    d, st, ds, v = config.default_safety
    return (
        "[promising]\n"
        f"in_transit_percent = {t / 100:g}\n"
        f"on_order_percent = {o / 100:g}\n\n"
        "[safety_stock]\n"
        f"distribution_center = {d}\nstore = {st}\ndark_store = {ds}\ndrop_ship_vendor = {v}\n\n"
        "[status]\n"
        f"low_stock_network = {config.low_stock_network}\nlow_stock_location = {config.low_stock_location}\n"
    )


def write_snapshot(snapshot: Snapshot, directory: Path, *, format: Literal["csv", "parquet"]) -> None:
    """Write every table of `snapshot` to `directory` (created if needed) so that `load_snapshot` gives the
    same snapshot back. Each file is written under a temporary name and renamed into place."""
    if format not in ("csv", "parquet"):
        raise InvalidArgument("format", format, "must be csv or parquet")
    directory = Path(directory)
    other = ".parquet" if format == "csv" else ".csv"
    clash = [f"{t}{other}" for t in TABLES if (directory / f"{t}{other}").exists()]
    if clash:
        # a loader finding both formats of one table refuses the directory, so refuse to create that state
        raise InvalidArgument(
            "directory", str(directory), f"already holds {', '.join(clash)}; use another directory"
        )
    frames = _frames(snapshot)
    directory.mkdir(parents=True, exist_ok=True)
    if snapshot.config is not None:
        (directory / ATP_CONFIG_FILE).write_text(atp_config_toml(snapshot.config))
    for table, df in frames.items():
        final = directory / f"{table}.{format}"
        tmp = directory / f".{table}.{format}.tmp"
        if format == "csv":
            df.write_csv(tmp)
        else:
            df.write_parquet(tmp)
        os.replace(tmp, final)
