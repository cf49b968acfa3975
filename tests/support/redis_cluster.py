"""A real, throw-away Redis Cluster on free ports of 127.0.0.1 for the Redis ledger's cluster tests.

Three masters (no replicas: the tests are about routing keys and streams to the node that owns them,
not about failover), each a `redis-server --cluster-enabled yes` in its own temporary directory,
joined with `redis-cli --cluster create ... --cluster-yes`, and ready once every node answers
`cluster_state:ok`. Never the shared server on 6379, never a fake.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from omniroute.redis_server import RedisServer, free_port


class RedisCluster:
    def __init__(self, masters: int = 3) -> None:
        if masters < 3:
            raise ValueError(f"masters={masters}: Redis Cluster needs at least 3 masters")
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (it comes with Debian's redis-tools / redis-server)")
        self.cli = cli
        # the cluster bus gets a free port of its own: by default it is the port + 10000, which fails
        # for ports above 55535 (most free ports) and may be taken
        cluster = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
        self.nodes = [RedisServer(extra=(*cluster, "--cluster-port", str(free_port()))) for _ in range(masters)]

    @property
    def url(self) -> str:
        """The ledger's URL for this cluster: any node will do, the client discovers the others."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            done = subprocess.run(
                [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
            self._wait_ok()
        except BaseException:
            self.cleanup()
            raise
        return self

    def _wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            client = redis.Redis(host="127.0.0.1", port=node.port, socket_connect_timeout=0.5)
            try:
                while True:
                    info = client.cluster("INFO")  # parsed by redis-py into a dict
                    # every node must also know all the others, or a client it bootstraps sees a partial map
                    known = client.cluster("NODES")
                    if info.get("cluster_state") == "ok" and len(known) == len(self.nodes):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cluster node {node.port} not ready after {timeout} s: {info}")
                    time.sleep(0.05)
            finally:
                client.close()

    def flushall(self) -> None:
        for node in self.nodes:
            client = redis.Redis(host="127.0.0.1", port=node.port)
            try:
                client.flushall()
            finally:
                client.close()

    def keys_per_node(self, pattern: str = "*") -> dict[int, int]:
        """How many keys matching `pattern` each node holds (by port)."""
        out: dict[int, int] = {}
        for node in self.nodes:
            client = redis.Redis(host="127.0.0.1", port=node.port)
            try:
                out[node.port] = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
            finally:
                client.close()
        return out

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)

    def owner(self, slot: int) -> int:
        """The port of the master that owns `slot`."""
        client = self._client(self.nodes[0].port)
        try:
            for start, end, (_host, port, *_rest), *_replicas in client.cluster("SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(port)
        finally:
            client.close()
        raise RuntimeError(f"no master owns slot {slot}")

    def move_slot(self, slot: int, to_port: int) -> None:
        """Move one slot and its keys to another master, as a resharding does (redis-cli --cluster
        reshard): importing and migrating states, MIGRATE of the keys, then the new owner announced to
        every node. Clients that still send the slot's keys to the old owner get MOVED from then on."""
        from_port = self.owner(slot)
        if from_port == to_port:
            return
        src, dst = self._client(from_port), self._client(to_port)
        try:
            src_id, dst_id = src.cluster("MYID").decode(), dst.cluster("MYID").decode()
            dst.cluster("SETSLOT", slot, "IMPORTING", src_id)
            src.cluster("SETSLOT", slot, "MIGRATING", dst_id)
            while keys := src.cluster("GETKEYSINSLOT", slot, 100):
                src.migrate("127.0.0.1", to_port, keys, 0, 5000)
            for node in self.nodes:
                client = self._client(node.port)
                try:
                    client.cluster("SETSLOT", slot, "NODE", dst_id)
                finally:
                    client.close()
        finally:
            src.close()
            dst.close()

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
