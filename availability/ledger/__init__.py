"""Write models: every stock change is applied here, atomically and idempotently."""

from .base import ChangeBatch as ChangeBatch
from .base import ChangeListener as ChangeListener
from .base import Ledger as Ledger
from .base import PartitionLag as PartitionLag
from .base import SafetyStockEntry as SafetyStockEntry
from .entries import MAX_EVENT_BATCH as MAX_EVENT_BATCH
from .memory import MemoryLedger as MemoryLedger
