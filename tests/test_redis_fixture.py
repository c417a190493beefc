"""The Redis fixture starts a real private server over TCP (never someone's database 0)."""

from __future__ import annotations

import redis

from acd.dev.redis_server import RedisServer


def test_private_server_answers_over_tcp(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    assert redis_server.port > 0
    redis_client.set("probe", b"\x81\xa1a\x01")
    assert redis_client.get("probe") == b"\x81\xa1a\x01"
    info = redis_client.info("server")
    assert info["tcp_port"] == redis_server.port


def test_each_test_starts_with_an_empty_keyspace(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
