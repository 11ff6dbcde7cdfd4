"""The corpus_splits contract: reading, schema validation before training, empty splits."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import SPLITS_ASSET, TrainingDataError, hash_split, load_split


def test_load_split_reads_every_split_disjointly(corpus_root: str) -> None:
    store = ArtifactStore(corpus_root)
    ids = {split: [r.id for r in load_split(store, split)] for split in ("train", "val", "test")}
    assert all(ids.values())
    assert not set(ids["train"]) & set(ids["test"])
    assert all(hash_split(i) == "test" for i in ids["test"])
    manifest = store.read_manifest(SPLITS_ASSET)
    assert len(ids["train"]) == manifest["files"]["train"][0]["rows"]
    assert load_split(store, "train", limit=5) == load_split(store, "train")[:5]


def _rewrite_test_split(store: ArtifactStore, mutate) -> None:
    path = store.read_manifest(SPLITS_ASSET)["files"]["test"][0]["path"]
    rows = store.read_table(SPLITS_ASSET, path).to_pylist()
    rows = mutate(rows)
    store.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_RECORD_SCHEMA), SPLITS_ASSET, path)


def test_schema_violation_fails_with_record_ids(copy_of_corpus: str) -> None:
    store = ArtifactStore(copy_of_corpus)

    def corrupt(rows):
        rows[0]["boxes"][0] = [900, 10, 100, 20]  # x0 > x1
        rows[1]["words"] = rows[1]["words"][:-1]  # words and boxes disagree
        return rows

    _rewrite_test_split(store, corrupt)
    with pytest.raises(TrainingDataError) as err:
        load_split(store, "test")
    message = str(err.value)
    assert "2 record(s)" in message
    rows = store.read_table(SPLITS_ASSET, "test/shard-00000.parquet").to_pylist()
    bad_ids = [rows[0]["id"], rows[1]["id"]]
    assert all(i in message for i in bad_ids)


def test_empty_split_fails_clearly(copy_of_corpus: str) -> None:
    store = ArtifactStore(copy_of_corpus)
    _rewrite_test_split(store, lambda rows: [])
    with pytest.raises(TrainingDataError, match="split 'test' .* is empty"):
        load_split(store, "test")


def test_missing_splits_asset_names_the_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus_splits/manifest.json"):
        load_split(ArtifactStore(str(tmp_path)), "train")
