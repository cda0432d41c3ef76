"""Exact ROUGE-L F, equal to rouge_score's ``rougeL`` fmeasure (no stemming), computed fast.

Three parts, all pure:

* ``tokenize`` reproduces ``rouge_score.tokenize.tokenize(text, None)``: lowercase
  first (so e.g. the Kelvin sign becomes an ASCII "k"), then every run of
  characters outside ``[a-z0-9]`` becomes a separator.  Every other non-ASCII
  character (accents, CJK, emoji) is therefore a separator and never part of a
  token; a text without ASCII letters or digits has no tokens and scores 0.
* ``Vocabulary`` turns a text into a compact *token string*: one code point per
  token id.  rapidfuzz's LCSseq then runs its bit-parallel LCS on it directly
  (a Python ``str`` needs no conversion, unlike a list of ints), and the string
  is the cached, compact form of the text in the pool.
* ``f_measure`` applies rouge_score's own float arithmetic,
  ``p = L/len(pred); r = L/len(target); F = 2*p*r/(p+r)``.  The algebraically
  equal ``2L/(m+n)`` rounds differently: for m=9, n=11, L=7 it gives exactly
  0.7 (kept) where rouge_score gives 0.7000000000000001 (rejected).

F is symmetric: swapping target and prediction swaps p and r, and both ``2*p*r``
(the doubling is exact) and ``p+r`` are commutative in IEEE arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["tokenize", "Vocabulary", "f_measure", "f_measure_many", "lcs_many", "rouge_l_f"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Token ids become code points; the UTF-16 surrogate block is skipped so every
# token string stays an ordinary, encodable str.
_SURROGATE_START, _SURROGATE_SIZE = 0xD800, 0x800
MAX_TOKENS = 0x110000 - _SURROGATE_SIZE


def tokenize(text: str) -> list[str]:
    """rouge_score's tokenizer without stemming: lowercase, non-[a-z0-9] runs split, empties dropped."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _code_point(token_id: int) -> str:
    return chr(token_id if token_id < _SURROGATE_START else token_id + _SURROGATE_SIZE)


class Vocabulary:
    """Token -> id, and text -> token string (one character per token). Grows as texts arrive."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}  # token -> its one-character code
        self.tokens: list[str] = []  # id -> token (the features of selfinstruct.dedup.lsh need it)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> str:
        codes = self._ids
        out = []
        for tok in _NON_ALNUM.sub(" ", text.lower()).split():
            code = codes.get(tok)
            if code is None:
                n = len(self.tokens)
                if n >= MAX_TOKENS:
                    raise OverflowError(f"more than {MAX_TOKENS} distinct tokens in one pool")
                code = codes[tok] = _code_point(n)
                self.tokens.append(tok)
            out.append(code)
        return "".join(out)

    @staticmethod
    def token_id(code: str) -> int:
        cp = ord(code)
        return cp if cp < _SURROGATE_START else cp - _SURROGATE_SIZE


def f_measure(lcs: int, len_target: int, len_pred: int) -> float:
    """rouge_score's _score_lcs + scoring.fmeasure, operation for operation."""
    if len_target == 0 or len_pred == 0:
        return 0.0
    precision = lcs / len_pred
    recall = lcs / len_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def f_measure_many(lcs: np.ndarray, len_target: int, len_pred: np.ndarray) -> np.ndarray:
    """Vectorised ``f_measure``: the same IEEE operations in the same order, element by element.

    ``len_pred`` may hold zeros (texts without tokens); their LCS is 0, and so is F.
    """
    lcs = np.asarray(lcs, dtype=np.float64)
    if len_target == 0:
        return np.zeros(lcs.shape, dtype=np.float64)
    # Where L == 0, rouge_score returns 0.0 (p + r == 0); dividing by 1 instead
    # of 0 yields exactly that 0.0 without a floating-point warning.
    len_pred = np.where(lcs > 0, len_pred, 1.0)
    precision = lcs / len_pred
    recall = lcs / float(len_target)
    total = precision + recall
    total[total == 0.0] = 1.0
    return 2.0 * precision * recall / total


def lcs_many(query: str, choices: Sequence[str]) -> np.ndarray:
    """LCS length (in tokens) between one token string and many, via rapidfuzz's bit-parallel LCSseq."""
    if not choices:
        return np.zeros(0, dtype=np.int32)
    return process.cdist([query], choices, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0]


def rouge_l_f(a: str, b: str) -> float:
    """ROUGE-L F of target ``a`` and prediction ``b``; equals
    ``RougeScorer(["rougeL"], use_stemmer=False).score(a, b)["rougeL"].fmeasure``."""
    vocab = Vocabulary()
    ta, tb = vocab.encode(a), vocab.encode(b)
    return f_measure(LCSseq.similarity(ta, tb), len(ta), len(tb))
