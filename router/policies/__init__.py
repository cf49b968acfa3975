"""Routing policies, selectable by name: `optimal` (the default) and the baselines it is compared with.

A policy is a plug-in behind the `Policy` protocol, one small module each, listed in `_MODULES`. The
registry is built and checked when this package is imported (names unique and equal to their module's,
each object a Policy), so a broken plug-in fails at start-up, not on the first order that names it.
Baselines are only ever used when asked for by name: nothing falls back to them silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from importlib import import_module
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from availability.errors import InvalidArgument
from availability.store import StockStore

from ..backorders import date_backorders
from ..candidates import RoutingProblem, build_problem
from ..model import Order, RoutingResult
from ..network import CostModel
from ..solve import DEFAULT_TIME_LIMIT_S

DEFAULT_POLICY = "optimal"
_MODULES = ("optimal", "nearest", "priority", "high_stock", "fewest_shipments")


@runtime_checkable
class Policy(Protocol):
    name: str
    description: str

    def plan(self, problem: RoutingProblem, *, time_limit_s: float, seed: int) -> RoutingResult: ...


def _registry() -> Mapping[str, Policy]:
    found: dict[str, Policy] = {}
    for module_name in _MODULES:
        policy = getattr(import_module(f"{__name__}.{module_name}"), "POLICY", None)
        if not isinstance(policy, Policy):
            raise TypeError(f"router.policies.{module_name}.POLICY is not a Policy")
        if policy.name != module_name or policy.name in found:
            raise TypeError(f"policy {policy.name!r} of module {module_name!r}: names must be unique and match")
        found[policy.name] = policy
    if DEFAULT_POLICY not in found:
        raise TypeError(f"the default policy {DEFAULT_POLICY!r} is not registered")
    return MappingProxyType(found)


POLICIES: Mapping[str, Policy] = _registry()


def get_policy(name: str) -> Policy:
    policy = POLICIES.get(name) if isinstance(name, str) else None
    if policy is None:
        raise InvalidArgument("policy", name, f"must be one of {sorted(POLICIES)}")
    return policy


def route(
    problem: RoutingProblem,
    *,
    policy: str = DEFAULT_POLICY,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
) -> RoutingResult:
    """The plan of the named policy for a problem (see router.build_problem)."""
    return get_policy(policy).plan(problem, time_limit_s=time_limit_s, seed=seed)


def route_order(
    store: StockStore,
    order: Order,
    *,
    policy: str = DEFAULT_POLICY,
    cost_model: CostModel | None = None,
    capacity_left: Mapping[str, int] | None = None,
    now: datetime | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
) -> RoutingResult:
    """build_problem then route: the convenient form for one order against a store."""
    get_policy(policy)  # a bad name fails before any work
    problem = build_problem(store, order, cost_model=cost_model, capacity_left=capacity_left, now=now)
    result = route(problem, policy=policy, time_limit_s=time_limit_s, seed=seed)
    return date_backorders(store, order, result, cost_model=cost_model, now=now)
