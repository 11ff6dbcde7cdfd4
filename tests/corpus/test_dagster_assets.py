"""The corpus assets materialise in Dagster with their checks, metadata and data versions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from corpus_helpers import FIXTURES, PUBLIC, write_source

from assets import corpus_sources, dataset
from orchestration.resources import MongoResource, SparkResource, StorageResource
from sap_llm_core.corpus.textgen import text_table

ASSETS = [
    corpus_sources.public_documents,
    corpus_sources.qorsync_documents,
    corpus_sources.label_studio_annotations,
    dataset.unified_corpus,
    dataset.corpus_splits,
    dataset.corpus_statistics,
]
CHECKS = [*corpus_sources.defs.asset_checks, *dataset.defs.asset_checks]


def _materialize(root: Path, public_root: Path, monkeypatch: pytest.MonkeyPatch) -> dg.ExecuteInProcessResult:
    monkeypatch.delenv("QORSYNC_DB_URI", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    return dg.materialize(
        [*ASSETS, *CHECKS],
        resources={
            "storage": StorageResource(root=str(root)),
            "mongo": MongoResource(local_data_dir=str(root / "mongo")),  # started only for reviews
            "spark": SparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        },
        run_config={"ops": {"public_documents": {"config": {"root": str(public_root)}}}},
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def materialized(tmp_path_factory, spark):
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("dagster") / "data"
    from sap_llm_core.storage import ArtifactStore

    write_source(ArtifactStore(str(root)), "synthetic_documents", text_table(600, seed=5))
    public = PUBLIC if PUBLIC.is_dir() else FIXTURES
    result = _materialize(root, public, monkeypatch)
    monkeypatch.undo()
    return result, root, public


def test_all_corpus_assets_materialise_and_every_check_passes(materialized):
    result, _, _ = materialized
    assert result.success
    materialized_keys = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert materialized_keys == {a.key.to_user_string() for a in ASSETS}
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 10
    failed = {e.check_name: e.metadata for e in evaluations if not e.passed}
    assert not failed, failed


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == asset]
    return events[0].materialization.metadata


def test_metadata_is_readable_in_the_ui(materialized):
    result, _, public = materialized
    public_md = _metadata(result, "public_documents")
    assert "| dataset |" in public_md["per_dataset"].value
    assert public_md["dagster/row_count"].value > 0
    qorsync_md = _metadata(result, "qorsync_documents")
    assert qorsync_md["enabled"].value is False
    assert "QORSYNC_DB_URI" in qorsync_md["reason"].value
    unified_md = _metadata(result, "unified_corpus")
    assert (
        unified_md["rows_in"].value == unified_md["dagster/row_count"].value + unified_md["quarantined"].value
    )
    assert "synthetic" in unified_md["by_source"].value
    statistics_md = _metadata(result, "corpus_statistics")
    assert "data:image/png;base64," in statistics_md["documents_per_document_type"].value


def test_data_versions_come_from_content_hashes(materialized):
    result, root, _ = materialized
    import json

    manifest = json.loads((root / "corpus_splits" / "manifest.json").read_text())
    events = {
        m.asset_key.to_user_string(): m.materialization.tags.get("dagster/data_version")
        for m in result.get_asset_materialization_events()
    }
    assert events["corpus_splits"] == manifest["data_version"]


def test_a_blocking_check_fails_and_shows_offending_counts(materialized, tmp_path):
    """Skew the split index on disk, then re-run the class-share check alone: it fails with counts."""
    result, root, _ = materialized
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    index_path = root / "corpus_splits" / "index.parquet"
    index = pq.read_table(index_path)
    skewed = index.set_column(
        index.schema.get_field_index("document_type"),
        "document_type",
        pc.if_else(
            pc.equal(index.column("split"), "val"), pa.scalar("PURCHASE_ORDER"), index.column("document_type")
        ),
    )
    pq.write_table(skewed, index_path)
    try:
        check_result = dataset.corpus_splits_class_share(storage=StorageResource(root=str(root)))
    finally:
        pq.write_table(index, index_path)
    assert check_result.passed is False
    assert check_result.metadata["unexpected_total"].value >= 1
    assert "expect_column_values_to_be_between" in check_result.metadata["expectations"].value
    assert next(iter(dataset.corpus_splits_class_share.check_specs)).blocking
