"""`selfinstruct serve`: the long-running generation service with an HTTP job API (stdlib-only imports here)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from selfinstruct.commands.common import INTERVAL, float_flag, int_flag
from selfinstruct.config import MAX_SECONDS
from selfinstruct.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, required=True, metavar="DIR",
                        help="where the job table (service.sqlite3) and each job's run directory (jobs/<id>/) live")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1); anything but loopback needs --token-env")
    parser.add_argument("--port", type=int_flag(0, 65535), default=8700,
                        help="TCP port (default 8700; 0 picks a free one)")
    parser.add_argument("--token-env", default=None, metavar="VAR",
                        help="environment variable holding the bearer token required on every route but /healthz")
    parser.add_argument("--max-jobs", type=int_flag(1, 10_000), default=4,
                        help="jobs running at once (default 4); others wait")
    parser.add_argument("--grace", type=float_flag(0, MAX_SECONDS, lo_open=True), default=30.0,
                        help="seconds running jobs may drain on SIGTERM before they are stopped (default 30)")
    parser.add_argument("--log-interval", type=INTERVAL, default=10.0,
                        help="seconds between progress log lines per running job (default 10)")
    parser.add_argument("--log-format", choices=["json", "text"], default="json",
                        help="stderr log lines: JSON objects (default) or plain text")
    parser.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="service.toml: the backend registry ([backends.NAME] with api_base, api_key_env, "
                             "models, endpoint, rpm, tpm, max_concurrency), seeds_dir, allowed_origins, "
                             "allowed_hosts, max_body_bytes. Without it (and --backend) no job can run")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME=URL",
                        help="a keyless loopback backend, e.g. local=http://127.0.0.1:8000/v1 (repeatable); "
                             "other backends go in --config")


def read_token(env_name: str | None) -> str | None:
    if env_name is None:
        return None
    if not env_name.replace("_", "").isalnum():
        raise ConfigError(f"--token-env must be an environment variable name, got {env_name!r}")
    token = os.environ.get(env_name, "")
    if not token:
        raise ConfigError(f"environment variable {env_name} (named by --token-env) is not set or empty")
    return token


def run(args: argparse.Namespace) -> int:
    import asyncio

    from selfinstruct.service.backends import parse_backend_flag
    from selfinstruct.service.config import ServiceConfig, load_service_file
    from selfinstruct.service.logs import use_json_logs
    from selfinstruct.service.server import serve

    settings = load_service_file(args.config) if args.config is not None else {"backends": {}}
    for text in args.backend:
        backend = parse_backend_flag(text)
        if backend.name in settings["backends"]:
            raise ConfigError(f"--backend {backend.name}: a backend of that name is already configured")
        settings["backends"][backend.name] = backend
    config = ServiceConfig(state_dir=args.state_dir, host=args.host, port=args.port, token=read_token(args.token_env),
                           max_jobs=args.max_jobs, grace=args.grace, log_interval=args.log_interval, **settings)
    if args.log_format == "json":
        use_json_logs()
    asyncio.run(serve(config, environ=os.environ))
    return 0
