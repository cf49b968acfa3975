"""How the benchmark's steps say where they are: (what is running, fraction of it done in [0, 1])."""

from __future__ import annotations

from collections.abc import Callable

Report = Callable[[str, float], None]


def quiet(stage: str, fraction: float) -> None:
    """A Report that shows nothing."""
