"""The inventory engine: read model, ATP rules, write models (ledgers), ingestion and feeds.

This library never imports gRPC or the `omniroute` application.
"""

from .atp import AvailabilityQuery as AvailabilityQuery
from .atp import AvailabilityResult as AvailabilityResult
from .atp import get_availability as get_availability
from .catalog import IdIndex as IdIndex
from .errors import AlreadyExists as AlreadyExists
from .errors import FailedPrecondition as FailedPrecondition
from .errors import InsufficientStock as InsufficientStock
from .errors import InvalidArgument as InvalidArgument
from .errors import NotFound as NotFound
from .errors import OmnirouteError as OmnirouteError
from .errors import Shortfall as Shortfall
from .errors import Unavailable as Unavailable
from .locations import LocationTable as LocationTable
from .locations import Scope as Scope
from .model import AllocationRow as AllocationRow
from .model import AtpConfig as AtpConfig
from .model import Channel as Channel
from .model import EventBatchResult as EventBatchResult
from .model import EventOutcome as EventOutcome
from .model import EventResult as EventResult
from .model import EventType as EventType
from .model import InboundType as InboundType
from .model import Location as Location
from .model import LocationGroup as LocationGroup
from .model import LocationType as LocationType
from .model import Method as Method
from .model import Sku as Sku
from .model import Snapshot as Snapshot
from .model import StockEvent as StockEvent
from .model import StockStatus as StockStatus
from .store import StockStore as StockStore
