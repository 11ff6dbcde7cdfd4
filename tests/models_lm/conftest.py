"""A small synthetic corpus laid out as the ``corpus_splits`` contract, shared by the LM tests.

Built once per session (seconds, no images) so the tests exercise the real reader and formats.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sap_llm_core.schema import DocumentRecord, records_to_table
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus

SPLITS = "corpus_splits"


def write_splits(store: ArtifactStore, splits: dict[str, list[DocumentRecord]]) -> dict:
    """Write the corpus_splits layout (manifest + one shard per split) from given records."""
    files, digest = {}, hashlib.sha256()
    for split, rows in splits.items():
        path = f"{split}/shard-00000.parquet"
        store.write_table(records_to_table(rows), SPLITS, path)
        sha = hashlib.sha256(store.read_bytes(SPLITS, path)).hexdigest()
        digest.update(sha.encode())
        files[split] = [{"path": path, "rows": len(rows), "sha256": sha}]
    manifest = {"asset": SPLITS, "files": files, "data_version": digest.hexdigest()}
    store.write_manifest(SPLITS, manifest)
    return manifest


@pytest.fixture(scope="session")
def corpus_records(tmp_path_factory: pytest.TempPathFactory) -> list[DocumentRecord]:
    root = tmp_path_factory.mktemp("lm_corpus")
    store = ArtifactStore(str(root))
    manifest, _ = generate_corpus(
        GeneratorConfig(num_documents=400, shard_size=200, render_images=False, seed=7), store, workers=1
    )
    from sap_llm_core.schema import table_to_records

    shards = [store.read_table(ASSET, shard["path"]) for shard in manifest["shards"]]
    return [r for table in shards for r in table_to_records(table)]


@pytest.fixture(scope="session")
def splits_root(tmp_path_factory: pytest.TempPathFactory, corpus_records: list[DocumentRecord]) -> str:
    """70/15/15 by position (the generator already shuffles types and languages)."""
    root = tmp_path_factory.mktemp("lm_splits")
    n = len(corpus_records)
    a, b = int(0.7 * n), int(0.85 * n)
    write_splits(
        ArtifactStore(str(root)),
        {"train": corpus_records[:a], "val": corpus_records[a:b], "test": corpus_records[b:]},
    )
    return str(root)


def split_dir(root: str) -> Path:
    return Path(root) / SPLITS
