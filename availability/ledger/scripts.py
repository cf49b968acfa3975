"""The Redis ledger's atomic primitives: every Lua script of `lua/`, loaded once, and called with its
keys in one fixed order. This is the one place to read when a race is suspected: every check-and-apply
of the Redis backend is one of these scripts, and each script touches only keys of one partition
(see redis_keys.py), so each call is atomic even on Redis Cluster.

Calls go out as EVALSHA; a NOSCRIPT answer (Redis restarted, or SCRIPT FLUSH) loads every script and
sends the refused calls again, which is safe because a refused call did not run. Several calls can be
pipelined in one round trip (one per partition of a batch).

Commands are packed here rather than by redis-py: an event batch sends two arguments per event (its id
key and its payload), and redis-py's packer costs about 1.2 us per argument (12 ms for a batch of 5,000
events), three times the cost of the string join below. Ids are ASCII by construction (check_id), so a
string's length is its byte length; anything else falls back to encoding argument by argument.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, MovedError, NoScriptError, RedisClusterException, ResponseError

from ..errors import Unavailable
from .redis_connect import REDIRECTS, Client, node_of, refresh_map, slot_of
from .redis_connect import connect as connect
from .redis_connect import redacted as redacted
from .redis_keys import Keys

SCRIPT_NAMES = (
    "events",
    "safety",
    "allocations",
    "network",
    "switch",
    "init",
    "read",
    "load",
    "hold",
    "rsv",
    "noop",
)

Arg = str | bytes | int
REDIRECT_ATTEMPTS = 5  # rounds of "refused: send again" (NOSCRIPT, or a cluster's MOVED and the like)


def _source(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class ScriptFailed(RuntimeError):
    """A script raised an error inside Redis: a bug or a corrupted key, never bad input."""


class ErrorTally:
    """Failed Redis calls of this process's ledgers, by kind: "unavailable" (refused, lost or timed out,
    counted where they become Unavailable) and "script" (ScriptFailed). The service exports them as a
    metric; the library only counts (it never imports the service)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


LEDGER_ERRORS = ErrorTally()


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Connection failures as Unavailable, with the ledger's address (never its password)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, OSError, RedisClusterException, ClusterDownError) as err:
        # cluster errors: no node reachable, a slot no master covers, or the cluster refusing commands
        LEDGER_ERRORS.add("unavailable")
        raise Unavailable(f"ledger at {redacted(url)} unreachable: {err}") from None


# ---------------------------------------------------------------------------------------------- packing
def _bulk(arg: Arg) -> bytes:
    if isinstance(arg, int):
        arg = str(arg)
    if isinstance(arg, str):
        arg = arg.encode()
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def _bulk_text(args: Sequence[str]) -> bytes:
    text = "".join([f"${len(a)}\r\n{a}\r\n" for a in args])
    if text.isascii():
        return text.encode()
    return b"".join(_bulk(a) for a in args)


def _bulk_prefixed(prefix: str, items: Sequence[str]) -> bytes:
    """Bulk strings prefix+item for every item (the key names of one kind)."""
    lp = len(prefix)
    text = "".join([f"${lp + len(x)}\r\n{prefix}{x}\r\n" for x in items])
    if text.isascii():
        return text.encode()
    return b"".join(_bulk(prefix + x) for x in items)


@dataclass(frozen=True, slots=True)
class Call:
    """One EVALSHA, packed: the script's name, how many arguments, the argument bytes, and the partition
    whose keys it touches (-1: none; on a cluster, the call goes to the node owning its slot)."""

    script: str
    n_keys: int
    n_args: int
    body: bytes  # the keys and arguments, already in RESP bulk form
    partition: int = -1


def _call(script: str, keys: Sequence[str], args: Sequence[Arg], partition: int) -> Call:
    body = _bulk_text(keys) + b"".join(_bulk(a) for a in args)
    return Call(script, len(keys), len(keys) + len(args), body, partition)


# ---------------------------------------------------------------------------------------------- replies
@dataclass(frozen=True, slots=True)
class GenerationChanged:
    """A script found the partition on another generation than the caller's (a snapshot load)."""

    live: int


@dataclass(frozen=True, slots=True)
class EventsReply:
    seq_before: int
    seq_after: int
    high_water: int
    window_start: int
    codes: bytes
    info: list[str]
    rows: bytes


@dataclass(frozen=True, slots=True)
class WriteReply:
    seq_before: int
    seq_after: int
    rows: bytes = b""


@dataclass(frozen=True, slots=True)
class ReadReply:
    seq: int
    text: bytes


def _generation_changed(reply: Any) -> GenerationChanged | None:
    if isinstance(reply, list) and reply and reply[0] == -1:
        live = reply[1]
        return GenerationChanged(int(live) if live else 0)
    return None


# ---------------------------------------------------------------------------------------------- scripts
class Scripts:
    """Builds and runs the ledger's script calls for one Redis, or one Redis Cluster (each call goes to
    the master owning its partition's slot)."""

    def __init__(self, client: Client, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._source = {name: _source(name) for name in SCRIPT_NAMES}
        # SCRIPT LOAD answers the SHA1 of the source: known before talking to Redis
        self.sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in self._source.items()}
        self._conn: object | None = None
        self._conn_lock = threading.Lock()
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._links: dict[str, Any] = {}  # cluster: node name -> this object's own connection to it
        self._slots: dict[int, int] = {}  # cluster: partition -> slot

    def load_all(self) -> None:
        # on a cluster, redis-py sends SCRIPT LOAD to every master
        for name, src in self._source.items():
            sha = self.client.script_load(src)
            if sha != self.sha[name]:  # pragma: no cover - only if Redis changed how it hashes
                raise ScriptFailed(f"script {name}: Redis answered SHA {sha}, expected {self.sha[name]}")

    def run(self, calls: Sequence[Call]) -> list[Any]:
        """Run calls pipelined in one round trip, in order; the replies in the same order. Calls refused
        with NOSCRIPT are sent again, in their order, after loading the scripts; on a cluster, so are
        calls refused with MOVED, ASK, TRYAGAIN or CLUSTERDOWN, after reading the map of slots again.
        Either way a refused call did not run."""
        replies = self._send(calls)
        for attempt in range(REDIRECT_ATTEMPTS + 1):
            refused = [k for k, r in enumerate(replies) if isinstance(r, (NoScriptError, *REDIRECTS))]
            if not refused:
                break
            if attempt == REDIRECT_ATTEMPTS:
                LEDGER_ERRORS.add("unavailable")
                raise Unavailable(f"Redis keeps refusing script {calls[refused[0]].script}: {replies[refused[0]]}")
            if any(isinstance(replies[k], REDIRECTS) for k in refused) and self._cluster is not None:
                # a failover or a slot migration: moved at once, or soon (TRYAGAIN, CLUSTERDOWN)
                moved_only = all(isinstance(replies[k], (NoScriptError, MovedError)) for k in refused)
                refresh_map(self._cluster, pause_s=0.0 if moved_only else 0.05 * (attempt + 1))
            if any(isinstance(replies[k], NoScriptError) for k in refused):
                self.load_all()
            again = self._send([calls[k] for k in refused])
            for k, r in zip(refused, again, strict=True):
                replies[k] = r
        for call, r in zip(calls, replies, strict=True):
            if isinstance(r, ResponseError):
                LEDGER_ERRORS.add("script")
                raise ScriptFailed(f"script {call.script} failed inside Redis: {r}")
        return replies

    @staticmethod
    def _packed(calls: Sequence[Call], sha: dict[str, str]) -> list[bytes]:
        return [
            b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n%s%s"
            % (c.n_args + 3, sha[c.script].encode(), _bulk(c.n_keys), c.body)
            for c in calls
        ]

    @staticmethod
    def _fresh(link: Any) -> None:
        """A connection the server closed while idle (a restart) reads as ready: drop it now, rather
        than send a write into it and not know whether it ran."""
        try:
            if link._sock is not None and link.can_read(timeout=0):
                link.disconnect()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            link.disconnect()

    @staticmethod
    def _replies(link: Any, n: int) -> list[Any]:
        out: list[Any] = []
        for _ in range(n):
            try:
                out.append(link.read_response())
            except ResponseError as err:
                out.append(err)
        return out

    def _send(self, calls: Sequence[Call]) -> list[Any]:
        if self._cluster is not None:
            return self._send_cluster(calls)
        # one connection of its own, not one from the pool per call: redis-py's pool bookkeeping costs
        # about 50 us a call, a quarter of a round trip. Writers are serialised per ledger anyway.
        with self._conn_lock:
            if self._conn is None:
                self._conn = self.client.connection_pool.make_connection()  # type: ignore[union-attr]
            link: Any = self._conn  # redis-py leaves these methods unannotated
            self._fresh(link)
            try:
                link.send_packed_command(self._packed(calls, self.sha))
                return self._replies(link, len(calls))
            except BaseException:
                # a half-read pipeline leaves replies on the socket: start afresh next time
                link.disconnect()
                raise

    def _slot(self, partition: int) -> int:
        slot = self._slots.get(partition)
        if slot is None:
            slot = self._slots[partition] = slot_of(self.keys.tag(partition))
        return slot

    def _send_cluster(self, calls: Sequence[Call]) -> list[Any]:
        """Each node's calls on this object's own connection to it: every node's batch is sent before
        any reply is read, so a round trip to three nodes costs about one."""
        cluster = self._cluster
        assert cluster is not None
        groups: dict[str, tuple[Any, list[int]]] = {}
        for k, c in enumerate(calls):
            node = node_of(cluster, self._slot(max(c.partition, 0)))  # a call without keys: any node will do
            groups.setdefault(node.name, (node, []))[1].append(k)
        out: list[Any] = [None] * len(calls)
        with self._conn_lock:
            used: list[tuple[Any, list[int]]] = []
            try:
                for name, (node, idx) in groups.items():
                    link = self._links.get(name)
                    if link is None:
                        link = self._links[name] = node.redis_connection.connection_pool.make_connection()
                    used.append((link, idx))
                    self._fresh(link)
                    link.send_packed_command(self._packed([calls[k] for k in idx], self.sha))
                for link, idx in used:
                    for k, r in zip(idx, self._replies(link, len(idx)), strict=True):
                        out[k] = r
            except BaseException:
                for link, _ in used:
                    link.disconnect()
                raise
        return out

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                link: Any = self._conn
                link.disconnect()
                self._conn = None
            for link in self._links.values():
                link.disconnect()
            self._links.clear()

    # ------------------------------------------------------------------ calls (keys in a fixed order)
    def events(
        self,
        partition: int,
        gen: int,
        skus: Sequence[str],
        entries: bytes,
        entry_keys: Sequence[str],
        claims: Sequence[str],
        *,
        now: int,
        high_water: int,
        window_start: int,
        window_ms: int,
        retention_ms: int,
        maxlen: int,
    ) -> Call:
        """KEYS: partition meta, stream, SKU list, counters per SKU, one id key per entry. `claims` are
        the entries' claim values, "<now> <payload>" ('' for applied-markers)."""
        k = self.keys
        head = [k.partition_meta(partition), k.log(partition), k.skus(partition, gen)]
        cp = k.counters_prefix(partition, gen)
        args: list[Arg] = [
            gen,
            now,
            high_water,
            window_start,
            window_ms,
            retention_ms,
            maxlen,
            len(skus),
            " ".join(skus),
        ]
        body = b"".join(
            [
                _bulk_text(head),
                _bulk_prefixed(cp, skus),
                _bulk_text(entry_keys),
                b"".join(_bulk(a) for a in args),
                _bulk(entries),
                _bulk_text(claims),
            ]
        )
        n_keys = 3 + len(skus) + len(entry_keys)
        return Call("events", n_keys, n_keys + len(args) + 1 + len(claims), body, partition)

    def safety(self, partition: int, gen: int, skus: Sequence[str], rows: bytes, *, maxlen: int) -> Call:
        """KEYS: partition meta, stream, counters per SKU."""
        k = self.keys
        cp = k.counters_prefix(partition, gen)
        keys = [k.partition_meta(partition), k.log(partition), *(cp + s for s in skus)]
        return _call("safety", keys, [gen, maxlen, len(skus), " ".join(skus), rows], partition)

    def allocations(self, partition: int, gen: int, skus: Sequence[str], rows: bytes, *, maxlen: int) -> Call:
        """KEYS: partition meta, stream, counters per SKU."""
        k = self.keys
        cp = k.counters_prefix(partition, gen)
        keys = [k.partition_meta(partition), k.log(partition), *(cp + s for s in skus)]
        return _call("allocations", keys, [gen, maxlen, len(skus), " ".join(skus), rows], partition)

    def network(self, partition: int, gen: int, version: int, catalogue: bytes, *, maxlen: int) -> Call:
        """KEYS: partition meta, stream, hold catalogue (lua/network.lua)."""
        k = self.keys
        keys = [k.partition_meta(partition), k.log(partition), k.catalogue(partition, gen)]
        return _call("network", keys, [gen, maxlen, version, catalogue], partition)

    def switch(self, partition: int, gen: int, *, maxlen: int) -> Call:
        k = self.keys
        return _call("switch", [k.partition_meta(partition), k.log(partition)], [gen, maxlen], partition)

    def init(self, partition: int, gen: int) -> Call:
        return _call("init", [self.keys.partition_meta(partition)], [gen], partition)

    def read(self, partition: int, gen: int, skus: Sequence[str]) -> Call:
        k = self.keys
        cp = k.counters_prefix(partition, gen)
        return _call("read", [k.partition_meta(partition), *(cp + s for s in skus)], [gen], partition)

    def load(self, partition: int, gen: int, skus: Sequence[str], positions: bytes, fences: bytes) -> Call:
        cp = self.keys.counters_prefix(partition, gen)
        return _call("load", [cp + s for s in skus], [positions, fences], partition)

    def hold(
        self,
        partition: int,
        gen: int,
        mode: str,
        skus: Sequence[str],
        rows: bytes,
        *,
        maxlen: int,
        retention_ms: int,
        step_key: str = "",
        record_key: str = "",
        local: Sequence[Arg] = ("", "", "", "", "", "", ""),
        checks: Sequence[Arg] = ("1", "", "", 0),
    ) -> Call:
        """KEYS: partition meta, stream, hold catalogue, step key, record, deadline set, counters per
        SKU (lua/hold.lua). `local` are ARGV 8-14 of mode 'local', `checks` ARGV 15 on (the catalogue
        version and the fields the quick check reads)."""
        k = self.keys
        tag = k.tag(partition)
        keys = [
            k.partition_meta(partition),
            k.log(partition),
            k.catalogue(partition, gen),
            step_key or f"{tag}:st:-",
            record_key or f"{tag}:rsv:-",
            k.due(partition),
            *(k.counters_prefix(partition, gen) + s for s in skus),
        ]
        args = [gen, maxlen, mode, retention_ms, len(skus), " ".join(skus), rows, *local, *checks]
        return _call("hold", keys, args, partition)

    def rsv(self, partition: int, record_key: str, mode: str, epoch: str, args: Sequence[Arg] = ()) -> Call:
        """KEYS: record, deadline set, pending set, partition meta (lua/rsv.lua)."""
        k = self.keys
        keys = [record_key, k.due(partition), k.pending(partition), k.partition_meta(partition)]
        return _call("rsv", keys, [mode, epoch, *args], partition)

    def noop(self) -> Call:
        return _call("noop", [], [], -1)

    # ------------------------------------------------------------------ replies
    @staticmethod
    def events_reply(reply: Any) -> EventsReply | GenerationChanged:
        changed = _generation_changed(reply)
        if changed is not None:
            return changed
        _, _, s0, s1, hw, ws, codes, info, rows = reply
        return EventsReply(
            int(s0), int(s1), int(hw), int(ws), bytes(codes), bytes(info).decode().split("\n"), bytes(rows)
        )

    @staticmethod
    def write_reply(reply: Any) -> WriteReply | GenerationChanged:
        changed = _generation_changed(reply)
        if changed is not None:
            return changed
        rows = bytes(reply[4]) if len(reply) > 4 else b""
        return WriteReply(int(reply[2]), int(reply[3]), rows)

    @staticmethod
    def read_reply(reply: Any) -> ReadReply | GenerationChanged:
        changed = _generation_changed(reply)
        if changed is not None:
            return changed
        return ReadReply(int(reply[1]), bytes(reply[2]))
