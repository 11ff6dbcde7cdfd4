"""The two assets end to end through Dagster (Pipes subprocess launcher, MLflow on a temp SQLite
file) with tiny configs: checks pass, metrics are the held-out figures, a version is registered, and
the fine-tuned model has learned something a random model cannot do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets import models_language
from orchestration.launchers import TrainingLauncherResource
from orchestration.resources import MLflowResource, StorageResource
from sap_llm_core.models.base_lm.pretrain import BaseLMHyperparameters, build_model
from sap_llm_core.models.language_decoder.extract import Extractor, evaluate, load_extractor, load_model
from sap_llm_core.models.lm_data import extraction_records
from sap_llm_core.storage import ArtifactStore

pytestmark = pytest.mark.timeout(900)  # two trainings + decoding on 2 (often shared) CPU cores

TINY_BASE = {
    "vocab_size": 1024,
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 192,
    "batch_tokens": 2048,
    "learning_rate": 0.01,
    "warmup_steps": 5,
    "max_steps": 400,
    "max_train_seconds": 30,
    "num_threads": 1,
    "save_steps": 20,
    "logging_steps": 5,
}
TINY_DECODER = {
    "batch_size": 2,
    "max_steps": 400,
    "max_train_seconds": 20,
    "save_steps": 20,
    "logging_steps": 2,
    "num_threads": 1,
    "eval_documents": 3,
    "max_new_tokens": 60,
}


@pytest.fixture(scope="module")
def materialized(splits_root, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("lm_assets") / "data")
    shutil.copytree(splits_root, root)
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("")
    mlflow = MLflowResource(
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=str(home / "mlflow-artifacts")
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [
            models_language.base_language_model,
            models_language.language_decoder,
            *models_language.defs.asset_checks,
        ],
        resources={
            "storage": StorageResource(root=root),
            "mlflow": mlflow,
            "training_launcher": TrainingLauncherResource(mode="subprocess"),
        },
        run_config={
            "ops": {
                "base_language_model": {"config": TINY_BASE},
                "language_decoder": {"config": TINY_DECODER},
            }
        },
        raise_on_error=False,
        instance=instance,
    )
    return result, root, mlflow, instance


def test_assets_materialise_and_every_check_passes(materialized):
    result, root, _, _ = materialized
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == len(models_language.defs.asset_checks) == 8
    blocking = {k: e for k, e in evaluations.items() if k != "language_decoder_meets_targets"}
    assert all(e.passed for e in blocking.values()), [
        (k, e.metadata) for k, e in blocking.items() if not e.passed
    ]
    assert (Path(root) / "base_language_model" / "model.safetensors").exists()
    assert (Path(root) / "language_decoder" / "adapter_model.safetensors").exists()
    assert not (Path(root) / "language_decoder" / "model.safetensors").exists()  # adapter apart from base


def test_metadata_and_registry_hold_the_held_out_metrics(materialized):
    result, root, mlflow, _ = materialized
    meta = result.asset_materializations_for_node("language_decoder")[0].metadata
    assert meta["constrained/schema_compliance"].value == 1.0
    assert meta["constrained/hallucination_rate"].value == 0.0
    assert meta["loss_curve"].value.startswith("![language_decoder training loss](data:image/png;base64,")
    assert "unconstrained/field_f1" in meta["metrics"].value
    assert "constrained/field_f1" in meta["metrics"].value
    saved = json.loads((Path(root) / "language_decoder" / "metrics.json").read_text())
    assert saved["constrained/field_f1"] == pytest.approx(meta["constrained/field_f1"].value)
    for name in ("base_language_model", "language_decoder"):
        version = mlflow.client().get_model_version(f"sap_llm.{name}", "1")
        assert version.tags["dagster.asset_key"] == name
    assert (
        "metric.constrained/field_f1"
        in mlflow.client().get_model_version("sap_llm.language_decoder", "1").tags
    )
    base_meta = result.asset_materializations_for_node("base_language_model")[0].metadata
    assert base_meta["val_loss"].value < 5.0  # well below a uniform guess over the vocabulary (ln 1024 = 6.9)


def test_fine_tuned_model_extracts_better_than_an_untrained_one(materialized):
    """Learned behaviour on held-out documents: the same constrained decoder with random weights
    picks spans by chance; the trained model must recover more fields exactly."""
    _, root, _, _ = materialized
    store = ArtifactStore(root)
    records = extraction_records(store, "test", 4)
    model, tokenizer, schema = load_model(Path(root) / "base_language_model", Path(root) / "language_decoder")
    trained = evaluate(Extractor(model, tokenizer, schema), records, constrained=True).metrics("t")
    random_model = build_model(BaseLMHyperparameters(**TINY_BASE), tokenizer).eval()
    untrained = evaluate(Extractor(random_model, tokenizer, schema), records, constrained=True).metrics("r")
    assert trained["t/schema_compliance"] == untrained["r/schema_compliance"] == 1.0
    assert trained["t/hallucination_rate"] == 0.0
    assert trained["t/field_f1"] > untrained["r/field_f1"]


def test_the_extraction_api_loads_the_shipped_decoder(materialized):
    """What the evaluation assets call: the adapter folder alone names its base; the label prior
    saved beside the adapter is fused; outputs are parsed ADC JSON per record."""
    _, root, _, _ = materialized
    extractor = load_extractor(None, Path(root) / "language_decoder")
    assert extractor.prior is not None
    records = extraction_records(ArtifactStore(root), "test", 3)
    results = extractor.extract(records, constrained=True)
    assert [r.record_id for r in results] == [r.id for r in records]
    assert all(isinstance(r.parsed, dict) and set(r.parsed) == {"header", "line_items"} for r in results)


def test_evaluation_reports_constrained_against_free_decoding(materialized):
    """The evaluation asset reloads the registered adapter on its base and decodes held-out documents
    both ways: the constraint's guarantees hold on every document, and the report and the model
    version say so."""
    from assets import evaluation

    _, root, mlflow, instance = materialized
    result = dg.materialize(
        [asset := evaluation.language_decoder_evaluation, *evaluation.report_checks(asset)],
        resources={"storage": StorageResource(root=root), "mlflow": mlflow},
        run_config={"ops": {"language_decoder_evaluation": {"config": {"max_documents": 12}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["language_decoder_evaluation_report_written"]
    report = json.loads((Path(root) / "language_decoder_evaluation" / "metrics.json").read_text())
    metrics = report["metrics"]
    assert metrics["test_documents"] >= 1
    assert metrics["constrained/schema_compliance"] == 1.0 and metrics["constrained/valid_json"] == 1.0
    assert metrics["constrained/hallucination_rate"] == 0.0
    assert metrics["constrained/field_f1"] >= metrics["unconstrained/field_f1"]
    markdown = (Path(root) / "language_decoder_evaluation" / "report.md").read_text()
    assert "Constrained vs free decoding" in markdown and "| constrained/schema_compliance |" in markdown
    version = mlflow.client().get_model_version_by_alias("sap_llm.language_decoder", "challenger")
    assert float(version.tags["eval.constrained/schema_compliance"]) == 1.0
