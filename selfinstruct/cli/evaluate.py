"""`selfinstruct predict`, `evaluate` and `analyze`: answer the evaluation tasks, score the answers, study a run.

`predict` answers with a local model (selfinstruct.evaluate.predict_local) or,
with ``--api-base``, an OpenAI-compatible endpoint through the engine
(selfinstruct.evaluate.predict_api); both write the same record shape. The
scoring and plotting libraries load inside the ``run_*`` functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfinstruct.cli.common import COUNT, LIMIT_FLAGS, SEED, float_flag, hub_offline, int_flag, read_api_key
from selfinstruct.cli.flags import add_config_flags

# -- predict ---------------------------------------------------------------------------------------------------------


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
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
    add_config_flags(a, LIMIT_FLAGS)
    parser.set_defaults(_flags=LIMIT_FLAGS)


def _check_predict(args: argparse.Namespace) -> None:
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


def run_predict(args: argparse.Namespace) -> int:
    from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH, load_tasks

    _check_predict(args)
    tasks = load_tasks(args.tasks or DEFAULT_TASKS_PATH)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    if args.api_base:
        from selfinstruct.config import build, table_from_dotted
        from selfinstruct.engine.retry import RetryConfig
        from selfinstruct.engine.throttle import LimitsConfig
        from selfinstruct.evaluate.predict_api import PredictApiConfig, predict_with_api

        flags = table_from_dotted({"limits.rpm": args.rpm, "limits.tpm": args.tpm,
                                   "limits.max_concurrency": args.max_concurrency, "retry.timeout": args.timeout,
                                   "retry.max_attempts": args.max_attempts, "retry.max_outage": args.max_outage})
        config = PredictApiConfig(
            api_base=args.api_base, model=args.model, endpoint=args.endpoint, max_new_tokens=args.max_new_tokens,
            do_sample=args.do_sample, temperature=args.temperature, top_p=args.top_p,
            limits=build(LimitsConfig, flags.get("limits", {})), retry=build(RetryConfig, flags.get("retry", {})))
        api_key = read_api_key(args.api_key_env, args.api_base)
        # The API path reports its own progress and returns the exit code (3 when some requests failed).
        return int(predict_with_api(tasks, args.out, config, api_key=api_key))

    from selfinstruct.evaluate.predict_local import LocalGenerationConfig, predict_local

    cfg = LocalGenerationConfig(
        model=args.model, adapter=args.adapter, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        do_sample=args.do_sample, temperature=args.temperature, top_p=args.top_p, seed=args.seed,
        device=args.device, local_files_only=hub_offline(),
    )
    written = predict_local(tasks, args.out, cfg)
    print(f"wrote {written} predictions to {args.out}")
    return 0


# -- evaluate --------------------------------------------------------------------------------------------------------

def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", nargs="+", type=Path, default=[], metavar="FILE",
                        help="prediction JSONL files (fields: response, target, instruction[, id]); "
                             "the model name is the file stem without '_predictions'")
    parser.add_argument("--out", type=Path, required=True, metavar="REPORT_DIR", help="folder for the report")
    parser.add_argument("--baselines", action="store_true",
                        help="also score the 8 vendored Davinci-family prediction files")
    parser.add_argument("--tasks", type=Path, default=None, metavar="FILE",
                        help="task file used to join predictions to their app "
                             "(default: the vendored user_oriented_instructions.jsonl)")
    parser.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (bertscore_f1 is null)")
    parser.add_argument("--bertscore-model", default=None, metavar="NAME_OR_DIR",
                        help="hub name or local folder (default roberta-large; offline it falls back to the "
                             "bundled all-MiniLM-L6-v2, labelled as not comparable with published numbers)")
    parser.add_argument("--bertscore-layers", type=int_flag(0, 1000), default=None, metavar="N",
                        help="layer whose embeddings are used (default: bert-score's choice, else the last)")
    parser.add_argument("--bertscore-batch-size", type=int_flag(1, 100_000), default=64, metavar="N")
    parser.add_argument("--bootstrap", type=int_flag(10, 10_000_000), default=1000, metavar="N",
                        help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=SEED, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def run_evaluate(args: argparse.Namespace) -> int:
    from selfinstruct.errors import ConfigError
    from selfinstruct.evaluate.bertscore import BertScoreConfig
    from selfinstruct.evaluate.evaluation import EvaluateConfig, evaluate
    from selfinstruct.evaluate.metrics import BootstrapConfig
    from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH

    if args.bootstrap < 10:
        raise ConfigError(f"--bootstrap must be at least 10, got {args.bootstrap}")
    if args.bertscore_layers is not None and args.bertscore_layers < 0:
        raise ConfigError(f"--bertscore-layers must be >= 0, got {args.bertscore_layers}")
    if args.bertscore_batch_size < 1:
        raise ConfigError(f"--bertscore-batch-size must be >= 1, got {args.bertscore_batch_size}")
    bertscore = None if args.no_bertscore else BertScoreConfig(
        model=args.bertscore_model, num_layers=args.bertscore_layers, allow_download=not hub_offline(),
        batch_size=args.bertscore_batch_size)
    cfg = EvaluateConfig(
        predictions=tuple(args.predictions),
        out_dir=args.out,
        include_baselines=args.baselines,
        tasks=args.tasks or DEFAULT_TASKS_PATH,
        bertscore=bertscore,
        bootstrap=BootstrapConfig(resamples=args.bootstrap, seed=args.seed),
        plots=not args.no_plots,
    )
    metrics = evaluate(cfg)
    width = max(len(name) for name in metrics)
    print(f"{'model':<{width}}  {'BLEU':>6}  {'ROUGE-L':>7}  {'BERTScore-F1':>12}  n  coverage")
    for name, m in metrics.items():
        bs = "-" if m["bertscore_f1"] is None else f"{m['bertscore_f1']:.4f}"
        cov = m["coverage"]
        print(f"{name:<{width}}  {m['bleu']:6.2f}  {m['rouge_l']:7.4f}  {bs:>12}  {m['n']}  "
              f"{cov['predicted']}/{cov['tasks']}")
    print(f"report: {args.out / 'report.md'}")
    return 0


# -- analyze ---------------------------------------------------------------------------------------------------------

def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="generation run folder (holds machine_generated_instructions.jsonl)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for summary.json and PNGs")
    parser.add_argument("--seed-tasks", type=Path, default=None, metavar="FILE",
                        help="seed tasks for the ROUGE-L overlap histogram (default: the vendored data/seed_tasks.jsonl)")
    parser.add_argument("--no-seed-rouge", action="store_true", help="skip the ROUGE-L-against-seeds statistics")
    parser.add_argument("--no-plots", action="store_true", help="write summary.json only")
    parser.add_argument("--workers", type=int_flag(1, 4096, also=(-1,)), default=1,
                        help="threads for the ROUGE-L matrix (-1 = all cores)")


def run_analyze(args: argparse.Namespace) -> int:
    from selfinstruct.errors import ConfigError
    from selfinstruct.analyze.run import DEFAULT_SEED_TASKS, AnalyzeConfig, analyze_run

    if args.workers == 0 or args.workers < -1:
        raise ConfigError(f"--workers must be >= 1 or -1, got {args.workers}")
    cfg = AnalyzeConfig(
        run_dir=args.run_dir, out_dir=args.out, plots=not args.no_plots, workers=args.workers,
        seed_tasks=None if args.no_seed_rouge else (args.seed_tasks or DEFAULT_SEED_TASKS),
    )
    summary = analyze_run(cfg)
    c = summary["counts"]
    share = "-" if c["classification_share"] is None else f"{c['classification_share']:.1%}"
    empty = "-" if c["empty_input_share"] is None else f"{c['empty_input_share']:.1%}"
    print(f"instructions {c['instructions']}  classification {share}  instances {c['instances']}  "
          f"empty input {empty}  rejects {summary['rejects']['total']}")
    if "seed_rouge_l" in summary:
        print(f"ROUGE-L to the most similar seed: median {summary['seed_rouge_l']['median']:.3f}")
    print(f"summary: {args.out / 'summary.json'}")
    return 0
