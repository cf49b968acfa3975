"""Joint batch routing: a wave of orders released together, routed with shared stock and capacity.

One pure entry point, shared by the service (RouteOrders), the CLI, the simulation and the benchmarks:

    solve_batch(
        store: StockStore,
        orders: Sequence[Order],                         # 1 to MAX_BATCH_ORDERS, unique order ids
        *,
        cost_model: CostModel | None = None,            # default CostModel()
        capacity_left: Mapping[str, int] | None = None,  # shipments each location can still take today
        now: datetime | None = None,                     # "now" for orders without placed_at
        time_limit_s: float = 10.0,                      # the call's time: the joint solver (all windows
                                                         #   together) has what the sequential routing
                                                         #   (its hint) and the candidates leave of it
        seed: int = 0,                                   # in [0, 2**31)
        policy: str = "optimal",                         # any registered policy name
        compare_sequential: bool = True,                 # also route in sequence with "nearest", "fewest_shipments"
        lp_relaxation: bool = False,                     # also solve the LP relaxation (its bound)
        relative_gap: float = 1e-3,                      # the solver stops within this gap of its bound
    ) -> BatchResult
    Bad input raises availability.errors.InvalidArgument naming the field ("orders[3].order_id", ...).

    BatchResult (frozen):
        policy: str                       # as asked
        status: SolveStatus               # OPTIMAL: proven optimal within relative_gap over the candidates the
                                          #   model kept; FEASIBLE: no such proof (time-out, windows, or a
                                          #   greedy policy); INFEASIBLE: no order ships anything
        results: tuple[RoutingResult, ...]  # one per order, in the order given (semantics below)
        totals: BatchTotals               # cost, shipments, shipments per order, extra shipments, units
        solver: str                       # "highs" (joint model), "sequential" (a greedy policy), "none"
        solver_status: str                # the solver's termination in words ("optimal", "feasible (time limit)")
        bound: float | None               # proven lower bound on the batch cost, cents (see "Bound and gap")
        gap: float | None                 # (cost - bound) / cost
        lp_bound: float | None            # the LP relaxation's optimum over every order, cents (only with
                                          #   lp_relaxation; the model with its valid inequalities, below)
        lagrangian_bound: float | None    # the Lagrangian bound at that LP's prices (>= lp_bound; below)
        timed_out: bool                   # the solver stopped at its time limit: the best plan found
        solve_time_s: float               # the solver's own time
        time_s: float                     # the whole call
        lp_time_s: float                  # the LP relaxation's time and the Lagrangian bound's (in time_s; 0
                                          #   without lp_relaxation)
        sequence: int                     # the store's sequence number the batch read ATP at
        model: BatchModelStats | None     # the joint model's size (None when none was solved)
        sequential: tuple[SequentialRouting, ...]  # the batch routed one order at a time: "optimal" (the
                                          #   joint model's hint), and with compare_sequential "nearest" and
                                          #   "fewest_shipments" (for a greedy policy: that policy's, too)
        message: str                      # what the numbers do not say (hint kept, windows, no bound, ...)
        .sequential_by(policy) -> SequentialRouting | None
        .gap_to(bound) -> float | None    # (cost - bound) / cost
    BatchTotals (frozen): orders, orders_shipped, orders_infeasible, cost (cents), shipments, extra_shipments
        (beyond one per shipped order), units_requested, units_shipped, units_unfulfilled;
        .shipments_per_order (per shipped order)
    SequentialRouting (frozen): policy, results (one per order), totals, time_s
    BatchModelStats (frozen): orders (in the model), candidates ((order, location) pairs), variables,
        integer_variables, constraints, shared_stock_rows, capacity_rows, competing_orders, fixed_orders,
        valid_rows (the valid inequalities among the constraints)

Each order's RoutingResult means what a single order's does (router.solve): shipments with lines, dates
and cost breakdown, unfulfilled lines with their reason, INFEASIBLE with no shipments when an order that
wants all of it cannot get all of it. Reasons and costs are seen from the stock the rest of the batch
left the order: a line short because other orders took the units says NO_STOCK, a location whose capacity
the batch used up says CAPACITY. Units taken inside a store's protection level are charged in batch
order (the earlier order takes the units above it first), so the orders' costs add up to the batch's.
Joint results are FEASIBLE, carrying the batch's gap: an order may cost more than it would alone, for the
batch's sake. A greedy policy routes the batch in sequence (there is nothing joint about a greedy rule).

The joint model (policy "optimal"), for orders o, their candidate locations k and lines j:
    y[o,k] in {0,1}; units p[o,k,j] (above the protection level) and s[o,k,j] (inside it), integer;
    orders that accept a shortfall: missing units m[o,j] >= 0 and z[o] in {0,1} (ships at all);
    all-or-nothing orders: w[o] in {0,1} (dropped whole)
    p + s <= min(ATP, fulfillable) * y                        per (o, k, j): router.solve's tight linking
    sum_k (p + s) + m = fulfillable   |   ... + fulfillable * w = fulfillable      per (o, j)
    z <= sum_k y;   sum_k y <= max shipments                  per order
    sum p + s <= ATP(sku, location);   sum p <= its units above protection    shared, per (sku, location)
    sum over the orders of a channel and method <= the network's ATP           shared, per (sku, channel, method)
    sum y <= capacity left today                                                shared, per location
    min  sum (fixed + E) y + unit p + (unit + penalty) s - E z + M (m + units w) (+ E w - E per all-or-nothing)
and two families of valid inequalities, which every plan keeps and many fractional ones break, so that
the LP relaxation (its `lp_bound`, and HiGHS's root) is tighter; the plans are the same:
    sum over the other cells d of line (o, j) of min(cap_d, r) y_d + m[o,j] >= r = fulfillable - cap_c
        per cell c that cannot ship its line alone (flow cover: the rest comes from locations that open)
    sum_k y[o,k] + f (sum_j m[o,j]) >= f                                          per order
        where f (2 or 3) is the fewest of its candidate locations that can ship it (no single one, no pair)
    sum over l != k of y[o,l] + f_k y[o,k] + f_k (sum_j m[o,j]) >= f_k            per (o, k), f_k > f
        where f_k is that fewest without k; and y[o,k] + sum_j m[o,j] >= 1 where the others cannot ship it
    (all-or-nothing orders: r w and f w in place of the m terms)
M is more than any one order's whole plan costs: each order ships the most units it can (given what the
others take) before it looks at cost, as a single order does, and no unit is given up to save less than
a whole order's cost elsewhere; a plan shipping fewer units than the sequential routing is never answered.
Shared rows are added only where the orders' own caps could exceed the shared figure. ATP per (sku,
location) is the largest any order of the batch sees there (another channel sees the same figure unless
its network headroom caps it); the ledger's hold is the final word on ring-fences between channels.

Candidates: each order's exact pruning alone (router.select_candidates: every location that can be in its
optimal plan when it is alone), the locations of its sequential plan (so the hint is a plan of the model
and the joint plan is never worse), and, for an order whose sequential plan uses up some stock or
capacity, EXTRA_CANDIDATES more locations per line concerned (where it could go to make room). The model
is exact over these candidates, not over every location.

What goes into the solver: an order that competes with no other for anything keeps its proven sequential
plan (it is optimal for it in the joint model too: see _solve_jointly); the competing orders go into one
model, or, beyond WINDOW of them, into windows of at most WINDOW solved one after the other with the
others fixed (fix-and-optimise; each window keeps or improves the plan; the bound is then the LP
relaxation's, valid inequalities included, when asked for); then, in what that pass left of the time
limit, up to IMPROVEMENT_PASSES passes over windows drawn at random (seeded), so that orders the first
pass's windows kept apart meet (each while the pass before saved at least PASS_GAIN of the cost).

Hint and time-out: HiGHS starts from the sequential optimal plan. At the time limit the best plan found is
answered (FEASIBLE, timed_out). If the solver has no plan, or its plan is dearer or ships fewer units
than the hint, the hint is answered and the message says so: it is a plan of the same model, never a
baseline in disguise, and the bound and gap are computed for whatever is answered.

Bound and gap: with one model, `bound` is the solver's dual bound (the LP relaxation tightened by cuts
and branching, so at least the LP relaxation's `lp_bound`) less the M terms by which the answer's
shortfall exceeds the hint's, plus the costs of the orders kept out of the model: a lower bound on the
cost of every plan over the candidates in which no order ships fewer units than in the answer; with
lp_relaxation, the `lagrangian_bound` where it is higher. With windows, only with lp_relaxation: the
`lagrangian_bound`. `lp_bound` is the LP relaxation of the joint model over every order that can ship
(none kept out, valid inequalities included) with the cost alone as its objective and the units missing
at most the answer's: a lower bound on the cost of every plan over the candidates that ships at least as
many units in all (see _relaxation_bound). `lagrangian_bound` relaxes only the rows orders share (stock,
network ATP, capacity, the units missing), priced at that LP's duals, and routes each order whole at
those prices: every order's own integrality gap, which the LP leaves open (a location opened in a
fraction), is added to the LP's bound (router._mip.lagrangian_bound; it is the bound of the relaxation
that keeps each order's plans whole, the Dantzig-Wolfe one, when the LP's prices are also the best there).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from availability.errors import InvalidArgument
from availability.store import StockStore

from ._mip import LinearModel, ModelBuilder, Solution, lagrangian_bound, solve_model
from .candidates import Bounds, CapacityUse, RoutingProblem, build_problem, compute_bounds, select_candidates
from .greedy import plan_cost_greedy
from .model import Alternative, Block, CandidateStats, Order, RoutingResult, SolveStatus, check_solver_limits
from .network import DEFAULT_COST_MODEL, CostModel, network_costs
from .plans import empty_plan, explain, result_from_plan
from .policies import DEFAULT_POLICY, get_policy, route
from .solve import DEFAULT_TIME_LIMIT_S, solve_with_bounds

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

DEFAULT_BATCH_TIME_LIMIT_S = 10.0
MAX_BATCH_ORDERS = 50_000
DEFAULT_RELATIVE_GAP = 1e-3  # the solver stops within 0.1% of its bound (measured: 1e-4 takes twice as long)
EXTRA_CANDIDATES = 1  # per contested line, its cheapest other locations (measured: see README)
# most competing orders in one model (measured on 10,000 demo orders, 60 s: windows of 800 ended 0.23%
# dearer than of 1,600, 2,600 as good, 4,000 timed out: README "Batch routing measured")
WINDOW = 1_600
# with windows, passes over windows drawn at random after the first (grouped by location), in what the
# first left of the time limit, each window started only with MIN_WINDOW_S for it, and only after a
# pass that saved at least PASS_GAIN of the plan's cost (measured on 10,000 demo orders: random windows
# saved 0.4% more where windows shifted by half of one saved 0.06%; on small, the first pass saved 0.001%)
IMPROVEMENT_PASSES = 4
MIN_WINDOW_S = 1.0
PASS_GAIN = 1e-3
COMPARED_POLICIES = ("optimal", "nearest", "fewest_shipments")
READ_ATTEMPTS = 3
UNLIMITED = np.iinfo(np.int64).max // 4
# valid inequalities added to the joint model (they cut off fractional plans only; see _add_cover_rows,
# _fewest_shipments and _add_lifted_counts): the LP relaxation of 300 orders each alone is 0.43-0.66%
# below their optimum with them, 1.1-1.5% without (benchmarks/bench_batch.py, README "Batch routing
# measured")
VALID_ROWS = ("flow_cover", "shipment_count", "lifted_count")
_LOG = False  # HiGHS's log on stdout (set by hand when investigating)


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class BatchTotals:
    orders: int
    orders_shipped: int  # orders with at least one shipment
    orders_infeasible: int
    cost: int  # cents, over every order
    shipments: int
    extra_shipments: int  # shipments beyond one per shipped order
    units_requested: int
    units_shipped: int
    units_unfulfilled: int

    @property
    def shipments_per_order(self) -> float:
        """Shipments per shipped order."""
        return self.shipments / self.orders_shipped if self.orders_shipped else 0.0


@dataclass(frozen=True, slots=True)
class SequentialRouting:
    """The batch routed one order at a time, in the order given, each order with what the earlier ones
    left (stock, network ATP and capacity)."""

    policy: str
    results: tuple[RoutingResult, ...]
    totals: BatchTotals
    time_s: float


@dataclass(frozen=True, slots=True)
class BatchModelStats:
    orders: int  # orders in the joint model
    candidates: int  # (order, location) pairs
    variables: int
    integer_variables: int
    constraints: int
    shared_stock_rows: int  # per (sku, location) and per (sku, channel, method)
    capacity_rows: int
    competing_orders: int  # orders that compete for some stock or capacity (given extra candidates)
    fixed_orders: int  # orders that compete for nothing: their proven sequential plan, outside the model
    valid_rows: int = 0  # valid inequalities that tighten the LP relaxation (flow covers, shipment counts)

    @property
    def candidates_per_order(self) -> float:
        return self.candidates / self.orders if self.orders else 0.0


@dataclass(frozen=True, slots=True)
class BatchResult:
    policy: str
    status: SolveStatus
    results: tuple[RoutingResult, ...]
    totals: BatchTotals
    solver: str
    solver_status: str
    bound: float | None
    gap: float | None
    lp_bound: float | None
    timed_out: bool
    solve_time_s: float
    time_s: float
    sequence: int
    model: BatchModelStats | None
    sequential: tuple[SequentialRouting, ...]
    message: str = ""
    lp_time_s: float = 0.0  # the LP relaxation's own time, and the Lagrangian bound's (included in time_s)
    lagrangian_bound: float | None = None  # see the module docstring, "Bound and gap"

    def sequential_by(self, policy: str) -> SequentialRouting | None:
        return next((s for s in self.sequential if s.policy == policy), None)

    def gap_to(self, bound: float | None) -> float | None:
        """(cost - bound) / cost: how far the answer lies above a lower bound (`bound`, `lp_bound`,
        `lagrangian_bound`); None without a bound or without a cost."""
        cost = self.totals.cost
        return (cost - bound) / cost if bound is not None and cost else None


def batch_totals(results: Sequence[RoutingResult], orders: Sequence[Order]) -> BatchTotals:
    shipped_orders = [r for r in results if r.shipments]
    requested = sum(ln.quantity for o in orders for ln in o.lines)
    units = sum(s.units for r in results for s in r.shipments)
    return BatchTotals(
        orders=len(results),
        orders_shipped=len(shipped_orders),
        orders_infeasible=sum(1 for r in results if r.status is SolveStatus.INFEASIBLE),
        cost=sum(r.total_cost for r in results),
        shipments=sum(len(r.shipments) for r in results),
        extra_shipments=sum(len(r.shipments) - 1 for r in shipped_orders),
        units_requested=requested,
        units_shipped=units,
        units_unfulfilled=requested - units,
    )


# ---------------------------------------------------------------------------------------- shared stock


@dataclass(frozen=True, eq=False)
class _Shared:
    """What the orders of a batch share, as arrays: stock per (sku, location) pair, the network's ATP per
    (sku, channel, method) view, capacity per location; and per order, where its pool cells sit in them."""

    pool: I64  # [pairs] ATP per (sku, location): the largest any order sees
    free: I64  # [pairs] units above the location's protection level
    view_cap: I64  # [views] network ATP per (sku, channel, method)
    capacity: I64  # [network locations] shipments left today (UNLIMITED where no order could ship)
    protection: I64  # [network locations]
    pair_of: tuple[I64, ...]  # per order [C, L]: pair index, -1 where the order sees no stock
    view_of: tuple[I64, ...]  # per order [L]: view index, -1 for unknown SKUs
    fulfil: tuple[I64, ...]  # per order [L]: the most each line can get alone (RoutingProblem.fulfillable)

    @property
    def pairs(self) -> int:
        return int(self.pool.shape[0])


def _share(problems: Sequence[RoutingProblem], protection: I64) -> _Shared:
    n_loc = int(protection.shape[0])
    keys = []
    vals = []
    for p in problems:
        cells = (p.raw_atp > 0) & (p.line_sku >= 0)[None, :]
        rr, jj = np.nonzero(cells)
        keys.append(p.line_sku[jj] * n_loc + p.location[rr])
        vals.append(p.raw_atp[rr, jj])
    all_keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    all_vals = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    uniq, inverse = np.unique(all_keys, return_inverse=True)
    pool = np.zeros(uniq.shape[0], dtype=np.int64)
    np.maximum.at(pool, inverse, all_vals)
    free = np.maximum(0, pool - protection[uniq % n_loc])

    view_ids: dict[tuple[str, int, int], int] = {}
    view_cap: list[int] = []
    pair_of = []
    view_of = []
    capacity = np.full(n_loc, UNLIMITED, dtype=np.int64)
    for p in problems:
        grid = p.line_sku[None, :] * n_loc + p.location[:, None]
        pos = np.searchsorted(uniq, grid)
        pos_c = np.minimum(pos, max(0, uniq.shape[0] - 1))
        hit = (uniq.shape[0] > 0) & (uniq[pos_c] == grid) & (p.raw_atp > 0) & (p.line_sku >= 0)[None, :]
        pair_of.append(np.where(hit, pos_c, -1).astype(np.int64))
        vs = np.full(p.lines, -1, dtype=np.int64)
        channel, method = p.order.channel, int(p.order.method.atp_method)
        for j, sku in enumerate(p.line_sku.tolist()):
            if sku < 0:
                continue
            key = (channel, method, sku)
            v = view_ids.get(key)
            if v is None:
                v = view_ids[key] = len(view_cap)
                view_cap.append(int(p.network_atp[j]))
            else:
                view_cap[v] = min(view_cap[v], int(p.network_atp[j]))
            vs[j] = v
        view_of.append(vs)
        np.minimum.at(capacity, p.location, p.capacity)
    return _Shared(
        pool=pool,
        free=free,
        view_cap=np.array(view_cap, dtype=np.int64),
        capacity=capacity,
        protection=protection,
        pair_of=tuple(pair_of),
        view_of=tuple(view_of),
        fulfil=tuple(p.fulfillable() for p in problems),
    )


A = TypeVar("A", bound=npt.NDArray[Any])


def _readonly(a: A) -> A:
    a.flags.writeable = False
    return a


class _Takes:
    """Units and shipments taken, per pair, view and network location."""

    def __init__(self, shared: _Shared) -> None:
        self.pair = np.zeros(shared.pairs, dtype=np.int64)
        self.view = np.zeros(shared.view_cap.shape[0], dtype=np.int64)
        self.location = np.zeros(shared.capacity.shape[0], dtype=np.int64)

    def add(self, problem: RoutingProblem, pair_of: I64, view_of: I64, x: I64, sign: int = 1) -> None:
        """Count a plan (sign -1: take it back out). An order's cells are distinct pairs, views and
        locations, so plain fancy-index adds are exact."""
        r, j = np.nonzero(x)
        if not r.shape[0]:
            return
        q = x[r, j]
        self.pair[pair_of[r, j]] += sign * q
        # from the nonzero cells only: a plan spans the whole pool (hundreds of rows), ships from few
        col = np.bincount(j, weights=q, minlength=x.shape[1]).astype(np.int64)
        known = view_of >= 0
        self.view[view_of[known]] += sign * col[known]
        self.location[problem.location[np.unique(r)]] += sign

    def copy(self) -> _Takes:
        out = _Takes.__new__(_Takes)
        out.pair, out.view, out.location = self.pair.copy(), self.view.copy(), self.location.copy()
        return out


def _residual(
    problem: RoutingProblem,
    o: int,
    shared: _Shared,
    taken: _Takes,
    *,
    prior: I64 | None = None,
    own: I64 | None = None,
) -> RoutingProblem:
    """The problem as order o sees what others took: `taken` less its `own` plan. Units above a store's
    protection level go first come, first served: those `prior` orders took (default: all of `taken`) are
    gone. Reads the shared arrays only at the order's own cells, so a step costs the order, not the batch."""
    pair_of, view_of = shared.pair_of[o], shared.view_of[o]
    has = pair_of >= 0
    idx = np.where(has, pair_of, 0)
    mine = own if own is not None else 0
    left = np.where(has, shared.pool[idx] - taken.pair[idx] + mine, 0)
    before = taken.pair if prior is None else prior
    free_left = np.where(has, np.maximum(0, shared.free[idx] - before[idx]), 0)
    atp = np.minimum(problem.atp, left)
    known = view_of >= 0
    vidx = np.where(known, view_of, 0)
    view_left = shared.view_cap[vidx] - taken.view[vidx] + (own.sum(axis=0) if own is not None else 0)
    loc = problem.location
    cap_left = shared.capacity[loc] - taken.location[loc] + (own.any(axis=1) if own is not None else 0)
    capacity = np.minimum(problem.capacity, cap_left)
    block = np.where((problem.block == Block.USABLE) & (capacity < 1), np.int8(Block.CAPACITY), problem.block)
    return replace(
        problem,
        raw_atp=_readonly(np.minimum(problem.raw_atp, left)),
        atp=_readonly(atp),
        free=_readonly(np.minimum(np.minimum(problem.free, free_left), atp)),
        network_atp=_readonly(np.where(known, np.minimum(problem.network_atp, view_left), problem.network_atp)),
        capacity=_readonly(capacity),
        block=_readonly(block.astype(np.int8)),
    )


def _plan_of(problem: RoutingProblem, result: RoutingResult, index: Mapping[str, int]) -> I64:
    """The x[C, L] array of a result's shipments (pool rows are sorted by network location index)."""
    x = empty_plan(problem)
    for s in result.shipments:
        r = int(np.searchsorted(problem.location, index[s.location]))
        for ln in s.lines:
            x[r, ln.line] += ln.quantity
    return x


# ------------------------------------------------------------------------------------------- sequential


@dataclass(frozen=True, slots=True)
class _Sequential:
    routing: SequentialRouting
    plans: tuple[I64, ...]
    # per order, policy "optimal": the bounds its solve computed when the earlier orders had left its
    # stock and capacity alone (so they are its bounds alone), else None
    alone: tuple[Bounds | None, ...] = ()
    # ... and in every case, what its solve saw (_seen) and the bounds it computed on that
    seen: tuple[tuple[I64, Bounds], ...] = ()


_SAME_ALONE = ("atp", "free", "network_atp", "block")  # what compute_bounds reads that a batch can change


def _untouched(residual: RoutingProblem, problem: RoutingProblem) -> bool:
    return all(np.array_equal(getattr(residual, name), getattr(problem, name)) for name in _SAME_ALONE)


def _seen(residual: RoutingProblem, has: BOOL) -> I64:
    """What compute_bounds reads of a residual that the batch can change, compactly: ATP and units above
    protection at the order's stock cells (elsewhere both are 0 in every residual), the network ATP of its
    lines and the blocks of its locations. Equal for two residuals of one order: equal bounds."""
    return np.concatenate([residual.atp[has], residual.free[has], residual.network_atp, residual.block])


def _route_sequentially(
    problems: Sequence[RoutingProblem], shared: _Shared, index: Mapping[str, int], policy: str, seed: int
) -> _Sequential:
    """Each order in turn with the single-order policy, on what the earlier orders left."""
    started = time.perf_counter()
    taken = _Takes(shared)
    results = []
    plans = []
    alone: list[Bounds | None] = []
    seen: list[tuple[I64, Bounds]] = []
    for o, p in enumerate(problems):
        residual = _residual(p, o, shared, taken)
        if policy == "optimal":
            # the policy "optimal" is router.solve; this keeps the bounds it computes on the way
            r, bounds = solve_with_bounds(residual, time_limit_s=DEFAULT_TIME_LIMIT_S, seed=seed)
            alone.append(bounds if _untouched(residual, p) else None)
            seen.append((_seen(residual, shared.pair_of[o] >= 0), bounds))
        else:
            r = route(residual, policy=policy, time_limit_s=DEFAULT_TIME_LIMIT_S, seed=seed)
        x = _plan_of(p, r, index)
        taken.add(p, shared.pair_of[o], shared.view_of[o], x)
        results.append(r)
        plans.append(x)
    totals = batch_totals(results, [p.order for p in problems])
    routing = SequentialRouting(policy, tuple(results), totals, time.perf_counter() - started)
    return _Sequential(routing, tuple(plans), tuple(alone), tuple(seen))


# ------------------------------------------------------------------------------------------- candidates


def _own_candidates(problem: RoutingProblem, hint_rows: I64, bounds: Bounds | None = None) -> tuple[I64, Bounds]:
    """The order's exact pruning when alone (router.select_candidates), plus the rows of its hint; and
    the bounds behind it (they also explain the answer when the batch leaves the order's stock alone).
    `bounds`: the order's bounds alone when already known (router.solve computes the same ones)."""
    if bounds is None:
        bounds = compute_bounds(problem, plans=(plan_cost_greedy(problem),))
    return select_candidates(problem, bounds, keep=hint_rows).rows, bounds


def _alternatives(problem: RoutingProblem, have: I64, lines: I64, n: int) -> I64:
    """For each of the given lines, the n serving rows not in `have` that hold it at the lowest cost per
    unit (per-unit cost plus the shipment's fixed cost spread over the units of the line it can take):
    where the order would turn if other orders took its stock or capacity."""
    fulfil = problem.fulfillable()
    spare = problem.serving.copy()
    spare[have] = False
    big_f = (problem.fixed_cost + problem.extra_shipment_cost).astype(np.float64)
    out: list[I64] = []
    for j in lines.tolist():
        rows = np.flatnonzero(spare & (problem.atp[:, j] > 0))
        if not rows.shape[0] or fulfil[j] == 0:
            continue
        take = np.minimum(problem.atp[rows, j], fulfil[j]).astype(np.float64)
        score = problem.unit_cost[rows, j] + big_f[rows] / take
        out.append(rows[np.lexsort((rows, problem.distance_km[rows], score))][:n])
    return np.unique(np.concatenate(out)).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Cells:
    """Every (order, candidate row, line) cell of the joint model with units to ship, columnar."""

    order: I64
    row: I64  # pool row
    line: I64
    pair: I64
    view: I64
    cap: I64  # units the cell may ship: min(ATP, fulfillable)
    free_cap: I64  # of which above the protection level (== cap where the location has no penalty)
    unit: I64  # cents per unit above the protection level
    penalty: I64  # cents more per unit inside it (0: the location has no penalty)

    @property
    def size(self) -> int:
        return int(self.order.shape[0])


def _cells(problems: Sequence[RoutingProblem], shared: _Shared, rows: Sequence[I64], members: Sequence[int]) -> _Cells:
    parts: list[tuple[I64, ...]] = []
    for o in members:
        p, k = problems[o], rows[o]
        fulfil = shared.fulfil[o]
        cap = np.minimum(p.atp[k], fulfil[None, :])
        pen = p.penalty_per_unit[k]
        free_cap = np.where(pen[:, None] > 0, np.minimum(p.free[k], cap), cap)
        a, j = np.nonzero(cap > 0)
        r = k[a]
        parts.append(
            (
                np.full(a.shape[0], o, dtype=np.int64),
                r,
                j,
                shared.pair_of[o][r, j],
                shared.view_of[o][j],
                cap[a, j],
                free_cap[a, j],
                p.unit_cost[r, j],
                pen[a],
            )
        )
    if not parts:
        return _Cells(*([np.zeros(0, np.int64)] * 9))
    return _Cells(*(np.concatenate(c).astype(np.int64) for c in zip(*parts, strict=True)))


@dataclass(frozen=True, slots=True)
class _Contention:
    pairs: BOOL  # [pairs] the cells' caps could exceed the pair's ATP
    free: BOOL  # [pairs] ... its units above protection
    views: BOOL  # [views] the orders' fulfillable units could exceed the network's ATP
    locations: BOOL  # [network locations] more orders could ship from it than it has capacity


def _contention(problems: Sequence[RoutingProblem], shared: _Shared, cells: _Cells, rows: Sequence[I64],
                members: Sequence[int]) -> _Contention:  # fmt: skip
    demand = np.bincount(cells.pair, weights=cells.cap, minlength=shared.pairs)
    # every unit counts against the units above protection: whoever comes first may take them all
    penalised_free = np.where(cells.penalty > 0, cells.cap, 0)
    free_demand = np.bincount(cells.pair, weights=penalised_free, minlength=shared.pairs)
    view_demand = np.zeros(shared.view_cap.shape[0], dtype=np.int64)
    shipments = np.zeros(shared.capacity.shape[0], dtype=np.int64)
    for o in members:
        p = problems[o]
        known = shared.view_of[o] >= 0
        np.add.at(view_demand, shared.view_of[o][known], shared.fulfil[o][known])
        shipments[p.location[rows[o]]] += 1
    return _Contention(
        pairs=demand > shared.pool,
        free=free_demand > shared.free,
        views=view_demand > shared.view_cap,
        locations=shipments > shared.capacity,
    )


def _competing(
    problems: Sequence[RoutingProblem], shared: _Shared, cells: _Cells, rows: Sequence[I64], contention: _Contention
) -> dict[int, I64]:
    """Orders with a cell, a line or a candidate location on a contested resource, and for each the lines
    concerned (every line when one of its locations has more candidate orders than capacity)."""
    hit = (
        contention.pairs[cells.pair] | contention.free[cells.pair] | (contention.views[cells.view] & (cells.view >= 0))
    )
    out: dict[int, set[int]] = {}
    for o, j in zip(cells.order[hit].tolist(), cells.line[hit].tolist(), strict=True):
        out.setdefault(o, set()).add(j)
    busy = contention.locations
    if busy.any():
        for o, k in enumerate(rows):
            if k.shape[0] and busy[problems[o].location[k]].any():
                out[o] = set(range(problems[o].lines))
    return {o: np.array(sorted(js), dtype=np.int64) for o, js in out.items()}


def _occupying(
    problems: Sequence[RoutingProblem], shared: _Shared, hint: _Sequential, members: Sequence[int]
) -> dict[int, I64]:
    """Orders whose sequential plan uses up a resource (a pair's last units or its last units above
    protection, a view's network ATP, a location's last shipment), with the lines concerned: the orders
    that could make room for others by moving, if they had somewhere to go."""
    taken = _Takes(shared)
    for o in members:
        taken.add(problems[o], shared.pair_of[o], shared.view_of[o], hint.plans[o])
    pair_full = (taken.pair >= shared.pool) | ((taken.pair >= shared.free) & (shared.free < shared.pool))
    view_full = taken.view >= shared.view_cap
    location_full = taken.location >= shared.capacity
    out: dict[int, I64] = {}
    for o in members:
        x = hint.plans[o]
        r, j = np.nonzero(x)
        if not r.shape[0]:
            continue
        vs = shared.view_of[o][j]
        on = pair_full[shared.pair_of[o][r, j]] | ((vs >= 0) & view_full[np.maximum(vs, 0)])
        if location_full[problems[o].location[r]].any():
            out[o] = np.arange(problems[o].lines, dtype=np.int64)
        elif on.any():
            out[o] = np.unique(j[on]).astype(np.int64)
    return out


# ------------------------------------------------------------------------------------------ joint model


@dataclass(frozen=True, slots=True)
class _Joint:
    model: LinearModel
    cells: _Cells
    p_var: I64  # [cells]
    s_var: I64  # [cells] -1 where the location has no penalty
    short_cost: F64  # [variables] the shortfall part of each variable's objective coefficient
    hint_short_cost: float  # ... of the hint: short_cost @ hint
    big_m: float  # what a missing unit costs
    stats: BatchModelStats


def _build_joint(
    problems: Sequence[RoutingProblem],
    shared: _Shared,
    rows: Sequence[I64],
    members: Sequence[int],
    plans: Mapping[int, I64],
    competing: int,
    fixed: int,
    *,
    inequalities: Sequence[str] = VALID_ROWS,
) -> _Joint:
    """The model of the module docstring over the members' candidate rows (members ascending), hinted
    with their `plans`. `shared` holds what is left for the members. Shared rows only where the cells'
    own caps could exceed the shared figure."""
    cells = _cells(problems, shared, rows, members)
    n = cells.size
    e = problems[members[0]].extra_shipment_cost if members else 0
    member_ix = np.asarray(members, dtype=np.int64)
    starts = np.searchsorted(cells.order, member_ix, side="left").tolist()
    ends = np.searchsorted(cells.order, member_ix, side="right").tolist()
    hx = np.zeros(n, dtype=np.int64)  # the hint's units per cell
    for o, lo, hi in zip(members, starts, ends, strict=True):
        hx[lo:hi] = plans[o][cells.row[lo:hi], cells.line[lo:hi]]
    # ... of which above the protection level: first come (batch order), first served, as in the answers
    by_pair = np.lexsort((cells.order, cells.pair))
    run = np.cumsum(hx[by_pair])
    first = np.r_[True, cells.pair[by_pair][1:] != cells.pair[by_pair][:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    before = np.empty(n, dtype=np.int64)
    before[by_pair] = run - hx[by_pair] - np.where(group_start > 0, run[np.maximum(group_start - 1, 0)], 0)
    above = np.minimum(np.minimum(hx, cells.free_cap), np.maximum(0, shared.free[cells.pair] - before))
    hp = np.where(cells.penalty > 0, above, hx)

    b = ModelBuilder()
    # y: one per (order, row) with a cell
    y_key, y_of_cell = np.unique(cells.order * _ROW_SPAN + cells.row, return_inverse=True)
    y_order, y_row = y_key // _ROW_SPAN, y_key % _ROW_SPAN
    y_loc = np.empty(y_key.shape[0], dtype=np.int64)
    y_fixed = np.empty(y_key.shape[0], dtype=np.int64)
    y_lo = np.searchsorted(y_order, member_ix, side="left").tolist()
    y_hi = np.searchsorted(y_order, member_ix, side="right").tolist()
    for o, lo, hi in zip(members, y_lo, y_hi, strict=True):
        y_loc[lo:hi] = problems[o].location[y_row[lo:hi]]
        y_fixed[lo:hi] = problems[o].fixed_cost[y_row[lo:hi]] + e
    y_hint = np.zeros(y_key.shape[0], dtype=np.float64)
    np.maximum.at(y_hint, y_of_cell, (hx > 0).astype(np.float64))
    y_var = b.add_variables(0, np.ones(y_key.shape[0]), integer=True, obj=y_fixed, hint=y_hint, block=y_order)
    # units: p on every cell with units above protection, s on every penalised cell (any of its units may
    # land inside the protection level once other orders have taken the ones above it)
    has_p = cells.free_cap > 0
    has_s = cells.penalty > 0
    p_var = np.full(n, -1, dtype=np.int64)
    s_var = np.full(n, -1, dtype=np.int64)
    p_var[has_p] = b.add_variables(
        0, cells.free_cap[has_p], integer=True, obj=cells.unit[has_p], hint=hp[has_p], block=cells.order[has_p]
    )
    s_var[has_s] = b.add_variables(
        0, cells.cap[has_s], integer=True, obj=(cells.unit + cells.penalty)[has_s], hint=(hx - hp)[has_s],
        block=cells.order[has_s],
    )
    # a missing unit costs more than any one order's whole plan: each order ships the most units it can
    # (given what the others take) before it looks at cost, as a single order does; and giving up a unit
    # of one order to save costs elsewhere would take savings larger than any order's whole cost
    position = np.searchsorted(member_ix, cells.order)
    most = np.bincount(position, weights=cells.cap * (cells.unit + cells.penalty), minlength=len(members))
    most += np.bincount(np.searchsorted(member_ix, y_order), weights=y_fixed, minlength=len(members))
    big_m = 1.0 + float(most.max(initial=0.0))
    cp, cs = np.flatnonzero(has_p), np.flatnonzero(has_s)
    unit_cell = np.concatenate([cp, cs])
    unit_var = np.concatenate([p_var[cp], s_var[cs]])

    # p + s - cap * y <= 0 per cell: a location ships a line only if it ships at all
    link = b.add_rows(np.full(n, -math.inf), 0.0)
    b.add_coefficients(link[unit_cell], unit_var, 1.0)
    b.add_coefficients(link, y_var[y_of_cell], -cells.cap.astype(np.float64))

    # per order: demand rows, shortfall variables, the shipment limit
    short_var: list[I64] = []
    short_w: list[F64] = []
    demand_key: list[I64] = []
    demand_row: list[I64] = []
    line_short: list[I64] = []  # per demand row: the variable that counts the line's shortfall
    line_whole: list[BOOL] = []  # ... True where it is the all-or-nothing order's w (the whole line)
    all_or_nothing = 0
    valid = 0  # valid inequalities added
    for i, (o, lo, hi) in enumerate(zip(members, y_lo, y_hi, strict=True)):
        p = problems[o]
        m_o = big_m
        fulfil = shared.fulfil[o]
        lines = np.flatnonzero(fulfil > 0)
        want = fulfil[lines].astype(np.float64)
        shipped = plans[o].sum(axis=0)[lines]
        d = b.add_rows(want, want)
        demand_key.append(o * _LINE_SPAN + lines)
        demand_row.append(d)
        if p.order.options.accepts_shortfall:
            m = b.add_variables(0, want, integer=True, obj=m_o, hint=want - shipped, block=o)
            b.add_coefficients(d, m, 1.0)
            short_var.append(m)
            short_w.append(np.full(m.shape[0], m_o))
            line_short.append(m)
            line_whole.append(np.zeros(m.shape[0], dtype=np.bool_))
            # the first shipment carries no extra-shipment cost: z (ships at all) <= sum y earns it back;
            # the order may end up shipping nothing when others take what it could get
            z = b.add_variables(0, 1, integer=True, obj=-float(e), hint=float(shipped.sum() > 0), block=o)
            row = b.add_rows(-math.inf, 0.0)
            b.add_coefficients(np.repeat(row, hi - lo + 1), np.r_[z, y_var[lo:hi]], np.r_[1.0, -np.ones(hi - lo)])
        else:
            all_or_nothing += 1
            dropped = int(shipped.sum() == 0)
            w = b.add_variables(0, 1, integer=True, obj=m_o * float(want.sum()) + e, hint=dropped, block=o)
            b.add_coefficients(d, np.repeat(w, d.shape[0]), want)
            short_var.append(w)
            short_w.append(np.array([m_o * want.sum()]))
            line_short.append(np.repeat(w, d.shape[0]))
            line_whole.append(np.ones(d.shape[0], dtype=np.bool_))
        if p.max_shipments and hi - lo > p.max_shipments:
            limit = b.add_rows(-math.inf, float(p.max_shipments))
            b.add_coefficients(np.repeat(limit, hi - lo), y_var[lo:hi], 1.0)
        if "shipment_count" in inequalities:
            # at least `fewest` shipments or a unit missing: sum y + fewest * (every shortfall variable) >=
            # fewest. Valid (a missing unit alone satisfies it); the LP relaxation may otherwise spread
            # the order over fractions of locations that together cover it with fewer shipments.
            grid = np.zeros((hi - lo, p.lines), dtype=np.int64)
            c_lo, c_hi = starts[i], ends[i]
            grid[y_of_cell[c_lo:c_hi] - lo, cells.line[c_lo:c_hi]] = cells.cap[c_lo:c_hi]
            cap_o, want_o = grid[:, lines], want.astype(np.int64)
            single, pair = _covers(cap_o, want_o)
            fewest = _fewest_shipments(cap_o, want_o, single, pair)
            sv = short_var[-1]
            if fewest >= 2:
                count = b.add_rows(float(fewest), math.inf)
                b.add_coefficients(np.repeat(count, hi - lo + sv.shape[0]), np.r_[y_var[lo:hi], sv],
                                   np.r_[np.ones(hi - lo), np.full(sv.shape[0], float(fewest))])  # fmt: skip
                valid += 1
            if "lifted_count" in inequalities and fewest >= 1:
                valid += _add_lifted_counts(b, cap_o, want_o, fewest, single, pair, y_var[lo:hi], sv)
    keys = np.concatenate(demand_key) if demand_key else np.zeros(0, np.int64)
    drows = np.concatenate(demand_row) if demand_row else np.zeros(0, np.int64)
    cell_key = cells.order * _LINE_SPAN + cells.line
    cell_line = np.searchsorted(keys, cell_key)  # keys ascend
    b.add_coefficients(drows[cell_line[unit_cell]], unit_var, 1.0)
    if "flow_cover" in inequalities and members:
        want_all = np.concatenate([shared.fulfil[o][shared.fulfil[o] > 0] for o in members])
        valid += _add_cover_rows(
            b,
            cell_key,
            cells.cap,
            want_all[cell_line],
            y_var[y_of_cell],
            np.concatenate(line_short)[cell_line],
            np.concatenate(line_whole)[cell_line],
        )

    # shared rows, only where the cells' own caps could exceed the shared figure
    cont = _contention(problems, shared, cells, rows, members)
    shared_rows = 0
    # per (sku, location): every unit
    shared_rows += _add_group_rows(b, shared.pool, cont.pairs, cells.pair[unit_cell], unit_var)
    # per (sku, location): units above the protection level
    shared_rows += _add_group_rows(b, shared.free, cont.free, cells.pair[cp], p_var[cp])
    # per (sku, channel, method): the network's ATP
    vc = cells.view[unit_cell]
    known = vc >= 0
    shared_rows += _add_group_rows(b, shared.view_cap, cont.views, vc[known], unit_var[known])
    # per location: capacity left today
    capacity_rows = _add_group_rows(b, shared.capacity, cont.locations, y_loc, y_var)

    model = b.build(offset=0.0, with_hint=True)
    assert model.hint is not None
    weights = np.zeros(model.variables, dtype=np.float64)
    if short_var:
        weights[np.concatenate(short_var)] = np.concatenate(short_w)
    hint_m = float(weights @ model.hint)
    # offset: the hint's objective is its cost (an all-or-nothing order's first shipment carries no extra
    # cost: its w pays E back when it is dropped)
    model = replace(model, offset=-float(e) * all_or_nothing - hint_m)
    stats = BatchModelStats(
        orders=len(members),
        candidates=int(y_key.shape[0]),
        variables=model.variables,
        integer_variables=int(model.integer.sum()),
        constraints=model.constraints,
        shared_stock_rows=shared_rows,
        capacity_rows=capacity_rows,
        competing_orders=competing,
        fixed_orders=fixed,
        valid_rows=valid,
    )
    return _Joint(model, cells, p_var, s_var, weights, hint_m, big_m, stats)


_ROW_SPAN = 1 << 20  # more pool rows than any network has locations
_LINE_SPAN = 1024  # more than MAX_LINES


def _covers(cap: I64, want: I64) -> tuple[BOOL, BOOL]:
    """Which locations (rows of `cap` [K, L]) can ship `want` alone [K], and which pairs of two different
    ones can [K, K]."""
    single = np.asarray((cap >= want[None, :]).all(axis=1))
    pair = np.asarray((cap[:, None, :] + cap[None, :, :] >= want[None, None, :]).all(axis=2))
    np.fill_diagonal(pair, False)
    return single, pair


def _fewest_shipments(cap: I64, want: I64, single: BOOL, pair: BOOL) -> int:
    """A lower bound on the locations any plan shipping `want` needs (`single`, `pair`: _covers): 1, 2, or
    3 when no pair is enough (0 when even all of them are not enough: no bound)."""
    if (cap.sum(axis=0) < want).any():
        return 0
    return 1 if single.any() else 2 if pair.any() else 3


def _add_lifted_counts(
    b: ModelBuilder, cap: I64, want: I64, fewest: int, single: BOOL, pair: BOOL, y: I64, short: I64
) -> int:
    """Shipment counts per location k: without k, at least f_k of the others must open (f_k: the fewest
    of them that can ship the order, 1-3), so  sum over l != k of y_l + f_k y_k + f_k (shortfall) >= f_k;
    where the others cannot ship it at all, k must open: y_k + shortfall >= 1. Added where f_k exceeds
    the order's own fewest (elsewhere the plain count is as strong); `single`, `pair`: _covers. The rows
    added."""
    n = cap.shape[0]
    total = cap.sum(axis=0)
    without = (total[None, :] - cap >= want[None, :]).all(axis=1)  # the others can ship it all
    pairs_without = int(pair.sum()) // 2 - pair.sum(axis=1)
    f = np.where(int(single.sum()) - single > 0, 1, np.where(pairs_without > 0, 2, 3))
    added = 0
    for k in np.flatnonzero(~without).tolist():
        row = b.add_rows(1.0, math.inf)
        b.add_coefficients(np.repeat(row, 1 + short.shape[0]), np.r_[y[k], short], 1.0)
        added += 1
    for k in np.flatnonzero(without & (f > fewest)).tolist():
        fk = float(f[k])
        row = b.add_rows(fk, math.inf)
        coef = np.ones(n)
        coef[k] = fk
        coefs = np.r_[coef, np.full(short.shape[0], fk)]
        b.add_coefficients(np.repeat(row, n + short.shape[0]), np.r_[y, short], coefs)
        added += 1
    return added


def _add_cover_rows(b: ModelBuilder, key: I64, cap: I64, want: I64, y: I64, short: I64, whole: BOOL) -> int:
    """Residual capacity rows (flow covers with a single location): for a cell c of line (o, j) whose cap
    cannot ship the line's `want` q alone, r = q - cap[c] units must come from the line's other
    locations or be missing:  sum over the other cells d of min(cap[d], r) y[d] + shortfall >= r
    (shortfall: the line's m, or r w for an all-or-nothing order). Valid for every integer plan (if no other
    location opens, at most cap[c] units ship; if some open, min(cap, r) of theirs already reach r or
    their whole caps do); the LP relaxation alone may open c fully and split the rest over fractions.
    `key` per cell: its (order, line); the number of rows added."""
    small = np.flatnonzero(cap < want)
    if not small.shape[0]:
        return 0
    by_key = np.argsort(key, kind="stable")
    sorted_key = key[by_key]
    start = np.searchsorted(sorted_key, key[small], side="left")
    size = np.searchsorted(sorted_key, key[small], side="right") - start
    r = (want - cap)[small]
    row_ids = b.add_rows(r.astype(np.float64), math.inf)
    cut = np.repeat(np.arange(small.shape[0]), size)
    offset = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    member = by_key[np.repeat(start, size) + offset]
    other = member != small[cut]
    cut, member = cut[other], member[other]
    b.add_coefficients(row_ids[cut], y[member], np.minimum(cap[member], r[cut]).astype(np.float64))
    b.add_coefficients(row_ids, short[small], np.where(whole[small], r, 1).astype(np.float64))
    return int(small.shape[0])


def _add_group_rows(b: ModelBuilder, limit: I64, contested: BOOL, group: I64, var: I64) -> int:
    """sum of var over each contested group <= limit[group]; the number of rows added."""
    on = contested[group]
    if not on.any():
        return 0
    groups, member = np.unique(group[on], return_inverse=True)
    row_ids = b.add_rows(np.full(groups.shape[0], -math.inf), limit[groups].astype(np.float64))
    b.add_coefficients(row_ids[member], var[on], 1.0)
    return int(groups.shape[0])


def _plans_from(joint: _Joint, problems: Sequence[RoutingProblem], values: F64) -> dict[int, I64]:
    """Per model order, its x[C, L] from the model's (rounded) values."""
    v = np.rint(values).astype(np.int64)
    cells = joint.cells
    units = np.where(joint.p_var >= 0, v[np.maximum(joint.p_var, 0)], 0)
    units = units + np.where(joint.s_var >= 0, v[np.maximum(joint.s_var, 0)], 0)
    out: dict[int, I64] = {}
    orders = np.unique(cells.order)
    lo = np.searchsorted(cells.order, orders, side="left").tolist()
    hi = np.searchsorted(cells.order, orders, side="right").tolist()
    for o, a, z in zip(orders.tolist(), lo, hi, strict=True):
        x = empty_plan(problems[o])
        x[cells.row[a:z], cells.line[a:z]] = units[a:z]
        out[o] = x
    return out


# ---------------------------------------------------------------------------------------------- the API


def _check(orders: object, time_limit_s: object, seed: object) -> Sequence[Order]:
    if isinstance(orders, (str, bytes)) or not isinstance(orders, Sequence) or not orders:
        raise InvalidArgument("orders", orders, "must be a non-empty sequence of orders")
    if len(orders) > MAX_BATCH_ORDERS:
        raise InvalidArgument("orders", len(orders), f"at most {MAX_BATCH_ORDERS} orders per batch")
    seen: set[str] = set()
    for i, o in enumerate(orders):
        if not isinstance(o, Order):
            raise InvalidArgument(f"orders[{i}]", o, "must be an Order")
        if o.order_id in seen:
            raise InvalidArgument(f"orders[{i}].order_id", o.order_id, "duplicate order id in the batch")
        seen.add(o.order_id)
    check_solver_limits(time_limit_s, seed)
    return orders


def _read(
    store: StockStore,
    orders: Sequence[Order],
    model: CostModel,
    capacity_left: Mapping[str, int] | None,
    now: datetime | None,
    capacity_use: CapacityUse | None = None,
) -> tuple[list[RoutingProblem], I64, str]:
    """Every order's problem, all read at one sequence of the store when a few attempts allow it (a
    writer between two orders would give them different stock); the protection level per location."""
    for attempt in range(READ_ATTEMPTS):
        note = ""
        table = store.network
        problems = [
            build_problem(store, o, cost_model=model, capacity_left=capacity_left, now=now, capacity_use=capacity_use)
            for o in orders
        ]
        same_network = all(p.network_ids is table.index.ids for p in problems)
        sequences = {p.sequence for p in problems}
        if same_network and len(sequences) == 1:
            break
        note = (
            f"the stock changed while the batch was read (sequences {min(sequences)}..{max(sequences)}); "
            "holding the plans checks it again"
        )
        if not same_network and attempt == READ_ATTEMPTS - 1:
            raise RuntimeError("the location network changed while the batch was read, every attempt")
    return problems, network_costs(table, model).protection, note


def solve_batch(
    store: StockStore,
    orders: Sequence[Order],
    *,
    cost_model: CostModel | None = None,
    capacity_left: Mapping[str, int] | None = None,
    capacity_use: CapacityUse | None = None,
    now: datetime | None = None,
    time_limit_s: float = DEFAULT_BATCH_TIME_LIMIT_S,
    seed: int = 0,
    policy: str = DEFAULT_POLICY,
    compare_sequential: bool = True,
    lp_relaxation: bool = False,
    relative_gap: float = DEFAULT_RELATIVE_GAP,
) -> BatchResult:
    """Route a batch of orders with shared stock and capacity (see the module docstring). Pure: reads the
    store, writes nothing; the same store state, orders and seed give the same plan whenever the solver
    finishes within its time limit. `capacity_use`: shipments that held plans already took on each
    location's ship day (the service's capacity book), so the batch shares only what they left."""
    started = time.perf_counter()
    orders = _check(orders, time_limit_s, seed)
    if (
        isinstance(relative_gap, bool)
        or not isinstance(relative_gap, (int, float))
        or not (math.isfinite(relative_gap) and 0 <= relative_gap < 1)
    ):
        raise InvalidArgument("relative_gap", relative_gap, "must be a number in [0, 1)")
    get_policy(policy)  # a bad name fails before any work
    model_costs = cost_model or DEFAULT_COST_MODEL
    problems, protection, note = _read(store, orders, model_costs, capacity_left, now, capacity_use)
    shared = _share(problems, protection)
    index = {lid: i for i, lid in enumerate(problems[0].network_ids)}

    sequential: dict[str, _Sequential] = {}

    def sequentially(name: str) -> _Sequential:
        if name not in sequential:
            sequential[name] = _route_sequentially(problems, shared, index, name, seed)
        return sequential[name]

    if policy != "optimal":
        main = sequentially(policy)
        if compare_sequential:
            for name in COMPARED_POLICIES:
                sequentially(name)
        totals = main.routing.totals
        return BatchResult(
            policy=policy,
            status=SolveStatus.FEASIBLE if totals.orders_shipped else SolveStatus.INFEASIBLE,
            results=main.routing.results,
            totals=totals,
            solver="sequential",
            solver_status="",
            bound=None,
            gap=None,
            lp_bound=None,
            timed_out=False,
            solve_time_s=0.0,
            time_s=time.perf_counter() - started,
            sequence=problems[0].sequence,
            model=None,
            sequential=tuple(s.routing for s in sequential.values()),
            message=_join(f"{policy} routed the batch one order at a time", note),
        )

    hint = sequentially("optimal")
    others = [name for name in COMPARED_POLICIES if name not in sequential] if compare_sequential else []
    # the greedy comparisons are plain Python and numpy; HiGHS releases the GIL while it solves, so they
    # run beside it on the machine's other core (measured: 1.1 s for both instead of 1.6 s, 1,000 orders)
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = [pool.submit(_route_sequentially, problems, shared, index, name, seed) for name in others]
        answer = _solve_jointly(
            problems, shared, hint, time_limit_s=time_limit_s, seed=seed, lp=lp_relaxation, relative_gap=relative_gap,
            started=started,
        )
        for name, future in zip(others, beside, strict=True):
            sequential[name] = future.result()
    results = tuple(answer.results)
    totals = batch_totals(results, orders)
    return BatchResult(
        policy=policy,
        status=answer.status if totals.orders_shipped else SolveStatus.INFEASIBLE,
        results=results,
        totals=totals,
        solver="highs" if answer.model is not None else "none",
        solver_status=answer.solver_status,
        bound=answer.bound,
        gap=(totals.cost - answer.bound) / max(1, totals.cost) if answer.bound is not None else None,
        lp_bound=answer.lp_bound,
        lagrangian_bound=answer.lagrangian_bound,
        timed_out=answer.timed_out,
        solve_time_s=answer.solve_time_s,
        time_s=time.perf_counter() - started,
        sequence=problems[0].sequence,
        model=answer.model,
        sequential=tuple(s.routing for s in sequential.values()),
        message=_join(answer.message, note),
        lp_time_s=answer.lp_time_s,
    )


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class _Answer:
    results: list[RoutingResult]
    status: SolveStatus
    solver_status: str
    bound: float | None
    lp_bound: float | None
    timed_out: bool
    solve_time_s: float
    model: BatchModelStats | None
    message: str
    lp_time_s: float
    lagrangian_bound: float | None


def _solve_jointly(
    problems: Sequence[RoutingProblem],
    shared: _Shared,
    hint: _Sequential,
    *,
    time_limit_s: float,
    seed: int,
    lp: bool,
    relative_gap: float,
    started: float,
) -> _Answer:
    """Candidates, the joint model over the orders that compete, HiGHS from the hint, each order's answer.

    An order that competes with no other (none of its candidate cells, lines or locations is on a
    contested resource: the orders' own caps there fit within the shared figure) is a block of its own in
    the model, and the stock the earlier orders left it still allows every plan of that block at the same
    cost. So its sequential optimal plan, when proven optimal, is optimal for it in the joint model too:
    it is answered as is and left out of the model, which keeps the model to the orders that compete.

    When more than WINDOW orders compete, they are optimised in windows of at most WINDOW orders that
    share locations (grouped by the location of their largest shipment), one after the other, each with
    the others' plans fixed (fix-and-optimise): every window keeps or improves the plan, but there is no
    joint bound then (ask for the LP relaxation's). What the pass leaves of the time limit goes to more
    passes over windows drawn at random (IMPROVEMENT_PASSES), each when it leaves at least MIN_WINDOW_S a
    window and the pass before saved at least PASS_GAIN of the cost."""
    seq = hint.routing.results
    members = []
    for o, p in enumerate(problems):
        fulfil = shared.fulfil[o]
        # an order that cannot ship anything, or an all-or-nothing order short even alone, is not in the model
        if fulfil.sum() == 0 or (not p.order.options.accepts_shortfall and (fulfil < p.requested).any()):
            continue
        members.append(o)
    empty = np.zeros(0, dtype=np.int64)
    rows: list[I64] = [empty] * len(problems)
    alone: dict[int, Bounds] = {}
    for o in members:
        own = np.flatnonzero(hint.plans[o].any(axis=1)).astype(np.int64)
        rows[o], alone[o] = _own_candidates(problems[o], own, hint.alone[o] if hint.alone else None)
    cells = _cells(problems, shared, rows, members)
    competing = _competing(problems, shared, cells, rows, _contention(problems, shared, cells, rows, members))
    if EXTRA_CANDIDATES and len(competing) <= WINDOW:
        # measured: with windows (beyond WINDOW competing orders) the extra candidates made each window
        # slower and the batch dearer within the same time, so they are for batches solved as one model
        for o, lines in _occupying(problems, shared, hint, members).items():
            extra = _alternatives(problems[o], rows[o], lines, EXTRA_CANDIDATES)
            rows[o] = np.union1d(rows[o], extra).astype(np.int64)
        # the alternatives may put more orders on contested resources: decide who competes on the final sets
        cells = _cells(problems, shared, rows, members)
        competing = _competing(problems, shared, cells, rows, _contention(problems, shared, cells, rows, members))
    fixed = [o for o in members if o not in competing and seq[o].status is SolveStatus.OPTIMAL]
    in_model = sorted(set(members) - set(fixed))
    plans: dict[int, I64] = {o: hint.plans[o] for o in members}
    fixed_cost = sum(seq[o].total_cost for o in fixed)

    messages: list[str] = []
    statuses: list[str] = []
    timed_out = False
    solve_time = 0.0
    proven = True
    bound: float | None = float(fixed_cost)
    lp_bound: float | None = 0.0 if lp else None
    lagrangian: float | None = 0.0 if lp else None
    lp_time = 0.0
    stats: BatchModelStats | None = None
    windows = _windows(problems, in_model, plans)
    # the call's budget: the solver has what reading, the sequential routing and the candidates left of it
    deadline = started + time_limit_s
    total = _Takes(shared)
    for o in members:
        total.add(problems[o], shared.pair_of[o], shared.view_of[o], plans[o])
    passes = 0
    steps = windows
    while steps:
        passes += 1
        saved = 0.0  # by this pass: the model objective (cost, and M per missing unit) from its hints
        for w, window in enumerate(steps):
            outside = total.copy()
            for o in window:
                outside.add(problems[o], shared.pair_of[o], shared.view_of[o], plans[o], -1)
            left = _left_for(shared, outside)
            # the valid inequalities only where the solver's bound is used (measured: with them the
            # 10,000-order windows, each a short time-bound step whose bound is discarded, improved the plan less)
            joint = _build_joint(problems, left, rows, window, plans, len(competing), len(fixed),
                                 inequalities=VALID_ROWS if len(windows) == 1 else ())  # fmt: skip
            share = max(0.05, (deadline - time.perf_counter()) / (len(steps) - w))
            solution = solve_model(joint.model, time_limit_s=share, seed=seed, relative_gap=relative_gap, log=_LOG)
            values, solver_plan, message = _choose(joint, solution)
            assert joint.model.hint is not None
            saved += joint.model.objective(joint.model.hint) - joint.model.objective(values)
            if message:
                messages.append(message)
            statuses.append(solution.status)
            timed_out |= solution.timed_out
            solve_time += solution.time_s
            proven = proven and solution.optimal and solver_plan
            if passes == 1:
                stats = joint.stats if stats is None else _merged(stats, joint.stats)
            new = _plans_from(joint, problems, values)
            for o, x in new.items():
                total.add(problems[o], shared.pair_of[o], shared.view_of[o], plans[o], -1)
                total.add(problems[o], shared.pair_of[o], shared.view_of[o], x)
            plans.update(new)
            if len(windows) == 1:
                # a bound on the cost of plans where no order ships fewer units (see the module docstring)
                extra_m = float(joint.short_cost @ values) - joint.hint_short_cost
                if solution.bound is None or solution.bound - extra_m < 0:
                    bound = None
                    messages.append("the solver proved no useful bound")
                else:
                    bound = fixed_cost + solution.bound - extra_m
            else:
                bound = None
        steps = []
        if len(windows) > 1 and passes <= IMPROVEMENT_PASSES and saved >= PASS_GAIN * hint.routing.totals.cost:
            # what the first pass left of the time limit, after a pass that saved enough to suggest more
            # across its windows' boundaries: windows drawn at random (each keeps or improves the plan)
            steps = _windows(problems, in_model, plans, shuffle=seed * 1_000 + passes)
            if deadline - time.perf_counter() < MIN_WINDOW_S * len(steps):
                steps = []
    if len(windows) > 1:
        proven = False
        messages.append(
            f"{len(in_model)} competing orders optimised in {len(windows)} windows of at most {WINDOW}, each with "
            f"the others fixed ({passes} pass{'es' if passes > 1 else ''}); "
            + ("bound: the Lagrangian one" if lp else "no joint bound (lp_relaxation gives one)")
        )
    if lp and members:
        # the LP relaxation of the joint model over every order that can ship, and the Lagrangian bound at
        # its prices, for the record; with windows the only joint bound, but not solved unless asked: on
        # 10,000 orders they take half as long as the windows (measured: README "Batch routing measured")
        lp_started = time.perf_counter()
        lp_bound, lagrangian = _relaxation_bound(
            problems, shared, rows, members, hint.plans, plans, competing=len(competing), time_limit_s=time_limit_s,
            seed=seed,
        )  # fmt: skip
        lp_time = time.perf_counter() - lp_started
        best = lagrangian if lagrangian is not None else lp_bound  # never below lp_bound
        if len(windows) > 1:
            bound = best
        elif bound is not None and best is not None:
            bound = max(bound, best)
    status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
    what = "optimal over the kept candidates" if proven else "best plan found"
    if timed_out:
        what = "time limit reached: best plan found"
    per_order = f"routed jointly with {len(problems)} orders ({what})"
    taken = _Takes(shared)
    for o, x in plans.items():
        taken.add(problems[o], shared.pair_of[o], shared.view_of[o], x)
    prior = np.zeros(shared.pairs, dtype=np.int64)
    results = []
    for o, p in enumerate(problems):
        x = plans.get(o, empty_plan(p))
        known = [(_seen(p, shared.pair_of[o] >= 0), alone[o])] if o in alone else []
        if hint.seen:
            known.append(hint.seen[o])
        results.append(_answer_for(problems, o, shared, taken, prior, x, per_order, rows[o], known))
        r, j = np.nonzero(x)
        np.add.at(prior, shared.pair_of[o][r, j], x[r, j])
    gap = None
    if bound is not None:
        cost = sum(r.total_cost for r in results)
        gap = (cost - bound) / max(1, cost)
    results = [replace(r, gap=gap, timed_out=timed_out) if r.shipments else r for r in results]
    if not members:
        messages.append("no order can ship anything")
    solver_status = "optimal" if not statuses else ", ".join(sorted(set(statuses)))
    return _Answer(
        results, status, solver_status, bound, lp_bound, timed_out, solve_time, stats, _join(*messages), lp_time,
        lagrangian,
    )


def _relaxation_bound(
    problems: Sequence[RoutingProblem],
    shared: _Shared,
    rows: Sequence[I64],
    members: Sequence[int],
    hint: Sequence[I64],
    plans: Mapping[int, I64],
    *,
    competing: int,
    time_limit_s: float,
    seed: int,
    inequalities: Sequence[str] = VALID_ROWS,
) -> tuple[float | None, float | None]:
    """Two lower bounds on the batch's cost over every plan (over the candidates) that ships at least as
    many units as `plans`: the LP relaxation of the joint model over `members` (every order that can
    ship, none kept out) with the cost alone as its objective and, in place of the M terms, one row: the
    units missing at most those `plans` miss (with the M terms instead, the relaxation ships fractions of
    units no plan can ship, each worth M, and the bound falls by M for each; this one is never lower);
    and the Lagrangian bound at that LP's prices (router._mip.lagrangian_bound: the rows shared between
    orders, that one included, priced at the LP's duals, and each order whose LP plan is fractional
    solved whole), never below it. None where the LP was not solved to optimality."""
    hinted = dict(enumerate(hint))
    whole = _build_joint(problems, shared, rows, members, hinted, competing, 0, inequalities=inequalities)
    model = whole.model
    missing = whole.short_cost / whole.big_m  # units missing per unit of each shortfall variable
    cost_only = replace(model, obj=model.obj - whole.short_cost, offset=model.offset + whole.hint_short_cost)
    bounded = cost_only.with_row(missing, -math.inf, float(_missing(problems, members, plans)))
    relaxed = solve_model(bounded, time_limit_s=max(60.0, time_limit_s), seed=seed, relative_gap=0.0, relax=True)
    if not relaxed.optimal or relaxed.objective is None:
        return None, None
    decomposed = lagrangian_bound(bounded, relaxed, time_limit_s=max(60.0, time_limit_s), seed=seed)
    return relaxed.objective, decomposed.bound if decomposed is not None else None


def _missing(
    problems: Sequence[RoutingProblem], members: Sequence[int], plans: Mapping[int, I64] | Sequence[I64]
) -> int:
    """Units the orders could get alone that the plans leave unshipped."""
    return sum(int(problems[o].fulfillable().sum() - plans[o].sum()) for o in members)  # few calls: uncached


def _windows(
    problems: Sequence[RoutingProblem], orders: Sequence[int], plans: Mapping[int, I64], *, shuffle: int | None = None
) -> list[list[int]]:
    """The competing orders in windows of at most WINDOW (as many windows as that takes, of equal size),
    each window in batch order: grouped by the network location of their largest shipment (orders that
    share locations compete most), or with `shuffle` (a seed) drawn at random, so that orders the
    grouped windows keep apart meet in one window."""
    if len(orders) <= WINDOW:
        return [list(orders)] if orders else []
    n = -(-len(orders) // WINDOW)
    if shuffle is not None:
        drawn = np.random.default_rng(shuffle).permutation(np.asarray(orders, dtype=np.int64))
        return [sorted(part.tolist()) for part in np.array_split(drawn, n)]
    home = []
    for o in orders:
        units = plans[o].sum(axis=1)
        home.append(int(problems[o].location[int(np.argmax(units))]) if units.any() else -1)
    by_home = np.asarray(orders, dtype=np.int64)[np.lexsort((np.asarray(orders), np.asarray(home)))]
    return [sorted(part.tolist()) for part in np.array_split(by_home, n)]


def _left_for(shared: _Shared, outside: _Takes) -> _Shared:
    """What the other orders leave of the shared figures."""
    return replace(
        shared,
        pool=shared.pool - outside.pair,
        free=np.maximum(0, shared.free - outside.pair),
        view_cap=shared.view_cap - outside.view,
        capacity=shared.capacity - outside.location,
    )


def _merged(a: BatchModelStats, b: BatchModelStats) -> BatchModelStats:
    """Window statistics added up (orders, candidates, variables and rows over all windows)."""
    return BatchModelStats(
        orders=a.orders + b.orders,
        candidates=a.candidates + b.candidates,
        variables=a.variables + b.variables,
        integer_variables=a.integer_variables + b.integer_variables,
        constraints=a.constraints + b.constraints,
        shared_stock_rows=a.shared_stock_rows + b.shared_stock_rows,
        capacity_rows=a.capacity_rows + b.capacity_rows,
        competing_orders=a.competing_orders,
        fixed_orders=a.fixed_orders,
        valid_rows=a.valid_rows + b.valid_rows,
    )


def _choose(joint: _Joint, solution: Solution) -> tuple[F64, bool, str]:
    """(values, the solver's own, message): the solver's plan, unless it has none, ships fewer units than
    the hint it started from, or is not cheaper; then the hint, and the message says so."""
    model = joint.model
    assert model.hint is not None
    hint = model.hint
    if solution.values is None:
        return hint, False, f"the solver found no plan ({solution.status}): the sequential optimal plan it started from"
    values = np.rint(solution.values)
    if model.violation(values) > 1e-6:
        return hint, False, "the solver's plan broke a constraint once rounded: the sequential optimal plan"
    units = np.concatenate([joint.p_var[joint.p_var >= 0], joint.s_var[joint.s_var >= 0]])
    if values[units].sum() < hint[units].sum():
        return hint, False, "the solver's best plan shipped fewer units than the sequential optimal plan: the latter"
    if model.objective(values) > model.objective(hint) + 1e-6:
        return hint, False, "the solver's best plan was dearer than the sequential optimal plan it started from"
    return values, True, ""


def _answer_for(
    problems: Sequence[RoutingProblem],
    o: int,
    shared: _Shared,
    taken: _Takes,
    prior: I64,
    x: I64,
    message: str,
    rows: I64,
    known: Sequence[tuple[I64, Bounds]],
) -> RoutingResult:
    """Order o's answer: its plan, seen from the stock the rest of the batch left it; `known`: bounds
    already computed for the order (alone, in the sequential routing), each with what it saw (_seen)."""
    started = time.perf_counter()
    p = problems[o]
    residual = _residual(p, o, shared, taken, prior=prior, own=x)
    n_usable = int(p.serving.sum())
    stats = CandidateStats(
        p.pool,
        n_usable,
        int(rows.shape[0]),
        False,
        "joint batch model: the order's exact candidates alone, its sequential plan's locations, and "
        "alternatives where it competes with other orders",
    )
    alternatives: tuple[Alternative, ...] = ()
    if x.any():
        # the bounds of the order alone explain it as well when the batch left all its stock and capacity
        # bounds computed on what the order sees now explain it as well (the batch often left it so)
        now = _seen(residual, shared.pair_of[o] >= 0)
        same = next((b for sig, b in known if np.array_equal(sig, now)), None)
        alternatives = explain(residual, x, same if same is not None else compute_bounds(residual))
    return result_from_plan(
        residual,
        x,
        policy="optimal",
        solver="highs",
        proven=False,
        started=started,
        candidates=stats,
        alternatives=alternatives,
        message=message,
    )
