"""`fewest_shipments`: one location for the whole order where one can (nearest first); otherwise the
location covering the most remaining units, repeatedly."""

from ..greedy import plan_fewest_shipments
from ._baseline import GreedyPolicy

POLICY = GreedyPolicy(
    "fewest_shipments", "one location for the whole order where one can, nearest first", plan_fewest_shipments
)
