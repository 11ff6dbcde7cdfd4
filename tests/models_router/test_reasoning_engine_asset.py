"""The ``reasoning_engine`` asset end to end: the trainer runs in a real subprocess launched through
Dagster Pipes, logs to a real SQLite MLflow store, registers ``sap_llm.reasoning_engine`` with
``metric.*`` tags, and the blocking checks load the adapter and route held-out documents. A minimal
config: quality is asserted by test_reasoning_engine_training.py, plumbing here."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets import models_router
from orchestration.launchers import TrainingLauncherResource
from orchestration.resources import MLflowResource, StorageResource

PLUMBING_HP = {
    "max_train_documents": 120,
    "max_eval_documents": 40,
    "pretrain_epochs": 1,
    "sft_epochs": 1,
    "dpo_epochs": 1,
    "dpo_max_examples": 16,
    "similar_cases_k": 2,
    "logging_steps": 2,
    "latency_documents": 5,
}


@pytest.mark.slow
def test_asset_trains_through_pipes_registers_and_passes_checks(
    copy_of_corpus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow = MLflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = dg.materialize(
        [models_router.reasoning_engine, *models_router.defs.asset_checks],
        resources={
            "storage": StorageResource(root=copy_of_corpus),
            "mlflow": mlflow,
            "training_launcher": TrainingLauncherResource(mode="subprocess"),
        },
        run_config={"ops": {"reasoning_engine": {"config": {**PLUMBING_HP, "resume": False}}}},
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    metadata = result.asset_materializations_for_node("reasoning_engine")[-1].metadata
    training = metadata["training_result"].value
    assert (Path(metadata["checkpoint_dir"].value) / "adapter" / "adapter_config.json").is_file()
    assert training["metrics"]["api_validity"] == 1.0

    client = mlflow.client()
    version = client.get_model_version_by_alias("sap_llm.reasoning_engine", "challenger")
    assert version.tags["dagster.run_id"] == result.run_id
    assert float(version.tags["metric.routing_accuracy"]) == pytest.approx(
        training["metrics"]["routing_accuracy"], abs=1e-4
    )
    assert "metric.ece" in version.tags
    run = client.get_run(metadata["mlflow_run_id"].value)
    assert "final.routing_accuracy" in run.data.metrics

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name in (
        "reasoning_engine_loss_decreased",
        "reasoning_engine_weights_finite",
        "reasoning_engine_routes_held_out",
        "reasoning_engine_metrics_written",
    ):
        assert checks[name].passed, (name, checks[name].metadata)
    assert "reasoning_engine_meets_targets" in checks


def test_config_defaults_cover_every_trainer_hyperparameter() -> None:
    from sap_llm_core.models.reasoning_engine.train import DEFAULTS, hyperparameters

    assert set(models_router.ReasoningEngineConfig().hyperparameters()) == set(DEFAULTS)
    assert hyperparameters({}) == {**DEFAULTS, **hyperparameters({})}
