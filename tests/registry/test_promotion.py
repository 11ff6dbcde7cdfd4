"""Promotion against a real MLflow SQLite store: a good version becomes champion, a degraded one
never does, every decision is recorded on the version, and the CLI rolls champion back."""

import mlflow
import pytest
from typer.testing import CliRunner

from sap_llm_core.registry.cli import registry_app
from sap_llm_core.registry.mlflow_registry import CHAMPION, alias_version, evaluate_challenger
from sap_llm_core.registry.policy import Target, decide, parse_targets

TARGETS = parse_targets({"type_accuracy": ">= 0.95", "field_f1": ">= 0.94", "ece": "<= 0.05"})
MODEL = "sap_llm.vision_encoder"


@pytest.fixture
def client(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = mlflow.MlflowClient(tracking_uri=uri)
    c.create_experiment("exp", artifact_location=str(tmp_path / "artifacts"))
    c.create_registered_model(MODEL)
    return c


def _register(client, **metrics) -> str:
    experiment = client.get_experiment_by_name("exp").experiment_id
    run = client.create_run(experiment)
    for k, v in metrics.items():
        client.log_metric(run.info.run_id, f"test_{k}", v)
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        MODEL,
        source=f"{run.info.artifact_uri}/checkpoint",
        run_id=run.info.run_id,
        tags={f"metric.{k}": f"{v:.4f}" for k, v in metrics.items()},
    )
    client.set_registered_model_alias(MODEL, "challenger", version.version)
    return version.version


def test_targets_parse_without_eval():
    assert Target.parse("x", ">= 0.9").met(0.95) and not Target.parse("x", "<= 0.05").met(0.06)
    with pytest.raises(ValueError, match="must look like"):
        Target.parse("x", "__import__('os').system('true')")


def test_decision_rules():
    good = {"type_accuracy": 0.97, "field_f1": 0.95, "ece": 0.02}
    assert decide(good, None, TARGETS, 0.01).promote
    assert not decide({**good, "field_f1": float("nan")}, None, TARGETS, 0.01).promote
    assert not decide({"type_accuracy": 0.97}, None, TARGETS, 0.01).promote  # missing metrics fail
    worse = decide({**good, "type_accuracy": 0.955}, {**good, "type_accuracy": 0.99}, TARGETS, 0.01)
    assert not worse.promote and "worse than champion" in worse.summary
    slightly = decide({**good, "type_accuracy": 0.985}, {**good, "type_accuracy": 0.99}, TARGETS, 0.01)
    assert slightly.promote


def test_good_version_is_promoted_and_degraded_one_never(client, monkeypatch, tmp_path):
    v1 = _register(client, type_accuracy=0.97, field_f1=0.95, ece=0.03)
    first = evaluate_challenger(client, MODEL, TARGETS, tolerance=0.01)
    assert first.decision.promote and alias_version(client, MODEL, CHAMPION) == v1

    degraded = _register(client, type_accuracy=0.60, field_f1=0.95, ece=0.03)
    second = evaluate_challenger(client, MODEL, TARGETS, tolerance=0.01)
    assert not second.decision.promote
    assert alias_version(client, MODEL, CHAMPION) == v1
    tags = client.get_model_version(MODEL, degraded).tags
    assert tags["promotion.decision"] == "rejected" and "misses target" in tags["promotion.reasons"]
    assert tags["promotion.compared_with"] == str(v1)

    v3 = _register(client, type_accuracy=0.98, field_f1=0.96, ece=0.02)
    assert evaluate_challenger(client, MODEL, TARGETS, tolerance=0.01).decision.promote
    assert alias_version(client, MODEL, CHAMPION) == v3

    result = CliRunner().invoke(
        registry_app,
        ["rollback", MODEL, str(v1), "--reason", "bad week", "--tracking-uri", client.tracking_uri],
    )
    assert result.exit_code == 0, result.output
    assert alias_version(client, MODEL, CHAMPION) == v1
    assert client.get_model_version(MODEL, v1).tags["promotion.rollback_from"] == str(v3)
    missing = CliRunner().invoke(
        registry_app, ["rollback", MODEL, "99", "--tracking-uri", client.tracking_uri]
    )
    assert missing.exit_code != 0
