"""``unified_corpus`` as a PySpark job: union every source, normalise, hash, dedupe, filter, quarantine.

Order of the rules, each of which sets rows aside with a reason instead of dropping them:

1. ``min_words``: OCR words >= 50 for documents, >= 5 for forms (per-type overrides in params).
2. ``annotation_coverage``: share of ground-truth values anchored in the words (a field span or the
   value's tokens found) must be >= 80%; records without text ground truth (classification-only
   data) have no coverage and pass.
3. ``exact_duplicate``: the SHA-256 of normalised words + ground truth; the first id (sorted) stays.

Near-duplicates are flagged, not removed: documents whose text is identical once case, punctuation
and digits are ignored share a ``near_duplicate_group``; the splits keep a group together.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType

from sap_llm_core.corpus.config import QualitySettings
from sap_llm_core.corpus.spark.session import spark_path
from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA
from sap_llm_core.storage import ArtifactStore

RECORD_COLUMNS: tuple[str, ...] = tuple(DOCUMENT_RECORD_SCHEMA.names)
DERIVED_COLUMNS: tuple[str, ...] = (
    "word_count",
    "annotation_coverage",
    "near_duplicate_group",
    "near_duplicate_count",
)
UNIFIED_COLUMNS: tuple[str, ...] = RECORD_COLUMNS + DERIVED_COLUMNS

# Ground-truth keys that are structure or document metadata (type, subtype, language), not text
# to be found on the page.
NON_TEXT_KEYS = frozenset(
    {
        "id",
        "label",
        "word_indices",
        "links",
        "linking",
        "rvl_cdip_class",
        "group_id",
        "document_type",
        "subtype",
        "language",
    }
)
_STRIP = ".,:;()[]{}\"'*#"


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in NON_TEXT_KEYS:
                continue
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _leaves(value, f"{path}[{index}]")
    elif obj is not None and obj != "" and not isinstance(obj, bool):
        yield path, str(obj)


def _token(text: str) -> str:
    return text.lower().strip(_STRIP)


def annotation_coverage(ground_truth: str, words: Sequence[str], span_fields: Sequence[str]) -> float | None:
    """Share of ground-truth leaf values anchored in the document; ``None`` when there are none.

    A value is anchored when a field span names its path (or a parent of it), or when at least 80% of
    its tokens occur among the words (numbers are compared as written, so ``1.234,50`` needs a span).
    """
    try:
        leaves = list(_leaves(json.loads(ground_truth or "{}")))
    except json.JSONDecodeError:
        return 0.0
    if not leaves:
        return None
    spans = set(span_fields)
    tokens = {_token(w) for w in words}
    covered = 0
    for path, value in leaves:
        if path in spans or any(path.startswith(s + ".") or path.startswith(s + "[") for s in spans):
            covered += 1
            continue
        wanted = [t for t in (_token(v) for v in value.split()) if t]
        if wanted and sum(t in tokens for t in wanted) >= 0.8 * len(wanted):
            covered += 1
    return covered / len(leaves)


@F.pandas_udf(DoubleType())
def _coverage_udf(ground_truth: pd.Series, words: pd.Series, span_fields: pd.Series) -> pd.Series:
    # Words and span fields arrive joined by U+001F: one string per row converts from Arrow far
    # faster than a list column (measured 4x on 10K documents).
    values = [
        annotation_coverage(g, w.split(_SEP) if w else [], s.split(_SEP) if s else [])
        for g, w, s in zip(ground_truth, words, span_fields, strict=True)
    ]
    return pd.Series([math.nan if v is None else v for v in values], dtype="float64")


_SEP = "\x1f"


def _normalised_text(column: str) -> Column:
    no_control = F.regexp_replace(F.col(column), r"[\p{Cc}&&[^\n]]", " ")
    return F.trim(F.regexp_replace(no_control, r"[ \t\x0B\f\r]+", " "))


def read_sources(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """All source shards as one DataFrame with exactly the record columns."""
    frame = spark.read.parquet(*[spark_path(p) for p in paths])
    return frame.select(*RECORD_COLUMNS)


def unify(frame: DataFrame, quality: QualitySettings) -> tuple[DataFrame, DataFrame]:
    """(kept, quarantine) DataFrames. ``kept`` has ``UNIFIED_COLUMNS``; quarantine the quarantine schema."""
    words = F.transform("words", lambda w: F.trim(F.regexp_replace(w, r"\s+", " ")))
    frame = frame.withColumn("words", words).withColumn("ocr_text", _normalised_text("ocr_text"))
    frame = frame.withColumn(
        "content_sha256",
        F.sha2(F.concat(F.concat_ws("\x1f", "words"), F.lit("\x1e"), F.col("ground_truth")), 256),
    )
    frame = frame.withColumn("word_count", F.size("words"))
    frame = frame.withColumn(
        "annotation_coverage",
        F.nanvl(
            _coverage_udf(
                "ground_truth",
                F.concat_ws(_SEP, "words"),
                F.concat_ws(_SEP, F.transform("field_spans", lambda s: s["field"])),
            ),
            F.lit(None).cast("double"),
        ),
    )
    near_text = F.regexp_replace(F.lower(F.concat_ws(" ", "words")), r"[0-9]", "0")
    near_text = F.trim(F.regexp_replace(near_text, r"[^\p{L}\p{N}]+", " "))
    frame = frame.withColumn("near_duplicate_group", F.substring(F.sha2(near_text, 256), 1, 32))

    # Rule 1 and 2: word count and annotation coverage.
    min_words = F.lit(quality.min_words_document)
    form_types = list(quality.form_types)
    if form_types:
        min_words = F.when(F.col("document_type").isin(form_types), F.lit(quality.min_words_form)).otherwise(
            min_words
        )
    for document_type, minimum in sorted(quality.min_words_by_type.items()):
        min_words = F.when(F.col("document_type") == document_type, F.lit(minimum)).otherwise(min_words)
    frame = frame.withColumn("_min_words", min_words)
    reason = F.when(
        F.col("word_count") < F.col("_min_words"),
        F.struct(
            F.lit("unified_corpus.min_words").alias("stage"),
            F.format_string(
                "%d OCR words, fewer than the %d required for %s",
                F.col("word_count"),
                F.col("_min_words"),
                F.col("document_type"),
            ).alias("reason"),
        ),
    ).when(
        F.col("annotation_coverage") < F.lit(quality.min_annotation_coverage),
        F.struct(
            F.lit("unified_corpus.annotation_coverage").alias("stage"),
            F.format_string(
                "annotation coverage %.3f below %.2f",
                F.col("annotation_coverage"),
                F.lit(quality.min_annotation_coverage),
            ).alias("reason"),
        ),
    )
    frame = frame.withColumn("_reject", reason).drop("_min_words")

    # Decisions that need a shuffle are taken on a slim frame (no words or boxes) and the few
    # losers come back to the driver: shuffling whole documents was the pipeline's bottleneck.
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    slim = frame.select(
        "id",
        "source",
        "_priority",
        "content_sha256",
        "near_duplicate_group",
        F.col("_reject").isNull().alias("_passed"),
    )
    # Same id from two sources: the highest-priority one (human-corrected first) stays.
    by_id = Window.partitionBy("id").orderBy("_priority", "source", "content_sha256")
    ranked = slim.withColumn("_rank", F.row_number().over(by_id)).withColumn(
        "_winner", F.first("source").over(by_id)
    )
    superseded = ranked.filter(F.col("_rank") > 1).select(
        "id",
        "_priority",
        "content_sha256",
        F.lit("unified_corpus.superseded").alias("stage"),
        F.concat(F.lit("superseded by the same id from a higher-priority source: "), F.col("_winner")).alias(
            "reason"
        ),
    )
    current = ranked.filter((F.col("_rank") == 1) & F.col("_passed"))
    # Rule 3: exact duplicates among the documents that passed 1 and 2; the first id stays.
    by_hash = Window.partitionBy("content_sha256").orderBy("id")
    current = current.withColumn("_first", F.first("id").over(by_hash))
    duplicates = current.filter(F.col("_first") != F.col("id")).select(
        "id",
        "_priority",
        "content_sha256",
        F.lit("unified_corpus.exact_duplicate").alias("stage"),
        F.concat(F.lit("exact duplicate (same content SHA-256) of "), F.col("_first")).alias("reason"),
    )
    losers = superseded.unionByName(duplicates).toPandas()
    survivors = current.filter(F.col("_first") == F.col("id"))
    near = survivors.groupBy("near_duplicate_group").count().filter(F.col("count") > 1).toPandas()

    spark = frame.sparkSession
    loser_schema = "id string, _priority int, content_sha256 string, stage string, reason string"
    losers_df = F.broadcast(
        spark.createDataFrame(losers, loser_schema)
        if len(losers)
        else spark.createDataFrame([], loser_schema)
    )
    near_schema = "near_duplicate_group string, near_duplicate_count int"
    near_rows = (
        [(g, int(c)) for g, c in zip(near["near_duplicate_group"], near["count"], strict=True)]
        if len(near)
        else []
    )
    near_df = F.broadcast(spark.createDataFrame(near_rows, near_schema))

    key = ["id", "_priority", "content_sha256"]
    kept = (
        frame.filter(F.col("_reject").isNull())
        .join(losers_df.select(*key), on=key, how="left_anti")
        .join(near_df, on="near_duplicate_group", how="left")
        .withColumn("near_duplicate_count", F.coalesce(F.col("near_duplicate_count"), F.lit(1)).cast("int"))
    )
    payload = F.to_json(
        F.struct("id", "source", "document_type", "word_count", "annotation_coverage", "content_sha256")
    ).alias("payload")
    rejected = frame.filter(F.col("_reject").isNotNull()).select(
        "id",
        "source",
        F.col("_reject.stage").alias("stage"),
        F.col("_reject.reason").alias("reason"),
        payload,
    )
    lost = frame.join(losers_df, on=key, how="inner").select("id", "source", "stage", "reason", payload)
    return kept.select(*UNIFIED_COLUMNS), rejected.unionByName(lost)


def _staging(store: ArtifactStore, asset: str, name: str) -> tuple[str, str]:
    """(filesystem path, Spark URL) of a fresh staging folder inside the asset."""
    path = store.path(asset, f"_staging_{name}")
    if store.fs.exists(path):
        store.fs.rm(path, recursive=True)
    return path, spark_path(store.url(asset, f"_staging_{name}"))


def _publish(
    store: ArtifactStore,
    asset: str,
    folder: str,
    parts: list[str],
    on_table: Callable[[pa.Table], None] | None = None,
) -> list[dict[str, Any]]:
    """Re-encode Spark part files, in partition order, as ``<folder>/shard-NNNNN.parquet``.

    parquet-mr lists column encodings in JVM hash order, so the same rows written by two JVMs differ
    in a few footer bytes. Re-encoding each part with pyarrow (one file in memory at a time, on the
    driver) makes the published shards byte-identical from run to run.
    """
    from sap_llm_core.corpus.records_io import sha256_bytes

    store.remove(asset, folder)
    store.fs.makedirs(store.path(asset, folder), exist_ok=True)
    entries: list[dict[str, Any]] = []
    for number, part in enumerate(sorted(parts, key=posixpath.basename)):
        with store.fs.open(part, "rb") as fh:
            table = pq.read_table(fh).replace_schema_metadata(None)
        name = f"shard-{number:05d}.parquet"
        store.write_table(table, asset, folder, name)
        entries.append(
            {
                "path": f"{folder}/{name}",
                "rows": table.num_rows,
                "sha256": sha256_bytes(store.read_bytes(asset, folder, name)),
            }
        )
        if on_table is not None:
            on_table(table)
    return entries


def _parts(store: ArtifactStore, folder: str) -> list[str]:
    if not store.fs.exists(folder):
        return []
    return [p for p in store.fs.ls(folder, detail=False) if posixpath.basename(p).startswith("part-")]


def write_shards(
    frame: DataFrame,
    store: ArtifactStore,
    asset: str,
    folder: str,
    on_table: Callable[[pa.Table], None] | None = None,
) -> list[dict[str, Any]]:
    """Write a DataFrame as ``<asset>/<folder>/shard-NNNNN.parquet`` reproducibly, in one Spark job.

    No shuffle: files follow the input's partitions (fixed by the input files and
    ``spark.min_file_partitions``), rows sorted by id within each. Executors write a staging copy in
    parallel, then the driver publishes it (see ``_publish``). ``on_table`` sees every published
    table, so callers compute their counts without another pass over the data.
    """
    staging, url = _staging(store, asset, folder.replace("/", "_"))
    frame.sortWithinPartitions("id").write.mode("overwrite").option("compression", "snappy").parquet(url)
    entries = _publish(store, asset, folder, _parts(store, staging), on_table)
    store.fs.rm(staging, recursive=True)
    return entries


def write_partitioned(
    frame: DataFrame,
    store: ArtifactStore,
    asset: str,
    column: str,
    values: Sequence[str],
    on_table: Callable[[str, pa.Table], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Like ``write_shards`` but one folder per value of ``column`` (``<asset>/<value>/shard-*``), in a
    single Spark job (``partitionBy``) instead of one filtered pass per value."""
    staging, url = _staging(store, asset, column)
    (
        frame.sortWithinPartitions(column, "id")
        .write.mode("overwrite")
        .option("compression", "snappy")
        .partitionBy(column)
        .parquet(url)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for value in values:
        parts = _parts(store, posixpath.join(staging, f"{column}={value}"))
        callback = (lambda table, v=value: on_table(v, table)) if on_table else None
        out[value] = _publish(store, asset, value, parts, callback)
    store.fs.rm(staging, recursive=True)
    return out
