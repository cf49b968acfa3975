"""A brute-force router for tiny problems, written independently of router/: every subset of usable
locations (within the shipment limit), each line filled unit by unit from the cheapest offers of the
subset, the plan shipping the most units first, then the cheapest. The tests' reference optimum."""

from __future__ import annotations

from itertools import combinations

from router import RoutingProblem


def subset_plan(problem: RoutingProblem, rows: tuple[int, ...]) -> tuple[int, int, dict[tuple[int, int], int]]:
    """(units shipped, cost, units per (row, line)) of the best plan from exactly these rows: each line
    takes as many units as the rows and the network allow, each unit at the cheapest price left."""
    take: dict[tuple[int, int], int] = {}
    cost = sum(int(problem.fixed_cost[r]) for r in rows) + problem.extra_shipment_cost * (len(rows) - 1)
    units = 0
    for j in range(problem.lines):
        want = min(int(problem.requested[j]), int(problem.network_atp[j]))
        offers: list[tuple[int, int]] = []  # (price of one more unit, row), one entry per unit
        for r in rows:
            atp, free = int(problem.atp[r, j]), int(problem.free[r, j])
            unit = int(problem.unit_cost[r, j])
            for k in range(min(atp, want)):
                offers.append((unit if k < free else unit + int(problem.penalty_per_unit[r]), r))
        for price, r in sorted(offers)[:want]:
            take[(r, j)] = take.get((r, j), 0) + 1
            cost += price
            units += 1
    return units, cost, take


def brute_force(problem: RoutingProblem) -> tuple[int, int]:
    """(most units any valid plan ships, least cost of a plan shipping that many); (0, 0) when nothing
    can ship. Subsets whose rows would not all ship anything are priced too: they are never cheaper than
    the same plan without the idle rows, which is enumerated as well."""
    usable = [r for r in range(problem.pool) if problem.usable[r] and problem.atp[r].sum() > 0]
    limit = problem.max_shipments or len(usable)
    best = (0, 0)
    for k in range(1, min(limit, len(usable)) + 1):
        for rows in combinations(usable, k):
            units, cost, _ = subset_plan(problem, rows)
            if units > best[0] or (units == best[0] and units > 0 and cost < best[1]):
                best = (units, cost)
    return best
