"""Group ``models``: the ``reasoning_engine`` asset (SAP API routing), a thin adapter over
``sap_llm_core.models.reasoning_engine``.

Like ``vision_encoder``: hyperparameters in a ``dg.Config`` defaulting from params.yaml, training run by
the launcher (local subprocess or Kubernetes GPU pod, over Dagster Pipes), the MLflow run registered as
``sap_llm.reasoning_engine`` with ``metric.<name>`` tags the registry promotes by; checks read the
materialisation's ``training_result`` and load the saved adapter.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg

from assets.models import (
    REGISTERED_PREFIX,
    FeedbackRetrainConfig,
    _checkpoint_dir,
    _latest_result,
    _training_config,
    feedback_lineage,
    feedback_metadata,
    feedback_tags,
    loss_and_weight_checks,
    metrics_problems,
    metrics_written_result,
    targets_result,
)
from orchestration.launchers import K8sPodConfig, TrainingLauncherResource
from orchestration.resources import MLflowResource, StorageResource
from sap_llm_core.models.reasoning_engine.train import DEFAULTS
from sap_llm_core.settings import get_settings
from sap_llm_core.training.data import SPLITS_ASSET

REASONING_ENGINE = "reasoning_engine"
REASONING_ENGINE_CODE_VERSION = "1"
KB_INDEX_ASSET = "kb_vector_index"
_RE: dict[str, Any] = {**DEFAULTS, **(getattr(get_settings().models, REASONING_ENGINE, None) or {})}
# Targets of the issue on the held-out test split: (direction, threshold).
TARGETS = {
    "routing_accuracy": (">=", 0.97),
    "api_validity": (">=", 1.0),
    "ece": ("<=", 0.05),
    "latency_p95_ms": ("<", 500.0),
}


class ReasoningEngineConfig(FeedbackRetrainConfig):
    """Hyperparameters of the router; defaults from params.yaml ``models.reasoning_engine``."""

    seed: int = _RE["seed"]
    hidden_size: int = _RE["hidden_size"]
    num_layers: int = _RE["num_layers"]
    num_heads: int = _RE["num_heads"]
    candidates_k: int = _RE["candidates_k"]
    similar_cases_k: int = _RE["similar_cases_k"]
    pretrain_epochs: int = _RE["pretrain_epochs"]
    pretrain_learning_rate: float = _RE["pretrain_learning_rate"]
    sft_epochs: float = _RE["sft_epochs"]
    dpo_epochs: float = _RE["dpo_epochs"]
    dpo_beta: float = _RE["dpo_beta"]
    dpo_max_examples: int = _RE["dpo_max_examples"]
    grpo_steps: int = _RE["grpo_steps"]
    grpo_num_generations: int = _RE["grpo_num_generations"]
    grpo_learning_rate: float = _RE["grpo_learning_rate"]
    grpo_beta: float = _RE["grpo_beta"]
    grpo_temperature: float = _RE["grpo_temperature"]
    batch_size: int = _RE["batch_size"]
    learning_rate: float = _RE["learning_rate"]
    dpo_learning_rate: float = _RE["dpo_learning_rate"]
    lora_r: int = _RE["lora_r"]
    lora_alpha: int = _RE["lora_alpha"]
    lora_dropout: float = _RE["lora_dropout"]
    lora_target_modules: list[str] = list(_RE["lora_target_modules"])
    max_length: int = _RE["max_length"]
    logging_steps: int = _RE["logging_steps"]
    save_steps: int = _RE["save_steps"]
    max_train_documents: int = _RE["max_train_documents"]
    max_eval_documents: int = _RE["max_eval_documents"]
    latency_documents: int = _RE["latency_documents"]
    inference_threads: int = _RE["inference_threads"]
    bf16: bool = _RE["bf16"]
    fp16: bool = _RE["fp16"]
    resume: bool = True
    pod: K8sPodConfig = K8sPodConfig()

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"resume", "pod", "training_data", "init_from"})


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = ["| metric | value | target |", "|---|---|---|"]
    for name, value in sorted(metrics.items()):
        target = f"{TARGETS[name][0]} {TARGETS[name][1]}" if name in TARGETS else ""
        rows.append(f"| {name} | {value:.4f} | {target} |")
    return "\n".join(rows)


@dg.asset(
    group_name="models",
    code_version=REASONING_ENGINE_CODE_VERSION,
    # feedback_training_set: the routing corrections a lora_retrain run learns from.
    deps=[dg.AssetKey(SPLITS_ASSET), dg.AssetKey(KB_INDEX_ASSET), dg.AssetKey("feedback_training_set")],
    kinds={"pytorch", "mlflow"},
    tags={"sap_llm/layer": "model"},
    description="SAP API routing: small Llama + LoRA (TRL SFT, then DPO), KB-constrained decoding over "
    "the routing catalog, temperature-calibrated confidence; registered in MLflow.",
)
def reasoning_engine(
    context: dg.AssetExecutionContext,
    config: ReasoningEngineConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    training_launcher: TrainingLauncherResource,
) -> dg.MaterializeResult:
    store = storage.store()
    splits_version = store.read_manifest(SPLITS_ASSET).get("data_version", "")
    index_version = (
        store.read_manifest(KB_INDEX_ASSET).get("data_version", "")
        if store.exists(KB_INDEX_ASSET, "manifest.json")
        else ""
    )
    train_config = _training_config(
        store.root, store.url(REASONING_ENGINE), config.hyperparameters(), config.resume
    )
    lineage = feedback_lineage(context, config, mlflow, REASONING_ENGINE, train_config)
    run = training_launcher.launch(
        context,
        REASONING_ENGINE,
        train_config,
        env=mlflow.training_env(REASONING_ENGINE),
        pod=config.pod,
        extras={"asset_key": REASONING_ENGINE, "code_version": REASONING_ENGINE_CODE_VERSION},
    )
    result = run.result
    metrics = result["metrics"]
    registered = None
    if result.get("mlflow_run_id"):
        registered = mlflow.register_model_version(
            f"{REGISTERED_PREFIX}.{REASONING_ENGINE}",
            result["mlflow_run_id"],
            tags={
                "dagster.run_id": context.run_id,
                "dagster.asset_key": REASONING_ENGINE,
                "code_version": REASONING_ENGINE_CODE_VERSION,
                "data_version.corpus_splits": splits_version,
                "data_version.kb_vector_index": index_version,
                "base_model": result.get("base_model", ""),
                **lineage,
                **feedback_tags(result),
                **{
                    f"metric.{k}": f"{metrics[k]:.4f}"
                    for k in (*TARGETS, "api_accuracy", "mean_reward")
                    if k in metrics
                },
            },
            description="reasoning_engine: SAP API routing (LoRA adapter, KB-constrained, calibrated)",
        )
    version = hashlib.sha256(
        json.dumps(
            {
                "code": REASONING_ENGINE_CODE_VERSION,
                "data": result.get("data_versions") or splits_version,
                "kb": index_version,
                "hp": config.hyperparameters(),
                **lineage,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    metadata: dict[str, Any] = dict(run.materialization.metadata) if run.materialization else {}
    metadata.update(
        {
            "checkpoint_dir": dg.MetadataValue.path(result["checkpoint_dir"]),
            "training_result": dg.MetadataValue.json(result),
            "metrics": dg.MetadataValue.md(_metrics_table(metrics)),
            "data_version.corpus_splits": splits_version,
            "data_version.kb_vector_index": index_version,
            **lineage,
        }
    )
    metadata.update(feedback_metadata(result))
    png = Path(result.get("reliability_png", ""))
    if png.is_file():
        import base64

        encoded = base64.b64encode(png.read_bytes()).decode()
        metadata["reliability_curve"] = dg.MetadataValue.md(
            f"![reliability](data:image/png;base64,{encoded})"
        )
    if registered is not None:
        metadata["mlflow_run_id"] = result["mlflow_run_id"]
        metadata["registered_model"] = registered.name
        metadata["registered_version"] = int(registered.version)
        metadata["mlflow_tracking_uri"] = mlflow.resolved_tracking_uri()
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


@dg.asset_check(
    asset=reasoning_engine,
    blocking=True,
    description="The saved adapter loads and routes a held-out batch to knowledge-base endpoints only.",
)
def reasoning_engine_routes_held_out(
    context: dg.AssetCheckExecutionContext, storage: StorageResource, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    from sap_llm_core.models.reasoning_engine.checks import route_held_out_batch

    outcome = route_held_out_batch(
        _checkpoint_dir(_latest_result(context, REASONING_ENGINE), mlflow), storage.store()
    )
    return dg.AssetCheckResult(passed=outcome.pop("passed"), metadata=outcome)


@dg.asset_check(
    asset=reasoning_engine,
    blocking=True,
    description="Held-out metrics are written (metrics.json, MLflow run) and finite.",
)
def reasoning_engine_metrics_written(
    context: dg.AssetCheckExecutionContext, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    required = ["routing_accuracy", "api_validity", "ece", "latency_p95_ms", "train_samples_per_second"]
    result = _latest_result(context, REASONING_ENGINE)
    return metrics_written_result(metrics_problems(result, required, mlflow))


@dg.asset_check(
    asset=reasoning_engine,
    blocking=False,
    description="Held-out quality vs the targets (accuracy >= 97%, validity 100%, ECE <= 0.05, "
    "p95 < 500 ms).",
)
def reasoning_engine_meets_targets(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return targets_result(_latest_result(context, REASONING_ENGINE).get("metrics") or {}, TARGETS)


defs = dg.Definitions(
    assets=[reasoning_engine],
    asset_checks=[
        *loss_and_weight_checks(reasoning_engine, REASONING_ENGINE, loss="SFT training loss"),
        reasoning_engine_routes_held_out,
        reasoning_engine_metrics_written,
        reasoning_engine_meets_targets,
    ],
)
