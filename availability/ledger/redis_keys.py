"""Key names of the Redis ledger, and why every key of a SKU lives under a partition hash tag.

Why partitions rather than the SKU as the hash tag: each script appends its change records to a change
stream atomically, in the same call that changed the counters, so the stream must live in the same
Redis Cluster slot as the counters it describes. With `{sku}` as the tag there would be one stream per
SKU, and a replica would have to tail hundreds of thousands of streams. With `{<prefix>:p<N>}` as the
tag, N = crc32(sku) mod P, a replica tails P streams, P is chosen when the data is first loaded (stored
in `<prefix>:meta`, 1 by default), and Redis Cluster can still spread the P partitions over P nodes.

Layout (G is the generation: a snapshot load writes a new generation beside the live one and then
switches each partition to it, so writers never see a half-loaded snapshot):

    <prefix>:meta                  hash: partitions, gen (live generation), lastgen (allocator)
    <prefix>:g<G>:network          string: the catalogue (locations, channels, groups, ATP config), JSON
    <prefix>:load-lock             string: held while a snapshot is being written
  per partition, tag T = {<prefix>:p<N>}:
    T:meta                         hash: gen, seq (partition sequence), hw (newest event time applied),
                                   ws (start of the count window)
    T:log                          stream of change records, entry id "<seq>-0", one entry per script call
    T:g<G>:skus                    hash: SKU id -> unit weight in grams ('' when unknown)
    T:g<G>:c:<sku>                 hash of the counters of one SKU (see below)
    T:g<G>:inb                     list of packed inbound-supply chunks (written by loads only)
    T:id:<event id>                string "<time> <payload>": the event id's claim, with a retention TTL
    T:m:<event id>                 string "<time>": applied-marker of an event claimed in another partition
    T:wake:<replica>               stream used only to wake a replica's blocked reader when it closes
    T:g<G>:cat                     string: the hold catalogue (redis_codec.encode_hold_catalogue): what
                                   hold checks need of the locations, channels and groups
    T:rsv:<reservation id>         hash: a reservation whose id falls in this partition (lua/rsv.lua)
    T:due                          sorted set: held reservations of this partition by deadline
    T:pend                         sorted set: cross-partition operations in flight, by roll-back time
    T:st:<reservation id>:<epoch>  string: one step of such an operation in this partition (lua/hold.lua)

Counter fields are integers so that a whole SKU reads back as one list of integers (HGETALL joined by
commas, parsed by numpy): 4*loc on hand, 4*loc+1 reserved, 4*loc+2 explicit safety stock (absent: the
location type's default), 4*loc+3 time of the last applied cycle count; -(2+2*ch) the quantity
ring-fenced for channel ch and -(3+2*ch) what that channel consumed of it; -1 is a sentinel ("the SKU
exists in this generation"); HOLD_BASE-g (below -1,000,000) the units held at hold group g (a
location group, or a channel's network: LocationTable.hold_group_index). One more field per position,
'j<loc>', is the journal of recent deltas a late count adds back: packed (time int64, delta int32)
entries in arrival order, pruned to the count window and the last count. It lives in the same hash
because a separate key per SKU (a sorted set was the first design) cost a key creation and a command per
event: 22 us per event inside Redis instead of about 10.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_PREFIX = "omniroute"

F_ON_HAND = 0
F_RESERVED = 1
F_SAFETY = 2
F_COUNT_TIME = 3
F_SENTINEL = -1
HOLD_BASE = -1_000_000  # field of the units held at hold group g: HOLD_BASE - g (as in lua/hold.lua)


def partition_of(ident: str, partitions: int) -> int:
    """Stable across processes and machines (Python's hash() is salted per process)."""
    if partitions == 1:
        return 0
    return zlib.crc32(ident.encode()) % partitions


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one ledger (one prefix)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        # braces would change the hash tag, spaces break the record format, glob characters the SCAN
        # patterns that drop old generations
        if not self.prefix or any(c in self.prefix for c in "{} \n*?[]\\"):
            raise ValueError(f"prefix={self.prefix!r}: must be non-empty, without braces, spaces or *?[]\\")

    @property
    def meta(self) -> str:
        return f"{self.prefix}:meta"

    @property
    def load_lock(self) -> str:
        return f"{self.prefix}:load-lock"

    def network(self, gen: int) -> str:
        return f"{self.prefix}:g{gen}:network"

    def tag(self, partition: int) -> str:
        return f"{{{self.prefix}:p{partition}}}"

    def partition_meta(self, partition: int) -> str:
        return f"{self.tag(partition)}:meta"

    def log(self, partition: int) -> str:
        return f"{self.tag(partition)}:log"

    def skus(self, partition: int, gen: int) -> str:
        return f"{self.tag(partition)}:g{gen}:skus"

    def counters_prefix(self, partition: int, gen: int) -> str:
        return f"{self.tag(partition)}:g{gen}:c:"

    def inbound(self, partition: int, gen: int) -> str:
        return f"{self.tag(partition)}:g{gen}:inb"

    def claim_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:id:"

    def marker_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:m:"

    def catalogue(self, partition: int, gen: int) -> str:
        return f"{self.tag(partition)}:g{gen}:cat"

    def record(self, partition: int, reservation_id: str) -> str:
        return f"{self.tag(partition)}:rsv:{reservation_id}"

    def due(self, partition: int) -> str:
        return f"{self.tag(partition)}:due"

    def pending(self, partition: int) -> str:
        return f"{self.tag(partition)}:pend"

    def step(self, partition: int, reservation_id: str, epoch: str) -> str:
        return f"{self.tag(partition)}:st:{reservation_id}:{epoch}"

    def wake(self, partition: int, replica: str) -> str:
        return f"{self.tag(partition)}:wake:{replica}"

    # SCAN patterns: one pattern covers every partition, so a SCAN of each master (of a cluster, or the
    # one server) finds every key of a kind at once; keys_in() keeps only this prefix's own keys
    def records_pattern(self) -> str:
        """SCAN pattern of every reservation record, in every partition."""
        return f"{{{self.prefix}:p*}}:rsv:*"

    def generations_pattern(self) -> str:
        """SCAN pattern of every generation-scoped key of every partition (dropping old generations)."""
        return f"{{{self.prefix}:p*}}:g*"

    def networks_pattern(self) -> str:
        return f"{self.prefix}:g*:network"

    def keys_in(self, found: Iterable[bytes | str], what: str) -> Iterator[tuple[str, int, str]]:
        """The keys SCAN found that are this prefix's `what` keys ('rsv', or 'g' for generation-scoped
        ones), as (key, partition, rest after the kind). A pattern's '*' also matches another ledger
        whose prefix extends this one (prefix 'a' and prefix 'a:px'): those are left out here."""
        head = re.compile(rf"\{{{re.escape(self.prefix)}:p(\d+)\}}:{what}")
        for raw in found:
            key = raw.decode() if isinstance(raw, bytes) else raw
            m = head.match(key)
            if m is not None:
                yield key, int(m.group(1)), key[m.end() :]
