"""The loop the product exists for, on the embedded defaults (MiniLM vision encoder and the tiny
router, small configs): v1 models are trained through Pipes, evaluated (reports, MLflow, PMG trails)
and judged by the registry; corrections injected into a real PMG (nx-27017) make the sensor request
``lora_retrain`` for that window; running exactly the requested selection trains a new adapter from
v1 on exactly those corrections, evaluates it on the same held-out split and records the registry's
decision and its reason; a second tick with no new feedback requests nothing."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

import sensors.pmg_feedback as sensor_module
from assets import continuous_learning, evaluation, models, models_router, registry
from orchestration.launchers import TrainingLauncherResource
from orchestration.resources import MLflowResource, MongoResource, StorageResource
from sap_llm_core.continuous_learning.config import ContinuousLearningSettings
from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.pmg import Feedback, FeedbackKind, ProcessMemoryGraph
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import load_split

pytestmark = pytest.mark.slow

VISION_HP = {
    "max_train_documents": 96,
    "max_eval_documents": 0,
    "epochs": 3,
    "batch_size": 4,
    "max_length": 64,
    "max_subtokens_per_word": 1,
    "logging_steps": 4,
    "save_steps": 0,
    "resume": False,
}
ROUTER_HP = {
    "max_train_documents": 120,
    "pretrain_epochs": 1,
    "sft_epochs": 1,
    "dpo_epochs": 1,
    "dpo_max_examples": 16,
    "similar_cases_k": 2,
    "logging_steps": 2,
    "latency_documents": 5,
    "resume": False,
}
DEFS = dg.Definitions.merge(
    models.defs, models_router.defs, evaluation.defs, registry.defs, continuous_learning.defs
)
EVERYTHING = [*DEFS.assets, *DEFS.asset_checks]
FIRST_RUN = [
    "vision_encoder",
    "reasoning_engine",
    "vision_encoder_evaluation",
    "reasoning_engine_evaluation",
    "end_to_end_evaluation",
    "model_registry",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, split_corpus):
    store = ArtifactStore(split_corpus("retrain_loop", 250))
    root = tmp_path_factory.mktemp("retrain_loop_services")
    with LocalMongoServer(root / "mongo") as server:
        mongo = MongoResource(uri=server.uri)
        resources = {
            "storage": StorageResource(root=store.root),
            "mongo": mongo,
            "mlflow": MLflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}"),
            "training_launcher": TrainingLauncherResource(mode="subprocess"),
        }
        yield {"store": store, "resources": resources, "instance": dg.DagsterInstance.ephemeral()}


def _materialize(world, selection, run_config):
    result = dg.materialize(
        EVERYTHING,
        selection=selection,
        resources=world["resources"],
        run_config=run_config,
        instance=world["instance"],
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _adapter_sha(checkpoint: str) -> str:
    weights = Path(checkpoint) / "adapter" / "adapter_model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest()


def test_feedback_retrains_evaluates_and_decides(world, monkeypatch):
    store, client = world["store"], world["resources"]["mlflow"].client()
    # 1. v1 of each model, evaluated and judged --------------------------------------------------
    first = _materialize(
        world,
        FIRST_RUN,
        {
            "ops": {
                "vision_encoder": {"config": VISION_HP},
                "reasoning_engine": {"config": ROUTER_HP},
                "end_to_end_evaluation": {"config": {"max_documents": 24, "extractor": "vision_encoder"}},
            }
        },
    )
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    for name in ("vision_encoder", "reasoning_engine", "end_to_end"):
        assert checks[f"{name}_evaluation_report_written"], name
    assert checks["end_to_end_trails_in_pmg"]

    vision_report = store.read_json("vision_encoder_evaluation", "metrics.json")
    test = load_split(store, "test")
    majority = Counter(r.document_type for r in test).most_common(1)[0][1] / len(test)
    type_accuracy = vision_report["metrics"]["type_accuracy"]
    assert type_accuracy >= majority + 0.15, (type_accuracy, majority)  # learned, not merely ran
    training = first.asset_materializations_for_node("vision_encoder")[-1].metadata
    # served one document at a time, the evaluation sees what the trainer measured on the same split
    assert type_accuracy == pytest.approx(training["type_accuracy"].value, abs=1.5 / len(test))

    e2e = store.read_json("end_to_end_evaluation", "metrics.json")["metrics"]
    assert e2e["test_documents"] == 24 and e2e["api_validity"] == 1.0
    assert 0.0 <= e2e["touchless_rate"] <= 1.0 and e2e["cost_per_document_usd"] > 0
    assert e2e["latency_p95_ms.classification"] > 0 and e2e["latency_p95_ms.routing"] > 0
    assert e2e["classification_accuracy"] >= majority + 0.15
    # evaluation runs in MLflow; the evaluated versions carry their eval.* figures
    v1 = client.get_model_version("sap_llm.vision_encoder", "1")
    assert float(v1.tags["eval.type_accuracy"]) == pytest.approx(type_accuracy, abs=1e-4)
    eval_run = client.get_run(v1.tags["eval.mlflow_run_id"])
    assert eval_run.data.metrics["type_accuracy"] == pytest.approx(type_accuracy)
    artifacts = {a.path for a in client.list_artifacts(eval_run.info.run_id)}
    assert {"report.md", "metrics.json", "confusion_matrix.png", "calibration.png"} <= artifacts
    assert v1.tags["promotion.decision"] in {"promoted", "rejected"} and v1.tags["promotion.reasons"]
    v1_checkpoint = training["checkpoint_dir"].value
    v1_sha = _adapter_sha(v1_checkpoint)

    # 2. corrections arrive in the PMG ------------------------------------------------------------
    train = load_split(store, "train")
    injected, injected_routing = [], []
    with world["resources"]["mongo"].pmg_database() as db:
        graph = ProcessMemoryGraph(db)
        for record in train[:3]:
            graph.add_document(record.id, record.document_type, record.language)
            header = record.ground_truth_json()["header"]
            key, old = sorted(header.items())[0]
            new = next(w for w in record.words if w not in old.split())  # a value that is on the page
            injected.append(
                graph.record_feedback(
                    Feedback(
                        document_id=record.id,
                        kind=FeedbackKind.FIELD_CORRECTION,
                        field=f"header.{key}",
                        old_value=old,
                        new_value=new,
                    )
                )
            )

        # routing corrections: a reviewer sends each document to another API than the model chose
        from sap_llm_core.models.reasoning_engine.examples import kb_label
        from sap_llm_core.models.reasoning_engine.train import load_kb

        kb, _ = load_kb(store)
        for record in [r for r in train[3:] if r.document_type in kb.mappings.document_types][:3]:
            graph.add_document(record.id, record.document_type, record.language)
            injected_routing.append(
                graph.record_feedback(
                    Feedback(
                        document_id=record.id,
                        kind=FeedbackKind.ROUTING_CORRECTION,
                        routing=next(
                            o for o in kb.catalog if o.endpoint != kb_label(kb, record.document_type).endpoint
                        ).as_dict(),
                    )
                )
            )

    # 3. the sensor asks for a retrain of that window ----------------------------------------------
    monkeypatch.setattr(
        sensor_module,
        "_SETTINGS",
        ContinuousLearningSettings(thresholds={"vision_encoder": 3, "reasoning_engine": 3}),
    )
    mongo_only = {"mongo": world["resources"]["mongo"]}
    context = dg.build_sensor_context(instance=world["instance"], resources=mongo_only)
    request = sensor_module.pmg_feedback_sensor(context)
    assert isinstance(request, dg.RunRequest), request
    selection = [k.to_user_string() for k in request.asset_selection]
    assert set(selection) == {
        "pmg_feedback",
        "feedback_training_set",
        "vision_encoder",
        "vision_encoder_evaluation",
        "reasoning_engine",
        "reasoning_engine_evaluation",
        "model_registry",
    }

    # 4. the requested run: new adapter from v1 on exactly those corrections -> evaluation -> decision
    run_config = request.run_config
    run_config["ops"]["vision_encoder"]["config"].update({**VISION_HP, "epochs": 3, "logging_steps": 1})
    run_config["ops"]["reasoning_engine"]["config"].update({**ROUTER_HP, "sft_epochs": 3, "logging_steps": 1})
    retrain = _materialize(world, selection, run_config)
    metadata = retrain.asset_materializations_for_node("vision_encoder")[-1].metadata
    result = metadata["training_result"].value
    assert metadata["trained_on"].value == "feedback" and metadata["parent_version"].value == "1"
    assert sorted(result["feedback"]["correction_ids"]) == sorted(injected + injected_routing)
    assert metadata["train_documents"].value == 3 + 3 * 4  # the corrected documents + replay
    learnt = result["feedback"]["corrected_loss"]  # the adapter learnt the corrections themselves
    assert learnt["after"] < learnt["before"], learnt
    assert result["init_from"] and _adapter_sha(metadata["checkpoint_dir"].value) != v1_sha

    v2 = client.get_model_version("sap_llm.vision_encoder", "2")
    snapshot = store.read_manifest("pmg_feedback")["snapshot_root"]
    assert v2.tags["parent_version"] == "1" and v2.tags["trained_on"] == "feedback"
    assert v2.tags["feedback.corrections"] == "6" and v2.tags["feedback.snapshot_root"] == snapshot
    assert "eval.type_accuracy" in v2.tags  # evaluated on the held-out split
    assert v2.tags["promotion.decision"] in {"promoted", "rejected"}
    assert v2.tags["promotion.reasons"] and v2.tags["promotion.compared_with"]
    assert float(v2.tags["feedback.to_decision_s"]) > 0
    # the router learnt from the routing corrections the same way
    router = client.get_model_version("sap_llm.reasoning_engine", "2")
    router_result = retrain.asset_materializations_for_node("reasoning_engine")[-1].metadata
    assert sorted(router_result["training_result"].value["feedback"]["correction_ids"]) == sorted(
        injected + injected_routing
    )
    assert router.tags["parent_version"] == "1" and router.tags["feedback.corrections"] == "6"
    routed = router_result["training_result"].value["feedback"]["corrected_loss"]
    assert routed["after"] < routed["before"], routed
    assert router.tags["promotion.decision"] in {"promoted", "rejected"} and "eval.ece" in router.tags
    decisions = retrain.asset_materializations_for_node("model_registry")[-1].metadata["details"].value
    assert str(decisions["vision_encoder"]["version"]) == "2"
    assert str(decisions["reasoning_engine"]["version"]) == "2"

    # 5. nothing new: the next tick requests nothing ----------------------------------------------
    again = sensor_module.pmg_feedback_sensor(
        dg.build_sensor_context(cursor=context.cursor, instance=world["instance"], resources=mongo_only)
    )
    assert isinstance(again, dg.SkipReason)
