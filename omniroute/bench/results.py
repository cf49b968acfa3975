"""What `omniroute bench` measures, as data: rows with their goals, the JSON file, and the comparison of
two runs.

A row is one figure (a rate, a time or a share) with its unit and direction, the latency percentiles
where calls were timed one by one, a ratio where the issue states one (to a no-op call, to a baseline),
and the goals the issues set for it. A goal is checked against the measured numbers here, never
written down as met: `Row.met` is None when no goal applies (a goal stated for a bigger network than
the one measured, or a row that was skipped).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA = "omniroute-bench/1"

Measure = Literal["figure", "p50", "p99", "ratio"]
Op = Literal["<", "<=", ">=", ">"]
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


class ResultsError(ValueError):
    """A results file that is not one `omniroute bench` wrote (the message names the file and the field)."""


@dataclass(frozen=True, slots=True)
class Goal:
    """`measure op value`, e.g. p50 < 5 (ms). `applies` is False when the goal is stated for another scale
    than the one measured (then `scale` says which); such a goal is shown, not judged."""

    measure: Measure
    op: Op
    value: float
    text: str
    applies: bool = True
    scale: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"goal op {self.op!r}: must be one of {sorted(_OPS)}")
        if self.measure not in ("figure", "p50", "p99", "ratio"):
            raise ValueError(f"goal measure {self.measure!r}: must be figure, p50, p99 or ratio")

    def met(self, row: Row) -> bool | None:
        if not self.applies:
            return None
        got: float | None = getattr(row, self.measure)
        if got is None or not math.isfinite(got):
            return None
        return bool(_OPS[self.op](got, self.value))


@dataclass(slots=True)
class Row:
    """One line of the table. `figure` is None only when the row was skipped (`skipped` says why)."""

    key: str  # stable name, e.g. "grpc.availability_1"; what --compare matches on
    suite: str
    title: str
    unit: str
    higher_is_better: bool
    figure: float | None = None
    p50: float | None = None
    p99: float | None = None
    latency_unit: str = ""
    ratio: float | None = None
    ratio_of: str = ""  # what the ratio divides, e.g. "server CPU a call / Ping's"
    goals: tuple[Goal, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""

    @property
    def met(self) -> bool | None:
        if self.skipped:
            return None
        verdicts = [g.met(self) for g in self.goals]
        judged = [v for v in verdicts if v is not None]
        return all(judged) if judged else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["goals"] = [asdict(g) for g in self.goals]
        out["met"] = self.met
        return out


@dataclass(frozen=True, slots=True)
class Results:
    created: str  # UTC, ISO 8601
    command: str
    options: dict[str, Any]
    machine: dict[str, Any]
    network: dict[str, Any]
    rows: tuple[Row, ...]
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "command": self.command,
            "options": self.options,
            "machine": self.machine,
            "network": self.network,
            "elapsed_s": round(self.elapsed_s, 1),
            "rows": [r.to_json() for r in self.rows],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        tmp.replace(path)


def read_results(path: Path) -> dict[str, Any]:
    """An earlier run's JSON, checked enough to compare with: the schema, and every row's key and figure."""
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise ResultsError(f"{path}: cannot read it ({err.strerror or err})") from None
    except ValueError as err:
        raise ResultsError(f"{path}: not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ResultsError(f"{path}: schema is {found!r}, expected {SCHEMA!r} (a file `omniroute bench` wrote)")
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise ResultsError(f"{path}: 'rows' must be a list")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise ResultsError(f"{path}: rows[{i}] has no 'key'")
        fig = row.get("figure")
        if fig is not None and not isinstance(fig, int | float):
            raise ResultsError(f"{path}: rows[{i}] ({row['key']}): figure {fig!r} is not a number")
    return doc


@dataclass(frozen=True, slots=True)
class Delta:
    key: str
    title: str
    unit: str
    before: float | None
    after: float | None
    change: float | None  # relative, (after - before) / before
    verdict: str  # better, worse, same (within the noise band), new, not run, skipped


NOISE = 0.05  # a change within ±5% is called "same": this machine's run-to-run spread on most rows


def compare(before: dict[str, Any], rows: Sequence[Row], noise: float = NOISE) -> list[Delta]:
    """Every row of this run against the earlier run's row of the same key, then the earlier rows this run
    does not have."""
    old = {r["key"]: r for r in before.get("rows", [])}
    out: list[Delta] = []
    for row in rows:
        prev = old.pop(row.key, None)
        b = prev.get("figure") if prev else None
        a = row.figure
        if prev is None:
            out.append(Delta(row.key, row.title, row.unit, None, a, None, "new"))
        elif a is None or b is None:
            out.append(Delta(row.key, row.title, row.unit, b, a, None, "skipped"))
        elif b == 0:
            out.append(Delta(row.key, row.title, row.unit, b, a, None, "same" if a == 0 else "changed"))
        else:
            change = (a - b) / abs(b)
            if abs(change) <= noise:
                verdict = "same"
            else:
                verdict = "better" if (change > 0) == row.higher_is_better else "worse"
            out.append(Delta(row.key, row.title, row.unit, b, a, change, verdict))
    for key, prev in old.items():
        out.append(Delta(key, str(prev.get("title", key)), str(prev.get("unit", "")), prev.get("figure"), None,
                         None, "not run"))  # fmt: skip
    return out
