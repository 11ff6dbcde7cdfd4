"""Fixtures for the model tests: a small synthetic corpus laid out as the ``corpus_splits`` contract."""

from __future__ import annotations

import pytest

# Small and fast on 2 shared CPU cores; still long enough for the model to learn document types.
TINY_HP = {
    "max_train_documents": 24,
    "max_eval_documents": 8,
    "epochs": 1,
    "batch_size": 4,
    "max_length": 48,
    "max_subtokens_per_word": 1,
    "logging_steps": 2,
    "save_steps": 3,
}


@pytest.fixture(scope="session")
def corpus_root(split_corpus) -> str:
    """250 synthetic documents split 70/15/15 by id hash."""
    return split_corpus("corpus", 250)
