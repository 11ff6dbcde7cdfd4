"""Group ``continuous_learning``: corrections in the PMG become the next LoRA adapters' data."""

import json

import dagster as dg

from orchestration.resources import MongoResource, StorageResource
from sap_llm_core.continuous_learning.feedback_window import Cursor
from sap_llm_core.continuous_learning.pipeline import (
    PMG_FEEDBACK,
    TRAINING_SET,
    build_feedback_training_set,
    snapshot_feedback,
)
from sap_llm_core.pmg.snapshot import compute_snapshot
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.settings import get_settings
from sap_llm_core.synthetic.validation import span_problems

_SETTINGS = get_settings().continuous_learning


class PmgFeedbackConfig(dg.Config):
    """The correction window; the sensor fills both ends, a manual run takes everything after the
    previous materialisation's end."""

    since: str = ""  # Cursor JSON; empty: continue from the last materialisation
    until: str = ""  # Cursor JSON; empty: up to now


@dg.asset(
    group_name="continuous_learning",
    code_version="1",
    kinds={"mongodb", "json"},
    description="A Merkle snapshot of the PMG and the window of corrections a retrain learns from.",
)
def pmg_feedback(
    context: dg.AssetExecutionContext,
    config: PmgFeedbackConfig,
    storage: StorageResource,
    mongo: MongoResource,
) -> dg.MaterializeResult:
    store = storage.store()
    since = (
        Cursor.from_json(config.since)
        if config.since
        else (
            Cursor.from_json(store.read_manifest(PMG_FEEDBACK)["window_end"])
            if store.exists(PMG_FEEDBACK, "manifest.json")
            else Cursor()
        )
    )
    until = Cursor.from_json(config.until) if config.until else None
    with mongo.pmg_database() as db:
        manifest = snapshot_feedback(db, store, since, until)
    context.log.info(
        f"pmg_feedback: {len(manifest['correction_ids'])} corrections, root {manifest['snapshot_root']}"
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "snapshot_root": manifest["snapshot_root"],
            "corrections": len(manifest["correction_ids"]),
            "run_key": manifest["run_key"],
            "counts_by_model": dg.MetadataValue.json(manifest["counts_by_model"]),
            "pmg_counts": dg.MetadataValue.json(manifest["snapshot_counts"]),
            "path": dg.MetadataValue.path(store.url(PMG_FEEDBACK)),
        },
    )


@dg.asset_check(
    asset=pmg_feedback,
    blocking=True,
    description="The snapshot root still matches the PMG's recorded snapshot of that root.",
)
def pmg_feedback_snapshot_recorded(storage: StorageResource, mongo: MongoResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(PMG_FEEDBACK)
    with mongo.pmg_database() as db:
        recorded = db["snapshots"].find_one({"_id": manifest["snapshot_root"]})
        current = compute_snapshot(db)["root"]
    return dg.AssetCheckResult(
        passed=recorded is not None,
        description="snapshot stored" if recorded else "snapshot root not found in the PMG",
        metadata={
            "snapshot_root": manifest["snapshot_root"],
            "pmg_changed_since": current != manifest["snapshot_root"],
        },
    )


@dg.asset(
    group_name="continuous_learning",
    code_version="1",
    kinds={"parquet"},
    deps=[pmg_feedback, dg.AssetKey("corpus_splits")],
    description="Corrected documents joined with a replay sample of the training split; routing labels.",
)
def feedback_training_set(
    context: dg.AssetExecutionContext, storage: StorageResource
) -> dg.MaterializeResult:
    manifest = build_feedback_training_set(storage.store(), _SETTINGS)
    context.log.info(
        f"feedback_training_set: {json.dumps({k: v for k, v in manifest.items() if k != 'correction_ids'})}"
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": manifest["corrected_documents"] + manifest["replay_documents"],
            "corrections": manifest["corrections"],
            "field_corrections_applied": manifest["field_corrections_applied"],
            "routing_labels": manifest["routing_labels"],
            "quarantined": manifest["quarantined"],
            "replay_documents": manifest["replay_documents"],
            "snapshot_root": manifest["snapshot_root"],
        },
    )


@dg.asset_check(
    asset=feedback_training_set,
    blocking=True,
    description="Every correction is applied, a routing label or quarantined; corrected values "
    "are the words their spans point at.",
)
def feedback_training_set_valid(storage: StorageResource) -> dg.AssetCheckResult:
    store = storage.store()
    manifest = store.read_manifest(TRAINING_SET)
    conserved = manifest["corrections"] == (
        manifest["field_corrections_applied"] + manifest["routing_labels"] + manifest["quarantined"]
    )
    records = [
        DocumentRecord.model_validate(r)
        for r in store.read_table(TRAINING_SET, "corrected.parquet").to_pylist()
    ]
    problems = [f"{r.id}: {p}" for r in records for p in span_problems(r)]
    return dg.AssetCheckResult(
        passed=conserved and not problems,
        metadata={
            "counts_conserved": conserved,
            "span_problems": len(problems),
            "examples": dg.MetadataValue.json(problems[:5]),
        },
    )


defs = dg.Definitions(
    assets=[pmg_feedback, feedback_training_set],
    asset_checks=[pmg_feedback_snapshot_recorded, feedback_training_set_valid],
)
