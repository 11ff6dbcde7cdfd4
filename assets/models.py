"""Group ``models``: trained model checkpoints as assets.

Each asset is a thin adapter: it builds the trainer config from its ``dg.Config`` (defaults from
params.yaml), runs ``python -m sap_llm_core.training <model>`` through the training launcher (local
subprocess or Kubernetes GPU pod, both over Dagster Pipes), and registers the MLflow run's checkpoint
as a model version tagged with the Dagster run, asset key and versions. Checks read what the run
reported (the materialisation's ``training_result``) and load the checkpoint itself.
"""

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.launchers import K8sPodConfig, TrainingLauncherResource
from orchestration.resources import MLflowResource, StorageResource
from sap_llm_core.settings import get_settings
from sap_llm_core.training.data import SPLITS_ASSET

_VE = get_settings().models.vision_encoder
VISION_ENCODER = "vision_encoder"
VISION_ENCODER_CODE_VERSION = "2"
REGISTERED_PREFIX = "sap_llm"
# Targets of the issue, measured on the held-out test split; reported by a non-blocking check. field_f1 is
# SAP fields on the SAP documents; field_f1_all (public datasets included) and public_entity_f1 (FUNSD,
# CORD, SROIE entities, which are not SAP fields) are reported beside it.
VISION_ENCODER_TARGETS = {"type_accuracy": 0.95, "subtype_accuracy": 0.92, "field_f1": 0.94}


class FeedbackRetrainConfig(dg.Config):
    """``training_data``: "splits" trains from the base on the train split; "feedback" trains a new
    adapter continuing from the parent (``init_from``, else the registry's champion, else its latest
    version) on the feedback training set (corrections + replay). lora_retrain runs "feedback"."""

    training_data: str = "splits"
    init_from: str = ""


class VisionEncoderConfig(FeedbackRetrainConfig):
    """Hyperparameters of the vision encoder; defaults from params.yaml ``models.vision_encoder``."""

    base_model: str = _VE.base_model
    base_models_dir: str = _VE.base_models_dir
    seed: int = _VE.seed
    max_length: int = _VE.max_length
    max_subtokens_per_word: int = _VE.max_subtokens_per_word
    layout_encoding: str = _VE.layout_encoding
    word_shapes: bool = _VE.word_shapes
    epochs: float = _VE.epochs
    batch_size: int = _VE.batch_size
    learning_rate: float = _VE.learning_rate
    layout_learning_rate: float = _VE.layout_learning_rate
    head_learning_rate: float = _VE.head_learning_rate
    weight_decay: float = _VE.weight_decay
    warmup_ratio: float = _VE.warmup_ratio
    lora_r: int = _VE.lora_r
    lora_alpha: int = _VE.lora_alpha
    lora_dropout: float = _VE.lora_dropout
    lora_target_modules: list[str] = list(_VE.lora_target_modules)
    save_steps: int = _VE.save_steps
    logging_steps: int = _VE.logging_steps
    max_train_documents: int = _VE.max_train_documents
    max_eval_documents: int = _VE.max_eval_documents
    bf16: bool = _VE.bf16
    fp16: bool = _VE.fp16
    device: str = _VE.device
    gradient_checkpointing: bool = _VE.gradient_checkpointing
    num_threads: int = _VE.num_threads
    resume: bool = True
    pod: K8sPodConfig = K8sPodConfig()

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"resume", "pod", "training_data", "init_from"})


def parent_checkpoint(mlflow: MLflowResource, model: str, init_from: str) -> tuple[str, str]:
    """(checkpoint folder, parent version) a feedback retrain starts from: an explicit folder, else
    the registered ``champion``, else the newest version (no champion yet: the best we have)."""
    if init_from:
        return init_from, ""
    from mlflow.exceptions import MlflowException

    from sap_llm_core.registry.mlflow_registry import CHAMPION, alias_version

    client = mlflow.client()
    name = f"{REGISTERED_PREFIX}.{model}"
    try:
        version = alias_version(client, name, CHAMPION) or max(
            (v.version for v in client.search_model_versions(f"name='{name}'")), key=int
        )
    except (MlflowException, ValueError) as exc:
        raise dg.Failure(
            f"a feedback retrain of {model} needs a registered version to start from: {exc}"
        ) from exc
    run_id = client.get_model_version(name, version).run_id
    # The registry's copy, not the local folder: a later run may have replaced that.
    return str(_download_checkpoint(run_id, mlflow)), str(version)


def feedback_lineage(
    context: dg.AssetExecutionContext,
    config: FeedbackRetrainConfig,
    mlflow: MLflowResource,
    model: str,
    train_config: dict[str, Any],
) -> dict[str, str]:
    """Point a feedback retrain at its parent; returns the lineage tags of the new version."""
    lineage = {"trained_on": config.training_data}
    if config.training_data == "feedback":
        init_from, parent_version = parent_checkpoint(mlflow, model, config.init_from)
        train_config.update(training_data="feedback", init_from=init_from)
        lineage["parent_version"] = parent_version
        context.log.info(f"feedback retrain of {model} from v{parent_version or '?'} ({init_from})")
    return lineage


def _training_config(store_root: str, output_dir: str, hyperparameters: dict, resume: bool) -> dict:
    return {
        "storage_root": store_root,
        "output_dir": output_dir,
        "hyperparameters": hyperparameters,
        "resume": resume,
    }


@dg.asset(
    group_name="models",
    code_version=VISION_ENCODER_CODE_VERSION,
    # feedback_training_set: what a lora_retrain run (``training_data: feedback``) learns from.
    deps=[dg.AssetKey(SPLITS_ASSET), dg.AssetKey("feedback_training_set")],
    kinds={"pytorch", "mlflow"},
    tags={"sap_llm/layer": "model"},
    description="Document type + subtype classification and BIO field detection over words + boxes: "
    "MiniLM (default) or LayoutLMv3 with LoRA adapters; registered in MLflow.",
)
def vision_encoder(
    context: dg.AssetExecutionContext,
    config: VisionEncoderConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    training_launcher: TrainingLauncherResource,
) -> dg.MaterializeResult:
    store = storage.store()
    splits_version = store.read_manifest(SPLITS_ASSET).get("data_version", "")
    train_config = _training_config(
        store.root, store.url(VISION_ENCODER), config.hyperparameters(), config.resume
    )
    lineage = feedback_lineage(context, config, mlflow, VISION_ENCODER, train_config)
    run = training_launcher.launch(
        context,
        VISION_ENCODER,
        train_config,
        env=mlflow.training_env(VISION_ENCODER),
        pod=config.pod,
        extras={"asset_key": VISION_ENCODER, "code_version": VISION_ENCODER_CODE_VERSION},
    )
    result = run.result
    metrics = result["metrics"]
    registered = None
    if result.get("mlflow_run_id"):
        registered = mlflow.register_model_version(
            f"{REGISTERED_PREFIX}.{VISION_ENCODER}",
            result["mlflow_run_id"],
            tags={
                "dagster.run_id": context.run_id,
                "dagster.asset_key": VISION_ENCODER,
                "code_version": VISION_ENCODER_CODE_VERSION,
                "data_version.corpus_splits": splits_version,
                "base_model": result.get("base_model", ""),
                **lineage,
                **feedback_tags(result),
                **{f"metric.{k}": f"{metrics[k]:.4f}" for k in VISION_ENCODER_TARGETS if k in metrics},
            },
            description="vision_encoder: type/subtype classification + BIO field detection (LoRA adapter)",
        )
    version = hashlib.sha256(
        json.dumps(
            {
                "code": VISION_ENCODER_CODE_VERSION,
                "data": result.get("data_versions") or splits_version,
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
            "metrics": dg.MetadataValue.md(_metrics_table(metrics, VISION_ENCODER_TARGETS)),
            "resumed_from_step": int(result.get("resumed_from_step", 0)),
            "data_version.corpus_splits": splits_version,
            **lineage,
        }
    )
    metadata.update(feedback_metadata(result))
    if registered is not None:
        metadata["mlflow_run_id"] = result["mlflow_run_id"]
        metadata["registered_model"] = registered.name
        metadata["registered_version"] = int(registered.version)
        metadata["mlflow_tracking_uri"] = mlflow.resolved_tracking_uri()
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


def feedback_metadata(result: dict[str, Any]) -> dict[str, Any]:
    feedback = result.get("feedback") or {}
    if not feedback:
        return {}
    return {
        "feedback_snapshot_root": feedback["snapshot_root"],
        "feedback_corrections": len(feedback["correction_ids"]),
    }


def feedback_tags(result: dict[str, Any]) -> dict[str, str]:
    """Which feedback a retrained version learnt from: the PMG snapshot and the corrections."""
    feedback = result.get("feedback") or {}
    if not feedback:
        return {}
    ids = feedback["correction_ids"]
    return {
        "feedback.snapshot_root": feedback["snapshot_root"],
        "feedback.corrections": str(len(ids)),
        "feedback.correction_ids_sha256": hashlib.sha256("|".join(sorted(ids)).encode()).hexdigest(),
        "data_version.feedback_training_set": feedback["data_version"],
    }


def _metrics_table(metrics: dict[str, float], targets: dict[str, float]) -> str:
    rows = ["| metric | value | target |", "|---|---|---|"]
    for name, value in sorted(metrics.items()):
        target = f">= {targets[name]:.2f}" if name in targets else ""
        rows.append(f"| {name} | {value:.4f} | {target} |")
    return "\n".join(rows)


# checks ------------------------------------------------------------------------------------------
def _latest_result(context: dg.AssetCheckExecutionContext, asset: str) -> dict[str, Any]:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{asset} has not been materialised")
    value = event.asset_materialization.metadata.get("training_result")
    if value is None:
        raise dg.Failure(f"the latest {asset} materialisation has no training_result")
    return value.value


def _checkpoint_dir(result: dict[str, Any], mlflow: MLflowResource) -> Path:
    """The checkpoint where the launcher left it, else (a pod's volume) downloaded from MLflow."""
    local = Path(result["checkpoint_dir"])
    if local.is_dir():
        return local
    return _download_checkpoint(result["mlflow_run_id"], mlflow)


def _download_checkpoint(run_id: str, mlflow: MLflowResource) -> Path:
    import mlflow as mlflow_lib

    mlflow_lib.set_tracking_uri(mlflow.resolved_tracking_uri())
    return Path(mlflow_lib.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint"))


def metrics_problems(result: dict[str, Any], required: list[str], mlflow: MLflowResource) -> dict[str, Any]:
    """Required metrics missing or non-finite in the run's result, its metrics.json or its MLflow run;
    returns ``{"problems": [...], <metric>: value, ...}`` for the check's metadata."""
    metrics = result.get("metrics") or {}
    problems = [
        k for k in required if not isinstance(metrics.get(k), int | float) or not math.isfinite(metrics[k])
    ]
    output_dir = Path(result.get("output_dir") or result["checkpoint_dir"])
    if output_dir.is_dir() and not (output_dir / "metrics.json").is_file():
        problems.append(f"{output_dir / 'metrics.json'} missing")
    if result.get("mlflow_run_id"):
        logged = mlflow.client().get_run(result["mlflow_run_id"]).data.metrics
        problems += [f"mlflow final.{k} missing" for k in required if f"final.{k}" not in logged]
    else:
        problems.append("no MLflow run")
    return {"problems": problems, **{k: float(metrics.get(k, math.nan)) for k in required}}


def metrics_written_result(outcome: dict[str, Any]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not outcome["problems"],
        metadata={**outcome, "problems": dg.MetadataValue.json(outcome["problems"])},
    )


def targets_result(metrics: dict[str, Any], targets: dict[str, tuple[str, float]]) -> dg.AssetCheckResult:
    """A warning-severity check result: each target ``(direction, threshold)`` against ``metrics``
    (a missing metric is a miss)."""
    compare = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, "<": lambda v, t: v < t}
    values = {k: float(metrics.get(k, math.nan)) for k in targets}
    missed = {k: v for k, v in values.items() if not compare[targets[k][0]](v, targets[k][1])}
    return dg.AssetCheckResult(
        passed=not missed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={**values, "missed": dg.MetadataValue.json(missed)},
    )


def loss_and_weight_checks(asset: dg.AssetsDefinition, name: str, loss: str = "Training loss") -> list:
    """The two checks every trained model has: its logged loss went down, and no saved tensor holds
    NaN/inf (the checkpoint is read where the launcher left it, else from MLflow)."""

    @dg.asset_check(
        asset=asset, name=f"{name}_loss_decreased", blocking=True, description=f"{loss} decreased."
    )
    def loss_decreased(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        history = _latest_result(context, name).get("loss_history") or []
        first, last = (history[0][1], history[-1][1]) if history else (math.nan, math.nan)
        return dg.AssetCheckResult(
            passed=bool(history) and last < first,
            metadata={"loss_first": float(first), "loss_last": float(last), "logged_points": len(history)},
        )

    @dg.asset_check(
        asset=asset,
        name=f"{name}_weights_finite",
        blocking=True,
        description="No NaN/inf in the saved weights.",
    )
    def weights_finite(context: dg.AssetCheckExecutionContext, mlflow: MLflowResource) -> dg.AssetCheckResult:
        from sap_llm_core.training.checkpoint_checks import nonfinite_tensors

        bad, total = nonfinite_tensors(_checkpoint_dir(_latest_result(context, name), mlflow))
        return dg.AssetCheckResult(
            passed=not bad and total > 0,
            metadata={"tensors": total, "nonfinite": dg.MetadataValue.json(bad[:50])},
        )

    return [loss_decreased, weights_finite]


@dg.asset_check(
    asset=vision_encoder, blocking=True, description="The saved adapter loads and predicts a held-out batch."
)
def vision_encoder_adapter_predicts(
    context: dg.AssetCheckExecutionContext, storage: StorageResource, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    from sap_llm_core.models.vision_encoder.checks import predict_held_out_batch

    outcome = predict_held_out_batch(
        _checkpoint_dir(_latest_result(context, VISION_ENCODER), mlflow), storage.store()
    )
    return dg.AssetCheckResult(passed=outcome.pop("passed"), metadata=outcome)


@dg.asset_check(
    asset=vision_encoder,
    blocking=True,
    description="Held-out metrics are written (metrics.json, MLflow run) and finite.",
)
def vision_encoder_metrics_written(
    context: dg.AssetCheckExecutionContext, mlflow: MLflowResource
) -> dg.AssetCheckResult:
    required = ["type_accuracy", "subtype_accuracy", "field_f1", "train_samples_per_second"]
    return metrics_written_result(metrics_problems(_latest_result(context, VISION_ENCODER), required, mlflow))


@dg.asset_check(
    asset=vision_encoder,
    blocking=False,
    description="Held-out quality vs the targets (type >= 95%, subtype >= 92%, field F1 >= 94% on SAP "
    "documents); the all-sources field F1 and the public datasets' entity F1 are shown beside them.",
)
def vision_encoder_meets_targets(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    metrics = _latest_result(context, VISION_ENCODER).get("metrics") or {}
    missed = {
        k: metrics.get(k, 0.0) for k, target in VISION_ENCODER_TARGETS.items() if metrics.get(k, 0.0) < target
    }
    return dg.AssetCheckResult(
        passed=not missed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **{k: float(metrics.get(k, 0.0)) for k in VISION_ENCODER_TARGETS},
            **{
                k: float(metrics[k])
                for k in ("field_f1_all", "public_entity_f1")
                if isinstance(metrics.get(k), int | float) and math.isfinite(metrics[k])
            },
            "missed": dg.MetadataValue.json(missed),
        },
    )


defs = dg.Definitions(
    assets=[vision_encoder],
    asset_checks=[
        *loss_and_weight_checks(vision_encoder, VISION_ENCODER),
        vision_encoder_adapter_predicts,
        vision_encoder_metrics_written,
        vision_encoder_meets_targets,
    ],
)
