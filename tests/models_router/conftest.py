"""Fixtures for the reasoning engine tests: a small synthetic corpus in the ``corpus_splits`` layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from sap_llm_core.schema import table_to_records
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
from sap_llm_core.training.data import write_hash_splits

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
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """400 synthetic documents (no images) split 70/15/15 by id hash."""
    root = str(tmp_path_factory.mktemp("router_corpus") / "data")
    store = ArtifactStore(root)
    manifest, _ = generate_corpus(GeneratorConfig(num_documents=400, render_images=False), store, workers=1)
    records = [r for s in manifest["shards"] for r in table_to_records(store.read_table(ASSET, s["path"]))]
    write_hash_splits(store, records, manifest["data_version"])
    return root


@pytest.fixture
def copy_of_corpus(corpus_root: str, tmp_path: Path) -> str:
    """A private copy, for tests that break the data."""
    import shutil

    target = tmp_path / "data"
    shutil.copytree(corpus_root, target)
    return str(target)
