"""Fulfilment decisions: which locations ship an order, at what cost, by when, and why (library, no gRPC).

    problem = build_problem(store, order, cost_model=cost_model)   # candidates from the ATP arrays
    result = solve(problem, time_limit_s=0.5, seed=0)                # the OR-Tools optimiser
    result = route(problem, policy="fewest_shipments")               # or any registered policy
    batch = solve_batch(store, orders, time_limit_s=10)              # a wave of orders, jointly

This library never imports gRPC or the `omniroute` application.
"""

from ._kernels import warm_up as warm_up
from .backorders import date_backorders as date_backorders
from .batch import BatchModelStats as BatchModelStats
from .batch import BatchResult as BatchResult
from .batch import BatchTotals as BatchTotals
from .batch import SequentialRouting as SequentialRouting
from .batch import solve_batch as solve_batch
from .candidates import Bounds as Bounds
from .candidates import CapacityUse as CapacityUse
from .candidates import RoutingProblem as RoutingProblem
from .candidates import Selection as Selection
from .candidates import build_problem as build_problem
from .candidates import compute_bounds as compute_bounds
from .candidates import select_candidates as select_candidates
from .candidates import with_capacity_used as with_capacity_used
from .model import Alternative as Alternative
from .model import Block as Block
from .model import CandidateStats as CandidateStats
from .model import CostBreakdown as CostBreakdown
from .model import DeliveryMethod as DeliveryMethod
from .model import Destination as Destination
from .model import Order as Order
from .model import OrderLine as OrderLine
from .model import RoutingOptions as RoutingOptions
from .model import RoutingResult as RoutingResult
from .model import ServiceLevel as ServiceLevel
from .model import Shipment as Shipment
from .model import ShipmentLine as ShipmentLine
from .model import SolveStatus as SolveStatus
from .model import UnfulfilledLine as UnfulfilledLine
from .model import UnfulfilledReason as UnfulfilledReason
from .network import Calendar as Calendar
from .network import CostModel as CostModel
from .network import LocationTypeRules as LocationTypeRules
from .network import NetworkCosts as NetworkCosts
from .network import ParcelRates as ParcelRates
from .network import SameDayRates as SameDayRates
from .network import TransitTimes as TransitTimes
from .network import cost_model_for_snapshot as cost_model_for_snapshot
from .network import cost_model_from_mapping as cost_model_from_mapping
from .network import load_cost_model as load_cost_model
from .network import network_costs as network_costs
from .plans import plan_cost as plan_cost
from .plans import plan_violations as plan_violations
from .policies import DEFAULT_POLICY as DEFAULT_POLICY
from .policies import POLICIES as POLICIES
from .policies import Policy as Policy
from .policies import get_policy as get_policy
from .policies import route as route
from .policies import route_order as route_order
from .solve import solve as solve
