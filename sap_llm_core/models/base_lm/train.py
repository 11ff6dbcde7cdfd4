"""Trainer entry point for ``base_language_model`` (``python -m sap_llm_core.training base_language_model``).

Config keys: ``storage_root`` (artifact store; default from settings), ``output_dir`` (default
``<root>/base_language_model``), ``hyperparameters`` (see :class:`BaseLMHyperparameters`),
``train_limit`` / ``val_limit`` (documents, for quick runs and tests), ``base_model`` ("embedded" or a
model folder name under ``base_models_dir``).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import torch

from sap_llm_core.models.base_lm.formatting import ExtractionSchema, pretraining_text
from sap_llm_core.models.base_lm.pretrain import STATE_DIR, BaseLMHyperparameters, pretrain
from sap_llm_core.models.lm_data import data_version, extraction_records
from sap_llm_core.models.lm_report import loss_plot, windowed_history, write_metrics
from sap_llm_core.models.lm_runtime import quiet_progress_bars
from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore

MODEL = "base_language_model"


def validation_loss(model_dir: str | Path, records: list, batch_size: int = 4) -> float:
    """Mean token loss of the saved model on held-out documents (same text format as training)."""
    import json

    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from sap_llm_core.models.base_lm.pretrain import SCHEMA_FILE

    quiet_progress_bars()
    folder = Path(model_dir)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    schema = ExtractionSchema.from_json(json.loads((folder / SCHEMA_FILE).read_text()))
    total, count = 0.0, 0
    max_len = model.config.max_position_embeddings
    with torch.inference_mode():
        for start in range(0, len(records), batch_size):
            texts = [
                pretraining_text(r, schema) + tokenizer.eos_token for r in records[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_len)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            n = int((labels[:, 1:] != -100).sum())
            total += float(model(**batch, labels=labels).loss) * n
            count += n
    return total / max(count, 1)


def resolve_init_model(config: dict[str, Any]) -> Path | None:
    """None for the embedded model; otherwise the local folder of the named model, which must exist.

    A hub name such as ``Qwen/Qwen2.5-7B-Instruct`` is looked up under ``base_models_dir`` (relative
    to the project root) and never downloaded; a missing folder fails naming the path looked in.
    """
    name = config.get("base_model") or "embedded"
    if name == "embedded":
        return None
    from sap_llm_core.models.language_decoder.extract import require_model_dir
    from sap_llm_core.settings import PROJECT_ROOT

    root = Path(config.get("base_models_dir") or "models/base")
    root = root if root.is_absolute() else PROJECT_ROOT / root
    return require_model_dir(root / name, f"base model {name!r}")


def train(config: dict[str, Any], reporter: Any) -> dict[str, Any]:
    """Pre-train the base LM on the train split; report loss, val loss and the checkpoint folder."""
    store = ArtifactStore(config.get("storage_root") or get_settings().storage.resolved_root())
    output_dir = Path(config.get("output_dir") or store.url(MODEL))
    hp = BaseLMHyperparameters.from_dict(dict(config.get("hyperparameters") or {}))
    init_from = resolve_init_model(config)
    train_records = extraction_records(store, "train", config.get("train_limit"))
    val_records = extraction_records(store, "val", config.get("val_limit", 64))
    versions = {"corpus_splits": data_version(store)}
    if hasattr(reporter, "log_dataset_versions"):
        reporter.log_dataset_versions(versions)
    reporter.log_params({"model": MODEL, "train_documents": len(train_records), **vars(hp)})

    if config.get("resume", True) is False:
        shutil.rmtree(output_dir / STATE_DIR, ignore_errors=True)
    result = pretrain(train_records, hp, output_dir, log_metric=reporter.log_metric, init_from=init_from)
    history = result["history"]
    val_loss = validation_loss(output_dir, val_records)
    reporter.log_metric("base_lm/val_loss", val_loss, result["steps"])
    metrics = {
        "initial_train_loss": history[0]["loss"] if history else math.nan,
        "final_train_loss": history[-1]["loss"] if history else math.nan,
        "val_loss": val_loss,
        "val_perplexity": math.exp(min(val_loss, 50.0)),
        "steps": float(result["steps"]),
        "train_seconds": result["train_seconds"],
        "train_tokens_per_second": result["tokens_per_second"],
        "train_samples_per_second": result["samples_per_second"],
        "train_documents": float(result["samples"]),
        "truncated_documents": float(result["truncated_samples"]),
        "parameters": float(result["parameters"]),
        "vocab_size": float(result["vocab_size"]),
        "resumed_from_step": float(result["resumed_from_step"]),
    }
    write_metrics(output_dir, metrics)
    loss_plot(history, f"{MODEL} training loss", output_dir)
    return {
        "metrics": metrics,
        "checkpoint_dir": str(output_dir),
        "output_dir": str(output_dir),
        "base_model": str(init_from or "embedded"),
        "loss_history": windowed_history(history),
        "data_versions": versions,
        "data_version": versions["corpus_splits"],
    }
