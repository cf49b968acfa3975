"""Plans as arrays and their answers: a plan is x[C, L], the units of each line each pool row ships. Every
policy makes one; this module prices it, checks it, says why lines are short, explains the choice and
turns it into a RoutingResult, so that all policies answer in exactly the same terms."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from .candidates import Bounds, RoutingProblem
from .model import (
    Alternative,
    Block,
    CandidateStats,
    CostBreakdown,
    RoutingResult,
    Shipment,
    ShipmentLine,
    SolveStatus,
    UnfulfilledLine,
    UnfulfilledReason,
    date_of,
    money,
)

I64 = npt.NDArray[np.int64]
MAX_ALTERNATIVES = 3


def empty_plan(problem: RoutingProblem) -> I64:
    return np.zeros((problem.pool, problem.lines), dtype=np.int64)


def shipping_rows(x: I64) -> I64:
    """Pool rows that ship anything, ascending."""
    out: I64 = np.flatnonzero(x.any(axis=1)).astype(np.int64)
    return out


def row_costs(problem: RoutingProblem, x: I64, rows: I64) -> tuple[I64, I64, I64, I64]:
    """Parcel, weight, handling and protection penalty of each of the given rows (rows that ship)."""
    xr = x[rows]
    units = xr.sum(axis=1)
    parcel = problem.parcel_cost[rows]
    weight = (xr * problem.unit_weight_cost[rows]).sum(axis=1)
    handling = problem.handling_per_order[rows] + units * problem.handling_per_unit[rows]
    protection = np.maximum(0, xr - problem.free[rows]).sum(axis=1) * problem.penalty_per_unit[rows]
    return parcel, weight, handling, protection


def plan_cost(problem: RoutingProblem, x: I64) -> int:
    """Total cents of a plan, extra shipments included."""
    rows = shipping_rows(x)
    parcel, weight, handling, protection = row_costs(problem, x, rows)
    extra = problem.extra_shipment_cost * max(0, int(rows.shape[0]) - 1)
    return int(parcel.sum()) + int(weight.sum()) + int(handling.sum()) + int(protection.sum()) + extra


def plan_violations(problem: RoutingProblem, x: I64) -> list[str]:
    """Every hard constraint the plan breaks (empty: a valid plan). The tests' oracle, and a guard."""
    out: list[str] = []
    if x.shape != (problem.pool, problem.lines):
        return [f"plan shape {x.shape} != {(problem.pool, problem.lines)}"]
    if (x < 0).any():
        out.append("negative quantity")
    opened = x.sum(axis=1) > 0
    if (x > problem.atp).any():
        out.append("takes more than a location's ATP")
    if (opened & ~problem.usable).any():
        blocked = [problem.location_id(r) for r in np.flatnonzero(opened & ~problem.usable).tolist()]
        out.append(f"ships from blocked locations {blocked}")
    if (opened & (problem.capacity < 1)).any():
        out.append("ships from a location without capacity")
    shipped = x.sum(axis=0)
    if (shipped > problem.requested).any():
        out.append("ships more than requested")
    if (shipped > problem.network_atp).any():
        out.append("ships more than the network's ATP")
    if problem.max_shipments and int(opened.sum()) > problem.max_shipments:
        out.append(f"{int(opened.sum())} shipments > max {problem.max_shipments}")
    return out


def line_reasons(problem: RoutingProblem, shipped: I64) -> list[UnfulfilledReason | None]:
    """Why each line is short (None when it is not): the first cause that explains the shortfall."""
    out: list[UnfulfilledReason | None] = []
    block = problem.block
    not_excluded = block != Block.EXCLUDED
    in_time = not_excluded & (block != Block.DELIVER_BY) & (block != Block.OUT_OF_RANGE)
    usable = block == Block.USABLE
    for j in range(problem.lines):
        q = int(problem.requested[j])
        if int(shipped[j]) >= q:
            out.append(None)
            continue
        net = int(problem.network_atp[j])
        if problem.line_sku[j] < 0:
            out.append(UnfulfilledReason.UNKNOWN_SKU)
        elif min(net, int(problem.raw_atp[:, j].sum())) < q:
            out.append(UnfulfilledReason.NO_STOCK)
        elif min(net, int(problem.atp[not_excluded, j].sum())) < q:
            out.append(UnfulfilledReason.EXCLUDED)
        elif min(net, int(problem.atp[in_time, j].sum())) < q:
            out.append(UnfulfilledReason.DELIVER_BY)
        elif min(net, int(problem.atp[usable, j].sum())) < q:
            out.append(UnfulfilledReason.CAPACITY)
        else:
            out.append(UnfulfilledReason.MAX_SHIPMENTS)
    return out


def _shipments(problem: RoutingProblem, x: I64) -> tuple[Shipment, ...]:
    rows = shipping_rows(x)
    units = x[rows].sum(axis=1)
    # the biggest shipment first; every one after it carries the extra-shipment cost
    order = np.lexsort((rows, problem.fixed_cost[rows], -units))
    rows = rows[order]
    parcel, weight, handling, protection = row_costs(problem, x, rows)
    out = []
    for k, r in enumerate(rows.tolist()):
        lines = tuple(ShipmentLine(j, problem.line_skus[j], int(x[r, j])) for j in range(problem.lines) if x[r, j] > 0)
        cost = CostBreakdown(
            parcel=int(parcel[k]),
            weight=int(weight[k]),
            handling=int(handling[k]),
            protection=int(protection[k]),
            extra_shipment=problem.extra_shipment_cost if k else 0,
        )
        out.append(
            Shipment(
                location=problem.location_id(r),
                lines=lines,
                ship_date=date_of(int(problem.ship_day[r])),
                delivery_date=date_of(int(problem.delivery_day[r])),
                distance_km=round(float(problem.distance_km[r]), 1),
                cost=cost,
            )
        )
    return tuple(out)


def result_from_plan(
    problem: RoutingProblem,
    x: I64,
    *,
    policy: str,
    solver: str,
    proven: bool,
    started: float,
    gap: float | None = None,
    timed_out: bool = False,
    candidates: CandidateStats | None = None,
    alternatives: tuple[Alternative, ...] = (),
    message: str = "",
) -> RoutingResult:
    """The answer for a plan. A plan that ships nothing, or only part of an order that does not accept a
    shortfall, answers INFEASIBLE with no shipments; either way every short line comes with its reason
    and the units the plan could not ship."""
    bad = plan_violations(problem, x)
    if bad:
        raise AssertionError(f"policy {policy} made an invalid plan: {bad}")  # a bug, never an answer
    shipped = x.sum(axis=0)
    reasons = line_reasons(problem, shipped)
    options = problem.order.options
    unfulfilled = tuple(
        UnfulfilledLine(
            line=j,
            sku=problem.line_skus[j],
            requested=int(problem.requested[j]),
            missing=int(problem.requested[j] - shipped[j]),
            reason=reason,
            backordered=options.allow_backorder,
        )
        for j, reason in enumerate(reasons)
        if reason is not None
    )
    total_units = int(problem.requested.sum())
    shipped_units = int(shipped.sum())
    if shipped_units == 0 or (unfulfilled and not options.accepts_shortfall):
        if shipped_units:
            message = (
                f"{shipped_units} of {total_units} units can ship; the order does not allow partial "
                "fulfilment or back orders"
            )
        else:
            message = message or "nothing can ship"
        return RoutingResult(
            order_id=problem.order.order_id,
            policy=policy,
            status=SolveStatus.INFEASIBLE,
            shipments=(),
            unfulfilled=unfulfilled,
            cost=CostBreakdown(),
            solver=solver,
            solve_time_s=time.perf_counter() - started,
            candidates=candidates,
            alternatives=alternatives,
            message=message,
        )
    shipments = _shipments(problem, x)
    total = CostBreakdown()
    for s in shipments:
        total = total + s.cost
    return RoutingResult(
        order_id=problem.order.order_id,
        policy=policy,
        status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
        shipments=shipments,
        unfulfilled=unfulfilled,
        cost=total,
        solver=solver,
        solve_time_s=time.perf_counter() - started,
        gap=gap,
        timed_out=timed_out,
        candidates=candidates,
        alternatives=alternatives,
        message=message,
    )


# ------------------------------------------------------------------------------------------ explain


def _why_not(problem: RoutingProblem, r: int, fulfil: I64) -> str:
    """Why pool row r cannot ship the whole order alone ('' when it can)."""
    loc = problem.location_id(r)
    block = Block(int(problem.block[r]))
    if block is Block.EXCLUDED:
        return f"{loc} is excluded"
    if block is Block.DELIVER_BY:
        return (
            f"{loc} delivers {date_of(int(problem.delivery_day[r])).isoformat()}, "
            f"after the deliver-by date {date_of(problem.deliver_by_day).isoformat()}"
        )
    if block is Block.OUT_OF_RANGE:
        return f"{loc} cannot deliver today ({problem.distance_km[r]:.0f} km away)"
    if block is Block.CAPACITY:
        return f"{loc} has no capacity left on its ship day {date_of(int(problem.ship_day[r])).isoformat()}"
    for j in range(problem.lines):
        need = int(fulfil[j])
        have = int(problem.atp[r, j])
        if have < need:
            sku = problem.line_skus[j]
            return f"{loc} lacks {sku}" if have == 0 else f"{loc} has {have} of {need} {sku}"
    return ""


def explain(problem: RoutingProblem, x: I64, bounds: Bounds) -> tuple[Alternative, ...]:
    """The best alternatives not chosen, and why: the cheapest single shipment (with what more it costs),
    then the locations cheapest to ship from that could not serve the order alone, and what stopped them."""
    chosen = shipping_rows(x)
    if not chosen.shape[0]:
        return ()
    cost = plan_cost(problem, x)
    fulfil = bounds.fulfil
    out: list[Alternative] = []
    singles = np.flatnonzero(bounds.alone_ok)
    singles = singles[np.lexsort((singles, bounds.alone_cost[singles]))]
    single_chosen = chosen.shape[0] == 1
    for r in singles.tolist():
        if single_chosen and r == int(chosen[0]):
            continue
        extra = int(bounds.alone_cost[r]) - cost
        loc = problem.location_id(r)
        out.append(Alternative((loc,), extra, f"single shipment from {loc}: {money(extra)} more"))
        break
    # every other row either ships the order alone (priced above) or has a reason it cannot
    others = np.ones(problem.pool, dtype=np.bool_)
    others[chosen] = False
    others &= ~bounds.alone_ok
    rows = np.flatnonzero(others)
    keys = (problem.fixed_cost[rows], problem.distance_km[rows])
    rows = rows[np.lexsort((rows, keys[1], keys[0]))][: MAX_ALTERNATIVES - len(out)]
    for r in rows.tolist():
        why = _why_not(problem, r, fulfil)
        if why:
            out.append(Alternative((problem.location_id(r),), None, why))
    return tuple(out)
