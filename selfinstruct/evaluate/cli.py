"""The `selfinstruct evaluate` command: BLEU / ROUGE-L / BERTScore-F1 report over prediction files.

Only the standard library is imported at module level; the scoring libraries
load inside ``run``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from selfinstruct.commands.common import SEED, int_flag

__all__ = ["add_arguments", "run"]

_TRUTHY = {"1", "true", "yes", "on"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
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
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY
    bertscore = None if args.no_bertscore else BertScoreConfig(
        model=args.bertscore_model, num_layers=args.bertscore_layers, allow_download=not offline,
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
