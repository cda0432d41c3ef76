"""Scale-out: datasketch's Redis storage lets several filters share one index (needs redis-server)."""

from __future__ import annotations

import pytest

from selfinstruct.dedup import DedupConfig, NearDuplicateFilter
from selfinstruct.errors import StorageError

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """One redis-server for the module (``parts.RedisServer``: skips locally, fails in CI, when not installed)."""
    from parts import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.start().url
    finally:
        server.stop()


def test_redis_index_makes_the_same_decisions(redis_url, corpora):
    seeds, stream = corpora["mutations"]
    stream = stream[:300]
    memory = NearDuplicateFilter()
    memory.add_many(seeds)
    shared = NearDuplicateFilter(DedupConfig(storage="redis", redis_url=redis_url, redis_prefix="same"))
    shared.add_many(seeds)
    want = [d.keep for d in memory.check_and_add_many(stream)]
    assert [d.keep for d in shared.check_and_add_many(stream)] == want
    assert not all(want)
    # Pipelined writes and reads use datasketch's layout: its own MinHashLSH.query agrees.
    from datasketch import LeanMinHash

    _, _, sig = shared._prepare(stream[:40])
    for row in sig:
        lean = LeanMinHash(seed=1, hashvalues=row, scheme="affine32")
        assert sorted(shared._redis.query(row)) == sorted(shared._redis._lsh.query(lean))


def test_two_generators_share_one_index(redis_url):
    config = DedupConfig(storage="redis", redis_url=redis_url, redis_prefix="shared")
    first, second = NearDuplicateFilter(config), NearDuplicateFilter(config)
    assert first.check_and_add("Write a haiku about autumn leaves falling.").keep
    d = second.check("Write a haiku about the autumn leaves falling.")
    assert not d.keep and list(d.most_similar) == ["Write a haiku about autumn leaves falling."]


def test_unreachable_redis_is_a_storage_error():
    from parts import free_port

    with pytest.raises(StorageError, match="redis"):
        NearDuplicateFilter(DedupConfig(storage="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0"))
