"""The commands over Redis: `omniroute load --data DIR --redis URL` writes a snapshot directory into
Redis (a second load switches generations, drops the old one and running replicas follow), and two
`omniroute serve --redis` servers share one ledger."""

from __future__ import annotations

from pathlib import Path

import redis
from click.testing import CliRunner

from availability import StockStore
from availability.ingest import load_snapshot
from availability.ledger.redis import RedisLedger
from omniroute.cli import main
from omniroute.client import Client, StockEvent
from omniroute.config import ServerConfig
from omniroute.redis_server import RedisServer
from omniroute.server import redis_loader
from tests.contract.conftest import observable
from tests.omniroute.fixtures import ServerThread, now_ms, with_config
from tests.redis.conftest import eventually

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot"


def test_load_writes_a_snapshot_directory_and_replicas_follow_a_second_load(
    redis_server: RedisServer, prefix: str
) -> None:
    runner = CliRunner()
    args = ["load", "--data", str(SAMPLE), "--redis", redis_server.url, "--prefix", prefix, "--partitions", "2"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "positions/s" in result.output and "generation 1, 2 partitions" in result.output
    expected = StockStore.from_snapshot(load_snapshot(SAMPLE))
    with RedisLedger(redis_server.url, prefix=prefix) as replica:
        assert replica.partitions == 2
        assert observable(replica.store) == observable(expected)
        result = runner.invoke(main, args[:-2])  # the partition count stays what it was
        assert result.exit_code == 0, result.output
        assert "generation 2, 2 partitions" in result.output
        eventually(lambda: replica.store.sequence >= 2, what="the replica to switch")
        assert observable(replica.store) == observable(expected)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    assert not list(client.scan_iter(match=f"*{prefix}*:g1:*"))
    client.flushall()
    client.close()


def test_load_refuses_another_partition_count_and_a_missing_url(redis_server: RedisServer, prefix: str) -> None:
    runner = CliRunner()
    base = ["load", "--data", str(SAMPLE), "--prefix", prefix]
    assert runner.invoke(main, [*base, "--redis", redis_server.url]).exit_code == 0
    result = runner.invoke(main, [*base, "--redis", redis_server.url, "--partitions", "3"])
    assert result.exit_code == 1 and "cannot change" in result.output
    result = runner.invoke(main, base, env={"OMNIROUTE_REDIS_URL": ""})
    assert result.exit_code == 2 and "--redis" in result.output
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()


def test_two_servers_share_one_redis_ledger(redis_server: RedisServer, prefix: str) -> None:
    config = with_config(redis_url=redis_server.url, redis_prefix=prefix, data_dir=SAMPLE)
    assert isinstance(config, ServerConfig)
    first = ServerThread(config, redis_loader(config)).start()
    second = ServerThread(config, redis_loader(config)).start()
    try:
        with Client(first.target, timeout=10) as a, Client(second.target, timeout=10) as b:
            sku = first.ledger.store.skus.id(0)
            location = first.ledger.store.network.index.id(0)
            before = b.get_positions([sku]).positions
            event = StockEvent("svc-1", "receipt", location, sku, 5, now_ms())
            assert a.apply_stock_events([event]).applied == 1
            eventually(lambda: b.get_positions([sku]).positions != before, what="the second server")
            assert b.apply_stock_events([event]).duplicates == 1
    finally:
        first.stop()
        second.stop()
        client = redis.Redis(host="127.0.0.1", port=redis_server.port)
        client.flushall()
        client.close()


def test_load_takes_the_directorys_atp_rules_else_keeps_the_ledgers(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    import shutil

    from availability import AtpConfig
    from availability.ingest import ATP_CONFIG_FILE, atp_config_toml

    with_rules = tmp_path / "with-rules"
    shutil.copytree(SAMPLE, with_rules)
    rules = AtpConfig(inbound_share_bp=(8000, 2500), default_safety=(1, 2, 0, 0), low_stock_network=5)
    (with_rules / ATP_CONFIG_FILE).write_text(atp_config_toml(rules))
    runner = CliRunner()
    base = ["load", "--redis", redis_server.url, "--prefix", prefix]
    assert runner.invoke(main, [*base, "--data", str(with_rules)]).exit_code == 0
    with RedisLedger(redis_server.url, prefix=prefix) as replica:
        assert replica.store.network.config == rules
        # a directory without rules keeps the ledger's
        assert runner.invoke(main, [*base, "--data", str(SAMPLE)]).exit_code == 0
        eventually(lambda: replica.store.sequence >= 1, what="the replica to switch")  # one partition
        assert replica.store.network.config == rules
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()
