"""Group ``models``: the causal LM pre-trained on the corpus and its LoRA extraction adapter.

Thin adapters over ``sap_llm_core.models.base_lm`` / ``language_decoder``: each runs
``python -m sap_llm_core.training <model>`` through the training launcher (local subprocess or
Kubernetes GPU pod, both over Dagster Pipes), registers the MLflow run's checkpoint as a model version
tagged with the Dagster run, asset and data versions, and shows metrics and the loss curve. Checks load
the saved weights themselves.
"""

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.launchers import K8sPodConfig, TrainingLauncherResource
from orchestration.resources import MLflowResource, StorageResource
from sap_llm_core.models.lm_report import (
    METRICS_FILE,
    loss_decreased,
    loss_plot,
    metrics_markdown,
    nonfinite_tensors,
)
from sap_llm_core.settings import get_settings
from sap_llm_core.training.data import SPLITS_ASSET

BASE = "base_language_model"
DECODER = "language_decoder"
CODE_VERSION = "1"
REGISTERED_PREFIX = "sap_llm"
SPLITS_DEPS = [dg.AssetKey(SPLITS_ASSET)]


def _defaults(name: str) -> dict[str, Any]:
    """params.yaml ``models.<name>`` through the settings (environment overrides apply)."""
    section = getattr(get_settings().models, name, None) or {}
    return dict(section if isinstance(section, dict) else section.model_dump())


_BASE_DEFAULTS = _defaults(BASE)
_DECODER_DEFAULTS = _defaults(DECODER)


class BaseLanguageModelConfig(dg.Config):
    """Size and schedule of the embedded base LM; defaults from params.yaml ``models.base_language_model``."""

    base_model: str = _BASE_DEFAULTS.get("base_model", "embedded")
    base_models_dir: str = _BASE_DEFAULTS.get("base_models_dir", "models/base")
    vocab_size: int = _BASE_DEFAULTS.get("vocab_size", 2048)
    hidden_size: int = _BASE_DEFAULTS.get("hidden_size", 128)
    num_layers: int = _BASE_DEFAULTS.get("num_layers", 3)
    num_heads: int = _BASE_DEFAULTS.get("num_heads", 4)
    intermediate_size: int = _BASE_DEFAULTS.get("intermediate_size", 384)
    max_length: int = _BASE_DEFAULTS.get("max_length", 1024)
    batch_tokens: int = _BASE_DEFAULTS.get("batch_tokens", 2048)
    learning_rate: float = _BASE_DEFAULTS.get("learning_rate", 3e-3)
    weight_decay: float = _BASE_DEFAULTS.get("weight_decay", 0.01)
    warmup_steps: int = _BASE_DEFAULTS.get("warmup_steps", 20)
    max_steps: int = _BASE_DEFAULTS.get("max_steps", 3000)
    max_train_seconds: float = _BASE_DEFAULTS.get("max_train_seconds", 300.0)
    save_steps: int = _BASE_DEFAULTS.get("save_steps", 50)
    logging_steps: int = _BASE_DEFAULTS.get("logging_steps", 10)
    seed: int = _BASE_DEFAULTS.get("seed", 42)
    bf16: bool = _BASE_DEFAULTS.get("bf16", False)
    num_threads: int = _BASE_DEFAULTS.get("num_threads", 0)
    max_train_documents: int = _BASE_DEFAULTS.get("max_train_documents", 0)
    pod: K8sPodConfig = K8sPodConfig()

    def trainer_config(self, storage_root: str, output_dir: str) -> dict[str, Any]:
        hp_names = {
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "max_length",
            "batch_tokens",
            "learning_rate",
            "weight_decay",
            "warmup_steps",
            "max_steps",
            "max_train_seconds",
            "save_steps",
            "logging_steps",
            "seed",
            "bf16",
            "num_threads",
        }
        return {
            "storage_root": storage_root,
            "output_dir": output_dir,
            "base_model": self.base_model,
            "base_models_dir": self.base_models_dir,
            "train_limit": self.max_train_documents or None,
            "hyperparameters": self.model_dump(include=hp_names),
        }


class LanguageDecoderConfig(dg.Config):
    """LoRA/SFT settings; defaults from params.yaml ``models.language_decoder``."""

    lora_r: int = _DECODER_DEFAULTS.get("lora_r", 16)
    lora_alpha: int = _DECODER_DEFAULTS.get("lora_alpha", 32)
    lora_dropout: float = _DECODER_DEFAULTS.get("lora_dropout", 0.0)
    lora_target_modules: list[str] = list(
        _DECODER_DEFAULTS.get("lora_target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"])
    )
    learning_rate: float = _DECODER_DEFAULTS.get("learning_rate", 2e-3)
    warmup_steps: int = _DECODER_DEFAULTS.get("warmup_steps", 5)
    batch_size: int = _DECODER_DEFAULTS.get("batch_size", 4)
    max_steps: int = _DECODER_DEFAULTS.get("max_steps", 300)
    max_train_seconds: float = _DECODER_DEFAULTS.get("max_train_seconds", 120.0)
    max_length: int = _DECODER_DEFAULTS.get("max_length", 1024)
    save_steps: int = _DECODER_DEFAULTS.get("save_steps", 25)
    logging_steps: int = _DECODER_DEFAULTS.get("logging_steps", 5)
    seed: int = _DECODER_DEFAULTS.get("seed", 42)
    bf16: bool = _DECODER_DEFAULTS.get("bf16", False)
    num_threads: int = _DECODER_DEFAULTS.get("num_threads", 0)
    max_train_documents: int = _DECODER_DEFAULTS.get("max_train_documents", 0)
    eval_documents: int = _DECODER_DEFAULTS.get("eval_documents", 40)
    max_new_tokens: int = _DECODER_DEFAULTS.get("max_new_tokens", 768)
    pod: K8sPodConfig = K8sPodConfig()

    def trainer_config(self, storage_root: str, output_dir: str, base_dir: str) -> dict[str, Any]:
        hp = self.model_dump(
            exclude={"max_train_documents", "eval_documents", "max_new_tokens", "lora_target_modules", "pod"}
        )
        hp["target_modules"] = list(self.lora_target_modules)
        return {
            "storage_root": storage_root,
            "output_dir": output_dir,
            "base_model_dir": base_dir,
            "train_limit": self.max_train_documents or None,
            "eval_documents": self.eval_documents,
            "max_new_tokens": self.max_new_tokens,
            "hyperparameters": hp,
        }


def _train(
    context: dg.AssetExecutionContext,
    model: str,
    train_config: dict[str, Any],
    pod: K8sPodConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    launcher: TrainingLauncherResource,
    description: str,
    headline: list[str],
) -> dg.MaterializeResult:
    """Launch the trainer, register the MLflow model version, build the materialisation."""
    store = storage.store()
    splits_version = str(store.read_manifest(SPLITS_ASSET).get("data_version", ""))
    run = launcher.launch(
        context,
        model,
        train_config,
        env=mlflow.training_env(model),
        pod=pod,
        extras={"asset_key": model, "code_version": CODE_VERSION},
    )
    result = run.result
    metrics = result["metrics"]
    registered = None
    if result.get("mlflow_run_id"):
        registered = mlflow.register_model_version(
            f"{REGISTERED_PREFIX}.{model}",
            result["mlflow_run_id"],
            tags={
                "dagster.run_id": context.run_id,
                "dagster.asset_key": model,
                "code_version": CODE_VERSION,
                "data_version.corpus_splits": splits_version,
                **{f"metric.{k}": f"{metrics[k]:.4f}" for k in headline if isinstance(metrics.get(k), float)},
            },
            description=description,
        )
    _, loss_md = loss_plot(result.get("loss_history") or [], f"{model} training loss", None)
    metadata: dict[str, Any] = {
        "checkpoint_dir": dg.MetadataValue.path(str(result["checkpoint_dir"])),
        "metrics": dg.MetadataValue.md(metrics_markdown(metrics)),
        "loss_curve": dg.MetadataValue.md(loss_md),
        "data_versions": dg.MetadataValue.json(result.get("data_versions") or {}),
        "data_version.corpus_splits": splits_version,
    }
    for name in headline:
        value = metrics.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            metadata[name] = float(value)
    if registered is not None:
        metadata["mlflow_run_id"] = result["mlflow_run_id"]
        metadata["registered_model"] = registered.name
        metadata["registered_version"] = int(registered.version)
    version = hashlib.sha256(
        json.dumps(
            {"code": CODE_VERSION, "data": splits_version, "config": train_config}, sort_keys=True
        ).encode()
    ).hexdigest()
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


@dg.asset(
    group_name="models",
    code_version=CODE_VERSION,
    kinds={"pytorch", "mlflow"},
    tags={"sap_llm/layer": "model"},
    deps=SPLITS_DEPS,
    description="Small Llama-architecture causal LM with a BPE tokenizer trained on the corpus, "
    "pre-trained on the train split's documents followed by their ADC JSON (domain pre-training).",
)
def base_language_model(
    context: dg.AssetExecutionContext,
    config: BaseLanguageModelConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    training_launcher: TrainingLauncherResource,
) -> dg.MaterializeResult:
    store = storage.store()
    return _train(
        context,
        BASE,
        config.trainer_config(store.root, store.url(BASE)),
        config.pod,
        storage,
        mlflow,
        training_launcher,
        "base_language_model: small Llama + corpus BPE tokenizer, domain pre-trained",
        ["final_train_loss", "val_loss", "val_perplexity", "steps", "train_seconds"],
    )


@dg.asset(
    group_name="models",
    code_version=CODE_VERSION,
    kinds={"pytorch", "mlflow"},
    tags={"sap_llm/layer": "model"},
    deps=[base_language_model, *SPLITS_DEPS],
    description="LoRA adapter (TRL SFTTrainer) over base_language_model: OCR text -> ADC JSON, decoded "
    "with a schema- and copy-constrained LogitsProcessor; held-out metrics free vs constrained.",
)
def language_decoder(
    context: dg.AssetExecutionContext,
    config: LanguageDecoderConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    training_launcher: TrainingLauncherResource,
) -> dg.MaterializeResult:
    store = storage.store()
    headline = [
        f"{mode}/{m}"
        for mode in ("constrained", "unconstrained")
        for m in ("schema_compliance", "field_f1", "hallucination_rate", "latency_p50_s")
    ]
    return _train(
        context,
        DECODER,
        config.trainer_config(store.root, store.url(DECODER), store.url(BASE)),
        config.pod,
        storage,
        mlflow,
        training_launcher,
        "language_decoder: LoRA adapter, OCR text -> ADC JSON (constrained decoding)",
        [*headline, "train_seconds", "steps"],
    )


# checks ------------------------------------------------------------------------------------------
def _model_dir(storage: StorageResource, name: str) -> Path:
    return Path(storage.store().url(name))


def _loss_check(folder: Path) -> dg.AssetCheckResult:
    history_file = folder / "loss_history.json"
    if not history_file.exists():
        return dg.AssetCheckResult(passed=False, description=f"{history_file} is missing")
    ok, first, last = loss_decreased(json.loads(history_file.read_text()))
    return dg.AssetCheckResult(
        passed=ok,
        description="mean loss of the last quarter of logged steps is below the first quarter's",
        metadata={"first_quarter_loss": first, "last_quarter_loss": last},
    )


def _finite_check(weights: Path) -> dg.AssetCheckResult:
    if not weights.exists():
        return dg.AssetCheckResult(passed=False, description=f"{weights} is missing")
    bad = nonfinite_tensors(weights)
    return dg.AssetCheckResult(
        passed=not bad, description=f"{len(bad)} tensor(s) with NaN/inf", metadata={"tensors": bad[:20]}
    )


def _metrics_check(folder: Path, required: list[str]) -> dg.AssetCheckResult:
    path = folder / METRICS_FILE
    if not path.exists():
        return dg.AssetCheckResult(passed=False, description=f"{path} is missing")
    metrics = json.loads(path.read_text())
    missing = [m for m in required if not isinstance(metrics.get(m), int | float)]
    nonfinite = [m for m in required if m not in missing and not math.isfinite(metrics[m])]
    return dg.AssetCheckResult(
        passed=not missing and not nonfinite,
        description="required metrics present and finite",
        metadata={"missing": missing, "nonfinite": nonfinite},
    )


@dg.asset_check(asset=base_language_model, blocking=True, description="Training loss decreased.")
def base_lm_loss_decreased(storage: StorageResource) -> dg.AssetCheckResult:
    return _loss_check(_model_dir(storage, BASE))


@dg.asset_check(asset=base_language_model, blocking=True, description="No NaN/inf in the saved weights.")
def base_lm_weights_finite(storage: StorageResource) -> dg.AssetCheckResult:
    return _finite_check(_model_dir(storage, BASE) / "model.safetensors")


@dg.asset_check(asset=base_language_model, blocking=True, description="metrics.json written, finite.")
def base_lm_metrics_written(storage: StorageResource) -> dg.AssetCheckResult:
    return _metrics_check(_model_dir(storage, BASE), ["final_train_loss", "val_loss", "steps"])


@dg.asset_check(asset=language_decoder, blocking=True, description="Fine-tuning loss decreased.")
def decoder_loss_decreased(storage: StorageResource) -> dg.AssetCheckResult:
    return _loss_check(_model_dir(storage, DECODER))


@dg.asset_check(asset=language_decoder, blocking=True, description="No NaN/inf in the adapter weights.")
def decoder_adapter_weights_finite(storage: StorageResource) -> dg.AssetCheckResult:
    return _finite_check(_model_dir(storage, DECODER) / "adapter_model.safetensors")


@dg.asset_check(
    asset=language_decoder,
    blocking=True,
    description="Base + adapter load and, on a held-out test batch, constrained decoding yields "
    "schema-valid JSON with no value outside the document's words.",
)
def decoder_generates_valid_json(storage: StorageResource) -> dg.AssetCheckResult:
    from sap_llm_core.models.language_decoder.extract import Extractor, evaluate, load_model
    from sap_llm_core.models.lm_data import extraction_records

    store = storage.store()
    model, tokenizer, schema = load_model(store.url(BASE), store.url(DECODER))
    records = extraction_records(store, "test", 2)
    metrics = evaluate(Extractor(model, tokenizer, schema), records, constrained=True).metrics("batch")
    passed = metrics["batch/schema_compliance"] == 1.0 and metrics["batch/hallucination_rate"] == 0.0
    return dg.AssetCheckResult(passed=passed, metadata={k: float(v) for k, v in metrics.items()})


@dg.asset_check(asset=language_decoder, blocking=True, description="Held-out metrics written, finite.")
def decoder_metrics_written(storage: StorageResource) -> dg.AssetCheckResult:
    return _metrics_check(
        _model_dir(storage, DECODER),
        [
            "constrained/schema_compliance",
            "constrained/field_f1",
            "constrained/hallucination_rate",
            "unconstrained/field_f1",
            "final_train_loss",
        ],
    )


defs = dg.Definitions(
    assets=[base_language_model, language_decoder],
    asset_checks=[
        base_lm_loss_decreased,
        base_lm_weights_finite,
        base_lm_metrics_written,
        decoder_loss_decreased,
        decoder_adapter_weights_finite,
        decoder_generates_valid_json,
        decoder_metrics_written,
    ],
)
