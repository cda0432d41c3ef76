"""selfinstruct.rouge, the one ROUGE-L: the stemmed tokenizer and scorer equal rouge_score's (the unstemmed
path is pinned by tests/dedup/test_dedup_rouge.py, the evaluation helpers by tests/evaluate/test_eval_rouge.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.stem import porter
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

from selfinstruct.rouge import Vocabulary, rouge_l_f, tokenize

STEMMER = porter.PorterStemmer()
TEXTS = ["The running dogs ran quickly.", "Running, runners; RUN.", "generously generalized organizations",
         "dying lying ties", "naïve café", "", "!!!", "a bb ccc dddd eeeee", "1990s 2nd abc123"]
WORDS = st.sampled_from(["running", "runs", "ran", "quickly", "generalization", "happiness", "caresses", "ponies",
                         "dying", "agreed", "a", "be", "the", "x1", "Ünïcode", "e-mail", "12", "sky's"])


@pytest.mark.parametrize("text", TEXTS)
def test_stemmed_tokenizer_matches_rouge_score(text):
    assert tokenize(text, use_stemmer=True) == rs_tokenize.tokenize(text, STEMMER)
    assert tokenize(text) == rs_tokenize.tokenize(text, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=12))
def test_stemmed_tokenizer_matches_rouge_score_on_arbitrary_text(words):
    text = " ".join(words)
    assert tokenize(text, use_stemmer=True) == rs_tokenize.tokenize(text, STEMMER)
    assert len(Vocabulary(use_stemmer=True).encode(text)) == len(tokenize(text, use_stemmer=True))


@pytest.mark.parametrize("stem", [True, False])
@pytest.mark.parametrize("target", TEXTS)
@pytest.mark.parametrize("prediction", TEXTS[:4])
def test_rouge_l_f_equals_rouge_score(stem, target, prediction):
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem).score(target, prediction)["rougeL"].fmeasure
    assert rouge_l_f(target, prediction, use_stemmer=stem) == expected
