"""unified_corpus, corpus_splits and corpus_statistics on a real local[2] Spark session."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from corpus_helpers import empty_sources, write_source

from sap_llm_core.corpus import pipeline
from sap_llm_core.corpus.loaders.common import make_record
from sap_llm_core.corpus.quality import gx_suites
from sap_llm_core.corpus.records_io import read_quarantine
from sap_llm_core.corpus.spark.splits import python_split_draw
from sap_llm_core.corpus.textgen import text_rows, text_table
from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA, table_to_records
from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore

SETTINGS = get_settings()


def _record(doc_id: str, words: list[str], truth: dict, document_type: str = "PURCHASE_ORDER", spans=()):
    return make_record(
        id=doc_id,
        source="handmade",
        document_type=document_type,
        language="EN",
        page_width=100.0,
        page_height=100.0,
        ocr_text=" ".join(words),
        words=words,
        boxes=[[0, 0, 10, 10]] * len(words),
        ground_truth=json.dumps(truth, sort_keys=True),
        field_spans=list(spans),
    )


def _special_records():
    base = table_to_records(text_table(3, seed=99))
    original = base[0]
    exact = original.model_copy(update={"id": "zz:exact-copy"})  # sorts after the original
    near_words = [w if not w.isdigit() else str(int(w) ^ 1) for w in base[1].words]  # same length
    near = _record("handmade:near-copy", near_words, {}, base[1].document_type)
    filler = ["purchase", "order", "material", "quantity", "price"] * 12
    return {
        "synthetic": [*base, exact, near],
        "handmade": [
            _record("handmade:short-po", ["PO", "4500000001", "total", "10.00"], {}),
            _record(
                "handmade:short-form", ["Vendor", "name", "Acme", "city", "Berlin", "DE"], {}, "VENDOR_MASTER"
            ),
            _record("handmade:uncovered", filler, {"total": "999.99", "vendor": "Nowhere GmbH"}),
            _record("handmade:bad-type-free", filler + ["x"], {"note": "fine"}, "UNKNOWN"),
        ],
    }


def _build_sources(store: ArtifactStore, synthetic: int = 600, start: int = 0) -> dict:
    special = _special_records()
    table = pa.concat_tables(
        [text_table(synthetic, seed=7, start=start), pipeline.records_table(special["synthetic"])]
    )
    write_source(store, "synthetic_documents", table)
    write_source(store, "public_documents", special["handmade"])
    # Label Studio carries a corrected version of synthetic document 5: it must win.
    corrected = table_to_records(text_table(1, seed=7, start=start + 5))[0]
    corrected = corrected.model_copy(update={"source": "label_studio", "ground_truth": '{"total": "1.00"}'})
    corrected = corrected.model_copy(update={"content_sha256": ""})
    write_source(store, "label_studio_annotations", [corrected])
    empty_sources(store, "qorsync_documents")
    return special


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark) -> dict:
    store = ArtifactStore(str(tmp_path_factory.mktemp("built") / "data"))
    _build_sources(store)
    unified = pipeline.build_unified_corpus(spark, store, SETTINGS.quality)
    splits = pipeline.build_corpus_splits(spark, store, SETTINGS.splits)
    statistics = pipeline.build_corpus_statistics(spark, store)
    return {"store": store, "unified": unified, "splits": splits, "statistics": statistics}


def test_counts_in_equal_kept_plus_quarantined(built):
    unified = built["unified"]
    assert unified["rows_in"] == 600 + 5 + 4 + 1
    assert unified["rows_in"] == unified["rows"] + unified["quarantined"]
    quarantine = read_quarantine(built["store"], "unified_corpus")
    assert quarantine.num_rows == unified["quarantined"]


def test_quarantine_reasons(built):
    rows = {r["id"]: r for r in read_quarantine(built["store"], "unified_corpus").to_pylist()}
    assert rows["zz:exact-copy"]["stage"] == "unified_corpus.exact_duplicate"
    assert "textgen:99:00000000" in rows["zz:exact-copy"]["reason"]
    assert rows["handmade:short-po"]["stage"] == "unified_corpus.min_words"
    assert "4 OCR words, fewer than the 50" in rows["handmade:short-po"]["reason"]
    assert "handmade:short-form" not in rows  # forms need 5 words
    assert rows["handmade:uncovered"]["stage"] == "unified_corpus.annotation_coverage"
    superseded = rows["textgen:7:00000005"]
    assert superseded["stage"] == "unified_corpus.superseded" and "label_studio" in superseded["reason"]
    assert json.loads(superseded["payload"])["source"] == "synthetic"


def test_kept_rows_are_valid_records_with_derived_columns(built):
    store = built["store"]
    table = pa.concat_tables(
        [store.read_table("unified_corpus", e["path"]) for e in built["unified"]["shards"]]
    )
    assert table.num_rows == built["unified"]["rows"]
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids))
    records = table_to_records(table.select(DOCUMENT_RECORD_SCHEMA.names).cast(DOCUMENT_RECORD_SCHEMA))
    corrected = next(r for r in records if r.id == "textgen:7:00000005")
    assert corrected.source == "label_studio"  # the human-corrected version won
    coverage = dict(zip(ids, table.column("annotation_coverage").to_pylist(), strict=True))
    assert coverage["textgen:7:00000001"] == 1.0
    assert coverage["handmade:short-form"] is None  # no text ground truth: not applicable


def test_near_duplicates_are_flagged_and_share_a_split(built):
    index = pipeline.read_split_index(built["store"]).to_pylist()
    by_id = {r["id"]: r for r in index}
    original, near = by_id["textgen:99:00000001"], by_id["handmade:near-copy"]
    assert original["near_duplicate_group"] == near["near_duplicate_group"]
    assert original["near_duplicate_count"] == near["near_duplicate_count"] == 2
    assert original["split"] == near["split"]
    frame = gx_suites.leakage_frame(pipeline.read_split_index(built["store"]).to_pandas())
    assert frame["splits"].max() == 1


def test_split_assignment_is_the_documented_hash(built):
    index = pipeline.read_split_index(built["store"]).to_pylist()
    s = SETTINGS.splits
    for row in index[:50]:
        draw = python_split_draw(row["near_duplicate_group"], s.seed)
        expected = "train" if draw < s.train else "val" if draw < s.train + s.val else "test"
        assert row["split"] == expected
    counts = built["splits"]["counts"]
    assert sum(counts.values()) == built["unified"]["rows"]
    assert abs(counts["train"] / sum(counts.values()) - 0.70) < 0.06


def test_split_files_hold_exactly_their_documents(built):
    store, manifest = built["store"], built["splits"]
    for split in ("train", "val", "test"):
        files = manifest["files"][split]
        rows = sum(store.read_table("corpus_splits", e["path"]).num_rows for e in files)
        assert rows == manifest["counts"][split]


def test_statistics_files_and_plots(built):
    store = built["store"]
    stats = store.read_json("corpus_statistics", "statistics.json")
    assert stats["documents"] == built["unified"]["rows"]
    assert set(stats["by_source"]["train"]) >= {"synthetic", "handmade"}
    distribution = store.read_json("corpus_statistics", "label_distribution.json")
    assert abs(sum(v["share"] for v in distribution["train"].values()) - 1.0) < 1e-3
    for name in ("document_type", "language", "source"):
        png = store.read_bytes("corpus_statistics", "plots", f"documents_per_{name}.png")
        assert png.startswith(b"\x89PNG")


def test_same_inputs_give_byte_identical_files_and_new_documents_do_not_move_old_ones(built, spark, tmp_path):
    again = ArtifactStore(str(tmp_path / "again"))
    _build_sources(again)
    unified = pipeline.build_unified_corpus(spark, again, SETTINGS.quality)
    splits = pipeline.build_corpus_splits(spark, again, SETTINGS.splits)
    assert unified["data_version"] == built["unified"]["data_version"]
    assert splits["data_version"] == built["splits"]["data_version"]
    assert [e["sha256"] for e in splits["files"]["train"]] == [
        e["sha256"] for e in built["splits"]["files"]["train"]
    ]

    grown = ArtifactStore(str(tmp_path / "grown"))
    _build_sources(grown, synthetic=900)  # 300 more documents
    pipeline.build_unified_corpus(spark, grown, SETTINGS.quality)
    pipeline.build_corpus_splits(spark, grown, SETTINGS.splits)
    old = {r["id"]: r["split"] for r in pipeline.read_split_index(built["store"]).to_pylist()}
    new = {r["id"]: r["split"] for r in pipeline.read_split_index(grown).to_pylist()}
    assert len(new) > len(old)
    assert all(new[i] == s for i, s in old.items() if i in new)
    assert set(old) <= set(new)


def test_gx_checks_pass_on_the_built_corpus(built):
    import pyarrow.parquet as pq

    store = built["store"]
    tables = []
    for e in built["unified"]["shards"]:
        with store.fs.open(store.path("unified_corpus", e["path"]), "rb") as fh:
            tables.append(pq.read_table(fh))
    frame = pa.concat_tables(tables).drop_columns(["words", "boxes", "field_spans"]).to_pandas()
    for name in ("unified_corpus_required", "unified_corpus_unique", "unified_corpus_coverage"):
        outcome = gx_suites.run_checkpoint(name, frame, SETTINGS.quality, SETTINGS.splits)
        assert outcome.success, outcome.failed
    index = pipeline.read_split_index(store).to_pandas()
    leakage = gx_suites.run_checkpoint(
        "corpus_splits_leakage", gx_suites.leakage_frame(index), SETTINGS.quality, SETTINGS.splits
    )
    assert leakage.success


def test_gx_checks_fail_with_offending_counts_on_bad_data(built):
    index = pipeline.read_split_index(built["store"]).to_pandas()
    skewed = index.copy()
    skewed.loc[skewed["split"] == "val", "document_type"] = "PURCHASE_ORDER"  # one class = 100% of val
    outcome = gx_suites.run_checkpoint(
        "corpus_splits_class_share", gx_suites.class_share_frame(skewed), SETTINGS.quality, SETTINGS.splits
    )
    assert not outcome.success
    assert outcome.failed[0]["unexpected_count"] >= 1
    assert "1.0" in outcome.failed[0]["partial_unexpected_list"]  # val is 100% purchase orders

    leaky = index.copy()
    leaky.loc[leaky.index[:3], "content_sha256"] = leaky["content_sha256"].iloc[0]
    leaky.loc[leaky.index[:3], "split"] = ["train", "val", "test"]
    outcome = gx_suites.run_checkpoint(
        "corpus_splits_leakage", gx_suites.leakage_frame(leaky), SETTINGS.quality, SETTINGS.splits
    )
    assert not outcome.success and outcome.unexpected_total() >= 1

    bad = index.head(10).copy()
    bad.loc[bad.index[0], "document_type"] = "NOT_A_TYPE"
    bad.loc[bad.index[1], "language"] = None
    outcome = gx_suites.run_checkpoint("unified_corpus_required", bad, SETTINGS.quality, SETTINGS.splits)
    failed = {(e["expectation"], e["column"]): e["unexpected_count"] for e in outcome.failed}
    assert failed == {
        ("expect_column_values_to_be_in_set", "document_type"): 1,
        ("expect_column_values_to_not_be_null", "language"): 1,
    }


def test_textgen_rows_are_valid_records():
    rows = list(text_rows(5, seed=3))
    table_to_records(pa.Table.from_pylist(rows, schema=DOCUMENT_RECORD_SCHEMA))


def test_unify_refuses_when_no_source_has_shards(spark, tmp_path: Path):
    store = ArtifactStore(str(tmp_path / "empty"))
    empty_sources(store, *pipeline.SOURCE_ASSETS)
    with pytest.raises(ValueError, match="no source shards"):
        pipeline.build_unified_corpus(spark, store, SETTINGS.quality)
