"""`omniroute simulate`: days of trade replayed in-process against the engine (ledger, router, reroutes,
expiry), one run per routing policy on identical demand, written as Parquet and an HTML report.

    scenario = load_scenario(Path("examples/scenarios/small-3-days.toml"))
    result = simulate(scenario)                 # SimulationResult: tables, metrics, daily
    write_results(result, Path("sim-results"))  # *.parquet and report.html
"""

from .run import SimulationResult as SimulationResult
from .run import simulate as simulate
from .run import write_results as write_results
from .scenario import Scenario as Scenario
from .scenario import load_scenario as load_scenario
from .scenario import scenario_from_mapping as scenario_from_mapping
