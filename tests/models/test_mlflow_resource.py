"""The MLflow resource against a real local SQLite store: experiments, runs, registration, aliases."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from orchestration.resources.mlflow import MLflowResource
from sap_llm_core.training.reporter import TrainingReporter


@pytest.fixture
def resource(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MLflowResource:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return MLflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_experiment_gets_an_explicit_artifact_location(resource: MLflowResource, tmp_path: Path) -> None:
    experiment_id = resource.ensure_experiment("vision_encoder")
    experiment = resource.client().get_experiment(experiment_id)
    assert experiment.name == "sap_llm/vision_encoder"
    assert experiment.artifact_location.startswith(str(tmp_path / "artifacts"))
    assert resource.ensure_experiment("vision_encoder") == experiment_id  # idempotent


def test_reporter_logs_and_resource_registers_with_tags_and_alias(
    resource: MLflowResource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in resource.training_env("vision_encoder").items():
        monkeypatch.setenv(key, value)
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "adapter_config.json").write_text("{}")
    with TrainingReporter.open("vision_encoder", {"hyperparameters": {"lr": 0.1, "lora": {"r": 8}}}) as rep:
        rep.log_dataset_versions({"corpus_splits": "abc123"})
        for step, loss in enumerate([3.0, 2.0, 1.0], start=1):
            rep.log_metric("train_loss", loss, step)
        result = rep.report_result({"metrics": {"type_accuracy": 0.97}, "checkpoint_dir": str(checkpoint)})
    run_id = result["mlflow_run_id"]
    client = resource.client()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.1" and run.data.params["lora.r"] == "8"
    assert run.data.tags["data_version.corpus_splits"] == "abc123"
    assert [m.value for m in client.get_metric_history(run_id, "train_loss")] == [3.0, 2.0, 1.0]
    assert run.data.metrics["final.type_accuracy"] == pytest.approx(0.97)
    assert run.info.artifact_uri.startswith(str(tmp_path / "artifacts"))
    assert [a.path for a in client.list_artifacts(run_id, "checkpoint")] == ["checkpoint/adapter_config.json"]

    tags = {"dagster.run_id": "run-1", "dagster.asset_key": "vision_encoder", "code_version": "1"}
    first = resource.register_model_version("sap_llm.vision_encoder", run_id, tags=tags)
    second = resource.register_model_version(
        "sap_llm.vision_encoder", run_id, tags={**tags, "dagster.run_id": "r2"}
    )
    assert (int(first.version), int(second.version)) == (1, 2)
    assert first.tags["dagster.run_id"] == "run-1" and first.tags["code_version"] == "1"
    assert first.source.endswith("/checkpoint") and first.run_id == run_id
    alias = client.get_model_version_by_alias("sap_llm.vision_encoder", "challenger")
    assert alias.version == second.version  # the alias moved; no stages involved
    assert mlflow.get_tracking_uri() == resource.resolved_tracking_uri()
