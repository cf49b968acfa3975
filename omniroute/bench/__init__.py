"""`omniroute bench`: the standard benchmark set on a generated network, in-process and over gRPC, as one
table and a JSON file to compare versions with. The protocol of each row is in the docstring of the
module that measures it (inprocess, redis_rows, grpc_rows); the README's "Measured figures" come from it.
"""

from .results import SCHEMA as SCHEMA
from .results import Goal as Goal
from .results import Results as Results
from .results import ResultsError as ResultsError
from .results import Row as Row
from .results import compare as compare
from .results import read_results as read_results
from .runner import SIZES as SIZES
from .runner import SUITES as SUITES
from .runner import BenchOptions as BenchOptions
from .runner import OptionsError as OptionsError
from .runner import parse_only as parse_only
from .runner import run_bench as run_bench
