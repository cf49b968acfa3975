"""Ids on the wire, dense int indices inside: one `IdIndex` per kind (SKUs, locations, channels)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt


class IdIndex:
    """An append-only bijection between string ids and 0..n-1.

    Appends never renumber existing ids, so indices held by readers stay valid while writers add ids.
    """

    __slots__ = ("_ids", "_index", "kind")

    def __init__(self, kind: str, ids: Iterable[str] = ()) -> None:
        self.kind = kind
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        for ident in ids:
            self.add(ident)

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
        # map over a bound dict.get with a repeated default stays in C: no Python frame per id
        return np.fromiter(map(self._index.get, idents, repeat(-1)), dtype=np.int64, count=len(idents))

    def copy(self) -> IdIndex:
        new = IdIndex(self.kind)
        new._ids = list(self._ids)
        new._index = dict(self._index)
        return new
