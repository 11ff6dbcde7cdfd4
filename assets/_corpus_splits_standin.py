"""TEMPORARY STAND-IN for the real ``corpus_splits`` asset (branch ``issue-corpus``).

It exists only so that the model assets (which depend on ``corpus_splits`` by key) load and run on
this branch. It writes the same contract as the real asset (``<root>/corpus_splits/manifest.json``
with ``files``/``data_version``) from ``synthetic_documents``, split 70/15/15 by id hash (neither
stratified nor deduplicated). DELETE this module and its line in ``orchestration/definitions.py``
when merging the real ``corpus_splits``.
"""

import dagster as dg

from orchestration.resources import StorageResource
from sap_llm_core.schema import table_to_records
from sap_llm_core.synthetic.corpus import ASSET as SYNTHETIC
from sap_llm_core.training.data import SPLITS, SPLITS_ASSET, load_split, write_hash_splits


@dg.asset(
    name=SPLITS_ASSET,
    group_name="dataset",
    code_version="standin-1",
    deps=[dg.AssetKey(SYNTHETIC)],
    kinds={"python", "parquet"},
    description="TEMPORARY stand-in: synthetic_documents split 70/15/15 by id hash "
    "(the real, stratified corpus_splits comes from the corpus issue).",
)
def corpus_splits(storage: StorageResource) -> dg.MaterializeResult:
    store = storage.store()
    manifest = store.read_manifest(SYNTHETIC)
    records = [
        record
        for shard in manifest["shards"]
        for record in table_to_records(store.read_table(SYNTHETIC, shard["path"]))
    ]
    splits = write_hash_splits(store, records, manifest["data_version"])
    return dg.MaterializeResult(
        data_version=dg.DataVersion(splits["data_version"]),
        metadata={
            "dagster/row_count": len(records),
            **{f"rows_{name}": count for name, count in splits["counts"].items()},
            "path": dg.MetadataValue.path(store.url(SPLITS_ASSET)),
        },
    )


@dg.asset_check(asset=corpus_splits, blocking=True, description="Splits are non-empty and disjoint.")
def corpus_splits_disjoint(storage: StorageResource) -> dg.AssetCheckResult:
    store = storage.store()
    ids = {split: {r.id for r in load_split(store, split)} for split in SPLITS}
    overlap = (ids["train"] & ids["val"]) | (ids["train"] & ids["test"]) | (ids["val"] & ids["test"])
    return dg.AssetCheckResult(
        passed=not overlap and all(ids.values()),
        metadata={f"rows_{s}": len(v) for s, v in ids.items()} | {"overlapping_ids": len(overlap)},
    )


defs = dg.Definitions(assets=[corpus_splits], asset_checks=[corpus_splits_disjoint])
