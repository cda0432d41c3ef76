"""Exact ROUGE-L F, equal float for float to rouge_score's ``rougeL`` fmeasure, with optional stemming, computed fast.

One module for every ROUGE-L in the project: dedup's 0.7 rule (no stemming),
evaluate's SuperNI score (Porter stemming) and analyze's seed similarity.  All pure:

* ``tokenize`` reproduces ``rouge_score.tokenize.tokenize``: lowercase first
  (so e.g. the Kelvin sign becomes an ASCII "k"), then every run of characters
  outside ``[a-z0-9]`` becomes a separator.  Every other non-ASCII character
  (accents, CJK, emoji) is therefore a separator and never part of a token; a
  text without ASCII letters or digits has no tokens and scores 0.  With
  ``use_stemmer=True`` tokens longer than three characters go through NLTK's
  Porter stemmer (the one rouge_score's DefaultTokenizer uses), memoised,
  because a corpus repeats the same few thousand words and stemming dominated
  rouge_score's time.
* ``Vocabulary`` turns a text into a compact *token string*: one code point per
  token id.  rapidfuzz's LCSseq then runs its bit-parallel LCS on it directly
  (a Python ``str`` needs no conversion, unlike a list of ints), and the string
  is the cached, compact form of the text in dedup's pool.  The LCS over those
  code points equals the LCS over tokens because the map is one-to-one.
* ``f_measure`` applies rouge_score's own float arithmetic,
  ``p = L/len(pred); r = L/len(target); F = 2*p*r/(p+r)``.  The algebraically
  equal ``2L/(m+n)`` rounds differently: for m=9, n=11, L=7 it gives exactly
  0.7 (kept) where rouge_score gives 0.7000000000000001 (rejected).

F is symmetric: swapping target and prediction swaps p and r, and both ``2*p*r``
(the doubling is exact) and ``p+r`` are commutative in IEEE arithmetic.

Only numpy and rapidfuzz (core dependencies) are needed; NLTK (installed with
the ``eval`` extra's rouge-score) is imported on the first stemmed text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["tokenize", "Vocabulary", "f_measure", "f_measure_many", "lcs_many", "rouge_l_f", "rouge_l_pairs",
           "max_rouge_l"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")
# Token ids become code points; the UTF-16 surrogate block is skipped so every
# token string stays an ordinary, encodable str.
_SURROGATE_START, _SURROGATE_SIZE = 0xD800, 0x800
MAX_TOKENS = 0x110000 - _SURROGATE_SIZE


@lru_cache(maxsize=1)
def _porter_stem() -> Callable[[str], str]:
    from nltk.stem import porter  # the stemmer rouge_score's DefaultTokenizer uses

    return lru_cache(maxsize=1 << 16)(porter.PorterStemmer().stem)


def tokenize(text: str, *, use_stemmer: bool = False) -> list[str]:
    """rouge_score's tokenizer: lowercase, non-[a-z0-9] runs split, empties dropped, optionally Porter-stemmed."""
    tokens = _NON_ALNUM.sub(" ", text.lower()).split()
    if not use_stemmer:
        return tokens
    stem = _porter_stem()
    # rouge_score stems only tokens longer than 3 characters, then drops any that are no longer [a-z0-9]+.
    return [t for t in (stem(t) if len(t) > 3 else t for t in tokens) if _VALID_TOKEN.match(t)]


def _code_point(token_id: int) -> str:
    return chr(token_id if token_id < _SURROGATE_START else token_id + _SURROGATE_SIZE)


class Vocabulary:
    """Token -> id, and text -> token string (one character per token). Grows as texts arrive."""

    def __init__(self, *, use_stemmer: bool = False) -> None:
        self.use_stemmer = use_stemmer
        self._ids: dict[str, str] = {}  # token -> its one-character code
        self.tokens: list[str] = []  # id -> token (the features of selfinstruct.dedup.lsh need it)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> str:
        codes = self._ids
        out = []
        # dedup's hot path: the unstemmed tokenizer inlined, one regex pass per text.
        tokens = tokenize(text, use_stemmer=True) if self.use_stemmer else _NON_ALNUM.sub(" ", text.lower()).split()
        for tok in tokens:
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


def rouge_l_f(a: str, b: str, *, use_stemmer: bool = False) -> float:
    """ROUGE-L F of target ``a`` and prediction ``b``; equals
    ``RougeScorer(["rougeL"], use_stemmer=use_stemmer).score(a, b)["rougeL"].fmeasure``."""
    vocab = Vocabulary(use_stemmer=use_stemmer)
    ta, tb = vocab.encode(a), vocab.encode(b)
    return f_measure(LCSseq.similarity(ta, tb), len(ta), len(tb))


def rouge_l_pairs(targets: Sequence[str], predictions: Sequence[str], *, use_stemmer: bool) -> np.ndarray:
    """ROUGE-L F per (target, prediction) pair."""
    vocab = Vocabulary(use_stemmer=use_stemmer)
    scores = []
    for target, prediction in zip(targets, predictions, strict=True):
        ta, tp = vocab.encode(target), vocab.encode(prediction)
        scores.append(f_measure(LCSseq.similarity(ta, tp), len(ta), len(tp)))
    return np.array(scores, dtype=np.float64)


def max_rouge_l(candidates: Sequence[str], references: Sequence[str], *, use_stemmer: bool = False,
                workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate (the prediction): the highest ROUGE-L F against any reference (the target),
    and that reference's index (-1 if there are no references)."""
    n = len(candidates)
    if n == 0 or not references:
        return np.zeros(n), np.full(n, -1, dtype=np.int64)
    vocab = Vocabulary(use_stemmer=use_stemmer)
    cand = [vocab.encode(c) for c in candidates]
    refs = [vocab.encode(r) for r in references]
    lcs = process.cdist(cand, refs, scorer=LCSseq.similarity, dtype=np.int32, workers=workers).astype(np.float64)
    len_c = np.array([len(c) for c in cand], dtype=np.float64)[:, None]
    len_r = np.array([len(r) for r in refs], dtype=np.float64)[None, :]
    # Where L == 0 (which covers every empty side) F is 0; dividing by 1 there avoids 0/0 warnings.
    hit = lcs > 0
    precision = lcs / np.where(hit, len_c, 1.0)
    recall = lcs / np.where(hit, len_r, 1.0)
    f = np.where(hit, 2 * precision * recall / np.where(hit, precision + recall, 1.0), 0.0)
    best = np.argmax(f, axis=1)
    return f[np.arange(n), best], best.astype(np.int64)
