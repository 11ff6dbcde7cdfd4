"""Domain pre-training of a small Llama-architecture causal LM on the corpus text.

A plain PyTorch loop rather than ``transformers.Trainer`` because the budget is wall-clock time (the
README run must fit on 2 CPU cores): the learning rate follows a cosine over *progress*, the larger of
step/max_steps and elapsed/max_train_seconds, so a slow machine still ends its run annealed instead of
being cut off at a high learning rate. Checkpoints (model, optimizer, step, elapsed time, RNG) are
written every ``save_steps``; a killed run resumes from the last one.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from sap_llm_core.models.base_lm.formatting import ExtractionSchema, pretraining_text
from sap_llm_core.models.base_lm.tagged import tag_tokens
from sap_llm_core.models.base_lm.tokenizer import train_tokenizer
from sap_llm_core.models.lm_runtime import configure_threads
from sap_llm_core.schema import DocumentRecord

SCHEMA_FILE = "extraction_schema.json"
STATE_DIR = "training_state"
LOSS_FILE = "loss_history.json"

MetricHook = Callable[[str, float, int], None]


@dataclass
class BaseLMHyperparameters:
    """Size and schedule of the base model; defaults are params.yaml ``models.base_language_model``."""

    vocab_size: int = 2048
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 192
    max_length: int = 1024
    batch_tokens: int = 2048
    learning_rate: float = 1e-2
    decision_loss_weight: float = 10.0  # see decision_weights
    weight_decay: float = 0.01
    warmup_steps: int = 20
    max_steps: int = 3000
    max_train_seconds: float = 300.0
    save_steps: int = 50
    logging_steps: int = 10
    seed: int = 42
    bf16: bool = False
    num_threads: int = 0  # 0: all cores on a quiet machine, 1 on a busy one (see lm_runtime)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseLMHyperparameters:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown base_language_model hyperparameters {unknown}; known: {sorted(known)}")
        return cls(**data)


def build_model(hp: BaseLMHyperparameters, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised Llama sized by ``hp`` (tied embeddings: the vocabulary is small)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hp.hidden_size,
        intermediate_size=hp.intermediate_size,
        num_hidden_layers=hp.num_layers,
        num_attention_heads=hp.num_heads,
        num_key_value_heads=hp.num_heads,
        max_position_embeddings=max(
            hp.max_length, 2048
        ),  # rope table; generation may run past training length
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(hp.seed)
    return LlamaForCausalLM(config)


def token_batches(sequences: list[list[int]], batch_tokens: int, seed: int) -> list[list[int]]:
    """Index batches of similar length (little padding), each at most ``batch_tokens`` padded tokens."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    batches, current, longest = [], [], 0
    for i in order:
        n = len(sequences[i])
        if current and max(longest, n) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        batches.append(current)
    random.Random(seed).shuffle(batches)
    return batches


def _collate(sequences: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def decision_weights(
    input_ids: torch.Tensor, labels: torch.Tensor, tags: set[int], separators: set[int], weight: float
) -> torch.Tensor:
    """Per-target loss weights: ``weight`` where the target is an extraction decision -- a field tag,
    or the separator that closes a word (its alternative is a tag) -- and 1 elsewhere.

    Most tokens of a document (names, numbers) cannot be predicted and dominate a plain mean loss;
    the decisions the constrained decoder asks of the model are a few percent of the tokens. Weighting
    them is what makes a small model learn extraction within a few hundred CPU steps."""
    targets, previous = labels[:, 1:], input_ids[:, :-1]
    is_tag = torch.isin(targets, torch.tensor(sorted(tags)))
    closes_word = torch.isin(targets, torch.tensor(sorted(separators))) & ~torch.isin(
        previous, torch.tensor(sorted(tags | separators))
    )
    weights = torch.ones_like(targets, dtype=torch.float32)
    weights[is_tag | closes_word] = weight
    return weights * (targets != -100)


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy, weighted per target and normalised by the total weight."""
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="none",
    )
    flat = weights.reshape(-1)
    return (losses * flat).sum() / flat.sum().clamp(min=1.0)


def _lr(hp: BaseLMHyperparameters, step: int, progress: float) -> float:
    if step < hp.warmup_steps:
        return hp.learning_rate * (step + 1) / hp.warmup_steps
    return hp.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def pretrain(
    records: list[DocumentRecord],
    hp: BaseLMHyperparameters,
    output_dir: str | Path,
    log_metric: MetricHook | None = None,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train tokenizer + model on ``records`` and save both to ``output_dir``; resumable.

    ``init_from``: a local model folder (e.g. the production base) to continue pre-training instead of
    building the embedded model; its own tokenizer is kept.

    Returns the loss history and timing. ``output_dir/training_state`` holds the resumable checkpoint
    and is removed once the final model is saved.
    """
    threads = configure_threads(hp.num_threads)
    out = Path(output_dir)
    state_dir = out / STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    resume = (state_dir / "state.pt").exists()

    if resume:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(state_dir)
        schema = ExtractionSchema.from_json(json.loads((state_dir / SCHEMA_FILE).read_text()))
    else:
        schema = ExtractionSchema.from_records(records)
    texts = [pretraining_text(r, schema) for r in records]
    if not resume:
        tags = tag_tokens(schema.types)
        if init_from is not None:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(init_from)
            tokenizer.add_special_tokens({"additional_special_tokens": tags})
        else:
            tokenizer = train_tokenizer(texts, hp.vocab_size, tags)
        tokenizer.save_pretrained(state_dir)
        (state_dir / SCHEMA_FILE).write_text(json.dumps(schema.to_json(), indent=2))

    eos = tokenizer.eos_token_id
    tag_ids = set(tokenizer.convert_tokens_to_ids(tag_tokens(schema.types)))
    separator_ids = {eos, *tokenizer(" \n", add_special_tokens=False)["input_ids"]}
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    sequences = [(ids + [eos])[: hp.max_length] for ids in encoded]
    truncated = sum(len(ids) + 1 > hp.max_length for ids in encoded)

    if init_from is not None:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(init_from, local_files_only=True)
        model.resize_token_embeddings(len(tokenizer))  # the field tags are new tokens
    else:
        model = build_model(hp, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    step, elapsed_before, history = 0, 0.0, []
    if resume:
        state = torch.load(state_dir / "state.pt", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before, history = state["step"], state["elapsed"], state["history"]
        torch.set_rng_state(state["torch_rng"])
    else:
        torch.manual_seed(hp.seed)
    resumed_from = step

    epoch = step // max(len(token_batches(sequences, hp.batch_tokens, hp.seed)), 1)
    started = time.monotonic()
    tokens_seen = samples_seen = 0
    model.train()

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def save_state() -> None:
        tmp = state_dir / "state.pt.tmp"
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "elapsed": elapsed(),
                "history": history,
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        tmp.replace(state_dir / "state.pt")

    done = False
    running, running_n = 0.0, 0
    while not done:
        batches = token_batches(sequences, hp.batch_tokens, hp.seed + epoch)
        skip = step % len(batches) if resume and epoch == step // len(batches) else 0
        for batch_idx in batches[skip:]:
            progress = max(step / hp.max_steps, elapsed() / hp.max_train_seconds)
            if progress >= 1.0:
                done = True
                break
            for group in optimizer.param_groups:
                group["lr"] = _lr(hp, step, progress)
            batch = _collate([sequences[i] for i in batch_idx], tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=hp.bf16):
                labels = batch.pop("labels")
                logits = model(**batch).logits
                loss = weighted_loss(
                    logits,
                    labels,
                    decision_weights(
                        batch["input_ids"], labels, tag_ids, separator_ids, hp.decision_loss_weight
                    ),
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_seen += int(batch["attention_mask"].sum())
            samples_seen += len(batch_idx)
            running += float(loss.detach())
            running_n += 1
            if step % hp.logging_steps == 0:
                history.append({"step": step, "loss": running / running_n, "elapsed_s": round(elapsed(), 2)})
                if log_metric:
                    log_metric("base_lm/train_loss", running / running_n, step)
                running, running_n = 0.0, 0
            if step % hp.save_steps == 0:
                save_state()
        epoch += 1
        resume = False
    if running_n:
        history.append({"step": step, "loss": running / running_n, "elapsed_s": round(elapsed(), 2)})

    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / SCHEMA_FILE).write_text(json.dumps(schema.to_json(), indent=2))
    (out / LOSS_FILE).write_text(json.dumps(history, indent=1))
    (out / "hyperparameters.json").write_text(json.dumps(asdict(hp), indent=2))
    shutil.rmtree(state_dir, ignore_errors=True)
    run_seconds = time.monotonic() - started
    return {
        "steps": step,
        "train_seconds": round(elapsed(), 2),
        "tokens_per_second": round(tokens_seen / max(run_seconds, 1e-9), 1),
        "samples_per_second": round(samples_seen / max(run_seconds, 1e-9), 2),
        "samples": len(sequences),
        "truncated_samples": truncated,
        "history": history,
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": threads,
        "vocab_size": len(tokenizer),
        "resumed_from_step": resumed_from,
    }
