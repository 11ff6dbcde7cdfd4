"""Fixtures for the model tests: a small synthetic corpus laid out as the ``corpus_splits`` contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from sap_llm_core.schema import table_to_records
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
from sap_llm_core.training.data import write_hash_splits

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
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """200 synthetic documents (no images) split 70/15/15 by id hash, in a session temp folder."""
    root = str(tmp_path_factory.mktemp("corpus") / "data")
    store = ArtifactStore(root)
    manifest, _ = generate_corpus(GeneratorConfig(num_documents=250, render_images=False), store, workers=1)
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
