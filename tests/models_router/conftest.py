"""Fixtures for the reasoning engine tests: a small synthetic corpus in the ``corpus_splits`` layout."""

from __future__ import annotations

import pytest

# Small enough for 2 shared CPU cores, large enough that every document type appears in each split.
TINY_HP = {
    "pretrain_epochs": 2,
    "sft_epochs": 2,
    "dpo_epochs": 1,
    "dpo_max_examples": 64,
    "batch_size": 16,
    "logging_steps": 2,
    "latency_documents": 20,
}


@pytest.fixture(scope="session")
def corpus_root(split_corpus) -> str:
    """400 synthetic documents split 70/15/15 by id hash."""
    return split_corpus("router_corpus", 400)
