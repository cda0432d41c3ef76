"""The `selfinstruct predict` command: answer the evaluation tasks with a local model or an API model.

With ``--api-base`` the answers come from an OpenAI-compatible endpoint through
the engine (rate limits, retries, resume), in
``selfinstruct.evaluate.predict_api``; otherwise from a local model with
``selfinstruct.evaluate.predict_local``. Both write the same record shape
(``selfinstruct.evaluate.tasks.prediction_record``).

Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from selfinstruct.commands.common import ATTEMPTS, CONCURRENCY, COUNT, RPM, SEED, TIMEOUT, TPM, float_flag, int_flag

__all__ = ["add_arguments", "run"]

_TRUTHY = {"1", "true", "yes", "on"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=Path, default=None, metavar="FILE",
                        help="task JSONL (default: the vendored data/human_eval/user_oriented_instructions.jsonl)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="prediction JSONL to write; name it NAME_predictions.jsonl so evaluate calls it NAME")
    parser.add_argument("--model", required=True, metavar="DIR|NAME",
                        help="local model folder or hub name; with --api-base, the model name sent to the API")
    parser.add_argument("--adapter", default=None, metavar="DIR", help="LoRA adapter folder (local models only)")
    parser.add_argument("--limit", type=COUNT, default=None, metavar="N", help="answer only the first N tasks")

    g = parser.add_argument_group("generation")
    g.add_argument("--max-new-tokens", type=int_flag(1, 1_000_000), default=512,
                   help="answer length cap in tokens (default 512)")
    g.add_argument("--do-sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float_flag(0, 100, lo_open=True), default=0.7,
                   help="sampling temperature (with --do-sample)")
    g.add_argument("--top-p", type=float_flag(0, 1, lo_open=True), default=0.9,
                   help="nucleus sampling p (with --do-sample)")
    g.add_argument("--batch-size", type=int_flag(1, 100_000), default=8,
                   help="prompts per generate call (local models)")
    g.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    g.add_argument("--device", default=None, help="torch device for local models (default: cuda if available)")

    a = parser.add_argument_group("API model (with --api-base)")
    a.add_argument("--api-base", default=None,
                   help="OpenAI-compatible base URL ending in /v1; when given, the API path is used")
    a.add_argument("--endpoint", choices=["chat", "completions"], default="chat",
                   help="API flavour: /v1/chat/completions or /v1/completions (default chat)")
    a.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    a.add_argument("--rpm", type=RPM, default=None, help="requests per minute allowed by the endpoint")
    a.add_argument("--tpm", type=TPM, default=None, help="tokens per minute allowed by the endpoint")
    a.add_argument("--max-concurrency", type=CONCURRENCY, default=None, help="cap on requests in flight")
    a.add_argument("--timeout", type=TIMEOUT, default=None, help="per-request timeout in seconds")
    a.add_argument("--max-attempts", type=ATTEMPTS, default=None, help="attempts per request")
    a.add_argument("--max-outage", type=TIMEOUT, default=None, metavar="SECONDS",
                   help="stop (exit 3, resumable) once the endpoint has been down this long (default 600)")


def _validate(args: argparse.Namespace) -> None:
    from selfinstruct.errors import ConfigError

    checks = [
        (args.max_new_tokens >= 1, f"--max-new-tokens must be >= 1, got {args.max_new_tokens}"),
        (args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}"),
        (args.temperature > 0, f"--temperature must be > 0, got {args.temperature}"),
        (0 < args.top_p <= 1, f"--top-p must be in (0, 1], got {args.top_p}"),
        (args.limit is None or args.limit >= 1, f"--limit must be >= 1, got {args.limit}"),
        (args.api_base is None or args.adapter is None, "--adapter applies to local models, not with --api-base"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def run(args: argparse.Namespace) -> int:
    from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH, load_tasks

    _validate(args)
    tasks = load_tasks(args.tasks or DEFAULT_TASKS_PATH)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    if args.api_base:
        from selfinstruct.commands.common import limit_overrides, read_api_key, retry_overrides
        from selfinstruct.config import build, merge
        from selfinstruct.engine.retry import RetryConfig
        from selfinstruct.engine.throttle import LimitsConfig
        from selfinstruct.evaluate.predict_api import PredictApiConfig, predict_with_api

        config = PredictApiConfig(
            api_base=args.api_base, model=args.model, endpoint=args.endpoint, max_new_tokens=args.max_new_tokens,
            do_sample=args.do_sample, temperature=args.temperature, top_p=args.top_p,
            limits=build(LimitsConfig, merge({}, limit_overrides(args))),
            retry=build(RetryConfig, merge({}, retry_overrides(args))))
        # The API path reports its own progress and returns the exit code (3 when some requests failed).
        return int(predict_with_api(tasks, args.out, config, api_key=read_api_key(args.api_key_env, args.api_base)))

    from selfinstruct.evaluate.predict_local import LocalGenerationConfig, predict_local

    cfg = LocalGenerationConfig(
        model=args.model, adapter=args.adapter, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        do_sample=args.do_sample, temperature=args.temperature, top_p=args.top_p, seed=args.seed,
        device=args.device,
        local_files_only=os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY,
    )
    written = predict_local(tasks, args.out, cfg)
    print(f"wrote {written} predictions to {args.out}")
    return 0
