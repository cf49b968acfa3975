"""Ids on the wire, dense int indices inside: one `IdIndex` per kind (SKUs, locations, channels)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt

from . import _idhash
from ._idhash import IdHashTable

# Below this many ids a batch lookup probes the dict: one numba call costs about as much as a few
# dict probes.
MIN_TABLE_BATCH = 8


class IdIndex:
    """An append-only bijection between string ids and 0..n-1.

    Appends never renumber existing ids, so indices held by readers stay valid while writers add ids.
    Single ids resolve through a dict; batches through a numba hash table of the ids' bytes (see
    _idhash), one kernel call for the whole batch. The table is kept in step by `add` (the single
    writer's), after the dict and the list, so a reader that finds an id in it can also name it; a
    table that must grow is rebuilt and swapped in whole. An index whose ids are not all str keeps no
    table and answers every batch from the dict.
    """

    __slots__ = ("_ids", "_index", "_table", "kind")

    def __init__(self, kind: str, ids: Iterable[str] = ()) -> None:
        self.kind = kind
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        for ident in ids:
            if ident not in self._index:
                self._index[ident] = len(self._ids)
                self._ids.append(ident)
        self._table: IdHashTable | None = _build_table(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, ident: object) -> bool:
        return ident in self._index

    def add(self, ident: str) -> int:
        """Index of `ident`, adding it if new."""
        found = self._index.get(ident)
        if found is not None:
            return found
        idx = len(self._ids)
        self._ids.append(ident)
        self._index[ident] = idx
        table = self._table
        if table is not None:
            try:
                # in place (one kernel call: readers see all of it or none), or a grown copy swapped in
                self._table = table.add(_idhash.encode(ident), idx)
            except Exception:  # not a str, past the 32-bit limits, out of memory: batches use the dict
                self._table = None
        return idx

    def get(self, ident: str) -> int | None:
        return self._index.get(ident)

    def index(self, ident: str) -> int:
        return self._index[ident]

    def id(self, idx: int) -> str:
        return self._ids[idx]

    @property
    def ids(self) -> Sequence[str]:
        return self._ids

    def lookup_many(self, idents: Sequence[str]) -> npt.NDArray[np.int64]:
        """Indices for many ids at once; -1 for unknown ones."""
        n = len(idents)
        table = self._table
        if table is not None and n >= MIN_TABLE_BATCH:
            joined: bytes | None
            try:
                joined = "\n".join(idents).encode("utf-8", "surrogatepass")
            except TypeError:  # not all str: the dict answers (and raises for unhashable ones)
                joined = None
            if joined is not None:
                out = np.empty(n, dtype=np.int64)
                if _idhash.lookup_joined(table.slots, table.keys, joined, out) >= 0:
                    return out
                # some id contains a newline: the dict answers
        # map over a bound dict.get with a repeated default stays in C: no Python frame per id
        return np.fromiter(map(self._index.get, idents, repeat(-1)), dtype=np.int64, count=n)

    def lookup_wire(self, message: bytes, field_number: int, count: int) -> npt.NDArray[np.int64] | None:
        """Indices (-1 unknown) of the ids that a serialized protobuf message carries as its top-level
        repeated string field `field_number`, `count` of them, without making a str of any: one kernel
        call. None when the table cannot answer (no table, or the message does not hold exactly `count`
        values of that field); then ask lookup_many."""
        table = self._table
        if table is None:
            return None
        out = np.empty(count, dtype=np.int64)
        if _idhash.lookup_field(table.slots, table.keys, message, field_number, out) >= 0:
            return out
        return None

    def copy(self) -> IdIndex:
        new = IdIndex(self.kind)
        new._ids = list(self._ids)
        new._index = dict(self._index)
        new._table = None if self._table is None else self._table.copy()
        return new

    def table_nbytes(self) -> int:
        """Bytes held by the batch lookup table (0 without one)."""
        return 0 if self._table is None else self._table.nbytes()

    def _use_table(self, size: int, tag_mask: int | None = None) -> None:
        """Rebuild the batch table with `size` slots (at least what the ids need) and, for tests, a tag
        mask (0: every probe compares bytes, as if every hash collided)."""
        table = IdHashTable.build(
            self._ids, room=0, size=size, tag_mask=_idhash.FULL_TAGS if tag_mask is None else tag_mask
        )
        self._table = table


def _build_table(ids: Sequence[str]) -> IdHashTable | None:
    try:
        return IdHashTable.build(ids)
    except (AttributeError, TypeError, UnicodeError, OverflowError):  # ids that are not str, or too many
        return None
