"""Request hygiene over real loopback HTTP: Host (421), Origin (403), body size (413), Content-Type (415)."""

from __future__ import annotations

import http.client
import json

import pytest

from .helpers import Daemon, job_spec, sim_backend

ORIGIN = "http://localhost:3000"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    config = {"allowed_origins": [ORIGIN], "allowed_hosts": ["svc.example"], "max_body_bytes": LIMIT,
              "backends": {"sim": sim_backend("http://127.0.0.1:9/v1")}}
    d = Daemon(tmp_path_factory.mktemp("hygiene") / "state", config=config)
    d.start()
    yield d
    d.stop()


def _raw(d: Daemon, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None,
         chunked: bool = False) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    try:
        if body is None:  # headers only: the answer must come before any body is read
            conn.putrequest(method, path)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
        else:
            conn.request(method, path, body=iter([body]) if chunked else body, headers=headers,
                         encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_write_that_is_not_json_gets_415(svc, content_type):
    body = json.dumps(job_spec()).encode()
    status, answer = svc.call("POST", "/jobs", raw=body, headers={"Content-Type": content_type})
    assert status == 415 and "application/json" in answer["error"]
    status, _ = svc.call("POST", "/jobs/nope/cancel", headers={"Content-Type": content_type})
    assert status == 415  # refused before the route is even looked at
    assert svc.call("GET", "/jobs")[1] == {"jobs": []}


def test_a_json_write_with_charset_is_accepted(svc):
    status, answer = svc.call("POST", "/jobs", raw=b'{"backend": "sim"}',
                              headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 400 and "'model'" in answer["error"]  # past the hygiene checks, into spec validation


def test_a_foreign_origin_gets_403(svc):
    for method, path, body in (("GET", "/jobs", None), ("POST", "/jobs", job_spec()), ("GET", "/backends", None)):
        status, answer = svc.call(method, path, body, headers={"Origin": "http://evil.example"})
        assert status == 403 and "evil.example" in answer["error"], (method, path, answer)
    assert svc.call("GET", "/jobs", headers={"Origin": "null"})[0] == 403
    assert svc.call("GET", "/jobs", headers={"Origin": ORIGIN})[0] == 200
    assert svc.call("GET", "/jobs")[0] == 200  # no Origin: not a browser page, nothing to check
    assert svc.call("GET", "/jobs")[1] == {"jobs": []}


@pytest.mark.parametrize("host, status", [
    ("evil.example", 421), ("evil.example:{port}", 421), ("127.0.0.1:1", 421), ("localhost", 421),
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("svc.example", 200), ("svc.example:8443", 200),
])
def test_a_foreign_host_is_refused(svc, host, status):
    got, answer = svc.call("GET", "/jobs", headers={"Host": host.format(port=svc.port)})
    assert got == status, answer
    if status == 421:
        assert "Host" in answer["error"]
        got, _ = svc.call("POST", "/jobs", job_spec(), headers={"Host": host.format(port=svc.port)})
        assert got == 421


def test_a_body_over_the_limit_gets_413(svc):
    big = json.dumps({"backend": "sim", "model": "m", "pad": "x" * LIMIT}).encode()
    headers = {"Content-Type": "application/json"}
    status, answer = _raw(svc, "POST", "/jobs", headers=headers, body=big)
    assert status == 413 and str(LIMIT) in answer["error"]
    status, answer = _raw(svc, "POST", "/jobs", headers=headers, body=big, chunked=True)  # no length given
    assert status == 413 and str(LIMIT) in answer["error"]
    assert svc.call("GET", "/jobs")[1] == {"jobs": []}


def test_default_body_limit_is_10_mb(daemon_factory):
    d = daemon_factory(args=("--backend", "sim=http://127.0.0.1:9/v1")).start()
    status, answer = _raw(d, "POST", "/jobs", headers={"Content-Type": "application/json",
                                                       "Content-Length": str(10 * 1024 * 1024 + 1)})
    assert status == 413 and str(10 * 1024 * 1024) in answer["error"]
    # Two megabytes are under the limit: the body is read and judged as a spec.
    body = json.dumps({"backend": "sim", "model": "m", "pad": "x" * (2 * 1024 * 1024)}).encode()
    status, answer = _raw(d, "POST", "/jobs", headers={"Content-Type": "application/json"}, body=body)
    assert status == 400 and "unknown setting 'pad'" in answer["error"]
