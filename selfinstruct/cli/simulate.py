"""`selfinstruct simulate`: serve the simulated OpenAI-compatible endpoint in the foreground.

Each knob flag is a ``ConfigFlag`` on a ``sim.*`` key of ``workers.simulated.SimConfig``.
"""

from __future__ import annotations

import argparse
import sys

from selfinstruct.cli import sections
from selfinstruct.cli.common import COUNT, RPM, SECONDS, SEED, TPM, float_flag, int_flag, read_secret
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides
from selfinstruct.config import MAX_SECONDS
from selfinstruct.errors import ConfigError

PORT = int_flag(0, 65535)
MILLISECONDS = float_flag(0, MAX_SECONDS * 1000)
PROBABILITY = float_flag(0, 1)


SIM_FLAGS = [
    ConfigFlag("--rpm", "sim.rpm", sections.sim, type=RPM),
    ConfigFlag("--tpm", "sim.tpm", sections.sim, type=TPM),
    ConfigFlag("--burst-seconds", "sim.burst_seconds", sections.sim, type=float_flag(0, MAX_SECONDS, lo_open=True)),
    ConfigFlag("--latency-ms", "sim.latency_ms", sections.sim, type=MILLISECONDS),
    ConfigFlag("--latency-dist", "sim.latency_dist", sections.sim, choices=("fixed", "uniform", "lognormal")),
    ConfigFlag("--latency-jitter-ms", "sim.latency_jitter_ms", sections.sim, type=MILLISECONDS),
    ConfigFlag("--latency-sigma", "sim.latency_sigma", sections.sim, type=float_flag(0, 10)),
    ConfigFlag("--ms-per-token", "sim.ms_per_token", sections.sim, type=MILLISECONDS),
    *(ConfigFlag(f"--p-{name}", f"sim.p_{name}", sections.sim, type=PROBABILITY)
      for name in ("500", "503", "drop", "hang", "malformed")),
    ConfigFlag("--hang-seconds", "sim.hang_seconds", sections.sim, type=SECONDS),
    ConfigFlag("--max-context", "sim.max_context", sections.sim, type=COUNT),
    ConfigFlag("--model-name", "sim.model_name", sections.sim),
    ConfigFlag("--seed", "sim.seed", sections.sim, type=SEED),
    ConfigFlag("--outage-after", "sim.outage_after", sections.sim, type=SECONDS, metavar="S"),
    ConfigFlag("--outage-seconds", "sim.outage_seconds", sections.sim, type=SECONDS, metavar="D"),
    # The Files and Batches routes (workers/simulated/batches.py).
    ConfigFlag("--batch-seconds", "sim.batch_seconds", sections.sim, type=SECONDS, metavar="S"),
    ConfigFlag("--batch-p-fail", "sim.batch_p_fail", sections.sim, type=PROBABILITY),
    ConfigFlag("--batch-expire-after", "sim.batch_expire_after", sections.sim, type=SECONDS, metavar="S"),
    ConfigFlag("--batch-expires", "sim.batch_expires", sections.sim, type=COUNT, metavar="N"),
]


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=PORT, default=8000, help="port (0 picks a free one; default 8000)")
    add_config_flags(parser, SIM_FLAGS)
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="require the key held in this environment variable as a Bearer token")
    parser.set_defaults(_flags=SIM_FLAGS)


def run_simulate(args: argparse.Namespace) -> int:
    from selfinstruct.config import table_from_dotted
    from workers.simulated import SimConfig, serve_forever

    api_key = read_secret(args.api_key_env, "--api-key-env")
    settings = table_from_dotted(dotted_overrides(args, args._flags)).get("sim", {})
    config = SimConfig(**settings, api_key=api_key)

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"simulated endpoint serving at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    try:
        serve_forever(config, args.host, args.port, on_ready=ready)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    return 0
