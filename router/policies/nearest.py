"""`nearest`: each line from the closest location that has it, then the next closest."""

from ..greedy import plan_nearest
from ._baseline import GreedyPolicy

POLICY = GreedyPolicy("nearest", "each line from the closest location with it, then the next", plan_nearest)
