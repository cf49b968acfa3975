"""A mixed-integer model held as numpy arrays, solved by HiGHS through OR-Tools MathOpt. Private: the batch
router (router/batch.py) builds its joint model with `ModelBuilder` and solves it with `solve_model`.

Why not the `mathopt.Model` Python API: it makes a Python object per variable and per constraint, and
parses the solution into a dict keyed by them; on a 1,000-order batch (about 60,000 variables) that
alone took longer than HiGHS. Here the ModelProto is filled from arrays in bulk and handed to MathOpt's
solver binding (the call `mathopt.solve` itself makes), and the solution is read back as an array.

Why HiGHS (measured on the batches of benchmarks/bench_batch.py, see README "Batch routing"): its LP
relaxation of this model is tight, its bound proves the plans within a fraction of a percent, and it
takes a full solution as a hint. CP-SAT with two workers ended worse than greedy on a 500-order batch;
`pywraplp` with HiGHS returned no solution at its time limit (ortools 9.15).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.math_opt import callback_pb2, model_parameters_pb2, model_pb2, parameters_pb2, result_pb2
from ortools.math_opt.core.python import solver as mathopt_solver
from ortools.math_opt.python import mathopt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]
INF = math.inf


@dataclass(frozen=True, slots=True)
class LinearModel:
    """min obj . v + offset  s.t.  row_lb <= A v <= row_ub,  lb <= v <= ub,  v integer where `integer`.
    A as (row, col, coef) triplets; `hint` a full solution to start from (or None)."""

    lb: F64
    ub: F64
    integer: BOOL
    obj: F64
    offset: float
    row_lb: F64
    row_ub: F64
    rows: I64
    cols: I64
    coefs: F64
    hint: F64 | None
    block: I64 | None = None  # per variable, the block (an order) it belongs to, for lagrangian_bound

    @property
    def variables(self) -> int:
        return int(self.lb.shape[0])

    @property
    def constraints(self) -> int:
        return int(self.row_lb.shape[0])

    def objective(self, values: F64) -> float:
        return float(self.obj @ values) + self.offset

    def with_row(self, coefs: F64, lb: float, ub: float) -> LinearModel:
        """The model with one more row: lb <= coefs . v <= ub (coefs dense over the variables)."""
        cols = np.flatnonzero(coefs)
        return replace(
            self,
            row_lb=np.r_[self.row_lb, lb],
            row_ub=np.r_[self.row_ub, ub],
            rows=np.r_[self.rows, np.full(cols.shape[0], self.constraints, dtype=np.int64)],
            cols=np.r_[self.cols, cols],
            coefs=np.r_[self.coefs, coefs[cols]],
        )

    def violation(self, values: F64) -> float:
        """The largest violation of a bound or a row by these values (0.0: feasible)."""
        worst = float(max(np.max(self.lb - values, initial=0.0), np.max(values - self.ub, initial=0.0)))
        act = np.bincount(self.rows, weights=self.coefs * values[self.cols], minlength=self.constraints)
        worst = max(worst, float(np.max(self.row_lb - act, initial=0.0)), float(np.max(act - self.row_ub, initial=0.0)))
        frac = np.abs(values - np.rint(values))[self.integer]
        return max(worst, float(np.max(frac, initial=0.0)))


class ModelBuilder:
    """Variables and rows added in blocks of arrays; `build` concatenates them once."""

    def __init__(self) -> None:
        self._n_vars = 0
        self._n_rows = 0
        self._vars: list[tuple[F64, F64, BOOL, F64, F64, I64]] = []
        self._row_bounds: list[tuple[F64, F64]] = []
        self._triplets: list[tuple[I64, I64, F64]] = []

    def add_variables(self, lb: npt.ArrayLike, ub: npt.ArrayLike, *, integer: bool, obj: npt.ArrayLike,
                      hint: npt.ArrayLike, block: npt.ArrayLike = -1) -> I64:  # fmt: skip
        """Ids of new variables (one per entry of `ub`; scalars broadcast); `block`: see LinearModel."""
        ub_a = np.atleast_1d(np.asarray(ub, dtype=np.float64))
        n = ub_a.shape[0]
        lb_a = np.broadcast_to(np.asarray(lb, dtype=np.float64), (n,))
        obj_a = np.broadcast_to(np.asarray(obj, dtype=np.float64), (n,))
        hint_a = np.broadcast_to(np.asarray(hint, dtype=np.float64), (n,))
        block_a = np.broadcast_to(np.asarray(block, dtype=np.int64), (n,))
        self._vars.append((lb_a, ub_a, np.full(n, integer), obj_a, hint_a, block_a))
        ids = np.arange(self._n_vars, self._n_vars + n, dtype=np.int64)
        self._n_vars += n
        return ids

    def add_rows(self, lb: npt.ArrayLike, ub: npt.ArrayLike) -> I64:
        lb_a = np.atleast_1d(np.asarray(lb, dtype=np.float64))
        ub_a = np.broadcast_to(np.asarray(ub, dtype=np.float64), lb_a.shape)
        ids = np.arange(self._n_rows, self._n_rows + lb_a.shape[0], dtype=np.int64)
        self._row_bounds.append((lb_a, ub_a))
        self._n_rows += lb_a.shape[0]
        return ids

    def add_coefficients(self, rows: npt.ArrayLike, cols: npt.ArrayLike, coefs: npt.ArrayLike) -> None:
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        self._triplets.append(
            (r, np.asarray(cols, dtype=np.int64).reshape(-1), np.broadcast_to(np.asarray(coefs, np.float64), r.shape))
        )

    def build(self, *, offset: float, with_hint: bool) -> LinearModel:
        def cat(parts: list[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        def column(i: int, dtype: type) -> npt.NDArray[Any]:
            return cat([block[i] for block in self._vars], dtype)

        return LinearModel(
            lb=column(0, np.float64),
            ub=column(1, np.float64),
            integer=column(2, np.bool_),
            obj=column(3, np.float64),
            offset=offset,
            row_lb=cat([lb for lb, _ in self._row_bounds], np.float64),
            row_ub=cat([ub for _, ub in self._row_bounds], np.float64),
            rows=cat([t[0] for t in self._triplets], np.int64),
            cols=cat([t[1] for t in self._triplets], np.int64),
            coefs=cat([t[2] for t in self._triplets], np.float64),
            hint=column(4, np.float64) if with_hint else None,
            block=column(5, np.int64),
        )


@dataclass(frozen=True, slots=True)
class Solution:
    values: F64 | None  # None: no feasible solution found
    objective: float | None  # of `values`, as the solver reports it
    bound: float | None  # the solver's proven lower bound on the objective (None: none)
    optimal: bool  # proven optimal within the relative gap tolerance
    timed_out: bool
    status: str  # the solver's termination, in words
    time_s: float
    nodes: int
    duals: F64 | None = None  # of the rows, for an LP (relax=True) solved to optimality (MathOpt's signs)


_REASONS = {
    result_pb2.TERMINATION_REASON_OPTIMAL: "optimal",
    result_pb2.TERMINATION_REASON_FEASIBLE: "feasible",
    result_pb2.TERMINATION_REASON_NO_SOLUTION_FOUND: "no solution found",
    result_pb2.TERMINATION_REASON_INFEASIBLE: "infeasible",
    result_pb2.TERMINATION_REASON_UNBOUNDED: "unbounded",
    result_pb2.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED: "infeasible or unbounded",
    result_pb2.TERMINATION_REASON_IMPRECISE: "imprecise",
    result_pb2.TERMINATION_REASON_NUMERICAL_ERROR: "numerical error",
    result_pb2.TERMINATION_REASON_OTHER_ERROR: "error",
}


def to_proto(model: LinearModel, *, relax: bool = False) -> model_pb2.ModelProto:
    proto = model_pb2.ModelProto()
    n = model.variables
    v = proto.variables
    v.ids.extend(range(n))
    v.lower_bounds.extend(model.lb.tolist())
    v.upper_bounds.extend(model.ub.tolist())
    v.integers.extend([False] * n if relax else model.integer.tolist())
    obj = proto.objective
    obj.maximize = False
    obj.offset = model.offset
    nz = np.flatnonzero(model.obj)
    obj.linear_coefficients.ids.extend(nz.tolist())
    obj.linear_coefficients.values.extend(model.obj[nz].tolist())
    c = proto.linear_constraints
    c.ids.extend(range(model.constraints))
    c.lower_bounds.extend(model.row_lb.tolist())
    c.upper_bounds.extend(model.row_ub.tolist())
    order = np.lexsort((model.cols, model.rows))  # MathOpt wants the matrix sorted by (row, column)
    a = proto.linear_constraint_matrix
    a.row_ids.extend(model.rows[order].tolist())
    a.column_ids.extend(model.cols[order].tolist())
    a.coefficients.extend(model.coefs[order].tolist())
    return proto


def solve_model(
    model: LinearModel,
    *,
    time_limit_s: float,
    seed: int,
    relative_gap: float,
    relax: bool = False,
    log: bool = False,
    solver: mathopt.SolverType = mathopt.SolverType.HIGHS,
    threads: int = 0,
    use_hint: bool = True,
) -> Solution:
    """HiGHS on the model (or on its LP relaxation), from the hint when the model has one. HiGHS's own
    thread count can only be set through its globals, so it runs with its defaults; `solver`, `threads`
    and `use_hint` are for the benchmark that compares solvers on this model."""
    started = time.perf_counter()
    proto = to_proto(model, relax=relax)
    params = parameters_pb2.SolveParametersProto()
    params.time_limit.FromTimedelta(timedelta(seconds=max(0.01, time_limit_s)))
    params.random_seed = seed
    params.enable_output = log  # HiGHS's log goes to stdout: for investigations only
    if not relax:
        params.relative_gap_tolerance = relative_gap
    if threads:
        params.threads = threads
    model_params = model_parameters_pb2.ModelSolveParametersProto()
    if model.hint is not None and not relax and use_hint:
        hint = model_params.solution_hints.add()
        hint.variable_values.ids.extend(range(model.variables))
        hint.variable_values.values.extend(model.hint.tolist())
    try:
        result = mathopt_solver.solve(
            proto,
            solver.value,
            parameters_pb2.SolverInitializerProto(),
            params,
            model_params,
            None,
            callback_pb2.CallbackRegistrationProto(),
            None,
            None,
        )
    except Exception as err:  # pybind11_abseil.StatusNotOk: a malformed model is a bug here, never an answer
        raise RuntimeError(f"MathOpt refused the batch model: {err}") from err
    took = time.perf_counter() - started
    term = result.termination
    reason = _REASONS.get(term.reason, "unknown")
    timed_out = term.limit == result_pb2.LIMIT_TIME
    status = f"{reason} (time limit)" if timed_out else reason
    nodes = int(result.solve_stats.node_count)
    dual = float(term.objective_bounds.dual_bound)
    bound = dual if math.isfinite(dual) else None
    for sol in result.solutions:
        primal = sol.primal_solution
        if primal.feasibility_status != 2:  # SOLUTION_STATUS_FEASIBLE
            continue
        values = np.zeros(model.variables, dtype=np.float64)
        values[np.asarray(primal.variable_values.ids, dtype=np.int64)] = np.asarray(primal.variable_values.values)
        optimal = term.reason == result_pb2.TERMINATION_REASON_OPTIMAL
        duals = None
        if relax and optimal and sol.HasField("dual_solution"):
            dual = sol.dual_solution.dual_values
            duals = np.zeros(model.constraints, dtype=np.float64)
            duals[np.asarray(dual.ids, dtype=np.int64)] = np.asarray(dual.values)
        return Solution(values, float(primal.objective_value), bound, optimal, timed_out, status, took, nodes, duals)
    return Solution(None, None, bound, False, timed_out, status, took, nodes)


@dataclass(frozen=True, slots=True)
class DecompositionBound:
    """lagrangian_bound's answer: `bound` >= `lp` (both lower bounds on the model's optimum)."""

    bound: float
    lp: float  # the LP relaxation's optimum it started from
    blocks: int  # blocks in the model
    solved: int  # blocks whose LP solution was fractional, solved as MIPs under the LP's prices
    proven: int  # ... of which to optimality (the others count with the solver's bound)
    shared_rows: int  # rows spanning more than one block: the ones priced out
    time_s: float


def lagrangian_bound(
    model: LinearModel, relaxed: Solution, *, time_limit_s: float, seed: int, group: int = 32
) -> DecompositionBound | None:
    """A lower bound on the optimum of `model` (a MIP whose variables carry their `block`) at least as
    high as its LP relaxation's, from that relaxation (`relaxed`: solve_model(model, relax=True), with its
    duals): the Lagrangian relaxation of the rows spanning more than one block, priced at the LP's duals.

    For any prices u of the shared rows (sign as MathOpt's duals: >= 0 on a row held at its lower side,
    <= 0 at its upper side) and any plan v that keeps every row,
        obj . v  >=  sum over blocks b of min over b's integer plans (obj - A_shared' u)_b . v_b
                     + sum over shared rows r of u_r (row_lb_r if u_r > 0 else row_ub_r)
    since each term u_r (bound_r - a_r . v) it drops is <= 0. At the LP's own duals, the same with each
    block's minimum over its LP relaxation is the LP optimum, and the LP solution's part in a block
    reaches that minimum (reduced costs). So the bound is the LP optimum plus, per block, how far its
    integer minimum at those prices lies above the LP solution's part in it: nothing for a block whose
    LP solution is integral; the fractional ones are solved as MIPs over their own rows (`group` blocks
    per MIP), and each group adds its solver bound less its LP part when that is positive (a time-out
    still gives a valid bound; an LP part above the LP's minimum by a tolerance only lowers the gain).
    The bound of the Dantzig-Wolfe (plan per block) relaxation when the LP's prices are also optimal
    there, and never below the LP's. None without an optimal LP."""
    started = time.perf_counter()
    if model.block is None or relaxed.values is None or relaxed.duals is None or relaxed.objective is None:
        return None
    block, x, duals = model.block, relaxed.values, relaxed.duals
    if (block < 0).any():
        raise ValueError("lagrangian_bound needs every variable in a block")
    n, m = model.variables, model.constraints
    lo = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(m, -1, dtype=np.int64)
    np.minimum.at(lo, model.rows, block[model.cols])
    np.maximum.at(hi, model.rows, block[model.cols])
    shared = (hi >= 0) & (lo != hi)
    u = np.where(shared, duals, 0.0)
    priced = model.obj - np.bincount(model.cols, weights=u[model.rows] * model.coefs, minlength=n)
    blocks = np.unique(block)
    part = np.bincount(block, weights=priced * x, minlength=int(blocks.max(initial=-1)) + 1)
    fractional = np.unique(block[model.integer & (np.abs(x - np.rint(x)) > 1e-6)])
    total = relaxed.objective
    own = ~shared & (hi >= 0)
    row_block = np.where(own, lo, -1)
    proven = 0
    deadline = started + time_limit_s
    groups = [fractional[i : i + group] for i in range(0, fractional.shape[0], group)]
    for g, members in enumerate(groups):
        cols = np.flatnonzero(np.isin(block, members))
        keep_rows = np.flatnonzero(np.isin(row_block, members))
        col_at = np.full(n, -1, dtype=np.int64)
        col_at[cols] = np.arange(cols.shape[0])
        row_at = np.full(m, -1, dtype=np.int64)
        row_at[keep_rows] = np.arange(keep_rows.shape[0])
        nz = np.flatnonzero(row_at[model.rows] >= 0)
        sub = LinearModel(
            lb=model.lb[cols], ub=model.ub[cols], integer=model.integer[cols], obj=priced[cols], offset=0.0,
            row_lb=model.row_lb[keep_rows], row_ub=model.row_ub[keep_rows], rows=row_at[model.rows[nz]],
            cols=col_at[model.cols[nz]], coefs=model.coefs[nz], hint=None,
        )  # fmt: skip
        share = max(0.05, (deadline - time.perf_counter()) / (len(groups) - g))
        solved = solve_model(sub, time_limit_s=share, seed=seed, relative_gap=1e-9)
        if solved.bound is not None:
            total += max(0.0, solved.bound - float(part[members].sum()))
            proven += members.shape[0] if solved.optimal else 0
    return DecompositionBound(
        bound=total, lp=relaxed.objective, blocks=int(blocks.shape[0]),
        solved=int(fractional.shape[0]), proven=proven, shared_rows=int(shared.sum()),
        time_s=time.perf_counter() - started,
    )  # fmt: skip
