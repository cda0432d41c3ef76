"""A service backend with replicas, and its limits shared through a real redis-server: over real loopback HTTP.

Each replica is a simulator that answers 401 to any key but its own, so a key sent to the wrong
replica would show up as 401s; the metrics break calls down by replica, and the Redis keys name
the accounts by api_base and a key fingerprint, never the key.
"""

from __future__ import annotations

import json

import pytest

from workers.simulated import SimConfig, start_in_thread

from .helpers import job_spec

KEY_A = "sk-replica-a-0123456789"
KEY_B = "sk-replica-b-9876543210"


@pytest.mark.redis
@pytest.mark.timeout(180)
def test_a_backend_with_replicas_uses_each_with_its_own_key_and_shares_limits_in_redis(daemon_factory, redis_server,
                                                                                       tmp_path):
    with start_in_thread(SimConfig(latency_ms=5, seed=1, api_key=KEY_A)) as a, \
            start_in_thread(SimConfig(latency_ms=5, seed=2, api_key=KEY_B)) as b:
        config = tmp_path / "service.toml"
        config.write_text(
            f'[limits]\nredis_url = "{redis_server.url}"\n\n'
            f'[backends.pool]\napi_base = "{a.url}"\napi_key_env = "KEY_A"\nrpm = 1200\nmax_concurrency = 4\n\n'
            f'[[backends.pool.replicas]]\napi_base = "{a.url}"\n\n'
            f'[[backends.pool.replicas]]\napi_base = "{b.url}"\napi_key_env = "KEY_B"\nrpm = 600\n')
        d = daemon_factory(args=("--config", str(config)), env={"KEY_A": KEY_A, "KEY_B": KEY_B}).start()
        view = d.call("GET", "/backends")[1]["backends"][0]
        assert [r["api_base"] for r in view["replicas"]] == [a.url, b.url]
        assert [r["limits"]["rpm"] for r in view["replicas"]] == [1200, 600]
        assert "KEY_A" not in json.dumps(view) and "KEY_B" not in json.dumps(view)

        done = d.wait_state(d.submit(job_spec("pool", num_instructions=8)), ("done",), timeout=150)
        assert done["progress"]["accepted_instructions"] == 8
        for server in (a, b):
            stats = server.stats(with_ids=False)
            assert stats["requests"] > 0 and stats["status"].get("401", 0) == 0, stats
        status, metrics = d.call("GET", "/metrics")
        assert status == 200
        for url in (a.url, b.url):
            assert f'replica="{url}"' in metrics and "selfinstruct_replica_http_calls_total" in metrics

        import redis

        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            keys = sorted(client.keys("selfinstruct:limits:*"))
        finally:
            client.close()
        assert len(keys) == 2 and any(a.url in k for k in keys) and any(b.url in k for k in keys)
        assert not any(KEY_A in k or KEY_B in k for k in keys)
    assert KEY_A not in d.log and KEY_B not in d.log
