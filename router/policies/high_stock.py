"""`high_stock`: each line from the location with the most of it first."""

from ..greedy import plan_high_stock
from ._baseline import GreedyPolicy

POLICY = GreedyPolicy("high_stock", "each line from the location with the most of it first", plan_high_stock)
