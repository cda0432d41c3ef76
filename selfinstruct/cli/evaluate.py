"""`selfinstruct predict`, `evaluate` and `analyze`: answer the evaluation tasks, score the answers, study a run.

`predict` answers with a local model (selfinstruct.evaluate.predict_local) or,
with ``--api-base``, an OpenAI-compatible endpoint through the engine
(selfinstruct.evaluate.predict_api); both write the same record shape. The
scoring and plotting libraries load inside the ``run_*`` functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfinstruct.cli import sections
from selfinstruct.cli.common import COUNT, LIMIT_FLAGS, SEED, float_flag, hub_offline, int_flag, read_api_key
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides

# -- predict ---------------------------------------------------------------------------------------------------------

# "generation.*" fills LocalGenerationConfig; the API path takes the sampling keys PredictApiConfig shares with it.
MODEL_FLAGS = [
    ConfigFlag("--model", "generation.model", sections.local_generation, required=True, metavar="DIR|NAME"),
    ConfigFlag("--adapter", "generation.adapter", sections.local_generation, metavar="DIR"),
]
GENERATION_FLAGS = [
    ConfigFlag("--max-new-tokens", "generation.max_new_tokens", sections.local_generation,
               type=int_flag(1, 1_000_000)),
    ConfigFlag("--do-sample", "generation.do_sample", sections.local_generation, const=True),
    ConfigFlag("--temperature", "generation.temperature", sections.local_generation,
               type=float_flag(0, 100, lo_open=True)),
    ConfigFlag("--top-p", "generation.top_p", sections.local_generation, type=float_flag(0, 1, lo_open=True)),
    ConfigFlag("--batch-size", "generation.batch_size", sections.local_generation, type=int_flag(1, 100_000)),
    ConfigFlag("--seed", "generation.seed", sections.local_generation, type=SEED),
    ConfigFlag("--device", "generation.device", sections.local_generation),
]
API_FLAGS = [
    ConfigFlag("--api-base", "api.api_base", sections.predict_api),
    ConfigFlag("--endpoint", "api.endpoint", sections.predict_api, choices=("chat", "completions")),
]
SHARED_WITH_API = ("max_new_tokens", "do_sample", "temperature", "top_p")


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=Path, default=None, metavar="FILE",
                        help="task JSONL (default: the vendored data/human_eval/user_oriented_instructions.jsonl)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="prediction JSONL to write; name it NAME_predictions.jsonl so evaluate calls it NAME")
    add_config_flags(parser, MODEL_FLAGS)
    parser.add_argument("--limit", type=COUNT, default=None, metavar="N", help="answer only the first N tasks")
    add_config_flags(parser.add_argument_group("generation"), GENERATION_FLAGS)
    a = parser.add_argument_group("API model (with --api-base)")
    add_config_flags(a, API_FLAGS)
    a.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    add_config_flags(a, LIMIT_FLAGS)
    parser.set_defaults(_flags=MODEL_FLAGS + GENERATION_FLAGS + API_FLAGS + LIMIT_FLAGS)


def _check_predict(args: argparse.Namespace) -> None:
    from selfinstruct.errors import ConfigError

    # The flags' types check their own bounds; what is left spans two flags.
    checks = [
        (args.limit is None or args.limit >= 1, f"--limit must be >= 1, got {args.limit}"),
        (args.api_base is None or args.adapter is None, "--adapter applies to local models, not with --api-base"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def run_predict(args: argparse.Namespace) -> int:
    from selfinstruct.config import table_from_dotted
    from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH, load_tasks

    _check_predict(args)
    tasks = load_tasks(args.tasks or DEFAULT_TASKS_PATH)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    given = table_from_dotted(dotted_overrides(args, args._flags))  # unset flags are left out: the field defaults
    generation = given["generation"]  # --model is required
    if args.api_base:
        from selfinstruct.config import build
        from selfinstruct.engine.retry import RetryConfig
        from selfinstruct.engine.throttle import LimitsConfig
        from selfinstruct.evaluate.predict_api import PredictApiConfig, predict_with_api

        sampling = {key: value for key, value in generation.items() if key in SHARED_WITH_API}
        config = PredictApiConfig(
            model=generation["model"], **given["api"], **sampling,
            limits=build(LimitsConfig, given.get("limits", {})), retry=build(RetryConfig, given.get("retry", {})))
        api_key = read_api_key(args.api_key_env, args.api_base)
        # The API path reports its own progress and returns the exit code (3 when some requests failed).
        return int(predict_with_api(tasks, args.out, config, api_key=api_key))

    from selfinstruct.evaluate.predict_local import LocalGenerationConfig, predict_local

    cfg = LocalGenerationConfig(**generation, local_files_only=hub_offline())
    written = predict_local(tasks, args.out, cfg)
    print(f"wrote {written} predictions to {args.out}")
    return 0


# -- evaluate --------------------------------------------------------------------------------------------------------

EVALUATE_FLAGS = [
    ConfigFlag("--predictions", "evaluate.predictions", sections.evaluate, type=Path, nargs="+", metavar="FILE",
               show_default=False),
    ConfigFlag("--out", "evaluate.out_dir", sections.evaluate, type=Path, required=True, metavar="REPORT_DIR"),
    ConfigFlag("--baselines", "evaluate.include_baselines", sections.evaluate, const=True),
    ConfigFlag("--tasks", "evaluate.tasks", sections.evaluate, type=Path, metavar="FILE", show_default=False,
               note="default: the vendored user_oriented_instructions.jsonl"),
]
SCORING_FLAGS = [
    ConfigFlag("--bertscore-model", "bertscore.model", sections.bertscore, metavar="NAME_OR_DIR"),
    ConfigFlag("--bertscore-layers", "bertscore.num_layers", sections.bertscore, type=int_flag(0, 1000), metavar="N"),
    ConfigFlag("--bertscore-batch-size", "bertscore.batch_size", sections.bertscore, type=int_flag(1, 100_000),
               metavar="N"),
    ConfigFlag("--bootstrap", "bootstrap.resamples", sections.bootstrap, type=int_flag(10, 10_000_000), metavar="N"),
    ConfigFlag("--seed", "bootstrap.seed", sections.bootstrap, type=SEED),
    ConfigFlag("--no-plots", "evaluate.plots", sections.evaluate, const=False, note="skip the PNG figures"),
]


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, EVALUATE_FLAGS)
    # BERTScore is skipped by having no BertScoreConfig at all, which no single key can say.
    parser.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (bertscore_f1 is null)")
    add_config_flags(parser, SCORING_FLAGS)
    parser.set_defaults(_flags=EVALUATE_FLAGS + SCORING_FLAGS)


def run_evaluate(args: argparse.Namespace) -> int:
    from selfinstruct.config import table_from_dotted
    from selfinstruct.evaluate.bertscore import BertScoreConfig
    from selfinstruct.evaluate.evaluation import EvaluateConfig, evaluate
    from selfinstruct.evaluate.metrics import BootstrapConfig

    given = table_from_dotted(dotted_overrides(args, args._flags))  # unset flags are left out: the field defaults
    settings = given["evaluate"]  # --out is required
    if "predictions" in settings:
        settings["predictions"] = tuple(settings["predictions"])
    bertscore = None if args.no_bertscore else BertScoreConfig(
        **given.get("bertscore", {}), allow_download=not hub_offline())
    cfg = EvaluateConfig(**settings, bertscore=bertscore, bootstrap=BootstrapConfig(**given.get("bootstrap", {})))
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

ANALYZE_FLAGS = [
    ConfigFlag("--out", "analyze.out_dir", sections.analyze, type=Path, required=True, metavar="DIR"),
    ConfigFlag("--seed-tasks", "analyze.seed_tasks", sections.analyze, type=Path, metavar="FILE", show_default=False,
               note="default: the vendored data/seed_tasks.jsonl"),
]
ANALYZE_RUN_FLAGS = [
    ConfigFlag("--no-plots", "analyze.plots", sections.analyze, const=False, note="write summary.json only"),
    ConfigFlag("--workers", "analyze.workers", sections.analyze, type=int_flag(1, 4096, also=(-1,))),
]


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="generation run folder (holds machine_generated_instructions.jsonl)")
    add_config_flags(parser, ANALYZE_FLAGS)
    parser.add_argument("--no-seed-rouge", action="store_true", help="skip the ROUGE-L-against-seeds statistics")
    add_config_flags(parser, ANALYZE_RUN_FLAGS)
    parser.set_defaults(_flags=ANALYZE_FLAGS + ANALYZE_RUN_FLAGS)


def run_analyze(args: argparse.Namespace) -> int:
    from selfinstruct.analyze.run import AnalyzeConfig, analyze_run
    from selfinstruct.config import table_from_dotted

    settings = table_from_dotted(dotted_overrides(args, args._flags))["analyze"]  # --out is required
    if args.no_seed_rouge:
        settings["seed_tasks"] = None
    cfg = AnalyzeConfig(run_dir=args.run_dir, **settings)
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
