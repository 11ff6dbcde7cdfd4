"""Training of the vision encoder: the trainer behind ``python -m sap_llm_core.training vision_encoder``.

A plain accelerate loop rather than ``transformers.Trainer``: three heads, a custom loss and a
checkpoint layout (adapter separate from the base) that a ``Trainer`` subclass would fight. The same
code runs on 2 CPU cores (defaults) and on GPUs (bf16/fp16, device map, gradient checkpointing; several
GPUs when started under ``torchrun``, which accelerate picks up).

Checkpoints are ``save_pretrained`` folders under ``<output_dir>/checkpoints/step-N`` every
``save_steps``, with the optimiser, scheduler and RNG state beside them; a ``COMPLETE`` marker is
written last, so a run killed mid-save resumes from the previous one. A restarted run with the same
hyperparameters and data resumes from the last complete checkpoint and skips the batches it has done.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sap_llm_core.models.vision_encoder import model as vem
from sap_llm_core.models.vision_encoder.features import LabelSpace, TokenizerAdapter, collate, encode
from sap_llm_core.models.vision_encoder.predict import evaluate
from sap_llm_core.settings import VisionEncoderSettings, get_settings
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import TrainingDataError, data_version, load_split, seeded_sample
from sap_llm_core.training.reporter import RESULT_FILE

MODEL = "vision_encoder"
COMPLETE = "COMPLETE"
STATE_FILE = "trainer_state.pt"
KEEP_CHECKPOINTS = 2


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def hyperparameters(config: dict[str, Any]) -> VisionEncoderSettings:
    """params.yaml defaults overridden by the config's ``hyperparameters``; unknown keys fail."""
    defaults = get_settings().models.vision_encoder.model_dump()
    extra = set(config.get("hyperparameters", {})) - set(defaults)
    if extra:
        raise ValueError(f"unknown vision_encoder hyperparameters: {sorted(extra)}")
    return VisionEncoderSettings(**{**defaults, **config.get("hyperparameters", {})})


def _batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled, length-bucketed batches: similar lengths together (little padding), random order."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 32
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _latest_checkpoint(directory: Path, fingerprint: str) -> Path | None:
    if not directory.is_dir():
        return None
    complete = sorted(p for p in directory.glob("step-*") if (p / COMPLETE).is_file())
    for candidate in reversed(complete):
        if json.loads((candidate / COMPLETE).read_text()).get("fingerprint") == fingerprint:
            return candidate
    return None


def _save_checkpoint(
    directory: Path, step: int, model, tokenizer, optimizer, scheduler, meta, history, fingerprint
) -> Path:
    target = directory / f"step-{step:07d}"
    if target.exists():
        shutil.rmtree(target)
    vem.save(model, tokenizer, target, meta)
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        },
        target / STATE_FILE,
    )
    (target / COMPLETE).write_text(json.dumps({"step": step, "fingerprint": fingerprint}))
    for old in sorted(p for p in directory.glob("step-*") if p != target)[: -KEEP_CHECKPOINTS + 1]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _restore(checkpoint: Path, model, optimizer, scheduler) -> tuple[int, list]:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(
        model.backbone, load_file(checkpoint / vem.ADAPTER_DIR / "adapter_model.safetensors")
    )
    model.load_state_dict(load_file(checkpoint / vem.HEADS_FILE), strict=False)
    state = torch.load(checkpoint / STATE_FILE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    return int(state["step"]), list(state["history"])


@torch.no_grad()
def _mean_loss(model: torch.nn.Module, items: list[dict[str, Any]], pad_id: int, accelerator: Any) -> float:
    """Mean training loss over ``items`` in eval mode (no dropout), one batch of 8 at a time."""
    model.eval()
    losses = []
    for start in range(0, len(items), 8):
        batch = {k: v.to(accelerator.device) for k, v in collate(items[start : start + 8], pad_id).items()}
        losses.append(float(vem.loss_fn(model(**batch), batch)))
    return sum(losses) / len(losses)


def nonfinite_parameters(model: torch.nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]


def train(config: dict[str, Any], reporter: Any) -> dict[str, Any]:
    """Train, checkpoint, evaluate on the held-out test split; the result goes back to the launcher."""
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    hp = hyperparameters(config)
    set_seed(hp.seed)
    store = ArtifactStore(config.get("storage_root") or get_settings().storage.resolved_root())
    output_dir = Path(config.get("output_dir") or store.url(MODEL))
    if hp.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(hp.num_threads or max(1, os.cpu_count() or 1))

    # Data first: a schema violation or an empty split fails before any model is loaded.
    # A feedback retrain learns from the corrected documents + replay sample, starting from the
    # parent checkpoint (the champion), and is tested on the same held-out split as its parent.
    feedback: dict[str, Any] = {}
    if config.get("training_data", "splits") == "feedback":
        from sap_llm_core.continuous_learning.pipeline import load_feedback_records

        train_records, manifest = load_feedback_records(store)
        if not train_records:
            raise TrainingDataError("the feedback training set is empty: nothing to retrain on")
        feedback = {k: manifest[k] for k in ("snapshot_root", "correction_ids", "data_version")}
        feedback["corrected_documents"] = manifest["corrected_documents"]
    else:
        train_records = seeded_sample(load_split(store, "train"), hp.max_train_documents, hp.seed)
    test_records = seeded_sample(load_split(store, "test"), hp.max_eval_documents, hp.seed)
    versions = {"corpus_splits": data_version(store)}
    if feedback:
        versions["feedback_training_set"] = feedback["data_version"]
    reporter.log_dataset_versions(versions)

    from sap_llm_core.synthetic.catalog import DocumentType

    init_from = config.get("init_from") or None
    if init_from:
        parent, _, _ = vem.load(init_from)
        labels = parent.labels  # the heads keep their shape: same label space as the parent
        del parent
    else:
        labels = LabelSpace.from_records(train_records, known_types=[t.value for t in DocumentType])
    base_path = vem.resolve_base_model(hp.base_model, hp.base_models_dir)
    mixed = "bf16" if hp.bf16 else "fp16" if hp.fp16 else "no"
    accelerator = Accelerator(
        cpu=hp.device == "cpu", mixed_precision=mixed if torch.cuda.is_available() else "no"
    )
    device_map = None if hp.device in ("auto", "cpu", "cuda") else hp.device
    if init_from:
        model, tokenizer, _ = vem.load(init_from, trainable=True)
    else:
        model, tokenizer = vem.build(
            base_path,
            labels,
            hp.lora_r,
            hp.lora_alpha,
            hp.lora_dropout,
            hp.lora_target_modules,
            gradient_checkpointing=hp.gradient_checkpointing,
            device_map=device_map,
            layout_encoding=hp.layout_encoding,
            word_shapes=hp.word_shapes,
        )
    adapter = TokenizerAdapter(tokenizer, hp.max_subtokens_per_word)
    items = [encode(r, adapter, labels, hp.max_length) for r in train_records]
    lengths = [len(i["input_ids"]) for i in items]
    steps_per_epoch = math.ceil(len(items) / hp.batch_size)
    total_steps = max(1, math.ceil(hp.epochs * steps_per_epoch))

    trainable = [p for p in model.parameters() if p.requires_grad]
    # New parameters (layout embeddings, heads) start from zero/random and take a larger step than the
    # LoRA deltas on a pretrained encoder.
    # LoRA deltas and the layout embeddings share a small rate: Adam moves every embedding row by ~lr
    # per step, and at a head's rate the layout vectors outgrow the token embeddings they are added to
    # (the encoder then sees layout only and stops reading the words).
    groups: dict[str, list] = {"lora": [], "layout": [], "heads": []}
    for name, param in model.named_parameters():
        if param.requires_grad:
            key = (
                "lora"
                if name.startswith("backbone.")
                else "layout"
                if name.startswith(("layout.", "shape."))
                else "heads"
            )
            groups[key].append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": groups["lora"], "lr": hp.learning_rate},
            {"params": groups["layout"], "lr": hp.layout_learning_rate},
            {"params": groups["heads"], "lr": hp.head_learning_rate},
        ],
        weight_decay=hp.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    meta = {
        "base_model": hp.base_model,
        "base_models_dir": hp.base_models_dir,
        "max_length": hp.max_length,
        "max_subtokens_per_word": hp.max_subtokens_per_word,
        "data_versions": versions,
    }
    fingerprint = hashlib.sha256(
        json.dumps(
            {"hp": hp.model_dump(), "data": versions, "n": len(items), "init_from": init_from},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    checkpoints = output_dir / "checkpoints"
    start_step, history = 0, []
    resumed_from = _latest_checkpoint(checkpoints, fingerprint) if config.get("resume", True) else None
    if resumed_from is not None:
        start_step, history = _restore(resumed_from, unwrapped, optimizer, scheduler)
        reporter.log_metrics({"resumed_from_step": start_step}, step=start_step)
    elif checkpoints.exists():
        shutil.rmtree(checkpoints)  # checkpoints of other settings or data: not resumable

    reporter.log_params(
        {
            "train_documents": len(items),
            "eval_documents": len(test_records),
            "total_steps": total_steps,
            "base_model_path": str(base_path),
            "num_labels.document_types": len(labels.document_types),
            "num_labels.subtypes": len(labels.subtypes),
            "num_labels.tags": len(labels.tags),
        }
    )
    # A feedback retrain starts from a converged parent on mostly replayed documents, so its training
    # loss barely moves; what must go down is the loss on the corrected documents themselves.
    corrected = items[: feedback.get("corrected_documents", 0)]
    before = _mean_loss(model, corrected, tokenizer.pad_token_id or 0, accelerator) if corrected else None
    model.train()
    step = start_step
    window: list[float] = []
    started = time.perf_counter()
    samples = 0
    pad_id = tokenizer.pad_token_id or 0
    epoch = step // steps_per_epoch
    while step < total_steps:
        batches = _batches(lengths, hp.batch_size, hp.seed + epoch)
        for index, batch_ids in enumerate(batches):
            if epoch * steps_per_epoch + index < step:
                continue  # done before the restart
            if step >= total_steps:
                break
            batch = {
                k: v.to(accelerator.device) for k, v in collate([items[i] for i in batch_ids], pad_id).items()
            }
            with accelerator.autocast():
                loss = vem.loss_fn(model(**batch), batch)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            samples += len(batch_ids)
            window.append(float(loss.detach()))
            if step % hp.logging_steps == 0 or step == total_steps:
                mean = sum(window) / len(window)
                history.append([step, mean])
                window = []
                reporter.log_metrics({"train_loss": mean, "learning_rate": scheduler.get_last_lr()[0]}, step)
            if hp.save_steps and step % hp.save_steps == 0 and accelerator.is_main_process:
                _save_checkpoint(
                    checkpoints, step, unwrapped, tokenizer, optimizer, scheduler, meta, history, fingerprint
                )
        epoch += 1
    training_seconds = time.perf_counter() - started
    if before is not None:
        after = _mean_loss(model, corrected, tokenizer.pad_token_id or 0, accelerator)
        feedback["corrected_loss"] = {"before": before, "after": after}

    final_dir = output_dir / "final"
    if final_dir.exists():
        shutil.rmtree(final_dir)
    vem.save(unwrapped, tokenizer, final_dir, meta)
    bad = nonfinite_parameters(unwrapped)
    metrics = evaluate(
        unwrapped,
        tokenizer,
        test_records,
        max_length=hp.max_length,
        max_subtokens_per_word=hp.max_subtokens_per_word,
    )
    metrics.update(
        {
            "train_samples_per_second": samples / training_seconds if training_seconds else 0.0,
            "training_seconds": training_seconds,
            "train_documents": float(len(items)),
            "global_step": float(step),
            "loss_first": history[0][1] if history else float("nan"),
            "loss_last": history[-1][1] if history else float("nan"),
            "nonfinite_weights": float(len(bad)),
        }
    )
    reporter.log_metrics({f"test_{k}": v for k, v in metrics.items()}, step)
    result = {
        "model": MODEL,
        "metrics": metrics,
        "checkpoint_dir": str(final_dir),
        "output_dir": str(output_dir),
        "base_model": hp.base_model,
        "base_model_path": str(base_path),
        "data_versions": versions,
        "global_step": step,
        "resumed_from_step": start_step,
        # the loss-decreased check reads first and last point: for a feedback retrain, the corrected
        # documents' loss before and after (the curve stays in train_loss_history)
        "loss_history": [[0, before], [step, feedback["corrected_loss"]["after"]]]
        if before is not None
        else history,
        "train_loss_history": history,
        "labels": labels.to_json(),
        "training_data": config.get("training_data", "splits"),
        "init_from": init_from,
        "feedback": feedback,
        "hyperparameters": hp.model_dump(),
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return result
