"""`selfinstruct serve`: the long-running generation service with an HTTP job API.

The service settings given as flags are ``ConfigFlag`` rows on ``service.*`` keys
of ``ServiceConfig``; the backend registry comes from ``--config`` and ``--backend``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from selfinstruct.cli import sections
from selfinstruct.cli.common import INTERVAL, float_flag, int_flag, read_secret
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides
from selfinstruct.config import MAX_SECONDS
from selfinstruct.errors import ConfigError


SERVICE_FLAGS = [
    ConfigFlag("--state-dir", "service.state_dir", sections.service, type=Path, metavar="DIR", required=True),
    ConfigFlag("--host", "service.host", sections.service, note="anything but loopback needs --token-env"),
    ConfigFlag("--port", "service.port", sections.service, type=int_flag(0, 65535)),
    ConfigFlag("--max-jobs", "service.max_jobs", sections.service, type=int_flag(1, 10_000)),
    ConfigFlag("--grace", "service.grace", sections.service, type=float_flag(0, MAX_SECONDS, lo_open=True)),
    ConfigFlag("--log-interval", "service.log_interval", sections.service, type=INTERVAL),
]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, SERVICE_FLAGS)
    parser.add_argument("--token-env", default=None, metavar="VAR",
                        help="environment variable holding the bearer token required on every route but /healthz")
    parser.add_argument("--log-format", choices=["json", "text"], default="json",
                        help="stderr log lines: JSON objects (default) or plain text")
    parser.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="service.toml: the backend registry ([backends.NAME] with api_base, api_key_env, "
                             "models, endpoint, rpm, tpm, max_concurrency, mode, batch_poll_interval, "
                             "batch_window), seeds_dir, allowed_origins, allowed_hosts, max_body_bytes. Without it "
                             "(and --backend) no job can run")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME=URL",
                        help="a keyless loopback backend, e.g. local=http://127.0.0.1:8000/v1 (repeatable); "
                             "other backends go in --config")
    parser.set_defaults(_flags=SERVICE_FLAGS)


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from selfinstruct.config import table_from_dotted
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
    flags = table_from_dotted(dotted_overrides(args, args._flags))["service"]
    config = ServiceConfig(**flags, token=read_secret(args.token_env, "--token-env"), **settings)
    if args.log_format == "json":
        use_json_logs()
    asyncio.run(serve(config, environ=os.environ))
    return 0
