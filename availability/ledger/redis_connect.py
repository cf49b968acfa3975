"""How a ledger URL becomes a Redis client: one Redis server, or a Redis Cluster.

`redis://` / `rediss://` / `unix://` name one server; `redis+cluster://host:port` (or
`rediss+cluster://` for TLS) names a Redis Cluster by any of its nodes: the client discovers the others
and sends each key's commands to the master owning the key's slot. Every key of a ledger partition
shares the partition's hash tag (redis_keys.py), so each partition lives on exactly one node, and every
script call, which touches one partition only, runs there in one piece.

Two paths do not go through redis-py's cluster client, for speed: the script calls (scripts.py sends
them on one private connection per node, pipelined, every node's batch sent before any reply is read)
and the replicas' stream readers (redis_replica.py: a plain client to the node owning the partition,
since redis-py would ask the server for the keys of every XREAD first). Both find the node with
`node_of` and, when the cluster answers MOVED (a failover, a resharding), refresh the map and retry.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, RedisClusterException, TryAgainError
from redis.retry import Retry

from ..errors import InvalidArgument, Unavailable

Client = redis.Redis | RedisCluster
"""A ledger's client for everything but script calls and stream reads: one server, or a cluster
(whose client routes each command by its key, splits pipelines per node and SCANs every master)."""

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# replies that mean "not here, not now": the command did not run, so sending it again is safe
REDIRECTS = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def node_url(url: str, host: str, port: int) -> str:
    """The plain URL of one node of the cluster that `url` names: same credentials, scheme and options."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    auth = parts.netloc.rpartition("@")[0]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((scheme, f"{auth}@{where}" if auth else where, parts.path, parts.query, parts.fragment))


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def connect_server(url: str, *, socket_timeout: float | None = 10.0, connect_timeout: float = 2.0) -> redis.Redis:
    """A client of one server (a plain URL), failing fast like connect()."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def connect(url: str, *, socket_timeout: float | None = 10.0, connect_timeout: float = 2.0) -> Client:
    """A client that fails fast: no retries (redis-py retries 10 times by default, which would hold a
    checkout for many seconds while Redis is down; the caller gets Unavailable at once instead). A
    cluster client asks its first node for the map of slots here, so an unreachable cluster raises
    Unavailable now (a single server is only reached at the first command)."""
    if not is_cluster_url(url):
        return connect_server(url, socket_timeout=socket_timeout, connect_timeout=connect_timeout)
    parts = urlsplit(url)
    if parts.path not in ("", "/", "/0"):
        raise InvalidArgument("redis_url", redacted(url), "a Redis Cluster has only database 0")
    plain = urlunsplit((CLUSTER_SCHEMES[parts.scheme], parts.netloc, "", parts.query, parts.fragment))
    try:
        return RedisCluster.from_url(
            plain,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
    except (RedisClusterException, redis.RedisError, OSError) as err:
        raise Unavailable(f"ledger at {redacted(url)} unreachable: {err}") from None


def refuse_cluster_node(client: Client, url: str) -> None:
    """A plain URL that names a node of a cluster would work until the first key of another node's
    slots (MOVED): refuse it at once, saying which URL to use."""
    if isinstance(client, RedisCluster):
        return
    try:
        info = client.info("cluster")
    except redis.ResponseError:  # INFO not allowed to this user (some managed services): no check
        return
    if isinstance(info, dict) and int(info.get("cluster_enabled", 0)) == 1:
        parts = urlsplit(url)
        hint = urlunsplit((parts.scheme + "+cluster", parts.netloc, parts.path, parts.query, parts.fragment))
        raise InvalidArgument(
            "redis_url", redacted(url), f"this Redis is a node of a Redis Cluster: use {redacted(hint)}"
        )


def slot_of(key: str) -> int:
    return int(key_slot(key.encode()))


def node_of(cluster: RedisCluster, slot: int) -> ClusterNode:
    """The master that owns `slot` (by the client's map; refresh_map after a MOVED)."""
    try:
        return cluster.nodes_manager.get_node_from_slot(slot)
    except RedisClusterException:  # no node covers the slot (a failover in progress): ask again
        refresh_map(cluster)
        return cluster.nodes_manager.get_node_from_slot(slot)


def refresh_map(cluster: RedisCluster, *, pause_s: float = 0.0) -> None:
    """Read the cluster's map of slots again (after MOVED, ASK, TRYAGAIN or CLUSTERDOWN)."""
    if pause_s:
        time.sleep(pause_s)
    try:
        cluster.nodes_manager.initialize()
    except (RedisClusterException, redis.RedisError, OSError) as err:
        raise redis.ConnectionError(f"cannot read the cluster's slots: {err}") from None
