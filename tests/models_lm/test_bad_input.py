"""Bad input fails before any training, saying what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from sap_llm_core.models.base_lm import train as base_train
from sap_llm_core.models.language_decoder import train as decoder_train
from sap_llm_core.models.language_decoder.extract import MissingWeightsError
from sap_llm_core.models.lm_data import TrainingDataError
from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, records_to_table
from sap_llm_core.storage import ArtifactStore

from .conftest import write_splits


class NullReporter:
    def log_params(self, params):
        pass

    def log_metric(self, name, value, step):
        pass


def _config(root: str, out: Path) -> dict:
    return {"storage_root": root, "output_dir": str(out), "hyperparameters": {"max_steps": 1}}


def test_schema_violating_rows_fail_with_their_ids(tmp_path, corpus_records):
    store = ArtifactStore(str(tmp_path / "data"))
    write_splits(
        store, {"train": corpus_records[:5], "val": corpus_records[5:7], "test": corpus_records[7:9]}
    )
    rows = records_to_table(corpus_records[:5]).to_pylist()
    rows[1]["id"], rows[1]["ground_truth"] = "broken-doc-1", "{not json"
    rows[3]["id"], rows[3]["boxes"] = "broken-doc-2", [[5, 5, 1, 1]] * len(rows[3]["words"])
    store.write_table(
        pa.Table.from_pylist(rows, schema=DOCUMENT_RECORD_SCHEMA),
        "corpus_splits",
        "train/shard-00000.parquet",
    )
    out = tmp_path / "base"
    with pytest.raises(TrainingDataError) as err:
        base_train.train(_config(store.root, out), NullReporter())
    assert "broken-doc-1" in str(err.value) and "broken-doc-2" in str(err.value)
    assert not out.exists()  # nothing was trained or written


def test_empty_split_fails_clearly(tmp_path, corpus_records):
    store = ArtifactStore(str(tmp_path / "data"))
    write_splits(store, {"train": [], "val": corpus_records[:2], "test": corpus_records[2:4]})
    with pytest.raises(TrainingDataError, match="empty"):
        base_train.train(_config(store.root, tmp_path / "base"), NullReporter())


def test_missing_base_weights_fail_with_the_path_looked_in(tmp_path, splits_root):
    missing = tmp_path / "no-base-here"
    config = {**_config(splits_root, tmp_path / "decoder"), "base_model_dir": str(missing)}
    with pytest.raises(MissingWeightsError, match=str(missing)):
        decoder_train.train(config, NullReporter())


def test_a_hub_name_is_looked_up_locally_never_downloaded(tmp_path, splits_root):
    config = {
        **_config(splits_root, tmp_path / "base"),
        "base_model": "Qwen/Qwen2.5-7B-Instruct",
        "base_models_dir": str(tmp_path / "models"),
    }
    with pytest.raises(MissingWeightsError, match=str(tmp_path / "models" / "Qwen" / "Qwen2.5-7B-Instruct")):
        base_train.train(config, NullReporter())
