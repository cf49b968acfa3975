"""Greedy plans over a problem's usable pool rows: the comparison policies, and the optimiser's starting
point (upper bound and hint). Each respects every hard constraint (ATP, the network's ATP, blocked rows,
the shipment limit); ties go to the nearer location, then to the lower location index, so every plan is
deterministic."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _kernels as K
from .candidates import RoutingProblem
from .plans import empty_plan

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


def _needs(problem: RoutingProblem) -> I64:
    out: I64 = np.minimum(problem.requested, problem.network_atp)
    return out


def _fill(problem: RoutingProblem, ranks: list[I64]) -> I64:
    """Each line in order takes from its ranked rows until covered. Opening a row beyond the shipment
    limit is not allowed: the line then skips to rows already opened."""
    x = empty_plan(problem)
    opened = np.zeros(problem.pool, dtype=np.bool_)
    n_open = 0
    limit = problem.max_shipments
    need = _needs(problem)
    for j, rank in enumerate(ranks):
        left = int(need[j])
        for r in rank.tolist():
            if left == 0:
                break
            if not opened[r]:
                if limit and n_open >= limit:
                    continue
                opened[r] = True
                n_open += 1
            take = min(left, int(problem.atp[r, j]))
            x[r, j] = take
            left -= take
    return x


def _holders(problem: RoutingProblem, j: int) -> BOOL:
    out: BOOL = problem.usable & (problem.atp[:, j] > 0)
    return out


def _ranked(problem: RoutingProblem, keys: tuple[npt.NDArray[np.generic], ...]) -> list[I64]:
    """Per line, its holding rows sorted by keys (last key primary), then distance, then row."""
    rows_all = np.arange(problem.pool)
    order = np.lexsort((rows_all, problem.distance_km, *keys))
    return [order[_holders(problem, j)[order]] for j in range(problem.lines)]


def plan_nearest(problem: RoutingProblem) -> I64:
    """Each line from the closest location that has it, then the next closest."""
    return _fill(problem, _ranked(problem, ()))


def plan_priority(problem: RoutingProblem) -> I64:
    """Locations in ascending priority (lower = preferred): take what each has until the line is covered.
    Disabled locations never hold ATP and empty ones are skipped."""
    return _fill(problem, _ranked(problem, (problem.priority,)))


def plan_high_stock(problem: RoutingProblem) -> I64:
    """Each line from the location with the most of it first."""
    ranks = []
    rows_all = np.arange(problem.pool)
    for j in range(problem.lines):
        order = np.lexsort((rows_all, problem.distance_km, -problem.atp[:, j]))
        ranks.append(order[_holders(problem, j)[order]])
    return _fill(problem, ranks)


def plan_fewest_shipments(problem: RoutingProblem) -> I64:
    """One location for the whole order where one can (the nearest such); otherwise repeatedly the
    location that covers the most remaining units (nearest on ties), within the shipment limit."""
    x = empty_plan(problem)
    need = _needs(problem)
    usable = problem.serving
    whole = np.flatnonzero(usable & np.all(problem.atp >= need[None, :], axis=1))
    if whole.shape[0]:
        r = int(whole[np.lexsort((whole, problem.distance_km[whole]))][0])
        x[r] = need
        return x
    left = need.copy()
    avail = usable.copy()
    opened = 0
    while int(left.sum()) > 0 and avail.any() and not (problem.max_shipments and opened >= problem.max_shipments):
        cover = np.where(avail, np.minimum(problem.atp, left[None, :]).sum(axis=1), -1)
        best = int(cover.max())
        if best <= 0:
            break
        tied = np.flatnonzero(cover == best)
        r = int(tied[np.lexsort((tied, problem.distance_km[tied]))][0])
        take = np.minimum(problem.atp[r], left)
        x[r] = take
        left -= take
        avail[r] = False
        opened += 1
    return x


def plan_cost_greedy(problem: RoutingProblem) -> I64:
    """Greedy set cover by cost: repeatedly open the row with the lowest cost per unit covered (its fixed
    cost plus the per-unit costs of what it would take, protection penalty included), until nothing is
    left to cover or the shipment limit is reached. The optimiser's starting point, not a policy."""
    x = empty_plan(problem)
    rows = np.flatnonzero(problem.serving).astype(np.int64)
    if rows.shape[0]:
        cost, units = problem.tiers
        big_f = np.ascontiguousarray(problem.fixed_cost + problem.extra_shipment_cost)
        K.cost_greedy(rows, big_f, cost, units, _needs(problem), problem.max_shipments, problem.distance_km, x)
    return x
