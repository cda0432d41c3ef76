"""`selfinstruct simulate`: serve the simulated OpenAI-compatible endpoint in the foreground."""

from __future__ import annotations

import argparse
import os
import sys

from selfinstruct.commands.common import COUNT, RPM, SECONDS, SEED, TPM, float_flag, int_flag
from selfinstruct.config import MAX_SECONDS
from selfinstruct.errors import ConfigError

PORT = int_flag(0, 65535)
MILLISECONDS = float_flag(0, MAX_SECONDS * 1000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=PORT, default=8000, help="port (0 picks a free one; default 8000)")
    parser.add_argument("--rpm", type=RPM, default=None, help="requests per minute limit (default: unlimited)")
    parser.add_argument("--tpm", type=TPM, default=None, help="tokens per minute limit (default: unlimited)")
    parser.add_argument("--burst-seconds", type=float_flag(0, MAX_SECONDS, lo_open=True), default=1.0,
                        help="rate-limit bucket depth in seconds")
    parser.add_argument("--latency-ms", type=MILLISECONDS, default=0.0, help="mean latency per answer in ms")
    parser.add_argument("--latency-dist", choices=("fixed", "uniform", "lognormal"), default="fixed",
                        help="latency distribution")
    parser.add_argument("--latency-jitter-ms", type=MILLISECONDS, default=0.0,
                        help="uniform: half-width around the mean")
    parser.add_argument("--latency-sigma", type=float_flag(0, 10), default=0.5, help="lognormal: sigma")
    parser.add_argument("--ms-per-token", type=MILLISECONDS, default=0.0, help="extra latency per completion token")
    for name, what in (("500", "HTTP 500"), ("503", "HTTP 503"), ("drop", "a dropped connection"),
                       ("hang", "a hung request"), ("malformed", "a broken 200 body")):
        parser.add_argument(f"--p-{name}", type=float_flag(0, 1), default=0.0, help=f"probability of {what} per call")
    parser.add_argument("--hang-seconds", type=SECONDS, default=3600.0, help="how long a hung request waits")
    parser.add_argument("--max-context", type=COUNT, default=None, help="prompt + max_tokens limit (400 above it)")
    parser.add_argument("--model-name", default="sim-davinci-001", help="model listed by /v1/models")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="require the key held in this environment variable as a Bearer token")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the fault and latency draws")
    parser.add_argument("--outage-after", type=SECONDS, default=None, metavar="S",
                        help="start an outage S seconds after start: 503 to every completion call")
    parser.add_argument("--outage-seconds", type=SECONDS, default=0.0, metavar="D", help="how long the outage lasts")


def run(args: argparse.Namespace) -> int:
    from workers.simulated import SimConfig, serve_forever

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env: environment variable {args.api_key_env} is not set or empty")
    config = SimConfig(
        rpm=args.rpm, tpm=args.tpm, burst_seconds=args.burst_seconds, latency_ms=args.latency_ms,
        latency_dist=args.latency_dist, latency_jitter_ms=args.latency_jitter_ms, latency_sigma=args.latency_sigma,
        ms_per_token=args.ms_per_token, p_500=args.p_500, p_503=args.p_503, p_drop=args.p_drop,
        p_hang=args.p_hang, p_malformed=args.p_malformed, hang_seconds=args.hang_seconds,
        max_context=args.max_context, model_name=args.model_name, api_key=api_key, seed=args.seed,
        outage_after=args.outage_after, outage_seconds=args.outage_seconds,
    )

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"simulated endpoint serving at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    try:
        serve_forever(config, args.host, args.port, on_ready=ready)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    return 0
