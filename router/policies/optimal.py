"""`optimal`: the OR-Tools model (router.solve). The default policy."""

from __future__ import annotations

from dataclasses import dataclass

from ..candidates import RoutingProblem
from ..model import RoutingResult
from ..solve import solve


@dataclass(frozen=True, slots=True)
class OptimalPolicy:
    name: str = "optimal"
    description: str = "cheapest plan that ships the most units, by CP-SAT over pruned candidates"

    def plan(self, problem: RoutingProblem, *, time_limit_s: float, seed: int) -> RoutingResult:
        return solve(problem, time_limit_s=time_limit_s, seed=seed)


POLICY = OptimalPolicy()
