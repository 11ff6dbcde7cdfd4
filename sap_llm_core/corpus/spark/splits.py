"""``corpus_splits``: train/val/test by hash, stratified by document type, leakage-free.

Every near-duplicate group gets a number in [0, 1) from SHA-256(seed, group) and falls in train below
0.70, val below 0.85, test above. So:

* it is deterministic and *stable*: adding documents never moves an old one (its hash is unchanged);
* near-duplicates (and, since exact duplicates were removed upstream, anything with the same text)
  can never straddle two splits, because the group, not the document, is what is hashed;
* it is stratified by document type in expectation: each type is cut at the same thresholds
  independently of the others, so each type's documents split 70/15/15 up to sampling noise, which
  the GX split-proportion check bounds.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sap_llm_core.corpus.config import SplitSettings

SPLITS: tuple[str, ...] = ("train", "val", "test")
INDEX_COLUMNS: tuple[str, ...] = (
    "id",
    "split",
    "source",
    "document_type",
    "subtype",
    "language",
    "word_count",
    "annotation_coverage",
    "content_sha256",
    "near_duplicate_group",
    "near_duplicate_count",
)


def split_draw(group: Column, seed: int) -> Column:
    """A number in [0, 1) from the first 52 bits of SHA-256("seed:group") (exact in a double)."""
    digest = F.sha2(F.concat(F.lit(f"{seed}:"), group), 256)
    return F.conv(F.substring(digest, 1, 13), 16, 10).cast("double") / float(16**13)


def python_split_draw(group: str, seed: int) -> float:
    """The same draw in plain Python, for tests and for callers without Spark."""
    import hashlib

    digest = hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)


def assign_splits(unified: DataFrame, settings: SplitSettings) -> DataFrame:
    draw = split_draw(F.col("near_duplicate_group"), settings.seed)
    split = (
        F.when(draw < settings.train, "train")
        .when(draw < settings.train + settings.val, "val")
        .otherwise("test")
    )
    return unified.withColumn("split", split)
