import dagster as dg
import pyarrow as pa
import pytest

from orchestration.resources import StorageResource, resources_for
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import generate_corpus


def test_store_round_trips_bytes_json_and_parquet(tmp_path):
    store = ArtifactStore(str(tmp_path))
    store.write_bytes(b"abc", "a", "b.bin")
    store.write_json({"x": [1, 2]}, "a", "c.json")
    store.write_table(pa.table({"n": [1, 2, 3]}), "a", "t.parquet")
    assert store.read_bytes("a", "b.bin") == b"abc"
    assert store.read_json("a", "c.json") == {"x": [1, 2]}
    assert store.read_table("a", "t.parquet").column("n").to_pylist() == [1, 2, 3]
    assert store.list("a") == ["b.bin", "c.json", "t.parquet"]
    with pytest.raises(FileNotFoundError, match="materialise missing_asset first"):
        store.read_manifest("missing_asset")


def test_any_fsspec_url_works_as_storage_root():
    """The same code writes to object storage; memory:// stands in for s3:// here."""
    store = ArtifactStore("memory://sap-llm-test")
    manifest, _ = generate_corpus(
        GeneratorConfig(num_documents=6, shard_size=6, render_images=False), store, workers=1
    )
    assert store.read_manifest("synthetic_documents") == manifest
    assert store.url("synthetic_documents").startswith("memory://")
    assert store.exists("synthetic_documents", manifest["shards"][0]["path"])


def test_parquet_writes_are_deterministic(tmp_path):
    table = pa.table({"id": ["a", "b"], "v": [1.5, 2.5]})
    a, b = ArtifactStore(str(tmp_path / "a")), ArtifactStore(str(tmp_path / "b"))
    a.write_table(table, "t.parquet")
    b.write_table(table, "t.parquet")
    assert a.read_bytes("t.parquet") == b.read_bytes("t.parquet")


def test_local_and_production_resources(monkeypatch, tmp_path):
    local = resources_for("local")["storage"]
    assert isinstance(local, StorageResource) and "://" not in local.root

    production = resources_for("production")["storage"]
    monkeypatch.setenv("SAP_LLM_STORAGE__ROOT", str(tmp_path / "prod"))

    @dg.asset
    def probe(storage: StorageResource) -> str:
        return storage.store().root

    result = dg.materialize([probe], resources={"storage": production})
    assert result.output_for_node("probe") == str(tmp_path / "prod")

    with pytest.raises(ValueError, match="deployment"):
        resources_for("staging")  # type: ignore[arg-type]
