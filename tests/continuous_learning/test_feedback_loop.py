"""Corrections injected into a real PMG (nx-27017) -> sensor tick -> the requested window materialised
into a feedback training set built from exactly those corrections; a second tick requests nothing."""

import dagster as dg
import pytest

import jobs.retraining as retraining
import sensors.pmg_feedback as sensor_module
from assets.continuous_learning import (
    feedback_training_set,
    feedback_training_set_valid,
    pmg_feedback,
    pmg_feedback_snapshot_recorded,
)
from orchestration.resources import MongoResource, StorageResource
from sap_llm_core.continuous_learning.config import ContinuousLearningSettings
from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.pmg import Feedback, FeedbackKind, ProcessMemoryGraph
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import generate_corpus
from sap_llm_core.synthetic.quality import load_table
from sap_llm_core.training.data import load_split, write_hash_splits

THRESHOLDS = ContinuousLearningSettings(
    thresholds={"language_decoder": 2, "vision_encoder": 2, "reasoning_engine": 5}
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    store = ArtifactStore(str(root / "data"))
    manifest, _ = generate_corpus(
        GeneratorConfig(num_documents=40, shard_size=40, render_images=False), store, workers=1
    )
    from sap_llm_core.schema import DocumentRecord

    records = [DocumentRecord.model_validate(r) for r in load_table(store, manifest).to_pylist()]
    write_hash_splits(store, records, manifest["data_version"])
    with LocalMongoServer(root / "mongo") as server:
        mongo = MongoResource(uri=server.uri)
        with mongo.pmg_database() as db:
            graph = ProcessMemoryGraph(db)
            graph.ensure_indexes()
            for r in records:
                graph.add_document(r.id, r.document_type, r.language)
        yield {"store": store, "mongo": mongo, "storage": StorageResource(root=store.root)}


def _inject(world, train):
    """Two valid field corrections (the new value is on the page), one whose value is not on the
    page, and one routing correction."""
    valid = []
    with world["mongo"].pmg_database() as db:
        graph = ProcessMemoryGraph(db)
        for record in train[:2]:
            gt = record.ground_truth_json()
            field, value = next((f"header.{k}", v) for k, v in gt["header"].items() if k.endswith("_date"))
            other = next(v for k, v in gt["header"].items() if v != value and k != field.split(".")[1])
            valid.append(
                graph.record_feedback(
                    Feedback(
                        document_id=record.id,
                        kind=FeedbackKind.FIELD_CORRECTION,
                        field=field,
                        old_value=value,
                        new_value=other,
                    )
                )
            )
        bad = graph.record_feedback(
            Feedback(
                document_id=train[2].id,
                kind=FeedbackKind.FIELD_CORRECTION,
                field="header.currency",
                new_value="XYZ-NOT-ON-PAGE",
            )
        )
        routing = graph.record_feedback(
            Feedback(
                document_id=train[3].id,
                kind=FeedbackKind.ROUTING_CORRECTION,
                routing={"endpoint": "API_PURCHASEORDER_PROCESS_SRV", "entity": "A_PurchaseOrder"},
            )
        )
    return valid, bad, routing


def test_sensor_requests_one_retrain_per_window(world, monkeypatch, dagster_home):
    monkeypatch.setattr(sensor_module, "_SETTINGS", THRESHOLDS)
    resources = {"mongo": world["mongo"]}
    nothing = sensor_module.pmg_feedback_sensor(dg.build_sensor_context(resources=resources))
    assert isinstance(nothing, dg.SkipReason) and "0 new correction" in nothing.skip_message

    train = load_split(world["store"], "train")
    valid, bad, routing = _inject(world, train)

    context = dg.build_sensor_context(resources=resources)
    request = sensor_module.pmg_feedback_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key.startswith("feedback-")
    assert request.tags["sap_llm/models"] == "language_decoder,vision_encoder"
    assert request.tags["sap_llm/corrections"] == "4"

    # the run retrains the due model that has a feedback path, evaluates it and decides promotion
    assert {k.to_user_string() for k in request.asset_selection} == {
        "pmg_feedback",
        "feedback_training_set",
        "vision_encoder",
        "vision_encoder_evaluation",
        "model_registry",
    }
    assert request.run_config["ops"]["vision_encoder"]["config"] == {"training_data": "feedback"}
    result = dg.materialize(
        [pmg_feedback, feedback_training_set, pmg_feedback_snapshot_recorded, feedback_training_set_valid],
        resources={"storage": world["storage"], "mongo": world["mongo"]},
        run_config={"ops": {"pmg_feedback": request.run_config["ops"]["pmg_feedback"]}},
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    manifest = world["store"].read_manifest("feedback_training_set")
    assert sorted(manifest["correction_ids"]) == sorted([*valid, bad, routing])
    assert manifest["field_corrections_applied"] == 2 and manifest["routing_labels"] == 1
    assert manifest["quarantined"] == 1 and manifest["replay_documents"] == 8
    corrected = (
        world["store"].read_table("feedback_training_set", "corrected.parquet").column("id").to_pylist()
    )
    assert corrected == sorted(r.id for r in train[:2])

    again = sensor_module.pmg_feedback_sensor(
        dg.build_sensor_context(cursor=context.cursor, resources=resources)
    )
    assert isinstance(again, dg.SkipReason)


def test_nightly_schedule_runs_only_with_new_feedback(world, dagster_home):
    resources = {"storage": world["storage"], "mongo": world["mongo"]}
    context = dg.build_schedule_context(resources=resources)
    outcome = retraining.nightly_retrain(context)
    # After the sensor test materialised pmg_feedback up to the last correction, nothing is new.
    assert isinstance(outcome, dg.SkipReason), outcome
    assert "no corrections" in outcome.skip_message
    train = load_split(world["store"], "train")
    with world["mongo"].pmg_database() as db:
        ProcessMemoryGraph(db).record_feedback(
            Feedback(
                document_id=train[5].id,
                kind=FeedbackKind.ROUTING_CORRECTION,
                routing={"endpoint": "API_SALES_ORDER_SRV"},
            )
        )
    request = retraining.nightly_retrain(dg.build_schedule_context(resources=resources))
    assert isinstance(request, dg.RunRequest) and request.tags["sap_llm/corrections"] == "1"
