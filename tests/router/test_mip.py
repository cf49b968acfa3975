"""router._mip: the array-held model, HiGHS through MathOpt, and the decomposition bound over its blocks.

lagrangian_bound is checked against brute force on random small block-structured MIPs (hypothesis): it
must never pass the true optimum (or the bound proves nothing) and never fall below the LP relaxation it
starts from, whatever the signs of the shared rows' prices (rows held at their lower side, their upper
side, equalities).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router._mip import LinearModel, ModelBuilder, lagrangian_bound, solve_model


def _solve(model: LinearModel, *, relax: bool) -> float | None:
    solution = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=relax)
    return solution.objective if solution.optimal else None


def _two_blocks(v_cost: float, shared: tuple[float, float]) -> LinearModel:
    """Two blocks, each min y + v_cost v with 2y + v >= 1 (y, v in {0, 1}), and a shared row
    shared[0] <= y1 + y2 <= shared[1]."""
    b = ModelBuilder()
    y = b.add_variables(0, [1, 1], integer=True, obj=1.0, hint=0, block=[0, 1])
    v = b.add_variables(0, [1, 1], integer=True, obj=v_cost, hint=0, block=[0, 1])
    own = b.add_rows([1.0, 1.0], math.inf)
    b.add_coefficients(np.r_[own, own], np.r_[y, v], np.r_[2.0, 2.0, 1.0, 1.0])
    row = b.add_rows(shared[0], shared[1])
    b.add_coefficients(np.r_[row, row], y, 1.0)
    return b.build(offset=0.0, with_hint=False)


def test_each_blocks_integrality_gap_at_the_lp_prices_is_added_to_the_lp() -> None:
    """v costs 0.8: the LP takes y = 1/2 in each block (1.0), the integer optimum v = 1 (0.8 each). The
    shared row y1 + y2 <= 2 never binds (price 0): the bound solves each block whole and proves the
    optimum, 1.6."""
    model = _two_blocks(0.8, (-math.inf, 2.0))
    relaxed = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=True)
    assert relaxed.duals is not None
    bound = lagrangian_bound(model, relaxed, time_limit_s=10, seed=0)
    assert bound is not None
    assert (bound.shared_rows, bound.blocks, bound.solved, bound.proven) == (1, 2, 2, 2)
    assert bound.lp == pytest.approx(1.0)
    assert bound.bound == pytest.approx(_solve(model, relax=False)) == pytest.approx(1.6)


def test_the_lp_prices_need_not_be_the_best_ones() -> None:
    """v costs 0.1, and y1 + y2 >= 1: the LP takes y = 1/2 each (1.0), the optimum is 1.1 (one y, one v).
    The LP's price on the shared row is anywhere in [0.8, 1]: at 0.9 the blocks prove 1.1, at 0.8 or 1
    they prove 1.0. Whichever HiGHS answers, the bound lies between."""
    model = _two_blocks(0.1, (1.0, math.inf))
    relaxed = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=True)
    bound = lagrangian_bound(model, relaxed, time_limit_s=10, seed=0)
    assert bound is not None and bound.lp == pytest.approx(1.0)
    assert 1.0 - 1e-9 <= bound.bound <= 1.1 + 1e-9


def test_a_model_without_blocks_or_duals_has_no_decomposition_bound() -> None:
    b = ModelBuilder()
    b.add_variables(0, 1, integer=True, obj=1.0, hint=0)
    model = b.build(offset=0.0, with_hint=False)
    relaxed = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=True)
    with pytest.raises(ValueError, match="block"):
        lagrangian_bound(model, relaxed, time_limit_s=10, seed=0)
    mip = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0)
    assert mip.duals is None
    assert lagrangian_bound(model, mip, time_limit_s=10, seed=0) is None


@st.composite
def block_models(draw: st.DrawFn) -> LinearModel:
    """2-3 blocks of 1-3 integer variables in 0..2, own rows and shared rows of every kind (<=, >=, =)."""
    b = ModelBuilder()
    blocks = draw(st.integers(2, 3))
    owned: list[np.ndarray] = []
    for k in range(blocks):
        n = draw(st.integers(1, 3))
        obj = draw(st.lists(st.integers(-3, 6), min_size=n, max_size=n))
        owned.append(b.add_variables(0, 2, integer=True, obj=obj, hint=0, block=k) if n == 1 else
                     b.add_variables(0, np.full(n, 2.0), integer=True, obj=obj, hint=0, block=k))  # fmt: skip
    coef = st.integers(-3, 3)
    for group in [*owned, np.concatenate(owned), np.concatenate(owned)]:
        for _ in range(draw(st.integers(0, 2))):
            a = np.asarray(draw(st.lists(coef, min_size=group.shape[0], max_size=group.shape[0])), dtype=np.float64)
            if not a.any():
                continue
            side = draw(st.sampled_from(["le", "ge", "eq"]))
            rhs = float(draw(st.integers(-2, 5)))
            row = b.add_rows(-math.inf if side == "le" else rhs, math.inf if side == "ge" else rhs)
            nz = np.flatnonzero(a)
            b.add_coefficients(np.repeat(row, nz.shape[0]), group[nz], a[nz])
    return b.build(offset=float(draw(st.integers(-5, 5))), with_hint=False)


def _brute_force(model: LinearModel) -> float | None:
    best = None
    for point in itertools.product(range(3), repeat=model.variables):
        v = np.asarray(point, dtype=np.float64)
        if model.violation(v) < 1e-9:
            value = model.objective(v)
            best = value if best is None else min(best, value)
    return best


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block_models())
def test_the_bound_lies_between_the_lp_and_the_optimum(model: LinearModel) -> None:
    relaxed = solve_model(model, time_limit_s=10, seed=0, relative_gap=0.0, relax=True)
    best = _brute_force(model)
    if not relaxed.optimal or best is None:
        return  # no LP optimum (infeasible), or no integer plan: nothing to bound
    bound = lagrangian_bound(model, relaxed, time_limit_s=10, seed=0)
    assert bound is not None
    assert relaxed.objective is not None
    assert relaxed.objective - 1e-6 <= bound.bound <= best + 1e-6
