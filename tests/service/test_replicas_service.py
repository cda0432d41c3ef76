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


def test_service_config_checks_replicas_and_shared_limits(tmp_path):
    from selfinstruct.errors import ConfigError
    from selfinstruct.service.backends import backend_key
    from selfinstruct.service.config import load_service_file

    path = tmp_path / "service.toml"
    path.write_text('[limits]\nredis_url = "redis://127.0.0.1:6379/0"\nredis_fallback_fraction = 0.25\n\n'
                    '[backends.pool]\napi_base = "http://127.0.0.1:1/v1"\napi_key_env = "POOL_KEY"\n\n'
                    '[[backends.pool.replicas]]\napi_base = "http://127.0.0.1:1/v1"\n\n'
                    '[[backends.pool.replicas]]\napi_base = "http://127.0.0.1:2/v1"\napi_key_env = "OTHER_KEY"\n')
    settings = load_service_file(path)
    assert settings["limits"].redis_fallback_fraction == 0.25
    pool = settings["backends"]["pool"]
    # each replica's key from its own variable, else the backend's; nothing else is read
    assert backend_key(pool, {"POOL_KEY": "k1", "OTHER_KEY": "k2", "UNRELATED": "x"}) == ("k1", "k2")
    with pytest.raises(ConfigError, match="OTHER_KEY|not set"):
        backend_key(pool, {"POOL_KEY": "k1"})
    for bad, message in [
        ('[limits]\nrpm = 5\n', "unknown key 'rpm' in \\[limits\\]"),
        ('[limits]\nredis_url = "http://x"\n', "redis://"),
        ('[backends.p]\napi_base = "http://127.0.0.1:9/v1"\n[[backends.p.replicas]]\napi_base = "http://127.0.0.1:1/v1"\n',
         "api_base must be one of its replicas"),
    ]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            load_service_file(path)
