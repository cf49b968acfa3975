"""numba kernels of the candidate bounds. Private: use router.candidates.

Arrays (C pool rows, L lines):
  big_f  int64[C]        fixed cost of a shipment from the row plus the extra-shipment cost E
  cost   int64[C, L, 2]  per-unit cost of the row's two price tiers for the line: below the protection
                         level, then above it (tier 0 is never dearer than tier 1)
  units  int64[C, L, 2]  units in each tier
  fulfil int64[L]        units each line must ship

The cost of the best plan from a set of rows is separable: the rows' fixed costs - E, plus for each line
the cheapest `fulfil` units among the set's tiers. `set_cost` computes exactly that; everything else
here searches over sets with it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from numba import njit

INF = np.iinfo(np.int64).max // 4
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@njit(cache=True)
def set_cost(
    members: I64, k: int, big_f: I64, e: int, cost: I64, units: I64, fulfil: I64, tc: I64, tu: I64
) -> int:  # pragma: no cover - compiled
    """Cost of the best plan from members[:k] (INF when they cannot ship `fulfil`). tc, tu: scratch of
    at least 2k entries. Ties between tiers go to the earlier member, so plans are deterministic."""
    total = -e
    for a in range(k):
        total += big_f[members[a]]
    for j in range(fulfil.shape[0]):
        need = fulfil[j]
        if need == 0:
            continue
        n = 0
        for a in range(k):
            r = members[a]
            for t in range(2):
                u = units[r, j, t]
                if u > 0:
                    c = cost[r, j, t]
                    p = n
                    while p > 0 and tc[p - 1] > c:
                        tc[p] = tc[p - 1]
                        tu[p] = tu[p - 1]
                        p -= 1
                    tc[p] = c
                    tu[p] = u
                    n += 1
        for p in range(n):
            take = min(need, tu[p])
            total += take * tc[p]
            need -= take
            if need == 0:
                break
        if need > 0:
            return INF
    return total


@njit(cache=True)
def single_costs(
    rows: I64, big_f: I64, e: int, cost: I64, units: I64, fulfil: I64, out: I64
) -> None:  # pragma: no cover - compiled
    """out[r] = the cost of row r shipping everything alone (INF when it cannot), for r in rows."""
    tc = np.empty(2, np.int64)
    tu = np.empty(2, np.int64)
    one = np.empty(1, np.int64)
    for i in range(rows.shape[0]):
        one[0] = rows[i]
        out[rows[i]] = set_cost(one, 1, big_f, e, cost, units, fulfil, tc, tu)


@njit(cache=True)
def pair_costs(
    rows: I64, big_f: I64, e: int, cost: I64, units: I64, fulfil: I64, best_with: I64, best: I64
) -> None:  # pragma: no cover - compiled
    """Every pair of rows priced: best_with[r] = min over pairs containing r (left as is when lower);
    best = [cost, first row, second row] of the cheapest pair (left as is when none is cheaper)."""
    tc = np.empty(4, np.int64)
    tu = np.empty(4, np.int64)
    two = np.empty(2, np.int64)
    n = rows.shape[0]
    for a in range(n):
        two[0] = rows[a]
        for b in range(a + 1, n):
            two[1] = rows[b]
            c = set_cost(two, 2, big_f, e, cost, units, fulfil, tc, tu)
            if c < best_with[rows[a]]:
                best_with[rows[a]] = c
            if c < best_with[rows[b]]:
                best_with[rows[b]] = c
            if c < best[0]:
                best[0] = c
                best[1] = rows[a]
                best[2] = rows[b]


@njit(cache=True)
def _contains(members: I64, k: int, r: int) -> bool:  # pragma: no cover - compiled
    for a in range(k):  # noqa: SIM110 - numba compiles loops, not generator expressions
        if members[a] == r:
            return True
    return False


@njit(cache=True)
def local_search(
    start: I64,
    current: int,
    rows: I64,
    big_f: I64,
    e: int,
    cost: I64,
    units: I64,
    fulfil: I64,
    max_s: int,
    rounds: int,
) -> tuple[I64, int]:  # pragma: no cover - compiled
    """Best-improvement search over sets of rows from `start` (costing `current`): drop one row, swap
    one for another, add one, or replace two by one. Stops at a local optimum or after `rounds`."""
    cap = start.shape[0] + rounds + 2
    members = np.empty(cap, np.int64)
    k = start.shape[0]
    members[:k] = start
    trial = np.empty(cap, np.int64)
    best_set = np.empty(cap, np.int64)
    tc = np.empty(2 * cap, np.int64)
    tu = np.empty(2 * cap, np.int64)
    for _ in range(rounds):
        best = current
        best_k = -1
        if k > 1:
            for i in range(k):
                m = 0
                for a in range(k):
                    if a != i:
                        trial[m] = members[a]
                        m += 1
                c = set_cost(trial, m, big_f, e, cost, units, fulfil, tc, tu)
                if c < best:
                    best, best_k = c, m
                    best_set[:m] = trial[:m]
        for r in rows:
            if _contains(members, k, r):
                continue
            for i in range(k):
                trial[:k] = members[:k]
                trial[i] = r
                c = set_cost(trial, k, big_f, e, cost, units, fulfil, tc, tu)
                if c < best:
                    best, best_k = c, k
                    best_set[:k] = trial[:k]
            if k < max_s and k + 1 < cap:
                trial[:k] = members[:k]
                trial[k] = r
                c = set_cost(trial, k + 1, big_f, e, cost, units, fulfil, tc, tu)
                if c < best:
                    best, best_k = c, k + 1
                    best_set[: k + 1] = trial[: k + 1]
            if k > 2:
                for i in range(k):
                    for i2 in range(i + 1, k):
                        m = 0
                        for a in range(k):
                            if a != i and a != i2:
                                trial[m] = members[a]
                                m += 1
                        trial[m] = r
                        c = set_cost(trial, m + 1, big_f, e, cost, units, fulfil, tc, tu)
                        if c < best:
                            best, best_k = c, m + 1
                            best_set[: m + 1] = trial[: m + 1]
        if best_k < 0:
            break
        k = best_k
        members[:k] = best_set[:k]
        current = best
    return np.sort(members[:k]), current


@njit(cache=True)
def lagrangian(
    rows: I64,
    big_f: I64,
    e: int,
    cost: I64,
    units: I64,
    fulfil: I64,
    upper: int,
    iterations: int,
    v: F64,
    out: I64,
) -> float:  # pragma: no cover - compiled
    """Lagrangian relaxation of the lines' demand, multipliers v by subgradient steps (Polyak, towards
    the upper bound):

        L(v) = sum_j v_j f_j - E + sum_c min(0, rho_c),  rho_c = F_c - sum_(j, tier) max(0, v_j - cost) units

    with each row's units of a line capped at f_j, over the given rows only. Every full plan from those
    rows costs at least L(v); one that uses row c at least L(v) + max(0, rho_c), written to out[c]
    rounded up (costs are whole cents). v: the starting multipliers, replaced by the best found. Returns
    the best L(v). Rows hold few of an order's lines, so each row's (line, tier) entries are kept sparse."""
    n = rows.shape[0]
    n_lines = fulfil.shape[0]
    start = np.zeros(n + 1, np.int64)
    for i in range(n):
        r = rows[i]
        k = 0
        for j in range(n_lines):
            if fulfil[j] > 0 and units[r, j, 0] + units[r, j, 1] > 0:
                k += 1
        start[i + 1] = start[i] + 2 * k
    line = np.empty(start[n], np.int64)
    c = np.empty(start[n], np.float64)
    u = np.empty(start[n], np.float64)
    for i in range(n):
        r = rows[i]
        p = start[i]
        for j in range(n_lines):
            f = fulfil[j]
            if f > 0 and units[r, j, 0] + units[r, j, 1] > 0:
                u0 = min(units[r, j, 0], f)
                line[p] = j
                c[p] = cost[r, j, 0]
                u[p] = u0
                line[p + 1] = j
                c[p + 1] = cost[r, j, 1]
                u[p + 1] = min(units[r, j, 0] + units[r, j, 1], f) - u0
                p += 2
    best_v = v.copy()
    rho = np.empty(n, np.float64)
    best_rho = np.empty(n, np.float64)
    for i in range(n):
        best_rho[i] = big_f[rows[i]]
    best = -np.inf
    step = 2.0
    stall = 0
    took = np.empty(n_lines, np.float64)
    for _ in range(iterations):
        value = -float(e)
        for j in range(n_lines):
            value += v[j] * fulfil[j]
            took[j] = 0.0
        for i in range(n):
            g = float(big_f[rows[i]])
            for p in range(start[i], start[i + 1]):
                gain = v[line[p]] - c[p]
                if gain > 0:
                    g -= gain * u[p]
            rho[i] = g
            if g < 0:
                value += g
                for p in range(start[i], start[i + 1]):
                    if v[line[p]] > c[p]:
                        took[line[p]] += u[p]
        if value > best + 1e-9:
            best = value
            best_rho[:] = rho
            best_v[:] = v
            stall = 0
        else:
            stall += 1
            if stall >= 4:
                step /= 2
                stall = 0
        norm = 0.0
        for j in range(n_lines):
            short = fulfil[j] - took[j]
            norm += short * short
        if norm == 0.0 or best >= upper:
            break
        move = step * (upper - value) / norm
        for j in range(n_lines):
            v[j] += move * (fulfil[j] - took[j])
    for i in range(n):
        out[rows[i]] = np.int64(np.ceil(best + max(0.0, best_rho[i]) - 1e-6))
    v[:] = best_v
    return best


@njit(cache=True)
def cost_greedy(
    rows: I64, big_f: I64, cost: I64, units: I64, need: I64, max_s: int, distance: F64, x: I64
) -> None:  # pragma: no cover - compiled
    """Greedy set cover by cost into x (zeroed by the caller): repeatedly the row with the lowest cost per
    unit it would cover (its fixed cost plus the cheapest tiers of what it takes; nearer, then lower row,
    on ties), until nothing is left or max_s rows (0: no limit) ship."""
    n_lines = need.shape[0]
    left = need.copy()
    avail = np.ones(rows.shape[0], np.bool_)
    picks = 0
    remaining = 0
    for j in range(n_lines):
        remaining += left[j]
    while remaining > 0 and (max_s == 0 or picks < max_s):
        best = np.inf
        best_i = -1
        for i in range(rows.shape[0]):
            if not avail[i]:
                continue
            r = rows[i]
            spend = float(big_f[r])
            got = 0
            for j in range(n_lines):
                take = min(units[r, j, 0] + units[r, j, 1], left[j])
                cheap = min(take, units[r, j, 0])
                spend += cheap * cost[r, j, 0] + (take - cheap) * cost[r, j, 1]
                got += take
            if got == 0:
                continue
            ratio = spend / got
            if ratio < best or (
                ratio == best
                and (
                    distance[r] < distance[rows[best_i]] or (distance[r] == distance[rows[best_i]] and r < rows[best_i])
                )
            ):
                best = ratio
                best_i = i
        if best_i < 0:
            break
        r = rows[best_i]
        for j in range(n_lines):
            take = min(units[r, j, 0] + units[r, j, 1], left[j])
            x[r, j] = take
            left[j] -= take
            remaining -= take
        avail[best_i] = False
        picks += 1


A = TypeVar("A", bound=npt.NDArray[Any])


def _read_only(a: A) -> A:
    a.flags.writeable = False
    return a


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel once, so no order pays for it. The
    problem's arrays (tiers, distances) are read-only, and numba compiles read-only arrays separately:
    the warm-up passes them the same way."""
    rows = np.zeros(1, np.int64)
    big_f = np.ones(1, np.int64)
    cost = _read_only(np.ones((1, 1, 2), np.int64))
    units = _read_only(np.ones((1, 1, 2), np.int64))
    fulfil = np.ones(1, np.int64)
    out = np.zeros(1, np.int64)
    single_costs(rows, big_f, 0, cost, units, fulfil, out)
    pair_costs(rows, big_f, 0, cost, units, fulfil, out, np.zeros(3, np.int64))
    local_search(rows, 10, rows, big_f, 0, cost, units, fulfil, 1, 1)
    lagrangian(rows, big_f, 0, cost, units, fulfil, 10, 2, np.zeros(1, np.float64), out)
    distance = _read_only(np.zeros(1, np.float64))
    cost_greedy(rows, big_f, cost, units, fulfil, 0, distance, np.zeros((1, 1), np.int64))
