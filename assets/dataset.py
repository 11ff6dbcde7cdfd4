"""Group ``dataset``: the Spark-built unified corpus, its splits and statistics, with GX checks.

The checks that guard training (required fields, allowed types, unique content, annotation coverage,
class share, split proportions, leakage) are ``blocking``: a failing one stops downstream assets in
the same run, and the UI shows the failing expectations with their offending counts.
"""

import dagster as dg
import pyarrow.parquet as pq

from assets.corpus_metadata import gx_result, md_table, png
from orchestration.resources import SparkResource, StorageResource
from sap_llm_core.corpus import pipeline
from sap_llm_core.corpus.config import QualitySettings, SplitSettings
from sap_llm_core.corpus.quality import gx_suites
from sap_llm_core.settings import get_settings

_S = get_settings()
CODE_VERSION = "dataset-1"
SYNTHETIC = dg.AssetKey("synthetic_documents")


class UnifiedCorpusConfig(dg.Config):
    min_words_document: int = _S.quality.min_words_document
    min_words_form: int = _S.quality.min_words_form
    min_annotation_coverage: float = _S.quality.min_annotation_coverage

    def quality(self) -> QualitySettings:
        return _S.quality.model_copy(
            update={
                "min_words_document": self.min_words_document,
                "min_words_form": self.min_words_form,
                "min_annotation_coverage": self.min_annotation_coverage,
            }
        )


class SplitsConfig(dg.Config):
    seed: int = _S.splits.seed
    train: float = _S.splits.train
    val: float = _S.splits.val
    test: float = _S.splits.test

    def settings(self) -> SplitSettings:
        return SplitSettings(
            seed=self.seed, train=self.train, val=self.val, test=self.test, shard_rows=_S.splits.shard_rows
        )


@dg.asset(
    group_name="dataset",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "dataset"},
    kinds={"spark", "parquet"},
    deps=[SYNTHETIC, "public_documents", "qorsync_documents", "label_studio_annotations"],
    description="Every source unioned on Spark: normalised, SHA-256 deduplicated, quality-filtered.",
)
def unified_corpus(config: UnifiedCorpusConfig, storage: StorageResource, spark: SparkResource):
    manifest = pipeline.build_unified_corpus(spark.session(), storage.store(), config.quality())
    inputs = [{"asset": k, **v} for k, v in manifest["inputs"].items()]
    return dg.MaterializeResult(
        metadata={
            "rows_in": manifest["rows_in"],
            "dagster/row_count": manifest["rows"],
            "quarantined": manifest["quarantined"],
            "near_duplicates_flagged": manifest["near_duplicates_flagged"],
            "quarantined_by_stage": dg.MetadataValue.md(
                md_table([{"stage": k, "rows": v} for k, v in manifest["quarantined_by_stage"].items()])
            ),
            "by_document_type": dg.MetadataValue.md(
                md_table([{"document_type": k, "rows": v} for k, v in manifest["by_document_type"].items()])
            ),
            "by_source": dg.MetadataValue.md(
                md_table([{"source": k, "rows": v} for k, v in manifest["by_source"].items()])
            ),
            "inputs": dg.MetadataValue.md(md_table(inputs)),
            "data_version": manifest["data_version"],
            "path": dg.MetadataValue.path(storage.store().url("unified_corpus")),
        },
        data_version=dg.DataVersion(manifest["data_version"]),
    )


def _unified_frame(storage: StorageResource):
    store = storage.store()
    manifest = store.read_manifest("unified_corpus")
    columns = [
        "id",
        "source",
        "document_type",
        "language",
        "content_sha256",
        "annotation_coverage",
        "word_count",
    ]
    tables = []
    for entry in manifest["shards"]:
        with store.fs.open(store.path("unified_corpus", entry["path"]), "rb") as fh:
            tables.append(pq.read_table(fh, columns=columns))
    import pyarrow as pa

    return pa.concat_tables(tables).to_pandas()


def _unified_check(name: str, description: str):
    @dg.asset_check(asset=unified_corpus, name=name, blocking=True, description=description)
    def _check(storage: StorageResource) -> dg.AssetCheckResult:
        outcome = gx_suites.run_checkpoint(name, _unified_frame(storage), _S.quality, _S.splits)
        return gx_result(outcome, "unified_corpus")

    return _check


unified_required = _unified_check(
    "unified_corpus_required", "GX: required fields not null, document type in the allowed set."
)
unified_unique = _unified_check("unified_corpus_unique", "GX: no duplicate content hash or id.")
unified_coverage = _unified_check("unified_corpus_coverage", "GX: annotation coverage >= 80% where defined.")


@dg.asset(
    group_name="dataset",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "dataset"},
    kinds={"spark", "parquet"},
    deps=[unified_corpus],
    description="train/val/test 70/15/15 by hash of the near-duplicate group: stable, leakage-free.",
)
def corpus_splits(config: SplitsConfig, storage: StorageResource, spark: SparkResource):
    manifest = pipeline.build_corpus_splits(spark.session(), storage.store(), config.settings())
    total = max(manifest["rows"], 1)
    types = sorted({t for per in manifest["by_document_type"].values() for t in per})
    rows = [
        {
            "document_type": t,
            **{s: manifest["by_document_type"][s].get(t, 0) for s in ("train", "val", "test")},
        }
        for t in types
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": manifest["rows"],
            **{f"{s}_rows": n for s, n in manifest["counts"].items()},
            "fractions": dg.MetadataValue.md(
                md_table(
                    [
                        {"split": s, "rows": n, "fraction": round(n / total, 4)}
                        for s, n in manifest["counts"].items()
                    ]
                )
            ),
            "per_document_type": dg.MetadataValue.md(md_table(rows)),
            "data_version": manifest["data_version"],
            "path": dg.MetadataValue.path(storage.store().url("corpus_splits")),
        },
        data_version=dg.DataVersion(manifest["data_version"]),
    )


def _index(storage: StorageResource):
    return pipeline.read_split_index(storage.store()).to_pandas()


@dg.asset_check(
    asset=corpus_splits, blocking=True, description="GX: no class above 30% (+tolerance) of a split."
)
def corpus_splits_class_share(storage: StorageResource) -> dg.AssetCheckResult:
    frame = gx_suites.class_share_frame(_index(storage))
    return gx_result(
        gx_suites.run_checkpoint("corpus_splits_class_share", frame, _S.quality, _S.splits), "corpus_splits"
    )


@dg.asset_check(
    asset=corpus_splits, blocking=True, description="GX: split fractions within tolerance of 70/15/15."
)
def corpus_splits_proportions(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest("corpus_splits")
    splits = SplitSettings(**{k: v for k, v in manifest["params"].items()})
    frame = gx_suites.proportions_frame(_index(storage), splits)
    return gx_result(
        gx_suites.run_checkpoint("corpus_splits_proportions", frame, _S.quality, splits), "corpus_splits"
    )


@dg.asset_check(
    asset=corpus_splits,
    blocking=True,
    description="GX: no content hash or near-duplicate group in two splits.",
)
def corpus_splits_leakage(storage: StorageResource) -> dg.AssetCheckResult:
    frame = gx_suites.leakage_frame(_index(storage))
    return gx_result(
        gx_suites.run_checkpoint("corpus_splits_leakage", frame, _S.quality, _S.splits), "corpus_splits"
    )


@dg.asset(
    group_name="dataset",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "dataset"},
    kinds={"spark", "json"},
    deps=[corpus_splits],
    description="statistics.json, splits.json, label_distribution.json and per-split plots.",
)
def corpus_statistics(storage: StorageResource, spark: SparkResource):
    store = storage.store()
    manifest = pipeline.build_corpus_statistics(spark.session(), store)
    splits = store.read_json("corpus_statistics", "splits.json")
    metadata: dict = {
        "documents": manifest["documents"],
        "splits": dg.MetadataValue.md(md_table([{"split": k, **v} for k, v in splits.items()])),
        "statistics": dg.MetadataValue.json(
            store.read_json("corpus_statistics", "statistics.json")["splits"]
        ),
        "data_version": manifest["data_version"],
        "path": dg.MetadataValue.path(store.url("corpus_statistics")),
    }
    for entry in manifest["files"]:
        if entry["path"].endswith(".png"):
            name = entry["path"].split("/")[-1].removesuffix(".png")
            metadata[name] = dg.MetadataValue.md(
                png(store.read_bytes("corpus_statistics", *entry["path"].split("/")), name)
            )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(manifest["data_version"]))


@dg.asset_check(
    asset=corpus_statistics, description="Statistics agree with the split index and every file exists."
)
def corpus_statistics_consistent(storage: StorageResource) -> dg.AssetCheckResult:
    store = storage.store()
    manifest = store.read_manifest("corpus_statistics")
    splits = store.read_json("corpus_statistics", "splits.json")
    index_rows = pipeline.read_split_index(store).num_rows
    missing = [
        e["path"] for e in manifest["files"] if not store.exists("corpus_statistics", *e["path"].split("/"))
    ]
    counted = sum(v["documents"] for v in splits.values())
    return dg.AssetCheckResult(
        passed=not missing and counted == index_rows == manifest["documents"],
        metadata={
            "documents_in_statistics": counted,
            "documents_in_index": index_rows,
            "missing_files": str(missing),
        },
    )


defs = dg.Definitions(
    assets=[unified_corpus, corpus_splits, corpus_statistics],
    asset_checks=[
        unified_required,
        unified_unique,
        unified_coverage,
        corpus_splits_class_share,
        corpus_splits_proportions,
        corpus_splits_leakage,
        corpus_statistics_consistent,
    ],
)
