"""``corpus_statistics``: counts per split x type/language/source and word-count figures, via Spark."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DIMENSIONS: tuple[str, ...] = ("document_type", "language", "source")


def _table(frame: DataFrame, column: str) -> dict[str, dict[str, int]]:
    """{split: {value: count}} with keys sorted, so the JSON is stable."""
    rows = frame.groupBy("split", column).count().collect()
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["split"], {})[str(row[column])] = int(row["count"])
    return {s: dict(sorted(v.items())) for s, v in sorted(out.items())}


def compute_statistics(index: DataFrame) -> dict[str, Any]:
    """Everything statistics.json holds, computed on the split index (one row per document)."""
    words = (
        index.groupBy("split")
        .agg(
            F.count("*").alias("documents"),
            F.sum("word_count").alias("words"),
            F.min("word_count").alias("min_words"),
            F.max("word_count").alias("max_words"),
            F.avg("word_count").alias("mean_words"),
            F.percentile_approx("word_count", 0.5, 10000).alias("median_words"),
            F.avg("annotation_coverage").alias("mean_annotation_coverage"),
            F.sum(F.when(F.col("near_duplicate_count") > 1, 1).otherwise(0)).alias("near_duplicates"),
        )
        .collect()
    )
    per_split = {
        row["split"]: {
            "documents": int(row["documents"]),
            "words": int(row["words"] or 0),
            "min_words": int(row["min_words"] or 0),
            "max_words": int(row["max_words"] or 0),
            "mean_words": round(float(row["mean_words"] or 0.0), 3),
            "median_words": int(row["median_words"] or 0),
            "mean_annotation_coverage": (
                None
                if row["mean_annotation_coverage"] is None
                else round(float(row["mean_annotation_coverage"]), 4)
            ),
            "near_duplicates": int(row["near_duplicates"] or 0),
        }
        for row in words
    }
    total = sum(v["documents"] for v in per_split.values())
    return {
        "documents": total,
        "splits": dict(sorted(per_split.items())),
        **{f"by_{dim}": _table(index, dim) for dim in DIMENSIONS},
    }
