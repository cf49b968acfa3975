"""`priority`: locations in ascending priority (lower is preferred), taking what each has until the line
is covered; disabled and empty locations skipped."""

from ..greedy import plan_priority
from ._baseline import GreedyPolicy

POLICY = GreedyPolicy("priority", "locations in ascending priority until each line is covered", plan_priority)
