"""The corpus pipeline's steps as plain functions over an ``ArtifactStore``.

Dagster assets, the ``sap-llm corpus`` CLI and therefore ``dvc repro`` all call these, so the three
entry points cannot drift apart: same inputs and params give byte-identical files.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sap_llm_core.corpus.config import PublicDataSettings, QualitySettings, SplitSettings
from sap_llm_core.corpus.records_io import (
    data_version,
    quarantine_table,
    records_table,
    sha256_bytes,
    shard_paths,
    write_record_asset,
)
from sap_llm_core.schema import QUARANTINE_SCHEMA
from sap_llm_core.storage import ArtifactStore

SOURCE_ASSETS: tuple[str, ...] = (
    "synthetic_documents",
    "public_documents",
    "qorsync_documents",
    "label_studio_annotations",
)
# When two sources carry the same document id, the human-corrected one wins.
SOURCE_PRIORITY: dict[str, int] = {
    "label_studio_annotations": 0,
    "qorsync_documents": 1,
    "public_documents": 2,
    "synthetic_documents": 3,
}
UNIFIED = "unified_corpus"
SPLITS_ASSET = "corpus_splits"
STATISTICS = "corpus_statistics"


# --- public_documents -----------------------------------------------------------------------------
def build_public_documents(
    store: ArtifactStore, settings: PublicDataSettings, shard_rows: int = 2000
) -> dict:
    from sap_llm_core.corpus.loaders import load_public

    results = load_public(settings)
    records = [r for res in results.values() for r in res.records]
    quarantined = [q for res in results.values() for q in res.quarantine]
    per_dataset = {name: res.counts() for name, res in results.items()}
    notes = [n for res in results.values() for n in res.notes]
    return write_record_asset(
        store,
        "public_documents",
        records_table(records),
        quarantine_table(quarantined),
        extra={"datasets": per_dataset, "notes": notes, "root": str(settings.folder("funsd").parent)},
        shard_rows=shard_rows,
    )


# --- unified_corpus -------------------------------------------------------------------------------
def build_unified_corpus(
    spark: Any,
    store: ArtifactStore,
    quality: QualitySettings,
    sources: Sequence[str] = SOURCE_ASSETS,
    shard_rows: int = 20000,
) -> dict:
    from pyspark.sql import functions as F

    from sap_llm_core.corpus.spark.unify import RECORD_COLUMNS, unify, write_shards

    frames = []
    inputs: dict[str, Any] = {}
    for asset in sources:
        manifest = store.read_manifest(asset)
        paths = shard_paths(store, asset)
        inputs[asset] = {
            "rows": int(manifest.get("rows", manifest.get("kept", 0))),
            "data_version": manifest.get("data_version"),
        }
        if not paths or not inputs[asset]["rows"]:
            continue
        frame = spark.read.parquet(*[_spark(store, p) for p in paths]).select(*RECORD_COLUMNS)
        frames.append(frame.withColumn("_priority", F.lit(SOURCE_PRIORITY.get(asset, 9))))
    if not frames:
        raise ValueError(f"no source shards in any of {list(sources)}")
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)

    kept, quarantine = unify(union, quality)
    summary = _Summary()
    shards = write_shards(kept, store, UNIFIED, "shards", summary.add)
    rows = summary.rows
    quarantine_rows = quarantine.toArrow().select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA)
    quarantine_rows = quarantine_rows.sort_by([("id", "ascending"), ("stage", "ascending")])
    store.remove(UNIFIED, "quarantine")
    q_entries = []
    if quarantine_rows.num_rows:
        store.write_table(quarantine_rows, UNIFIED, "quarantine", "quarantine-00000.parquet")
        q_entries.append(
            {
                "path": "quarantine/quarantine-00000.parquet",
                "rows": quarantine_rows.num_rows,
                "sha256": sha256_bytes(store.read_bytes(UNIFIED, "quarantine", "quarantine-00000.parquet")),
            }
        )
    reasons: dict[str, int] = {}
    for stage in quarantine_rows.column("stage").to_pylist():
        reasons[stage] = reasons.get(stage, 0) + 1
    spark.catalog.clearCache()
    rows_in = sum(v["rows"] for v in inputs.values())
    manifest = {
        "asset": UNIFIED,
        "rows_in": rows_in,
        "rows": rows,
        "quarantined": quarantine_rows.num_rows,
        "quarantined_by_stage": dict(sorted(reasons.items())),
        "near_duplicates_flagged": summary.near_duplicates,
        "by_document_type": dict(sorted(summary.by_type.items())),
        "by_source": dict(sorted(summary.by_source.items())),
        "inputs": inputs,
        "quality": quality.model_dump(mode="json"),
        "shards": shards,
        "quarantine": q_entries,
        "data_version": data_version(e["sha256"] for e in shards + q_entries),
    }
    store.write_manifest(UNIFIED, manifest)
    return manifest


class _Summary:
    """Counts gathered from the published tables themselves (no extra Spark pass)."""

    def __init__(self) -> None:
        self.rows = 0
        self.near_duplicates = 0
        self.by_type: dict[str, int] = {}
        self.by_source: dict[str, int] = {}

    def add(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        self.rows += table.num_rows
        self.near_duplicates += int(pc.sum(pc.greater(table.column("near_duplicate_count"), 1)).as_py() or 0)
        for column, target in (("document_type", self.by_type), ("source", self.by_source)):
            for item in pc.value_counts(table.column(column)).to_pylist():
                target[item["values"]] = target.get(item["values"], 0) + int(item["counts"])


def _spark(store: ArtifactStore, path: str) -> str:
    from sap_llm_core.corpus.spark.session import spark_path

    protocol = store.root.split("://", 1)[0] + "://" if "://" in store.root else ""
    return spark_path(protocol + path if protocol and not path.startswith(protocol) else path)


# --- corpus_splits --------------------------------------------------------------------------------
def build_corpus_splits(spark: Any, store: ArtifactStore, settings: SplitSettings) -> dict:
    from sap_llm_core.corpus.spark.splits import INDEX_COLUMNS, SPLITS, assign_splits
    from sap_llm_core.corpus.spark.unify import UNIFIED_COLUMNS, write_partitioned

    upstream = store.read_manifest(UNIFIED)
    paths = shard_paths(store, UNIFIED)
    unified = spark.read.parquet(*[_spark(store, p) for p in paths]).select(*UNIFIED_COLUMNS)
    assigned = assign_splits(unified, settings)
    index_parts: list[pa.Table] = []
    by_type: dict[str, dict[str, int]] = {}

    def collect(split: str, table: pa.Table) -> None:
        import pyarrow.compute as pc

        slim = table.select([c for c in INDEX_COLUMNS if c != "split"])
        index_parts.append(slim.append_column("split", pa.array([split] * table.num_rows, pa.string())))
        for item in pc.value_counts(table.column("document_type")).to_pylist():
            per = by_type.setdefault(split, {})
            per[item["values"]] = per.get(item["values"], 0) + int(item["counts"])

    files = write_partitioned(
        assigned.select(*UNIFIED_COLUMNS, "split"), store, SPLITS_ASSET, "split", SPLITS, collect
    )
    counts = {split: sum(e["rows"] for e in files[split]) for split in SPLITS}
    index = (
        pa.concat_tables(index_parts).select(list(INDEX_COLUMNS)).sort_by([("id", "ascending")])
        if index_parts
        else pa.table({c: pa.array([], pa.string()) for c in INDEX_COLUMNS})
    )
    store.write_table(index, SPLITS_ASSET, "index.parquet")
    index_sha = sha256_bytes(store.read_bytes(SPLITS_ASSET, "index.parquet"))
    all_files = [e for split in SPLITS for e in files[split]]
    manifest = {
        "asset": SPLITS_ASSET,
        "rows": index.num_rows,
        "upstream_data_version": upstream.get("data_version"),
        "params": settings.model_dump(mode="json"),
        "counts": {s: counts.get(s, 0) for s in SPLITS},
        "by_document_type": {s: dict(sorted(by_type.get(s, {}).items())) for s in SPLITS},
        "files": files,
        "index": {"path": "index.parquet", "rows": index.num_rows, "sha256": index_sha},
        "data_version": data_version([e["sha256"] for e in all_files] + [index_sha]),
    }
    store.write_manifest(SPLITS_ASSET, manifest)
    return manifest


def read_split_index(store: ArtifactStore) -> pa.Table:
    return store.read_table(SPLITS_ASSET, "index.parquet")


# --- corpus_statistics ----------------------------------------------------------------------------
def build_corpus_statistics(spark: Any, store: ArtifactStore) -> dict:
    from sap_llm_core.corpus.spark.splits import SPLITS
    from sap_llm_core.corpus.spark.statistics import DIMENSIONS, compute_statistics

    splits_manifest = store.read_manifest(SPLITS_ASSET)
    index = spark.read.parquet(_spark(store, store.path(SPLITS_ASSET, "index.parquet")))
    stats = compute_statistics(index)
    total = max(stats["documents"], 1)
    splits_json = {
        s: {
            "documents": stats["splits"].get(s, {}).get("documents", 0),
            "fraction": round(stats["splits"].get(s, {}).get("documents", 0) / total, 6),
        }
        for s in SPLITS
    }
    label_distribution = {}
    for split, counts in stats["by_document_type"].items():
        n = max(sum(counts.values()), 1)
        label_distribution[split] = {t: {"count": c, "share": round(c / n, 6)} for t, c in counts.items()}
    files: list[dict[str, Any]] = []
    for name, obj in (
        ("statistics.json", stats),
        ("splits.json", splits_json),
        ("label_distribution.json", label_distribution),
    ):
        store.write_json(obj, STATISTICS, name)
        files.append({"path": name, "sha256": sha256_bytes(store.read_bytes(STATISTICS, name))})
    for dim in DIMENSIONS:
        png = plot_per_split(stats[f"by_{dim}"], f"documents per {dim.replace('_', ' ')} and split")
        name = f"plots/documents_per_{dim}.png"
        store.write_bytes(png, STATISTICS, *name.split("/"))
        files.append({"path": name, "sha256": sha256_bytes(png)})
    manifest = {
        "asset": STATISTICS,
        "documents": stats["documents"],
        "upstream_data_version": splits_manifest.get("data_version"),
        "files": files,
        "data_version": data_version(e["sha256"] for e in files if e["path"].endswith(".json")),
    }
    store.write_manifest(STATISTICS, manifest)
    return manifest


def plot_per_split(table: dict[str, dict[str, int]], title: str) -> bytes:
    """Grouped horizontal bars (one bar per split per value) as PNG bytes, reproducible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [s for s in ("train", "val", "test") if s in table]
    values = sorted({v for counts in table.values() for v in counts})
    height = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(values) + 1)), dpi=80)
    for i, split in enumerate(splits):
        positions = [j + i * height for j in range(len(values))]
        ax.barh(positions, [table[split].get(v, 0) for v in values], height=height, label=split)
    ax.set_yticks([j + height * (len(splits) - 1) / 2 for j in range(len(values))], values, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True)


# --- qorsync_documents ----------------------------------------------------------------------------
def build_qorsync_documents(store: ArtifactStore, settings: Any, db_uri: str | None) -> dict:
    """Extract (incrementally, by watermark) from QorSync; off with 0 rows and a reason when unset.

    An incremental run replaces the changed documents and keeps the others, so the asset always
    holds the whole window; the watermark travels in the manifest.
    """
    from sap_llm_core.corpus.records_io import read_quarantine, read_record_asset
    from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA

    asset = "qorsync_documents"
    if not db_uri:
        return write_record_asset(
            store,
            asset,
            DOCUMENT_RECORD_SCHEMA.empty_table(),
            QUARANTINE_SCHEMA.empty_table(),
            extra={"enabled": False, "reason": "QORSYNC_DB_URI is not set; QorSync extraction is off"},
        )
    import sqlalchemy as sa

    from sap_llm_core.corpus.qorsync_extractor import extract

    previous: dict | None = store.read_manifest(asset) if store.exists(asset, "manifest.json") else None
    same_window = previous is not None and previous.get("window") == [settings.start_date, settings.end_date]
    watermark = previous.get("watermark") if (settings.incremental and same_window and previous) else None
    engine = sa.create_engine(_psycopg_url(db_uri), pool_pre_ping=True)
    try:
        batch = extract(engine, settings, watermark)
    finally:
        engine.dispose()
    new_records = records_table(batch.result.records)
    new_quarantine = quarantine_table(batch.result.quarantine)
    if watermark and previous and previous.get("rows", 0) + previous.get("quarantined", 0):
        changed = {f"qorsync:{i}" for i in batch.extracted_ids}
        import pyarrow.compute as pc

        old = read_record_asset(store, asset)
        old = old.filter(pc.invert(pc.is_in(old.column("id"), pa.array(sorted(changed), pa.string()))))
        old_q = read_quarantine(store, asset)
        old_q = old_q.filter(pc.invert(pc.is_in(old_q.column("id"), pa.array(sorted(changed), pa.string()))))
        new_records = pa.concat_tables([old, new_records.cast(old.schema)]).sort_by([("id", "ascending")])
        new_quarantine = pa.concat_tables([old_q, new_quarantine]).sort_by([("id", "ascending")])
    return write_record_asset(
        store,
        asset,
        new_records,
        new_quarantine,
        extra={
            "enabled": True,
            "mode": "incremental" if watermark else "full",
            "previous_watermark": watermark,
            "watermark": batch.watermark or watermark,
            "window": [settings.start_date, settings.end_date],
            "extracted": batch.result.counts(),
        },
    )


def _psycopg_url(uri: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg://`` so SQLAlchemy uses psycopg 3, not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


# --- label_studio_annotations ---------------------------------------------------------------------
REVIEW_SOURCE_ASSETS = {
    "qorsync": "qorsync_documents",
    "public": "public_documents",
    "synthetic": "synthetic_documents",
}


def review_candidates(store: ArtifactStore, sources: Sequence[str]) -> list:
    """Records of the configured source assets whose ``extra.needs_review`` is set."""
    from sap_llm_core.corpus.records_io import read_record_asset
    from sap_llm_core.schema import table_to_records

    candidates = []
    for source in sources:
        asset = REVIEW_SOURCE_ASSETS.get(source, source)
        if not store.exists(asset, "manifest.json"):
            continue
        for record in table_to_records(read_record_asset(store, asset)):
            if json.loads(record.extra or "{}").get("needs_review"):
                candidates.append(record)
    return candidates


def build_label_studio_annotations(
    store: ArtifactStore, settings: Any, url: str | None, token: str | None
) -> dict:
    """Push documents needing review, pull finished annotations; off (0 rows, a reason) when unset."""
    from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA

    asset = "label_studio_annotations"
    if not url or not token:
        return write_record_asset(
            store,
            asset,
            DOCUMENT_RECORD_SCHEMA.empty_table(),
            QUARANTINE_SCHEMA.empty_table(),
            extra={"enabled": False, "reason": "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY are not both set"},
        )
    from sap_llm_core.corpus.label_studio_bridge import LabelStudioBridge

    bridge = LabelStudioBridge(url, token, settings.project_title)
    pushed = bridge.push(review_candidates(store, settings.review_sources), settings.push_limit)
    pulled = bridge.pull()
    return write_record_asset(
        store,
        asset,
        records_table(pulled.records),
        quarantine_table(pulled.quarantine),
        extra={
            "enabled": True,
            "project_id": bridge.project_id(),
            "pushed": len(pushed),
            "pulled": pulled.counts(),
        },
    )
