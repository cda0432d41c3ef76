"""Score prediction files against the human targets and write the report: the library side of `selfinstruct evaluate`.

Models are compared on the same tasks only: when the files cover different
tasks, every model is scored on the tasks all of them predicted, and each
model's coverage (tasks predicted / tasks in the evaluation set) is reported.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct.errors import ConfigError, InputError
from selfinstruct.evaluate.bertscore import BertScoreConfig, bertscore_f1, resolve_model
from selfinstruct.evaluate.metrics import BootstrapConfig, per_app_breakdown, score_tasks, summarize
from selfinstruct.evaluate.predictions import ModelPredictions, load_predictions
from selfinstruct.evaluate.report import ModelResult, metrics_json, write_report
from selfinstruct.evaluate.tasks import (
    DEFAULT_TASKS_PATH,
    REPO_ROOT,
    EvalTask,
    baseline_prediction_files,
    load_tasks,
)
from selfinstruct.extras import require_extra

__all__ = ["EvaluateConfig", "evaluate", "coverage", "restrict_to_shared"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class EvaluateConfig:
    predictions: tuple[Path, ...] = field(default=(), metadata={
        "help": "prediction JSONL files (fields: response, target, instruction[, id]); "
                "the model name is the file stem without '_predictions'"})
    out_dir: Path = field(metadata={"help": "folder for the report"})
    include_baselines: bool = field(default=False, metadata={
        "help": "also score the 8 vendored Davinci-family prediction files"})
    tasks: Path = field(default=DEFAULT_TASKS_PATH, metadata={
        "help": "task file used to join predictions to their app"})
    bertscore: BertScoreConfig | None = field(default=BertScoreConfig(), metadata={
        "help": "BERTScore settings; None skips BERTScore (bertscore_f1 is null)"})
    bootstrap: BootstrapConfig = field(default=BootstrapConfig(), metadata={
        "help": "bootstrap confidence-interval settings"})
    plots: bool = field(default=True, metadata={"help": "draw the PNG figures"})


def _display(path: Path) -> str:
    """Paths inside the repository are shown relative to it, so committed reports do not leak a home folder."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _add_bertscore(models: list[ModelPredictions], scores: list, cfg: BertScoreConfig) -> tuple[list, dict[str, Any]]:
    """One bert-score call over every model's pairs, so the model is loaded once."""
    model = resolve_model(cfg)
    responses = [p.response for m in models for p in m.pairs]
    targets = [p.target for m in models for p in m.pairs]
    result = bertscore_f1(responses, targets, model, cfg)
    out, start = [], 0
    for m, s in zip(models, scores, strict=True):
        end = start + len(m.pairs)
        out.append(dataclasses.replace(
            s, bertscore_f1=result.f1[start:end],
            bertscore_f1_rescaled=None if result.f1_rescaled is None else result.f1_rescaled[start:end]))
        start = end
    info = {"model": model.label, "num_layers": model.num_layers, "comparable": model.comparable,
            "rescaled": result.f1_rescaled is not None, "note": model.note}
    return out, info


def coverage(models: list[ModelPredictions], tasks: list[EvalTask]) -> dict[str, dict[str, Any]]:
    """Per model: tasks of the evaluation set it predicted, out of how many, and the share."""
    task_ids = {t.id for t in tasks}
    out = {}
    for m in models:
        predicted = sum(p.id in task_ids for p in m.pairs)
        out[m.name] = {"predicted": predicted, "tasks": len(tasks),
                       "share": round(predicted / len(tasks), 6) if tasks else 0.0}
    return out


def restrict_to_shared(models: list[ModelPredictions], tasks: list[EvalTask]) -> tuple[list[ModelPredictions], int]:
    """Keep only the tasks every model predicted, in task-file order; return them and how many pairs were dropped.

    Scores of models answering different tasks are not comparable (tasks differ
    widely in difficulty), so a 3-task file next to 252-task baselines makes all
    of them be scored on those 3 tasks.
    """
    shared = set.intersection(*({p.id for p in m.pairs} for m in models))
    if all(len(m.pairs) == len(shared) for m in models):
        return models, 0
    if not shared:
        raise InputError("the prediction files share no task, so their scores cannot be compared: "
                         + ", ".join(f"{m.path} ({len(m.pairs)} predictions)" for m in models))
    order = {t.id: i for i, t in enumerate(tasks)}
    restricted = [dataclasses.replace(m, pairs=tuple(sorted(
        (p for p in m.pairs if p.id in shared), key=lambda p: (order.get(p.id, len(order)), p.id))))
        for m in models]
    return restricted, sum(len(m.pairs) for m in models) - sum(len(m.pairs) for m in restricted)


def _sacrebleu_signature() -> str:
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    bleu.corpus_score(["x"], [["x"]])  # the signature records the reference count, known only after a call
    return str(bleu.get_signature())


def evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """Score every prediction file, write the outputs into ``cfg.out_dir``, return the metrics.json content."""
    require_extra("eval", "sacrebleu", "rouge_score", "rapidfuzz", *(("bert_score", "torch") if cfg.bertscore else ()),
                       *(("matplotlib",) if cfg.plots else ()))
    files = list(cfg.predictions) + (baseline_prediction_files() if cfg.include_baselines else [])
    if not files:
        raise ConfigError("no prediction files: pass --predictions FILE ... and/or --baselines")
    tasks = load_tasks(cfg.tasks)
    models: list[ModelPredictions] = []
    seen: dict[str, Path] = {}
    for f in files:
        m = load_predictions(f, tasks)
        if m.name in seen:
            if seen[m.name].resolve() == Path(f).resolve():
                continue
            raise ConfigError(f"two prediction files give the model name {m.name!r}: {seen[m.name]} and {f}")
        seen[m.name] = Path(f)
        models.append(m)

    covered = coverage(models, tasks)
    models, dropped = restrict_to_shared(models, tasks)
    n_shared = len(models[0].pairs)
    for name, c in covered.items():
        if c["predicted"] < c["tasks"]:
            log.warning("%s: predicted %d of %d tasks (%.1f%% coverage)", name, c["predicted"], c["tasks"],
                        100 * c["share"])
    if dropped:
        log.warning("the prediction files cover different tasks: every model is scored on the %d tasks all of them "
                    "predicted (%d predictions left out); see coverage in metrics.json", n_shared, dropped)

    scores = [score_tasks([p.response for p in m.pairs], [p.target for p in m.pairs]) for m in models]
    bert_info = None
    if cfg.bertscore is not None:
        scores, bert_info = _add_bertscore(models, scores, cfg.bertscore)

    results = [
        ModelResult(predictions=m, scores=s, summary=summarize(s, cfg.bootstrap),
                    per_app=per_app_breakdown([p.motivation_app for p in m.pairs], s))
        for m, s in zip(models, scores, strict=True)
    ]
    settings = {
        "tasks": _display(cfg.tasks),
        "predictions": {m.name: _display(Path(m.path)) for m in models},
        "bootstrap": dataclasses.asdict(cfg.bootstrap),
        "sacrebleu_signature": _sacrebleu_signature(),
        "rouge": "rouge_score rougeL F-measure, use_stemmer=True",
        "bertscore": bert_info,
        "coverage": covered,
        "shared_tasks": n_shared,
    }
    plots = []
    if cfg.plots:
        from selfinstruct.evaluate.plots import write_plots

        plots = write_plots(cfg.out_dir, results)
    write_report(cfg.out_dir, results, settings, plots)
    for res in results:
        log.info("%s: BLEU %.2f  ROUGE-L %.4f  BERTScore-F1 %s  (n=%d, coverage %d/%d)", res.name,
                 res.summary["bleu"].value, res.summary["rouge_l"].value,
                 f"{res.summary['bertscore_f1'].value:.4f}" if "bertscore_f1" in res.summary else "-",
                 res.scores.n, covered[res.name]["predicted"], covered[res.name]["tasks"])
    if not np.isfinite([iv.value for r in results for iv in r.summary.values()]).all():
        log.warning("some metric is not finite; see per_task.jsonl")
    return metrics_json(results, covered)
