"""What the greedy baselines share: a plan function wrapped as a Policy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..candidates import RoutingProblem
from ..model import RoutingResult
from ..plans import result_from_plan

PlanFn = Callable[[RoutingProblem], npt.NDArray[np.int64]]


@dataclass(frozen=True, slots=True)
class GreedyPolicy:
    name: str
    description: str
    make_plan: PlanFn

    def plan(self, problem: RoutingProblem, *, time_limit_s: float, seed: int) -> RoutingResult:
        """The greedy plan; status FEASIBLE (no optimality claim), time limit and seed unused."""
        started = time.perf_counter()
        return result_from_plan(
            problem, self.make_plan(problem), policy=self.name, solver="greedy", proven=False, started=started
        )
