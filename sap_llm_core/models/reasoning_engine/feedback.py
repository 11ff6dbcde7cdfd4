"""A feedback retrain of the router: a new LoRA adapter continuing from its parent (the champion) on
the routing corrections of the feedback training set plus the replay sample, then re-calibrated on
val and evaluated on the held-out test split exactly as a full training is.

No pre-training and no DPO: the base is the parent's (copied, never changed), and a correction states
the right routing outright, so supervised fine-tuning on it is the direct lesson while the replay
sample keeps the other document types where they were. A correction whose routing is not in the
knowledge base's catalog, or whose document no longer exists, is reported and not trained on."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from sap_llm_core.models.reasoning_engine.examples import (
    RoutingExample,
    adc_header,
    attach_context,
    build_examples,
)
from sap_llm_core.schema import table_to_records
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import SPLITS, SPLITS_ASSET, TrainingDataError, data_version, load_split


def _corrected_examples(
    labels: list[dict[str, Any]], documents: dict, kb: Any
) -> tuple[list[RoutingExample], list[dict[str, str]]]:
    examples, unusable = [], []
    for label in labels:
        record = documents.get(label["document_id"])
        option = next(
            (
                o
                for o in kb.catalog
                if o.endpoint == label.get("endpoint")
                and label.get("entity") in (None, "", o.entity)
                and label.get("method") in (None, "", o.method)
            ),
            None,
        )
        reason = (
            "document not in the corpus"
            if record is None
            else "routing not in the knowledge base's catalog"
            if option is None
            else None
        )
        if reason:
            unusable.append({"correction_id": label["correction_id"], "reason": reason})
            continue
        examples.append(
            RoutingExample(record.id, record.document_type, record.language, adc_header(record), label=option)
        )
    return examples, unusable


def retrain_from_feedback(config: dict[str, Any], reporter: Any) -> dict[str, Any]:
    import numpy as np
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import SFTConfig, SFTTrainer

    from sap_llm_core.continuous_learning.pipeline import TRAINING_SET
    from sap_llm_core.knowledge_base.embeddings import default_embedder
    from sap_llm_core.models.reasoning_engine.model import Router, fit_temperature
    from sap_llm_core.models.reasoning_engine.train import (
        MODEL,
        RESULT_FILE,
        SimilarCases,
        _training_args_common,
        evaluate,
        hyperparameters,
        load_kb,
        load_retriever,
        reliability_png,
    )
    from sap_llm_core.settings import get_settings

    hp = hyperparameters(config)
    torch.manual_seed(hp["seed"])
    store = ArtifactStore(config.get("storage_root") or get_settings().storage.resolved_root())
    output_dir = Path(config.get("output_dir") or store.url(MODEL))
    parent = Path(config["init_from"])
    if not (parent / "adapter").is_dir() or not (parent / "base").is_dir():
        raise FileNotFoundError(f"no router checkpoint (base/ + adapter/) at {parent.resolve()}")
    if not store.exists(TRAINING_SET, "manifest.json"):
        raise TrainingDataError(f"no {TRAINING_SET} at {store.url(TRAINING_SET)}: nothing to retrain on")
    manifest = store.read_manifest(TRAINING_SET)
    versions = {SPLITS_ASSET: data_version(store), TRAINING_SET: manifest["data_version"]}
    reporter.log_dataset_versions(versions)
    reporter.log_params({**hp, "init_from": str(parent)})

    kb, _ = load_kb(store)
    embed = default_embedder().encode
    retriever, candidate_source = load_retriever(store, embed, hp["candidates_k"])
    splits = {split: load_split(store, split) for split in SPLITS}
    documents = {r.id: r for records in splits.values() for r in records}
    corrected, unusable = _corrected_examples(
        store.read_json(TRAINING_SET, "routing_labels.json"), documents, kb
    )
    if not corrected:
        raise TrainingDataError(f"no usable routing correction in {TRAINING_SET}: {unusable}")
    past, _ = build_examples(splits["train"], kb, None)
    similar = SimilarCases(embed, past, hp["similar_cases_k"]) if hp["similar_cases_k"] else None
    attach_context(corrected, retriever, similar)
    replay, _ = build_examples(
        table_to_records(store.read_table(TRAINING_SET, "replay.parquet")), kb, retriever, similar
    )
    train_ex = corrected + replay
    val_ex, _ = build_examples(splits["val"], kb, retriever, similar)
    test_ex, _ = build_examples(splits["test"], kb, retriever, similar)

    tokenizer = PreTrainedTokenizerFast.from_pretrained(parent)
    model = PeftModel.from_pretrained(
        LlamaForCausalLM.from_pretrained(parent / "base"), parent / "adapter", is_trainable=True
    )

    def corrected_loss() -> float:
        """Mean -log p(corrected routing) among the catalog: what the retrain must lower."""
        probs = Router(model.eval(), tokenizer, kb.catalog).probabilities([e.prompt() for e in corrected])
        picks = [kb.catalog.index(e.label) for e in corrected]
        return float(np.mean([-np.log(max(p[i], 1e-12)) for p, i in zip(probs, picks, strict=True)]))

    before = corrected_loss()
    started = time.perf_counter()
    sft = SFTTrainer(
        model=model,
        args=SFTConfig(
            **_training_args_common(hp, output_dir / "feedback_sft", hp["sft_epochs"], hp["learning_rate"]),
            completion_only_loss=True,
        ),
        train_dataset=Dataset.from_list(
            [{"prompt": e.prompt(), "completion": " " + e.label.text()} for e in train_ex]
        ),
        processing_class=tokenizer,
    )
    sft.train()
    training_seconds = time.perf_counter() - started
    history = [[h["step"], h["loss"]] for h in sft.state.log_history if "loss" in h]
    for step, loss in history:
        reporter.log_metrics({"sft_loss": loss}, int(step))
    model = sft.model.eval()
    after = corrected_loss()

    final_dir = output_dir / "final"
    shutil.rmtree(final_dir, ignore_errors=True)
    shutil.copytree(parent / "base", final_dir / "base")  # LoRA only: the parent's base is the base
    model.save_pretrained(final_dir / "adapter")
    router = Router(model, tokenizer, kb.catalog)
    if val_ex:
        logits = router.option_logits([e.prompt() for e in val_ex])
        router.temperature = fit_temperature(
            logits, np.array([router.catalog.index(e.label) for e in val_ex])
        )
    router.save(final_dir)
    shutil.rmtree(output_dir / "feedback_sft", ignore_errors=True)

    evaluation = evaluate(
        router,
        kb,
        test_ex,
        lambda b: attach_context(b, retriever, similar),
        hp["latency_documents"],
        hp["inference_threads"],
    )
    reliability = evaluation.pop("reliability")
    reliability_png(reliability, output_dir / "reliability.png", evaluation["ece"])
    metrics = {
        **evaluation,
        "train_samples_per_second": len(train_ex) * hp["sft_epochs"] / training_seconds,
        "training_seconds": training_seconds,
        "train_documents": float(len(train_ex)),
        "corrected_documents": float(len(corrected)),
        "catalog_size": float(len(kb.catalog)),
        "temperature": router.temperature,
        "loss_first": history[0][1] if history else float("nan"),
        "loss_last": history[-1][1] if history else float("nan"),
    }
    reporter.log_metrics({f"test_{k}": v for k, v in metrics.items()}, 0)
    result = {
        "model": MODEL,
        "metrics": metrics,
        "checkpoint_dir": str(final_dir),
        "output_dir": str(output_dir),
        "base_model": f"parent base ({parent})",
        "data_versions": versions,
        "candidate_source": candidate_source,
        # the loss-decreased check compares first and last point: the corrected routings' loss
        # before and after (a converged parent's SFT loss on mostly replay barely moves)
        "loss_history": [[0, before], [history[-1][0] if history else 0, after]],
        "train_loss_history": history,
        "training_data": "feedback",
        "init_from": str(parent),
        "feedback": {
            "snapshot_root": manifest["snapshot_root"],
            "correction_ids": manifest["correction_ids"],
            "data_version": manifest["data_version"],
            "unusable_routing_corrections": unusable,
            "corrected_loss": {"before": before, "after": after},
        },
        "reliability": reliability,
        "hyperparameters": hp,
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return result
