"""The machine a benchmark ran on, for the results file: figures mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("numpy", "numba", "ortools", "grpcio", "protobuf", "polars", "redis")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def git_commit(where: Path) -> dict[str, Any]:
    """The checkout's commit and whether it had uncommitted changes; empty outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def machine_info() -> dict[str, Any]:
    """CPU model and cores, RAM, OS, Python and the versions of the packages the figures depend on, the
    source's git commit and the date (UTC)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{name: _version(name) for name in _PACKAGES},
        "omniroute": _version("omniroute"),
        **git_commit(Path(__file__).resolve().parent),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # the machine may be shared: the load before the run says how busy it was
        "load_average_1m": round(load[0], 2),
    }
