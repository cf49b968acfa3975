"""The benchmark's network: omniroute.networkgen's network of a size and seed, written once as a snapshot
directory under a cache directory and reused while its parameters match (the gRPC server loads the same
directory with `serve --data`, so the in-process and the gRPC figures are about the same stock)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from availability.ingest import load_snapshot, write_snapshot
from availability.model import Snapshot
from omniroute.networkgen import DEFAULT_BASE_DATE, SIZES, generate_network

from .progress import Report

DEFAULT_CACHE = Path("bench-results") / "networks"  # git-ignored in this repository
_MARKER = "bench-network.json"


@dataclass(frozen=True, slots=True)
class BenchNetwork:
    size: str
    seed: int
    directory: Path
    snapshot: Snapshot
    reused: bool

    def describe(self) -> dict[str, object]:
        return {
            "size": self.size,
            "seed": self.seed,
            "locations": len(self.snapshot.locations),
            "skus": len(self.snapshot.skus),
            "positions": self.snapshot.positions,
            "directory": str(self.directory),
            "reused_from_cache": self.reused,
        }


def _parameters(size: str, seed: int) -> dict[str, object]:
    # everything the generated stock depends on; a cached copy made with other parameters is remade
    return {"size": size, "seed": seed, "base_date": DEFAULT_BASE_DATE.isoformat(), "spec": asdict(SIZES[size])}


def bench_network(size: str, seed: int, cache: Path = DEFAULT_CACHE, report: Report | None = None) -> BenchNetwork:
    """The network of `size` and `seed`, from the cache when a copy with the same parameters is there."""
    say = report or (lambda stage, fraction: None)
    directory = cache / f"{size}-seed{seed}"
    marker = directory / _MARKER
    wanted = _parameters(size, seed)
    if marker.is_file():
        try:
            same = json.loads(marker.read_text()) == wanted
        except ValueError:
            same = False
        if same:
            say(f"reading the cached {size} network", 0.5)
            return BenchNetwork(size, seed, directory, load_snapshot(directory), reused=True)
    say(f"generating the {size} network", 0.0)
    snap = generate_network(size, seed=seed, base_date=DEFAULT_BASE_DATE, progress=say)
    shutil.rmtree(directory, ignore_errors=True)
    tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_snapshot(snap, tmp, format="parquet")
    (tmp / _MARKER).write_text(json.dumps(wanted, indent=2) + "\n")
    try:
        tmp.replace(directory)  # a half-written copy is never taken for a cached one
    except OSError:  # another run wrote the same network meanwhile: same parameters, same files
        shutil.rmtree(tmp, ignore_errors=True)
    return BenchNetwork(size, seed, directory, snap, reused=False)
