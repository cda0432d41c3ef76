"""Write the evaluation outputs: metrics.json, metrics.csv, per_app.csv, per_task.jsonl, settings.json and report.md.

Takes already-computed scores (``ModelResult``) and only formats and writes them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct.evaluate.metrics import Interval, TaskScores
from selfinstruct.evaluate.predictions import ModelPredictions
from selfinstruct.io import write_json_atomic, write_jsonl_atomic, write_text_atomic

__all__ = ["ModelResult", "metrics_json", "write_report", "METRICS"]

# (key, column title, format) in the order tables show them.
METRICS: list[tuple[str, str, str]] = [
    ("bleu", "BLEU", "{:.2f}"),
    ("sentence_bleu", "sent. BLEU", "{:.2f}"),
    ("rouge_l", "ROUGE-L", "{:.4f}"),
    ("bertscore_f1", "BERTScore-F1", "{:.4f}"),
    ("bertscore_f1_rescaled", "BERTScore-F1 (rescaled)", "{:.4f}"),
]

METRIC_NOTE = """\
## What these metrics can and cannot say

The 252 tasks are open-ended (write an email, plan a trip, explain a concept),
each with a single human-written answer. Many very different answers are
equally good, so every automatic score here is a weak proxy for quality.

- **BLEU** (sacrebleu corpus BLEU, 13a tokenisation, exp smoothing; 0-100)
  counts exact n-gram overlap with the one reference. It rewards copying the
  reference's wording and length (the brevity penalty punishes short answers);
  it cannot see paraphrases, and it says little about a single open-ended
  answer. Sentence BLEU is noisier still; it is shown for drill-down only.
- **ROUGE-L** (F-measure of the longest common subsequence, Porter-stemmed,
  0-1, as in the SuperNI evaluation) is more forgiving about order and length
  but is still a surface-overlap measure: a correct answer worded differently
  scores low, and a fluent answer that restates the input can score high.
- **BERTScore-F1** matches contextual token embeddings, so paraphrases get
  credit; but it is compressed into a narrow range (raw scores of unrelated
  English sentences are already high, hence the rescaled variant), and it
  does not check facts, instructions being followed, or format.

None of them measures helpfulness or correctness; the Self-Instruct paper
relies on human ratings for these tasks for that reason. Use these numbers
to compare systems on the *same* tasks, read the confidence intervals (they
are wide with 252 tasks), and look at the per-task file before concluding.
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelResult:
    predictions: ModelPredictions
    scores: TaskScores
    summary: dict[str, Interval]
    per_app: dict[str, dict[str, Any]]

    @property
    def name(self) -> str:
        return self.predictions.name


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def metrics_json(results: list[ModelResult], coverage: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{model: {bleu, sentence_bleu, rouge_l, bertscore_f1, bertscore_f1_rescaled, n, ci: {metric: [lo, hi]}}}``.

    ``n`` is the number of tasks scored (those every model predicted); with
    ``coverage`` each entry also gets ``coverage: {predicted, tasks, share}``.
    """
    out: dict[str, Any] = {}
    for res in results:
        entry: dict[str, Any] = {}
        for key, _, _ in METRICS:
            iv = res.summary.get(key)
            entry[key] = None if iv is None else _r(iv.value)
        entry["n"] = res.scores.n
        entry["ci"] = {key: [_r(iv.low), _r(iv.high)] for key, iv in res.summary.items()}
        if coverage is not None:
            entry["coverage"] = coverage[res.name]
        out[res.name] = entry
    return out


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _metrics_csv(results: list[ModelResult], coverage: dict[str, dict[str, Any]] | None) -> str:
    header = ["model", "n"]
    for key, _, _ in METRICS:
        header += [key, f"{key}_ci_low", f"{key}_ci_high"]
    header += ["tasks_predicted", "coverage"]
    rows = []
    for res in results:
        row: list[Any] = [res.name, res.scores.n]
        for key, _, _ in METRICS:
            iv = res.summary.get(key)
            row += ["", "", ""] if iv is None else [_r(iv.value), _r(iv.low), _r(iv.high)]
        cov = (coverage or {}).get(res.name)
        row += ["", ""] if cov is None else [cov["predicted"], cov["share"]]
        rows.append(row)
    return _csv_text(header, rows)


def _per_app_csv(results: list[ModelResult]) -> str:
    keys = ["n", "bleu", "sentence_bleu", "rouge_l", "bertscore_f1"]
    rows = [[res.name, app, vals["n"]] + [("" if vals[k] is None else _r(vals[k])) for k in keys[1:]]
            for res in results for app, vals in res.per_app.items()]
    return _csv_text(["model", "motivation_app"] + keys, rows)


def _word_count(text: str) -> int:
    return len(text.split())


def _per_task_records(results: list[ModelResult]) -> list[dict[str, Any]]:
    records = []
    for res in results:
        s = res.scores
        for i, pair in enumerate(res.predictions.pairs):
            records.append({
                "model": res.name,
                "id": pair.id,
                "motivation_app": pair.motivation_app,
                "instruction": pair.instruction,
                "response": pair.response,
                "target": pair.target,
                "sentence_bleu": _r(s.sentence_bleu[i]),
                "rouge_l": _r(s.rouge_l[i]),
                "bertscore_f1": None if s.bertscore_f1 is None else _r(s.bertscore_f1[i]),
                "response_words": _word_count(pair.response),
                "target_words": _word_count(pair.target),
            })
    return records


def _fmt(iv: Interval | None, fmt: str, with_ci: bool = True) -> str:
    if iv is None:
        return "–"
    text = fmt.format(iv.value)
    return f"{text} [{fmt.format(iv.low)}, {fmt.format(iv.high)}]" if with_ci else text


def _short(text: str, limit: int = 90) -> str:
    one_line = " ".join(text.split()).replace("|", "\\|")
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _task_ranking(results: list[ModelResult]) -> list[tuple[float, str, str, str]]:
    """(mean ROUGE-L over models, id, app, instruction) for tasks every model answered."""
    by_id: dict[str, list[float]] = {}
    info: dict[str, tuple[str, str]] = {}
    for res in results:
        for i, pair in enumerate(res.predictions.pairs):
            by_id.setdefault(pair.id, []).append(float(res.scores.rouge_l[i]))
            info.setdefault(pair.id, (pair.motivation_app, pair.instruction))
    ranked = [(float(np.mean(v)), tid, *info[tid]) for tid, v in by_id.items() if len(v) == len(results)]
    return sorted(ranked, key=lambda r: (-r[0], r[1]))


def _markdown(results: list[ModelResult], settings: dict[str, Any], plots: list[str], top_k: int) -> str:
    present = [(k, t, f) for k, t, f in METRICS if any(k in r.summary for r in results)]
    ordered = sorted(results, key=lambda r: -r.summary["rouge_l"].value)
    lines = ["# Evaluation on the user-oriented tasks", ""]
    lines += [f"- Tasks: `{settings['tasks']}`; answers scored against the human-written target.",
              f"- 95% intervals: {settings['bootstrap']['resamples']} paired bootstrap resamples of the tasks "
              f"(seed {settings['bootstrap']['seed']}).",
              f"- BLEU: sacrebleu `{settings['sacrebleu_signature']}`. ROUGE-L: rouge_score rougeL F, Porter stemmer."]
    lines += _coverage_lines(results, settings)
    bs = settings.get("bertscore")
    if bs is None:
        lines.append("- BERTScore: not computed (`--no-bertscore`).")
    else:
        flag = "" if bs["comparable"] or "NOT comparable" in bs["note"] else \
            " **Not comparable with published BERTScore figures.**"
        lines.append(f"- BERTScore: `{bs['model']}`, layer {bs['num_layers']}. {bs['note']}{flag}")
    lines += ["", "## Scores (sorted by ROUGE-L)", ""]
    header = ["Model", "n"] + [title for _, title, _ in present]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for res in ordered:
        cells = [f"`{res.name}`", str(res.scores.n)]
        cells += [_fmt(res.summary.get(k), f, with_ci=(k != "sentence_bleu")) for k, _, f in present]
        lines.append("| " + " | ".join(cells) + " |")

    lines += ["", "## Response length (words)", "", "| Model | mean | median | target mean |", "|---|---:|---:|---:|"]
    for res in ordered:
        resp = [_word_count(p.response) for p in res.predictions.pairs]
        tgt = [_word_count(p.target) for p in res.predictions.pairs]
        lines.append(f"| `{res.name}` | {np.mean(resp):.1f} | {np.median(resp):.0f} | {np.mean(tgt):.1f} |")

    ranking = _task_ranking(results)
    if ranking:
        k = min(top_k, len(ranking) // 2 or 1)
        for title, rows in (("Best tasks", ranking[:k]), ("Worst tasks", ranking[-k:][::-1])):
            lines += ["", f"## {title} (mean ROUGE-L over all models)", "",
                      "| ROUGE-L | id | app | instruction |", "|---:|---|---|---|"]
            lines += [f"| {score:.3f} | {tid} | {_short(app, 30)} | {_short(instr)} |" for score, tid, app, instr in rows]

    apps = _app_ranking(results)
    if len(apps) > 1:
        k = min(top_k, len(apps) // 2 or 1)
        lines += ["", "## Apps (mean ROUGE-L over models; full table in per_app.csv)", "",
                  "| app | n | mean ROUGE-L |", "|---|---:|---:|"]
        shown = apps[:k] + ([("…", 0, float("nan"))] if len(apps) > 2 * k else []) + apps[-k:]
        lines += [f"| {_short(a, 40)} | {n or ''} | {'' if np.isnan(v) else f'{v:.3f}'} |" for a, n, v in shown]

    if plots:
        lines += ["", "## Figures", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    lines += ["", METRIC_NOTE]
    return "\n".join(lines) + "\n"


def _coverage_lines(results: list[ModelResult], settings: dict[str, Any]) -> list[str]:
    cov = settings.get("coverage")
    if not cov:
        return []
    full = all(c["predicted"] == c["tasks"] for c in cov.values())
    n = settings.get("shared_tasks", results[0].scores.n if results else 0)
    if full:
        return [f"- Coverage: every model predicted all {n} tasks."]
    each = "; ".join(f"`{name}` {c['predicted']}/{c['tasks']} ({100 * c['share']:.1f}%)" for name, c in cov.items())
    return [f"- **Coverage differs: every model is scored on the {n} tasks all of them predicted**, so the scores "
            f"below are comparable with each other, not with full-set figures. Tasks predicted: {each}."]


def _app_ranking(results: list[ModelResult]) -> list[tuple[str, int, float]]:
    apps: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for res in results:
        for app, vals in res.per_app.items():
            apps.setdefault(app, []).append(float(vals["rouge_l"]))
            sizes[app] = int(vals["n"])
    return sorted(((a, sizes[a], float(np.mean(v))) for a, v in apps.items()), key=lambda t: (-t[2], t[0]))


def write_report(out_dir: Path, results: list[ModelResult], settings: dict[str, Any], plots: list[str],
                 *, top_k: int = 5) -> list[Path]:
    """Write every text output into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / n for n in ("metrics.json", "metrics.csv", "per_app.csv", "per_task.jsonl",
                                      "settings.json", "report.md")]
    coverage = settings.get("coverage")
    write_json_atomic(written[0], metrics_json(results, coverage))
    write_text_atomic(written[1], _metrics_csv(results, coverage))
    write_text_atomic(written[2], _per_app_csv(results))
    write_jsonl_atomic(written[3], _per_task_records(results))
    write_json_atomic(written[4], settings)
    write_text_atomic(written[5], _markdown(results, settings, plots, top_k))
    return written
