"""Evaluation: answer the 252 user-oriented tasks and score the answers (run statistics live in selfinstruct.analyze).

Modules, each with one job:

    tasks.py          load the evaluation tasks; build one prediction record (shared by local and API prediction)
    predict_local.py  batched greedy/sampled generation with a local (optionally LoRA-adapted) causal LM
    predictions.py    read prediction files and join them to the tasks
    metrics.py        BLEU / ROUGE-L arithmetic and bootstrap confidence intervals (pure)
    bertscore.py      BERTScore-F1 with an offline fallback model
    report.py         metrics.json / metrics.csv / per_task.jsonl / report.md
    plots.py          PNG figures (matplotlib Agg, via selfinstruct.plotting)

The commands (`predict`, `evaluate`, `analyze`) are in selfinstruct/cli/evaluate.py.
Heavy libraries (torch, transformers, bert-score, matplotlib) are imported inside
the functions that need them, so importing this package stays cheap.
"""
