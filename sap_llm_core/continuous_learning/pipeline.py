"""The continuous-learning steps as plain functions over the PMG database and an ArtifactStore;
the Dagster assets (and a retraining pod) call these.

``pmg_feedback`` freezes a window of corrections together with a Merkle snapshot of the PMG, so the
training set built from it can say exactly which feedback it used; ``feedback_training_set`` joins
those corrections with the corpus documents and a replay sample of the training split.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa
from pymongo.database import Database

from sap_llm_core.continuous_learning.config import ContinuousLearningSettings
from sap_llm_core.continuous_learning.feedback_window import Cursor, window_since
from sap_llm_core.continuous_learning.training_set import build_training_set
from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.pmg.snapshot import take_snapshot
from sap_llm_core.schema import QUARANTINE_SCHEMA, DocumentRecord, records_to_table, table_to_records
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import SPLITS, load_split

PMG_FEEDBACK = "pmg_feedback"
TRAINING_SET = "feedback_training_set"


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=str))


def snapshot_feedback(db: Database, store: ArtifactStore, since: Cursor, until: Cursor | None = None) -> dict:
    """Corrections after ``since`` (up to ``until`` when given) plus a PMG snapshot, written to store."""
    graph = ProcessMemoryGraph(db)
    graph.ensure_indexes()
    snapshot = take_snapshot(db)
    corrections = graph.corrections_since(None)
    if until is not None and until.created_at is not None:
        later = {c["_id"] for c in window_since(corrections, until).corrections}
        corrections = [c for c in corrections if c["_id"] not in later]
    window = window_since(corrections, since)
    rows = [_json_safe(c) for c in window.corrections]
    store.write_json(rows, PMG_FEEDBACK, "corrections.json")
    manifest = {
        "asset": PMG_FEEDBACK,
        "snapshot_root": snapshot["root"],
        "snapshot_counts": snapshot["counts"],
        "window_start": since.to_json(),
        "window_end": window.end.to_json(),
        "run_key": window.run_key,
        "correction_ids": [c["_id"] for c in rows],
        "counts_by_model": window.counts_by_model,
        "data_version": hashlib.sha256(
            (snapshot["root"] + "|" + "|".join(c["_id"] for c in rows)).encode()
        ).hexdigest(),
    }
    store.write_manifest(PMG_FEEDBACK, manifest)
    return manifest


def build_feedback_training_set(store: ArtifactStore, settings: ContinuousLearningSettings) -> dict:
    feedback = store.read_manifest(PMG_FEEDBACK)
    corrections = store.read_json(PMG_FEEDBACK, "corrections.json")
    by_split = {split: load_split(store, split) for split in SPLITS}
    documents = {r.id: r for records in by_split.values() for r in records}
    held_out = frozenset(r.id for split in ("val", "test") for r in by_split[split])
    result = build_training_set(
        corrections, documents, by_split["train"], settings.replay_ratio, settings.seed, held_out
    )
    store.write_table(records_to_table(result.corrected), TRAINING_SET, "corrected.parquet")
    store.write_table(records_to_table(result.replay), TRAINING_SET, "replay.parquet")
    store.write_json(result.routing_labels, TRAINING_SET, "routing_labels.json")
    quarantine = pa.Table.from_pylist([q.model_dump() for q in result.quarantine], schema=QUARANTINE_SCHEMA)
    store.write_table(quarantine, TRAINING_SET, "quarantine.parquet")
    hashes = [
        hashlib.sha256(store.read_bytes(TRAINING_SET, name)).hexdigest()
        for name in ("corrected.parquet", "replay.parquet", "routing_labels.json", "quarantine.parquet")
    ]
    manifest = {
        "asset": TRAINING_SET,
        "snapshot_root": feedback["snapshot_root"],
        "correction_ids": result.correction_ids,
        "corrections": len(corrections),
        "field_corrections_applied": result.field_corrections_applied,
        "corrected_documents": len(result.corrected),
        "routing_labels": len(result.routing_labels),
        "quarantined": len(result.quarantine),
        "replay_documents": len(result.replay),
        "data_version": hashlib.sha256("|".join(hashes).encode()).hexdigest(),
    }
    store.write_manifest(TRAINING_SET, manifest)
    return manifest


def load_feedback_records(store: ArtifactStore) -> tuple[list[DocumentRecord], dict]:
    """What a feedback retrain trains on: the corrected documents, then the replay sample; and the
    training set's manifest (snapshot root, correction ids), which the new version is tagged with."""
    if not store.exists(TRAINING_SET, "manifest.json"):
        raise FileNotFoundError(
            f"no {TRAINING_SET} at {store.url(TRAINING_SET)}: materialise pmg_feedback and "
            f"{TRAINING_SET} before a feedback retrain"
        )
    manifest = store.read_manifest(TRAINING_SET)
    records = [
        record
        for name in ("corrected.parquet", "replay.parquet")
        for record in table_to_records(store.read_table(TRAINING_SET, name))
    ]
    return records, manifest
