"""Benchmark the evaluation arithmetic against the straightforward way of computing the same numbers.

Each figure is a ratio measured in the same run, on the same machine:

* ROUGE-L over the 8 x 252 vendored baseline pairs: ours (cached stemmer +
  rapidfuzz LCS) vs rouge_score's RougeScorer, and the two agree exactly;
* max ROUGE-L of N generated-like instructions against the 175 seed tasks
  (the `analyze` Fig. 4 statistic): ours (cdist over code-point strings) vs
  rouge_score pair by pair (timed on a subset and scaled);
* bootstrap of corpus BLEU (1000 resamples): ours (sufficient statistics,
  weighted sums) vs calling sacrebleu.corpus_bleu on every resampled corpus
  (timed on a few resamples and scaled).

Usage (from the repository root):
    .venv/bin/python benchmarks/eval_bench.py [--instructions 3000] [--out benchmarks/results/eval_bench.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _baseline_pairs() -> tuple[list[str], list[str]]:
    responses, targets = [], []
    for path in sorted((ROOT / "data" / "human_eval" / "predictions").glob("*_predictions.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            responses.append(rec["response"].strip())
            targets.append(rec["target"].strip())
    return responses, targets


def _fake_instructions(seeds: list[str], n: int, rng: random.Random) -> list[str]:
    """Instruction-like texts: seed words shuffled and mixed, so overlaps range from none to high."""
    words = [w for s in seeds for w in s.split()]
    out = []
    for _ in range(n):
        base = rng.choice(seeds).split()
        keep = [w for w in base if rng.random() < 0.6]
        out.append(" ".join(keep + rng.sample(words, k=rng.randint(2, 12))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "eval_bench.md")
    args = parser.parse_args()

    import sacrebleu
    from rouge_score import rouge_scorer

    from selfinstruct.evaluate.metrics import BootstrapConfig, score_tasks, summarize
    from selfinstruct.rouge import max_rouge_l, rouge_l_pairs

    rows = []

    # 1. ROUGE-L on the vendored pairs.
    responses, targets = _baseline_pairs()
    ours, t_ours = _timed(rouge_l_pairs, targets, responses, use_stemmer=True)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    ref, t_ref = _timed(lambda: [scorer.score(t, r)["rougeL"].fmeasure for r, t in zip(responses, targets)])
    assert np.array_equal(ours, np.array(ref)), "ROUGE-L differs from rouge_score"
    rows.append((f"ROUGE-L, {len(responses)} baseline pairs (stemmed)", t_ref, t_ours, "identical floats"))

    # 2. Max ROUGE-L against the seed tasks.
    seeds = [json.loads(line)["instruction"] for line in (ROOT / "data" / "seed_tasks.jsonl").read_text().splitlines()]
    cands = _fake_instructions(seeds, args.instructions, random.Random(0))
    (best, _), t_ours = _timed(max_rouge_l, cands, seeds, use_stemmer=False)
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    subset = cands[:100]
    brute, t_sub = _timed(lambda: [max(plain.score(s, c)["rougeL"].fmeasure for s in seeds) for c in subset])
    assert np.allclose(best[:100], brute, atol=1e-12), "max ROUGE-L differs from rouge_score"
    t_ref = t_sub * len(cands) / len(subset)
    rows.append((f"max ROUGE-L, {len(cands)} instructions x {len(seeds)} seeds", t_ref, t_ours,
                 "rouge_score timed on 100 instructions, scaled"))

    # 3. Corpus-BLEU bootstrap, one model.
    n = 252
    resp, tgt = responses[-n:], targets[-n:]
    scores = score_tasks(resp, tgt)
    cfg = BootstrapConfig(resamples=1000, seed=0)
    _, t_ours = _timed(summarize, scores, cfg)
    rng = np.random.default_rng(0)
    k = 20
    _, t_k = _timed(lambda: [sacrebleu.corpus_bleu([resp[i] for i in idx], [[tgt[i] for i in idx]])
                             for idx in rng.integers(0, n, size=(k, n))])
    rows.append(("bootstrap CIs, 1000 resamples (all metrics vs corpus BLEU alone)", t_k * cfg.resamples / k, t_ours,
                 f"sacrebleu timed on {k} resamples, scaled"))

    lines = ["# Evaluation arithmetic benchmark", "",
             f"Command: `.venv/bin/python benchmarks/eval_bench.py --instructions {args.instructions}`",
             f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
             "one process, times in seconds (wall clock).", "",
             "| task | straightforward (s) | ours (s) | speed-up | note |", "|---|---:|---:|---:|---|"]
    lines += [f"| {name} | {ref:.2f} | {ours:.3f} | {ref / ours:.0f}x | {note} |" for name, ref, ours, note in rows]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
