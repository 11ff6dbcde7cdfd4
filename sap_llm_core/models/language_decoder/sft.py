"""LoRA fine-tuning of the pre-trained base on prompt/completion pairs with TRL's ``SFTTrainer``.

The prompt is the document type, the completion the document's OCR text with field tags (see
``base_lm.tagged``); the loss is on the completion only, weighted towards the tag decisions the
constrained decoder asks of the model. Only the adapter is saved (``adapter_model.safetensors``),
separate from the base weights. ``save_steps`` checkpoints let a killed run resume; a wall-clock budget
stops training early on a slow machine (constant learning rate after warm-up, so an early stop is not
mid-decay).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from sap_llm_core.models.base_lm.formatting import ExtractionSchema, completion_text, prompt_text
from sap_llm_core.models.base_lm.pretrain import SCHEMA_FILE, decision_weights, weighted_loss
from sap_llm_core.models.base_lm.tagged import tag_tokens
from sap_llm_core.models.lm_runtime import configure_threads, quiet_progress_bars
from sap_llm_core.schema import DocumentRecord

CHECKPOINTS = "checkpoints"
LOSS_FILE = "loss_history.json"


@dataclass
class DecoderHyperparameters:
    """LoRA + SFT settings; defaults are params.yaml ``models.language_decoder``."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    learning_rate: float = 3e-3
    decision_loss_weight: float = 10.0  # see base_lm.pretrain.decision_weights
    warmup_steps: int = 5
    batch_size: int = 4
    max_steps: int = 1000
    max_train_seconds: float = 90.0
    max_length: int = 1024
    save_steps: int = 25
    logging_steps: int = 5
    seed: int = 42
    bf16: bool = False
    num_threads: int = 0  # 0: all cores on a quiet machine, 1 on a busy one (see lm_runtime)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecoderHyperparameters:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown language_decoder hyperparameters {unknown}; known: {sorted(known)}")
        return cls(**data)


class TimeBudget(TrainerCallback):
    """Stops (and checkpoints) once the wall-clock budget of the training loop is spent (dataset
    preparation before the first step does not count)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.started >= self.seconds:
            control.should_training_stop = True
            control.should_save = True
        return control


class MetricForwarder(TrainerCallback):
    """Forwards the trainer's logged loss to the run reporter (MLflow / Dagster Pipes)."""

    def __init__(self, log_metric: Any | None):
        self.log_metric = log_metric

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.log_metric and logs and "loss" in logs:
            self.log_metric("language_decoder/train_loss", float(logs["loss"]), state.global_step)


def _decision_weighted(base: type, tokenizer: Any, schema: ExtractionSchema, weight: float) -> type:
    """``SFTTrainer`` with the completion loss weighted towards the extraction decisions (see
    :func:`~sap_llm_core.models.base_lm.pretrain.decision_weights`); the prompt stays masked."""
    tag_ids = set(tokenizer.convert_tokens_to_ids(tag_tokens(schema.types)))
    separator_ids = {tokenizer.eos_token_id, *tokenizer(" \n", add_special_tokens=False)["input_ids"]}

    class DecisionWeightedSFTTrainer(base):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            forward = {k: inputs[k] for k in ("input_ids", "attention_mask", "position_ids") if k in inputs}
            outputs = model(**forward, use_cache=False)
            weights = decision_weights(inputs["input_ids"], labels, tag_ids, separator_ids, weight)
            loss = weighted_loss(outputs.logits, labels, weights)
            return (loss, outputs) if return_outputs else loss

    return DecisionWeightedSFTTrainer


def sft_examples(records: list[DocumentRecord], schema: ExtractionSchema) -> list[dict[str, str]]:
    """Prompt/completion pairs for records with ADC ground truth of a known type."""
    examples = []
    for record in records:
        completion = completion_text(record, schema)
        if completion is not None:
            examples.append({"prompt": prompt_text(record), "completion": completion})
    return examples


def finetune(
    records: list[DocumentRecord],
    base_dir: str | Path,
    hp: DecoderHyperparameters,
    output_dir: str | Path,
    log_metric: Any | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on ``records`` over the base in ``base_dir``; saves the adapter only."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    from sap_llm_core.models.language_decoder.extract import require_model_dir

    configure_threads(hp.num_threads)
    quiet_progress_bars()
    base = require_model_dir(base_dir, "base_language_model")
    out = Path(output_dir)
    ckpt_dir = out / CHECKPOINTS
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    schema = ExtractionSchema.from_json(json.loads((base / SCHEMA_FILE).read_text()))
    examples = sft_examples(records, schema)
    if not examples:
        raise ValueError(
            f"none of the {len(records)} training records has ADC ground truth (header/line_items) "
            f"of a type the base model knows ({sorted(schema.types)}): nothing to fine-tune on"
        )
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules),
    )
    args = SFTConfig(
        output_dir=str(ckpt_dir),
        max_length=hp.max_length,
        per_device_train_batch_size=hp.batch_size,
        learning_rate=hp.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=hp.warmup_steps,
        max_steps=hp.max_steps,
        logging_steps=hp.logging_steps,
        save_steps=hp.save_steps,
        save_total_limit=1,
        use_cpu=True,
        bf16=hp.bf16,
        gradient_checkpointing=False,
        completion_only_loss=True,
        report_to=[],
        seed=hp.seed,
        data_seed=hp.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        dataset_num_proc=None,
    )
    budget = TimeBudget(hp.max_train_seconds)
    trainer = _decision_weighted(SFTTrainer, tokenizer, schema, hp.decision_loss_weight)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[budget, MetricForwarder(log_metric)],
    )
    last = get_last_checkpoint(str(ckpt_dir))
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=last)
    seconds = time.monotonic() - started
    trainer.model.save_pretrained(out, safe_serialization=True)
    history = [
        {"step": e["step"], "loss": e["loss"]}
        for e in trainer.state.log_history
        if "loss" in e and "step" in e
    ]
    (out / LOSS_FILE).write_text(json.dumps(history, indent=1))
    (out / "hyperparameters.json").write_text(json.dumps(asdict(hp), indent=2))
    (out / "base_model_dir.txt").write_text(str(base.resolve()))
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 2),
        "samples_per_second": round(trainer.state.global_step * hp.batch_size / max(seconds, 1e-9), 3),
        "samples": len(examples),
        "resumed_from": last,
        "final_train_loss": float(output.training_loss),
        "trainable_parameters": trainable,
        "history": history,
    }
