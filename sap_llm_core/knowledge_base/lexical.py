"""A small BM25 index over knowledge-base texts, the lexical half of hybrid retrieval.

all-MiniLM-L6-v2 is English-only; on German, French, Spanish and Italian queries its vectors are
weak, while the index texts carry the five-language labels verbatim. Exact-word and character-4-gram
overlap (the 4-grams catch German compounds: ``Bestelldatum`` ~ ``Datum der Bestellung``) recovers
those matches. Weaviate's ``hybrid`` query plays the same role in production.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "be",
        "which",
        "that",
        "this",
        "its",
        "their",
        "our",
        "we",
        "us",
        "as",
        "per",
        "e",
        "g",
        "such",
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "ein",
        "eine",
        "einer",
        "eines",
        "und",
        "oder",
        "auf",
        "im",
        "in",
        "zu",
        "zum",
        "zur",
        "von",
        "vom",
        "mit",
        "für",
        "fur",
        "ist",
        "wird",
        "wurde",
        "sich",
        "bei",
        "aus",
        "an",
        "am",
        "um",
        "wie",
        "etwa",
        "le",
        "la",
        "les",
        "l",
        "d",
        "de",
        "du",
        "des",
        "un",
        "une",
        "et",
        "ou",
        "sur",
        "dans",
        "au",
        "aux",
        "pour",
        "par",
        "avec",
        "est",
        "qui",
        "que",
        "a",
        "en",
        "el",
        "los",
        "las",
        "lo",
        "del",
        "al",
        "y",
        "o",
        "en",
        "por",
        "para",
        "con",
        "es",
        "que",
        "se",
        "un",
        "una",
        "su",
        "sus",
        "il",
        "lo",
        "gli",
        "i",
        "l",
        "della",
        "delle",
        "dei",
        "degli",
        "del",
        "di",
        "da",
        "e",
        "o",
        "nel",
        "nella",
        "per",
        "con",
        "che",
        "un",
        "una",
        "sul",
        "sulla",
        "alla",
        "al",
    ]
)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """Words (camelCase split, accents folded, stopwords dropped) plus 4-grams of longer words."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    words = [w for w in re.findall(r"[a-z0-9]+", _fold(text).lower()) if w not in STOPWORDS]
    out = list(words)
    for w in words:
        if len(w) >= 6:
            out += [f"#{w[i : i + 4]}" for i in range(len(w) - 3)]
    return out


class Bm25Index:
    """Okapi BM25 (k1=1.2, b=0.75) over one text per document.

    Each posting's BM25 weight is precomputed at build time, so scoring a query is one vectorised
    ``np.add.at`` per query term (well under a millisecond for the whole KB); the last query's
    scores are memoised because the retriever asks twice (properties, then entities).
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.n = len(texts)
        raw: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(self.n, dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = tokenize(text)
            lengths[i] = len(tokens)
            for term, tf in sorted(Counter(tokens).items()):
                raw[term].append((i, tf))
        avg_len = float(lengths.mean()) if self.n else 0.0
        norm = self.k1 * (1 - self.b + self.b * lengths / max(avg_len, 1e-9))
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, plist in raw.items():
            idx = np.fromiter((p[0] for p in plist), dtype=np.int64, count=len(plist))
            tf = np.fromiter((p[1] for p in plist), dtype=np.float32, count=len(plist))
            idf = math.log(1 + (self.n - len(plist) + 0.5) / (len(plist) + 0.5))
            self.postings[term] = (idx, (idf * tf * (self.k1 + 1) / (tf + norm[idx])).astype(np.float32))
        self._last: tuple[str, np.ndarray] | None = None

    def scores(self, query: str) -> np.ndarray:
        if self._last is not None and self._last[0] == query:
            return self._last[1]
        out = np.zeros(self.n, dtype=np.float32)
        for term in sorted(set(tokenize(query))):
            posting = self.postings.get(term)
            if posting is not None:
                out[posting[0]] += posting[1]  # indices are unique within one posting list
        self._last = (query, out)
        return out
