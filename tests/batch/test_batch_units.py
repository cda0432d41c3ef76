"""The batch pieces on their own: file splitting, config and price checks, the worker's key hygiene and errors."""

from __future__ import annotations

import pytest
from aiohttp import web

from selfinstruct.batch import BatchConfig, BatchPrices, batch_table, cost_fields
from selfinstruct.errors import AuthError, ConfigError, FatalEndpointError
from workers.batch import BatchWorker, split_lines
from workers.openai import EndpointConfig


@pytest.mark.parametrize("sizes, max_requests, max_bytes, expected", [
    ([10] * 5, 2, 10_000, [2, 2, 1]),          # the request limit
    ([10] * 5, 100, 33, [3, 2]),               # the byte limit (each line + its newline is 11 bytes)
    ([50, 10, 10], 100, 30, [1, 2]),           # a line over the byte limit gets a file of its own
    ([], 10, 100, []),
])
def test_split_lines_respects_both_limits_and_keeps_order(sizes, max_requests, max_bytes, expected):
    lines = [(f"id-{i}", b"x" * n) for i, n in enumerate(sizes)]
    files = split_lines(lines, max_requests=max_requests, max_bytes=max_bytes)
    assert [len(f) for f in files] == expected
    assert [cid for f in files for cid, _ in f] == [cid for cid, _ in lines]


@pytest.mark.parametrize("table, message", [
    ({"mode": "offline"}, "endpoint.mode must be one of online, batch, auto"),
    ({"window": "soon"}, "batch.window must look like '24h'"),
    ({"max_file_requests": 50_001}, "batch.max_file_requests"),
    ({"poll_interval": 0}, "batch.poll_interval"),
])
def test_bad_batch_settings_are_named(table, message):
    with pytest.raises(ConfigError, match=message):
        BatchConfig(**table)


def test_endpoint_mode_is_the_batch_mode_and_a_conflict_is_an_error():
    endpoint, batch = batch_table({"model": "m", "mode": "batch"}, {"window": "24h"}, source="x.toml")
    assert endpoint == {"model": "m"} and batch == {"window": "24h", "mode": "batch"}
    with pytest.raises(ConfigError, match="x.toml: \\[endpoint\\] mode = 'batch' and \\[batch\\] mode = 'auto'"):
        batch_table({"mode": "batch"}, {"mode": "auto"}, source="x.toml")


def test_batch_prices_default_to_half_and_can_be_set():
    prices = BatchPrices.from_table({"sim": {"input": 1.0, "output": 3.0},
                                     "own": {"input": 1.0, "output": 2.0, "batch_input": 0.2, "batch_output": 0.4}})
    assert prices.batch["sim"] == (0.5, 1.5) and prices.batch["own"] == (0.2, 0.4)
    assert prices.batch["gpt-4o-mini"] == (0.075, 0.30)
    fields = cost_fields(prices, "sim", (1_000_000, 1_000_000), (0, 0))
    assert fields["cost_batch_usd"] == 2.0 and fields["cost_online_equivalent_usd"] == 4.0
    assert cost_fields(prices, "local", (10, 10), (0, 0))["cost_batch_usd"] is None
    with pytest.raises(ConfigError, match="unknown key 'batch_in'"):
        BatchPrices.from_table({"sim": {"input": 1, "output": 1, "batch_in": 1}})
    with pytest.raises(ConfigError, match="batch_input and batch_output must be numbers"):
        BatchPrices.from_table({"sim": {"input": 1, "output": 1, "batch_input": "cheap"}})


@pytest.mark.parametrize("status", [302, 307])
async def test_the_batch_worker_never_follows_a_redirect(status):
    seen: dict[str, list] = {"origin": [], "target": []}

    async def origin(request: web.Request) -> web.Response:
        seen["origin"].append(request.headers.get("Authorization"))
        return web.Response(status=status, headers={"Location": "/elsewhere/v1/files"})

    async def target(request: web.Request) -> web.Response:
        seen["target"].append(request.headers.get("Authorization"))
        return web.json_response({"id": "file-stolen"})

    app = web.Application()
    app.router.add_post("/v1/files", origin)
    app.router.add_route("*", "/elsewhere/v1/files", target)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    worker = BatchWorker(EndpointConfig(api_base=f"http://127.0.0.1:{port}/v1", model="m"), "sk-batch-secret")
    try:
        with pytest.raises(FatalEndpointError) as err:
            await worker.upload([b'{"custom_id": "a"}'], filename="b.jsonl")
    finally:
        await worker.aclose()
        await runner.cleanup()
    assert f"POST http://127.0.0.1:{port}/v1/files: HTTP {status} redirect not followed" in str(err.value)
    assert seen == {"origin": ["Bearer sk-batch-secret"], "target": []}
    assert "sk-batch-secret" not in repr(worker)


async def test_a_wrong_key_is_an_auth_error_naming_the_route_not_the_key(sim):
    server = sim(api_key="sk-right")
    worker = BatchWorker(EndpointConfig(api_base=server.url, model="m"), "sk-wrong-key")
    try:
        with pytest.raises(AuthError) as err:
            await worker.upload([b'{"custom_id": "a"}'], filename="b.jsonl")
        with pytest.raises(FatalEndpointError, match=r"GET http://127\.0\.0\.1:\d+/v1/batches/nope: HTTP 401"):
            await worker.retrieve("nope")
    finally:
        await worker.aclose()
    assert f"POST {server.url}/files: HTTP 401" in str(err.value)
    assert "sk-wrong-key" not in str(err.value)


async def test_an_unknown_batch_is_a_404_naming_the_route(sim):
    server = sim()
    worker = BatchWorker(EndpointConfig(api_base=server.url, model="m"))
    try:
        with pytest.raises(FatalEndpointError) as err:
            await worker.retrieve("batch-missing")
    finally:
        await worker.aclose()
    assert err.value.status == 404 and f"GET {server.url}/batches/batch-missing: HTTP 404" in str(err.value)


def test_toml_endpoint_mode_and_batch_table_reach_complete_and_generate(tmp_path):
    from selfinstruct.complete import build_complete_config
    from selfinstruct.pipeline.config import build_generate_config, table_from_flat

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "prompt": "x"}\n')
    table = {"endpoint": {"api_base": "http://127.0.0.1:9/v1", "model": "m", "mode": "auto"},
             "batch": {"poll_interval": 5, "window": "48h"},
             "prices": {"m": {"input": 2.0, "output": 4.0, "batch_output": 1.0}}}
    config = build_complete_config(table, input_path=inp, output_path=tmp_path / "out.jsonl", source="c.toml")
    assert (config.batch.mode, config.batch.poll_interval, config.batch.window) == ("auto", 5, "48h")
    assert config.batch_prices.batch["m"] == (1.0, 1.0)
    gen = build_generate_config(table, out_dir=tmp_path / "run", source="c.toml")
    assert gen.batch.mode == "auto" and gen.endpoint.model == "m"
    flat = table_from_flat({"mode": "batch", "batch_poll_interval": 2.0, "batch_window": "24h"})
    assert flat == {"endpoint": {"mode": "batch"}, "batch": {"poll_interval": 2.0, "window": "24h"}}
    with pytest.raises(ConfigError, match=r"c.toml: unknown key 'poll' in \[batch\]"):
        build_generate_config({**table, "batch": {"poll": 1}}, out_dir=tmp_path / "run", source="c.toml")


def test_a_service_job_may_ask_for_batch_mode_and_a_bad_mode_is_refused():
    from selfinstruct.service.backends import BackendConfig
    from selfinstruct.service.spec import validate_spec

    backends = {"sim": BackendConfig(name="sim", api_base="http://127.0.0.1:9/v1")}
    spec = validate_spec({"backend": "sim", "model": "m", "mode": "batch", "batch_poll_interval": 10},
                         backends=backends)
    assert spec["mode"] == "batch"
    with pytest.raises(ConfigError, match="endpoint.mode must be one of online, batch, auto, got 'sometimes'"):
        validate_spec({"backend": "sim", "model": "m", "mode": "sometimes"}, backends=backends)
