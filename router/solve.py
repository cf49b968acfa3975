"""The optimiser: one pure entry point, `solve(problem, *, time_limit_s, seed) -> RoutingResult`.

Steps, all on the problem's arrays:
1. A greedy cover by cost (router.greedy.plan_cost_greedy), then the bounds (candidates.compute_bounds):
   every single location and every promising pair priced exactly, a local search, and the best plan
   found as the upper bound and the solver's hint.
2. Candidate selection (candidates.select_candidates): the bounds rule out every location that cannot be
   in a plan cheaper than the upper bound. When more survive than the limit, a heuristic cuts them and
   every baseline's plan is added to the kept rows, so the answer is never worse than a baseline even
   then (it is reported FEASIBLE: no proof).
3. When nothing but the upper bound's own one or two locations survives, every plan those can make was
   priced, so the upper bound's plan is optimal: answered without the solver (solver "bound"; the
   tests check every such answer against the CP-SAT model and a brute force). `fast_path=False` sends
   every order to the model instead.
4. Otherwise a CP-SAT model over the kept rows (below), started from the hint. It maximises the units
   shipped first (a penalty per missing unit larger than any plan's cost) and then minimises cost. A
   time-out answers the best plan found (or the hint) as FEASIBLE with the gap, and says so.

Model, for kept rows c and lines j with ATP a[c,j] > 0:
    y[c] in {0,1}                  c ships
    p[c,j] in [0, min(free, u)]    units below the protection level, u = min(requested, a[c,j])
    s[c,j] in [0, u - that]        units taken into the protection level (penalised)
    p + s <= u * y[c]
    sum_c (p + s) + m[j] = requested[j],  m[j] >= requested[j] - network ATP[j]   (m: missing units)
    sum_c y[c] <= max shipments
    min  sum_c (fixed[c] + E) y[c] + sum unit[c,j] p + (unit[c,j] + penalty[c]) s + M sum_j m[j]
The per-(row, line) linking (rather than one big-M per row) keeps the LP relaxation tight. Measured
here: presolve off is faster on these small models, and CP-SAT beats HiGHS and SCIP through MathOpt
on them by 3-8x (the LP-based solvers pay for their model building and branch more).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from availability.errors import InvalidArgument

from .candidates import DEFAULT_LIMIT, Bounds, RoutingProblem, compute_bounds, select_candidates
from .greedy import (
    plan_cost_greedy,
    plan_fewest_shipments,
    plan_high_stock,
    plan_nearest,
    plan_priority,
)
from .model import CandidateStats, RoutingResult, check_solver_limits
from .plans import empty_plan, explain, result_from_plan

I64 = npt.NDArray[np.int64]
DEFAULT_TIME_LIMIT_S = 1.0
MAX_OBJECTIVE = 2**62


def _rows_of(x: I64) -> I64:
    out: I64 = np.flatnonzero(x.sum(axis=1) > 0).astype(np.int64)
    return out


def solve(
    problem: RoutingProblem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
    limit: int = DEFAULT_LIMIT,
    fast_path: bool = True,
) -> RoutingResult:
    """The cheapest plan that ships as much of the order as its constraints allow (see the module
    docstring). Pure: reads only the problem; the same problem and seed give the same plan."""
    return solve_with_bounds(problem, time_limit_s=time_limit_s, seed=seed, limit=limit, fast_path=fast_path)[0]


def solve_with_bounds(
    problem: RoutingProblem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
    limit: int = DEFAULT_LIMIT,
    fast_path: bool = True,
) -> tuple[RoutingResult, Bounds]:
    """`solve`, and the bounds it computed on the way (a batch reuses them for an order whose stock no
    other order touched, instead of computing them again)."""
    check_solver_limits(time_limit_s, seed)
    started = time.perf_counter()
    greedy = plan_cost_greedy(problem)
    bounds = compute_bounds(problem, plans=(greedy,))
    n_usable = int(problem.serving.sum())
    if int(bounds.fulfil.sum()) == 0:
        stats = CandidateStats(problem.pool, n_usable, 0, True, "no usable location holds any line")
        result = result_from_plan(
            problem,
            empty_plan(problem),
            policy="optimal",
            solver="none",
            proven=True,
            started=started,
            candidates=stats,
        )
        return result, bounds
    hint = bounds.upper_plan if bounds.upper_plan is not None else greedy
    selection = select_candidates(problem, bounds, keep=_rows_of(hint), limit=limit)
    if not selection.exact:
        # the cut was heuristic: keep every baseline's plan feasible, so none can beat the answer
        baselines = [p(problem) for p in (plan_nearest, plan_priority, plan_high_stock, plan_fewest_shipments)]
        keep = np.unique(np.concatenate([_rows_of(hint), *(_rows_of(b) for b in baselines)]))
        selection = select_candidates(problem, bounds, keep=keep, limit=max(limit, keep.shape[0]))
    stats = CandidateStats(
        problem.pool, n_usable, int(selection.rows.shape[0]), selection.exact, selection.note(n_usable)
    )
    if fast_path and selection.proven and bounds.upper_plan is not None:
        result = result_from_plan(
            problem,
            bounds.upper_plan,
            policy="optimal",
            solver="bound",
            proven=True,
            started=started,
            candidates=stats,
            alternatives=explain(problem, bounds.upper_plan, bounds),
        )
        return result, bounds
    x, proven, gap, timed_out, message = _solve_model(problem, selection.rows, hint, time_limit_s, seed)
    if not selection.exact and not message:
        message = f"best plan over the {selection.rows.shape[0]} locations kept by a heuristic cut (no proof)"
    result = result_from_plan(
        problem,
        x,
        policy="optimal",
        solver="cp-sat",
        proven=proven and selection.exact,
        started=started,
        gap=gap,
        timed_out=timed_out,
        candidates=stats,
        alternatives=explain(problem, x, bounds),
        message=message,
    )
    return result, bounds


class _Model(cp_model.CpModel):
    """CpModel without the camelCase aliases it adds to every instance (about 0.7 ms a model here)."""

    def _add_pre_pep8_methods(self) -> None:
        pass


def _ints(values: npt.NDArray[np.int64] | list[int]) -> str:
    return ",".join(map(str, values.tolist() if isinstance(values, np.ndarray) else values))


def model_text(problem: RoutingProblem, rows: I64, hint: I64) -> tuple[str, I64, I64]:
    """The CP-SAT model over pool rows (see the module docstring) in protobuf text format, with the hint;
    and, per (kept row, line), the indices of its two tier variables (-1: none). Written as text and
    parsed once in C++: half the time of adding the same variables one call at a time from Python."""
    n_rows, n_lines = rows.shape[0], problem.lines
    req = problem.requested
    unit = problem.unit_cost[rows]
    pen = problem.penalty_per_unit[rows]
    big_f = problem.fixed_cost[rows] + problem.extra_shipment_cost
    cap = np.minimum(problem.atp[rows], req[None, :])
    free = np.minimum(problem.free[rows], cap)
    has_p = free > 0
    has_s = cap > free
    count = has_p.astype(np.int64) + has_s
    base = n_rows + np.cumsum(count.reshape(-1)).reshape(n_rows, n_lines) - count
    p_var = np.where(has_p, base, -1)
    s_var = np.where(has_s, base + has_p, -1)
    m_var = n_rows + int(count.sum()) + np.arange(n_lines)
    # a missing unit must cost more than any plan over these rows, so shipping more always wins
    big_m = 1 + int(big_f.sum()) + int((req * (unit + pen[:, None]).max(axis=0, initial=0)).sum())
    if big_m * (int(req.sum()) + 1) >= MAX_OBJECTIVE:
        # CP-SAT refuses a model whose objective may overflow 64 bits: only absurd quantities get here
        raise InvalidArgument("lines.quantity", int(req.sum()), "too many units to route as one order")
    hint_k = hint[rows]
    hint_p = np.minimum(hint_k, free)

    lo = np.zeros(n_rows + int(count.sum()) + n_lines, dtype=np.int64)
    hi = np.ones_like(lo)
    obj = np.zeros_like(lo)
    val = np.zeros_like(lo)
    hi[:n_rows] = 1
    obj[:n_rows] = big_f
    val[:n_rows] = hint_k.sum(axis=1) > 0
    pk, pj = np.nonzero(has_p)
    hi[p_var[pk, pj]] = free[pk, pj]
    obj[p_var[pk, pj]] = unit[pk, pj]
    val[p_var[pk, pj]] = hint_p[pk, pj]
    sk, sj = np.nonzero(has_s)
    hi[s_var[sk, sj]] = cap[sk, sj] - free[sk, sj]
    obj[s_var[sk, sj]] = unit[sk, sj] + pen[sk]
    val[s_var[sk, sj]] = hint_k[sk, sj] - hint_p[sk, sj]
    lo[m_var] = np.maximum(0, req - problem.network_atp)
    hi[m_var] = req
    obj[m_var] = big_m
    val[m_var] = req - hint.sum(axis=0)

    out = [f"variables{{domain:[{a},{b}]}}" for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    for k, j in zip(*np.nonzero(cap > 0), strict=True):
        vs = [v for v in (int(p_var[k, j]), int(s_var[k, j])) if v >= 0]
        # p + s - cap * y <= 0: a row ships a line only if it ships at all
        c = int(cap[k, j])
        ones = ",".join(["1"] * len(vs))
        out.append(f"constraints{{linear{{vars:[{_ints(vs)},{k}] coeffs:[{ones},{-c}] domain:[{-c},0]}}}}")
    for j in range(n_lines):
        col = [int(v) for v in np.concatenate([p_var[:, j], s_var[:, j]]) if v >= 0] + [int(m_var[j])]
        q = int(req[j])
        out.append(
            f"constraints{{linear{{vars:[{_ints(col)}] coeffs:[{','.join(['1'] * len(col))}] domain:[{q},{q}]}}}}"
        )
    if problem.max_shipments:
        out.append(
            f"constraints{{linear{{vars:[{_ints(list(range(n_rows)))}] coeffs:[{','.join(['1'] * n_rows)}]"
            f" domain:[0,{problem.max_shipments}]}}}}"
        )
    nz = np.flatnonzero(obj)
    out.append(f"objective{{vars:[{_ints(nz)}] coeffs:[{_ints(obj[nz])}]}}")
    out.append(f"solution_hint{{vars:[{_ints(np.arange(lo.shape[0]))}] values:[{_ints(val)}]}}")
    return "\n".join(out), p_var, s_var


def _solve_model(
    problem: RoutingProblem, rows: I64, hint: I64, time_limit_s: float, seed: int
) -> tuple[I64, bool, float | None, bool, str]:
    """(plan, proven optimal, gap, timed out, message) from CP-SAT over the given pool rows."""
    text, p_var, s_var = model_text(problem, rows, hint)
    model = _Model()
    model.proto.parse_text_format(text)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = 1  # deterministic for a seed, and the machine's other core serves requests
    params.random_seed = seed
    params.max_time_in_seconds = float(time_limit_s)
    params.cp_model_presolve = False  # measured: these small models solve faster without it
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.UNKNOWN:
            return hint, False, None, True, "time limit reached before the solver found a plan: the greedy plan"
        raise RuntimeError(f"CP-SAT answered {solver.status_name(status)} on a model that is always feasible")
    sol = np.array(solver.response_proto.solution, dtype=np.int64)
    took = np.where(p_var >= 0, sol[np.maximum(p_var, 0)], 0) + np.where(s_var >= 0, sol[np.maximum(s_var, 0)], 0)
    x = empty_plan(problem)
    x[rows] = took
    if status == cp_model.OPTIMAL:
        return x, True, None, False, ""
    obj, bound = solver.objective_value, solver.best_objective_bound
    gap = (obj - bound) / max(1.0, abs(obj))
    return x, False, gap, True, f"time limit reached: best plan found, within {gap:.1%} of the bound"
