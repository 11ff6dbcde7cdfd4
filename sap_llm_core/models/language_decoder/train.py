"""Trainer entry point for ``language_decoder`` (``python -m sap_llm_core.training language_decoder``).

Fine-tunes a LoRA adapter over ``base_language_model`` and evaluates it on the held-out test split,
unconstrained and constrained, so the metrics the run reports are the measured held-out figures.

Config keys: ``storage_root``, ``base_model_dir`` (default ``<root>/base_language_model``; a hub name
is never downloaded), ``output_dir`` (default ``<root>/language_decoder``), ``hyperparameters`` (see
:class:`DecoderHyperparameters`), ``train_limit``, ``eval_documents`` (test documents scored, default
40), ``eval_batch_size`` (free decoding), ``max_new_tokens`` (free decoding's budget; 0: each document's
own length. Constrained decoding needs none: its length is the document's), ``prior_weight`` (weight
of the label prior fused at tag decisions, see ``label_prior``; 0 leaves the model alone).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from sap_llm_core.models.base_lm.formatting import ExtractionSchema
from sap_llm_core.models.base_lm.pretrain import SCHEMA_FILE
from sap_llm_core.models.language_decoder.extract import evaluate, load_extractor, require_model_dir
from sap_llm_core.models.language_decoder.label_prior import LabelPrior
from sap_llm_core.models.language_decoder.sft import CHECKPOINTS, DecoderHyperparameters, finetune
from sap_llm_core.models.lm_data import data_version, extraction_records
from sap_llm_core.models.lm_report import loss_plot, windowed_history, write_metrics
from sap_llm_core.models.lm_runtime import quiet_progress_bars
from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore

MODEL = "language_decoder"
BASE = "base_language_model"
EVAL_FILE = "evaluation.json"


def resolve_base_dir(config: dict[str, Any], store: ArtifactStore) -> Path:
    """The local base-model folder; a missing one (or a hub name) fails naming the path looked in."""
    base = config.get("base_model_dir") or store.url(BASE)
    return require_model_dir(base, "base_language_model")


def evaluate_adapter(
    base_dir: str | Path,
    adapter_dir: str | Path,
    records: list,
    batch_size: int = 8,
    max_new_tokens: int = 0,
) -> dict[str, Any]:
    """Held-out metrics for both decoding modes plus a few raw outputs for the report."""
    quiet_progress_bars()
    extractor = load_extractor(base_dir, adapter_dir)
    extractor.max_new_tokens = max_new_tokens or None
    prior = extractor.prior
    metrics: dict[str, float] = {}
    examples: dict[str, list] = {}
    # free decoding, the model alone under the constraint, and the decoder as shipped (model + prior)
    for constrained, use_prior, prefix in (
        (False, False, "unconstrained"),
        (True, False, "constrained_lm_only"),
        (True, True, "constrained"),
    ):
        extractor.prior = prior if use_prior else None
        ev = evaluate(extractor, records, constrained=constrained, batch_size=batch_size)
        metrics.update(ev.metrics(prefix))
        examples[prefix] = ev.examples
    extractor.prior = prior
    return {"metrics": metrics, "examples": examples}


def train(config: dict[str, Any], reporter: Any) -> dict[str, Any]:
    """LoRA SFT on the train split, then held-out evaluation on the test split."""
    store = ArtifactStore(config.get("storage_root") or get_settings().storage.resolved_root())
    base_dir = resolve_base_dir(config, store)
    output_dir = Path(config.get("output_dir") or store.url(MODEL))
    hp = DecoderHyperparameters.from_dict(dict(config.get("hyperparameters") or {}))
    train_records = extraction_records(store, "train", config.get("train_limit"))
    test_records = extraction_records(store, "test", int(config.get("eval_documents", 40)))
    versions = {"corpus_splits": data_version(store), "base_language_model": str(base_dir)}
    if hasattr(reporter, "log_dataset_versions"):
        reporter.log_dataset_versions(versions)
    reporter.log_params({"model": MODEL, "train_documents": len(train_records), **vars(hp)})

    if config.get("resume", True) is False:
        shutil.rmtree(output_dir / CHECKPOINTS, ignore_errors=True)
    result = finetune(train_records, base_dir, hp, output_dir, log_metric=reporter.log_metric)
    schema = ExtractionSchema.from_json(json.loads((base_dir / SCHEMA_FILE).read_text()))
    LabelPrior.fit(train_records, schema, weight=float(config.get("prior_weight", 2.0))).save(output_dir)
    evaluation = evaluate_adapter(
        base_dir,
        output_dir,
        test_records,
        int(config.get("eval_batch_size", 8)),
        int(config.get("max_new_tokens", 0)),
    )
    for name, value in evaluation["metrics"].items():
        reporter.log_metric(name, value, result["steps"])
    (output_dir / EVAL_FILE).write_text(json.dumps(evaluation, indent=2, ensure_ascii=False))
    history = result["history"]
    metrics = {
        **evaluation["metrics"],
        "initial_train_loss": history[0]["loss"] if history else math.nan,
        "final_train_loss": history[-1]["loss"] if history else math.nan,
        "steps": float(result["steps"]),
        "train_seconds": result["train_seconds"],
        "train_samples_per_second": result["samples_per_second"],
        "train_documents": float(result["samples"]),
        "trainable_parameters": float(result["trainable_parameters"]),
    }
    write_metrics(output_dir, metrics)
    loss_plot(history, f"{MODEL} training loss", output_dir)
    return {
        "metrics": metrics,
        "checkpoint_dir": str(output_dir),
        "output_dir": str(output_dir),
        "base_model": str(base_dir),
        "resumed_from": result["resumed_from"],
        "loss_history": windowed_history(history),
        "data_versions": versions,
        "data_version": versions["corpus_splits"],
    }
