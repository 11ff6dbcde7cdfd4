"""Trainer of the reasoning engine: ``train(config, reporter) -> dict``.

Stages, each a reason to exist:
1. domain pre-training of a small Llama on routing prompts and the KB catalog (full weights): a random
   LM barely learns through LoRA alone, so the base first learns the vocabulary it will see;
2. LoRA SFT with TRL's ``SFTTrainer`` on prompt -> routing completions (completion-only loss);
3. DPO with TRL's ``DPOTrainer``: chosen = the correct routing, rejected = the most plausible wrong
   catalog routing under the SFT model (a hard negative), sharpening the margin that the calibrated
   confidence is read from;
4. optional (``grpo_steps`` > 0) GRPO with TRL's ``GRPOTrainer``: sampled routings rewarded by the
   seeds' reward (0.7 x API correct + 0.2 x business rules + 0.1 x calibration);
5. temperature scaling on the validation split, then evaluation on the held-out test split.

Resume: each stage saves its result (``save_pretrained``) under ``<output_dir>/stages/<stage>`` with a
completion marker holding the stage's fingerprint (its hyperparameters, the training data, the stage
before it); a rerun skips the stages complete for the same fingerprint. An interrupted TRL stage
resumes from its newest ``checkpoint-*`` (every ``save_steps``) in ``<output_dir>/<stage>``, unless
that folder was written under another fingerprint (then it starts afresh). Pre-training, a few seconds
of a plain loop, restarts when interrupted. ``resume: false`` in the config retrains everything.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sap_llm_core.models.reasoning_engine.examples import (
    CandidateRetriever,
    KnowledgeBaseView,
    Routing,
    RoutingExample,
    api_only_index,
    attach_context,
    build_examples,
    load_index,
)
from sap_llm_core.models.reasoning_engine.model import (
    Router,
    build_base_model,
    build_tokenizer,
    expected_calibration_error,
    fit_temperature,
    parse_routing,
    reliability_bins,
    routing_reward,
)
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import SPLITS_ASSET, TrainingDataError, data_version, load_split
from sap_llm_core.training.resume import (
    completed_stage,
    fingerprint,
    mark_stage_complete,
    reset_stage,
    resumable_checkpoint,
)

MODEL = "reasoning_engine"
RESULT_FILE = "training_result.json"
STAGES_DIR = "stages"  # per stage: save_pretrained output + completion marker (resume)
# GRPO samples the decisions of a routing (API, entity set, method) after the fixed word that opens
# every routing: the output rows of ``endpoint`` and ``</s>`` are never targets in pre-training, and
# LoRA (frozen LM head) barely moves them, so the SFT model ranks routings well but does not emit its
# own scaffolding (measured: P(endpoint | prompt) ~ 0.03). Forcing the opening word keeps the sampled
# completions in the routing format: ``API entity ENTITY method METHOD``, five tokens.
GRPO_FORCED_PREFIX = "endpoint"
GRPO_COMPLETION_TOKENS = 5
log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "seed": 42,
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 4,
    "candidates_k": 3,
    "similar_cases_k": 3,
    "pretrain_epochs": 2,
    "pretrain_learning_rate": 0.003,
    "sft_epochs": 2,
    "dpo_epochs": 1,
    "dpo_beta": 0.1,
    "dpo_max_examples": 400,
    "batch_size": 16,
    "learning_rate": 0.002,
    "dpo_learning_rate": 0.0005,
    "grpo_steps": 0,
    "grpo_num_generations": 4,
    "grpo_learning_rate": 0.0002,
    "grpo_beta": 0.0,
    "grpo_temperature": 1.0,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "max_length": 96,
    "logging_steps": 5,
    "save_steps": 200,
    "max_train_documents": 0,
    "max_eval_documents": 0,
    "latency_documents": 100,
    "inference_threads": 1,
    "bf16": False,
    "fp16": False,
}
# Hyperparameters that change what a stage learns (the others: logging, checkpoint cadence, evaluation).
_COMMON_KEYS = ("seed", "hidden_size", "num_layers", "num_heads", "batch_size", "max_length", "bf16", "fp16")
_STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "pretrain": ("pretrain_epochs", "pretrain_learning_rate"),
    "sft": ("sft_epochs", "learning_rate", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"),
    "dpo": ("dpo_epochs", "dpo_beta", "dpo_max_examples", "dpo_learning_rate"),
    "grpo": ("grpo_steps", "grpo_num_generations", "grpo_learning_rate", "grpo_beta", "grpo_temperature"),
}


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """params.yaml ``models.reasoning_engine`` over the built-in defaults, then the run's overrides;
    an unknown key fails (a typo would otherwise silently train with the default)."""
    from sap_llm_core.settings import get_settings

    section = getattr(get_settings().models, MODEL, None) or {}
    section = section if isinstance(section, dict) else dict(section)
    given = config.get("hyperparameters", {})
    unknown = (set(section) | set(given)) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown reasoning_engine hyperparameters: {sorted(unknown)}")
    return {**DEFAULTS, **section, **given}


def load_kb(store: ArtifactStore) -> tuple[KnowledgeBaseView, list]:
    """The knowledge base as the KB assets stored it, else parsed from the configured EDMX folders
    and the packaged mappings (a fresh store, tests)."""
    from sap_llm_core.knowledge_base.field_mappings import load_mappings
    from sap_llm_core.knowledge_base.pipeline import (
        EDMX_ASSET,
        MAPPINGS_ASSET,
        load_field_mappings,
        load_schemas,
    )

    if store.exists(EDMX_ASSET, "manifest.json"):
        schemas = load_schemas(store)
    else:
        from sap_llm_core.knowledge_base.edmx_parser import find_edmx_files, parse_file
        from sap_llm_core.settings import get_settings

        paths = [
            p
            for d in get_settings().knowledge_base.resolved_edmx_dirs()
            if d.is_dir()
            for p in find_edmx_files(d)
        ]
        schemas = [parse_file(p) for p in paths]
    mappings = (
        load_field_mappings(store) if store.exists(MAPPINGS_ASSET, "mappings.json") else load_mappings()
    )
    return KnowledgeBaseView.build(mappings, schemas), schemas


def load_retriever(store: ArtifactStore, embed: Any, k: int) -> tuple[CandidateRetriever, str]:
    from sap_llm_core.knowledge_base.pipeline import INDEX_ASSET

    if store.exists(INDEX_ASSET, "items.json"):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("index.faiss", "owners.npy", "items.json"):
                Path(tmp, name).write_bytes(store.read_bytes(INDEX_ASSET, name))
            return CandidateRetriever(load_index(tmp), embed, k), "kb_vector_index"
    return CandidateRetriever(api_only_index(embed), embed, k), "api items (kb_vector_index absent)"


class SimilarCases:
    """Endpoints of the nearest past (training) documents, via the PMG's ``SimilarCaseIndex``."""

    def __init__(self, embed: Any, past: list[RoutingExample], k: int, vectors: np.ndarray | None = None):
        """``vectors``: the past cases' summary embeddings when the caller has them already."""
        from sap_llm_core.pmg.similar_cases import Case, SimilarCaseIndex

        self.k = k
        self.index = SimilarCaseIndex(embed)
        self.index.add(
            [
                Case(
                    e.document_id,
                    e.document_type,
                    self.summary(e),
                    {"endpoint": e.label.endpoint if e.label else ""},
                )
                for e in past
            ],
            vectors,
        )

    @staticmethod
    def summary(example: RoutingExample) -> str:
        from sap_llm_core.pmg.similar_cases import case_summary

        return case_summary(example.document_type, example.header, example.language)

    def __call__(self, examples: list[RoutingExample], vectors: np.ndarray | None = None) -> list[list[str]]:
        if vectors is None:
            vectors = self.index.embed([self.summary(e) for e in examples])
        out = []
        for e, v in zip(examples, vectors, strict=True):
            hits = self.index.search_vector(v, k=self.k + 1)
            hits = [h for h in hits if h.id != e.document_id][: self.k]
            out.append([h.metadata.get("endpoint", "") for h in hits if h.metadata.get("endpoint")])
        return out


def _pretrain(model: Any, tokenizer: Any, texts: list[str], hp: dict[str, Any], reporter: Any) -> list:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=hp["pretrain_learning_rate"])
    rng = random.Random(hp["seed"])
    history, step = [], 0
    model.train()
    for _ in range(int(hp["pretrain_epochs"])):
        order = list(texts)
        rng.shuffle(order)
        for i in range(0, len(order), hp["batch_size"]):
            batch = tokenizer(
                order[i : i + hp["batch_size"]],
                padding=True,
                return_tensors="pt",
                truncation=True,
                max_length=hp["max_length"],
            )
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            loss = model(**batch, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
            if step % hp["logging_steps"] == 0:
                history.append([step, float(loss.detach())])
                reporter.log_metrics({"pretrain_loss": float(loss.detach())}, step)
    model.eval()
    return history


def _training_args_common(hp: dict[str, Any], output_dir: Path, epochs: float, lr: float) -> dict:
    return {
        "output_dir": str(output_dir),
        "num_train_epochs": epochs,
        "per_device_train_batch_size": hp["batch_size"],
        "learning_rate": lr,
        "logging_steps": hp["logging_steps"],
        "save_steps": hp["save_steps"],
        "save_total_limit": 1,
        "seed": hp["seed"],
        "report_to": [],
        "use_cpu": not (hp["bf16"] or hp["fp16"]),
        "bf16": hp["bf16"],
        "fp16": hp["fp16"],
        "gradient_checkpointing": False,
        "max_length": hp["max_length"],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def _hard_negatives(router: Router, examples: list[RoutingExample]) -> list[Routing]:
    """Per example, the wrong catalog routing the current model finds most plausible."""
    logits = router.option_logits([e.prompt() for e in examples])
    out = []
    for e, row in zip(examples, logits, strict=True):
        order = np.argsort(-row)
        out.append(next(router.catalog[i] for i in order if router.catalog[i] != e.label))
    return out


def grpo_reward_function(scorer: Router, kb: KnowledgeBaseView) -> Callable[..., list[float]]:
    """The seeds' reward as a TRL reward function over generated routings.

    Each completion (the words after the prompt's forced ``endpoint``) is parsed into a routing, i.e.
    the routing JSON's fields (unparseable: 0); the reward is ``routing_reward``:
    0.7 x API equals the gold API + 0.2 x business rules (KB-valid, mapped entity and method) + 0.1 x
    calibration, with the confidence the policy itself gives that routing among the catalog
    (``scorer`` wraps the policy being trained; temperature 1). TRL passes the dataset's ``gold``
    column and a ``log_metric`` hook as keyword arguments."""
    index = {r: i for i, r in enumerate(scorer.catalog)}

    def routing_reward_fn(
        prompts: list[str], completions: list[str], gold: list[dict], log_metric: Any = None, **_: Any
    ) -> list[float]:
        probs = {
            p: scorer.probabilities([p.removesuffix(f" {GRPO_FORCED_PREFIX}")])[0]
            for p in dict.fromkeys(prompts)
        }
        rewards, parsed, api_ok = [], 0, 0
        for prompt, completion, label in zip(prompts, completions, gold, strict=True):
            routing = parse_routing(f"{GRPO_FORCED_PREFIX} {completion}")
            if routing is None:
                rewards.append(0.0)
                continue
            gold_routing = Routing(**label)
            confidence = float(probs[prompt][index[routing]]) if routing in index else 0.0
            rewards.append(routing_reward(routing, gold_routing, kb.is_valid(routing), confidence))
            parsed += 1
            api_ok += routing.endpoint == gold_routing.endpoint
        if log_metric is not None:
            log_metric("routing_parsed", parsed / len(completions))
            log_metric("routing_api_correct", api_ok / len(completions))
        return rewards

    return routing_reward_fn


def _grpo_trainer(
    model: Any,
    tokenizer: Any,
    kb: KnowledgeBaseView,
    train_ex: list[RoutingExample],
    hp: dict[str, Any],
    output_dir: Path,
    callbacks: list,
) -> Any:
    """TRL ``GRPOTrainer`` over the LoRA policy: ``num_generations`` sampled routings per training
    prompt, rewarded by ``grpo_reward_function``; ``grpo_steps`` optimiser steps."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    pool = list(train_ex)
    random.Random(hp["seed"] + 1).shuffle(pool)
    data = Dataset.from_list(
        [{"prompt": f"{e.prompt()} {GRPO_FORCED_PREFIX}", "gold": e.label.as_dict()} for e in pool]
    )
    args = _training_args_common(hp, output_dir, 1, hp["grpo_learning_rate"])
    del args["num_train_epochs"], args["max_length"]
    model.train()
    return GRPOTrainer(
        model=model,
        reward_funcs=[grpo_reward_function(Router(model, tokenizer, kb.catalog), kb)],
        args=GRPOConfig(
            **args,
            max_steps=int(hp["grpo_steps"]),
            num_generations=int(hp["grpo_num_generations"]),
            max_completion_length=GRPO_COMPLETION_TOKENS,
            temperature=float(hp["grpo_temperature"]),
            beta=float(hp["grpo_beta"]),
        ),
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def evaluate(
    router: Router,
    kb: KnowledgeBaseView,
    examples: list[RoutingExample],
    prepare: Any = None,
    latency_documents: int = 100,
    threads: int = 1,
) -> dict[str, Any]:
    """Accuracy, KB validity, ECE, reward and per-document latency (retrieval + similar cases +
    scoring, one document at a time as in serving) on labelled examples.

    Latency is measured with ``threads`` intra-op threads: a serving worker routes one document at a
    time, and on 2 shared cores two threads per tiny forward pass cost far more in contention than
    they gain (measured: about 1 s vs 16 ms per scoring pass under load)."""
    import torch

    if not examples:
        raise TrainingDataError("no routable test documents: nothing to evaluate")
    outputs = router.route(examples)
    preds = [Routing(o["endpoint"], o["entity"], o["method"]) for o in outputs]
    correct = [p == e.label for p, e in zip(preds, examples, strict=True)]
    api_correct = [p.endpoint == e.label.endpoint for p, e in zip(preds, examples, strict=True)]
    valid = [kb.is_valid(p) for p in preds]
    conf = [o["confidence"] for o in outputs]
    majority = max({e.label: 0 for e in examples}, key=lambda lab: sum(e.label == lab for e in examples))
    latencies = []
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    for e in examples[:latency_documents]:
        start = time.perf_counter()
        single = RoutingExample(e.document_id, e.document_type, e.language, e.header)
        if prepare is not None:
            prepare([single])
        router.route([single])
        latencies.append((time.perf_counter() - start) * 1000)
    torch.set_num_threads(previous_threads)
    return {
        "routing_accuracy": float(np.mean(correct)),
        "api_accuracy": float(np.mean(api_correct)),
        "api_validity": float(np.mean(valid)),
        "ece": expected_calibration_error(conf, correct),
        "mean_confidence": float(np.mean(conf)),
        "majority_baseline_accuracy": float(np.mean([e.label == majority for e in examples])),
        "mean_reward": float(
            np.mean(
                [
                    routing_reward(p, e.label, v, c)
                    for p, e, v, c in zip(preds, examples, valid, conf, strict=True)
                ]
            )
        ),
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else float("nan"),
        "test_documents": float(len(examples)),
        "reliability": reliability_bins(conf, correct),
    }


def reliability_png(bins: list[dict], path: Path, ece: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    pts = [(b["confidence"], b["accuracy"], b["count"]) for b in bins if b["count"]]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="reasoning_engine")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (test), ECE={ece:.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _stage_fingerprints(hp: dict[str, Any], data_fingerprint: str) -> dict[str, str]:
    """One fingerprint per stage, chained: a stage's result depends on its own settings and on the
    stage it starts from, so changing (say) the DPO settings keeps pre-training and SFT."""
    fingerprints: dict[str, str] = {}
    previous = fingerprint(data_fingerprint, {k: hp[k] for k in _COMMON_KEYS})
    for stage, keys in _STAGE_KEYS.items():
        previous = fingerprints[stage] = fingerprint(stage, previous, {k: hp[k] for k in keys})
    return fingerprints


def _data_fingerprint(train_ex: list[RoutingExample], kb: KnowledgeBaseView) -> str:
    """What the stages learn from: the training prompts (with their retrieved candidates and similar
    cases) and labels, and the routing catalog."""
    return fingerprint(
        [[e.prompt(), e.label.text() if e.label else ""] for e in train_ex],
        [o.text() for o in kb.catalog],
    )


def _trainer_history(trainer: Any, key: str = "loss") -> list:
    return [[h["step"], h[key]] for h in trainer.state.log_history if key in h and "step" in h]


def _resumed_step(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    return int(json.loads((checkpoint / "trainer_state.json").read_text())["global_step"])


def _run_trainer(trainer: Any, checkpoint: Path | None) -> int:
    """Train (from ``checkpoint`` when given); the step it resumed from (its checkpoints rotate away)."""
    start = _resumed_step(checkpoint)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    return start


def _load_adapter_weights(model: Any, directory: Path) -> None:
    """Load a saved stage's LoRA weights into the (same-shaped) adapter of ``model``."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    loaded = set_peft_model_state_dict(model, load_file(directory / "adapter_model.safetensors"))
    if loaded.unexpected_keys:
        raise ValueError(f"{directory}: adapter weights that do not fit: {loaded.unexpected_keys[:3]}")


def train(config: dict[str, Any], reporter: Any, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """``callbacks``: extra ``transformers.TrainerCallback``s given to every TRL stage (tests use one
    to interrupt a run). ``training_data: feedback`` retrains the parent's adapter on corrections."""
    if config.get("training_data", "splits") == "feedback":
        from sap_llm_core.models.reasoning_engine.feedback import retrain_from_feedback

        return retrain_from_feedback(config, reporter)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from sap_llm_core.knowledge_base.embeddings import default_embedder
    from sap_llm_core.settings import get_settings

    hp = hyperparameters(config)
    random.seed(hp["seed"])
    np.random.seed(hp["seed"])
    torch.manual_seed(hp["seed"])
    store = ArtifactStore(config.get("storage_root") or get_settings().storage.resolved_root())
    output_dir = Path(config.get("output_dir") or store.url(MODEL))
    output_dir.mkdir(parents=True, exist_ok=True)
    resume = bool(config.get("resume", True))
    versions = {SPLITS_ASSET: data_version(store)}
    reporter.log_dataset_versions(versions)
    reporter.log_params(hp)

    limit = hp["max_train_documents"] or None
    eval_limit = hp["max_eval_documents"] or None
    kb, _ = load_kb(store)
    embed = default_embedder().encode
    retriever, candidate_source = load_retriever(store, embed, hp["candidates_k"])
    train_ex, skipped = build_examples(load_split(store, "train", limit), kb, retriever)
    if not train_ex:
        raise TrainingDataError(
            f"the train split has no document type the field mappings route (saw {skipped})"
        )
    similar = None
    if hp["similar_cases_k"]:
        case_vectors = embed([SimilarCases.summary(e) for e in train_ex])
        similar = SimilarCases(embed, train_ex, hp["similar_cases_k"], case_vectors)
        for e, cases in zip(train_ex, similar(train_ex, case_vectors), strict=True):
            e.similar = cases
    val_ex, _ = build_examples(load_split(store, "val", eval_limit), kb, retriever, similar)
    test_ex, test_skipped = build_examples(load_split(store, "test", eval_limit), kb, retriever, similar)

    fingerprints = _stage_fingerprints(hp, _data_fingerprint(train_ex, kb))
    stages_dir = output_dir / STAGES_DIR
    # stage -> {"status": skipped | trained | resumed, "global_step", "resumed_from_step"}
    stage_runs: dict[str, dict[str, Any]] = {}
    # True while every stage so far was reused: a later stage's marker or checkpoint was written on
    # top of exactly these weights. Once a stage is (re)trained, the later ones start afresh.
    upstream_reused = resume

    def reuse(stage: str) -> dict[str, Any] | None:
        done = completed_stage(stages_dir / stage, fingerprints[stage]) if upstream_reused else None
        if done is not None:
            stage_runs[stage] = {"status": "skipped", "global_step": done.get("global_step", 0)}
            reporter.log_metrics({f"{stage}_skipped": 1.0}, 0)
            log.info("reasoning_engine: stage %s already complete, skipped", stage)
        return done

    def checkpoint_for(stage: str) -> Path | None:
        last = resumable_checkpoint(output_dir / stage, fingerprints[stage], upstream_reused)
        if last is not None:
            log.info("reasoning_engine: stage %s resumes from %s", stage, last)
            reporter.log_metrics({f"{stage}_resumed_from_step": _resumed_step(last)}, 0)
        return last

    def finish(stage: str, model: Any, history: list, step: int, resumed_from: int) -> None:
        nonlocal upstream_reused
        target = reset_stage(stages_dir / stage)
        model.save_pretrained(target)
        if stage == "pretrain":
            tokenizer.save_pretrained(target)
        mark_stage_complete(
            target,
            fingerprints[stage],
            history=history,
            global_step=step,
            resumed_from_step=resumed_from,
        )
        shutil.rmtree(output_dir / stage, ignore_errors=True)  # its checkpoints are no longer needed
        # later stages were built on the weights this stage just replaced
        for later in list(_STAGE_KEYS)[list(_STAGE_KEYS).index(stage) + 1 :]:
            shutil.rmtree(stages_dir / later, ignore_errors=True)
            shutil.rmtree(output_dir / later, ignore_errors=True)
        stage_runs[stage] = {
            "status": "resumed" if resumed_from else "trained",
            "global_step": step,
            "resumed_from_step": resumed_from,
        }
        upstream_reused = False

    trainer_callbacks = list(callbacks)
    t0 = time.perf_counter()

    # 1. tokenizer + domain pre-training of the base (short, full weights: restarts if interrupted)
    catalog_texts = [o.text() for o in kb.catalog]
    done = reuse("pretrain")
    if done is not None:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(stages_dir / "pretrain")
        base = LlamaForCausalLM.from_pretrained(stages_dir / "pretrain")
        pre_history = done["history"]
    else:
        tokenizer = build_tokenizer([e.prompt() for e in train_ex] + catalog_texts + [" ".join(kb.apis)])
        base = build_base_model(tokenizer, hp["hidden_size"], hp["num_layers"], hp["num_heads"], hp["seed"])
        pre_history = _pretrain(
            base, tokenizer, [e.prompt() for e in train_ex] + catalog_texts * 20, hp, reporter
        )
        finish("pretrain", base, pre_history, 0, 0)
    final_dir = output_dir / "final"
    if final_dir.exists():
        shutil.rmtree(final_dir)
    base.save_pretrained(final_dir / "base")

    # 2. LoRA SFT
    done = reuse("sft")
    if done is not None:
        model = PeftModel.from_pretrained(base, stages_dir / "sft", is_trainable=True)
        sft_history = done["history"]
    else:
        lora = LoraConfig(
            r=hp["lora_r"],
            lora_alpha=hp["lora_alpha"],
            lora_dropout=hp["lora_dropout"],
            target_modules=list(hp["lora_target_modules"]),
            task_type="CAUSAL_LM",
        )
        sft_data = Dataset.from_list(
            [{"prompt": e.prompt(), "completion": " " + e.label.text()} for e in train_ex]
        )
        last = checkpoint_for("sft")
        sft = SFTTrainer(
            model=base,
            args=SFTConfig(
                **_training_args_common(hp, output_dir / "sft", hp["sft_epochs"], hp["learning_rate"]),
                completion_only_loss=True,
            ),
            train_dataset=sft_data,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=trainer_callbacks,
        )
        start = _run_trainer(sft, last)
        model = sft.model
        sft_history = _trainer_history(sft)
        finish("sft", model, sft_history, sft.state.global_step, start)
    for step, loss in sft_history:
        reporter.log_metrics({"sft_loss": loss}, int(step))

    # 3. DPO on chosen (correct) vs rejected (hardest wrong catalog routing)
    dpo_pool = list(train_ex)
    random.Random(hp["seed"]).shuffle(dpo_pool)
    dpo_pool = dpo_pool[: hp["dpo_max_examples"]]
    dpo_history: list = []
    if hp["dpo_epochs"] > 0 and dpo_pool:
        done = reuse("dpo")
        if done is not None:
            _load_adapter_weights(model, stages_dir / "dpo")
            dpo_history = done["history"]
        else:
            negatives = _hard_negatives(Router(model, tokenizer, kb.catalog), dpo_pool)
            dpo_data = Dataset.from_list(
                [
                    {"prompt": e.prompt(), "chosen": " " + e.label.text(), "rejected": " " + n.text()}
                    for e, n in zip(dpo_pool, negatives, strict=True)
                ]
            )
            last = checkpoint_for("dpo")
            model.train()
            dpo = DPOTrainer(
                model=model,
                args=DPOConfig(
                    **_training_args_common(
                        hp, output_dir / "dpo", hp["dpo_epochs"], hp["dpo_learning_rate"]
                    ),
                    beta=hp["dpo_beta"],
                ),
                train_dataset=dpo_data,
                processing_class=tokenizer,
                callbacks=trainer_callbacks,
            )
            start = _run_trainer(dpo, last)
            model = dpo.model
            dpo_history = _trainer_history(dpo)
            finish("dpo", model, dpo_history, dpo.state.global_step, start)
        for step, loss in dpo_history:
            reporter.log_metrics({"dpo_loss": loss}, int(step))

    # 4. optional GRPO on the seeds' reward (off by default: see params.yaml grpo_steps)
    grpo_history: list = []
    if hp["grpo_steps"] > 0:
        done = reuse("grpo")
        if done is not None:
            _load_adapter_weights(model, stages_dir / "grpo")
            grpo_history = done["history"]
        else:
            last = checkpoint_for("grpo")
            grpo = _grpo_trainer(model, tokenizer, kb, train_ex, hp, output_dir / "grpo", trainer_callbacks)
            start = _run_trainer(grpo, last)
            model = grpo.model
            grpo_history = _trainer_history(grpo, "reward")
            finish("grpo", model, grpo_history, grpo.state.global_step, start)
        for step, reward in grpo_history:
            reporter.log_metrics({"grpo_reward": reward}, int(step))
    training_seconds = time.perf_counter() - t0
    model.eval()
    model.save_pretrained(final_dir / "adapter")
    router = Router(model, tokenizer, kb.catalog)

    # 5. calibration on val, evaluation on test
    if val_ex:
        logits = router.option_logits([e.prompt() for e in val_ex])
        targets = np.array([router.catalog.index(e.label) for e in val_ex])
        router.temperature = fit_temperature(logits, targets)
    router.save(final_dir)

    def prepare(batch: list[RoutingExample]) -> None:
        attach_context(batch, retriever, similar)

    evaluation = evaluate(router, kb, test_ex, prepare, hp["latency_documents"], hp["inference_threads"])
    reliability = evaluation.pop("reliability")
    reliability_png(reliability, output_dir / "reliability.png", evaluation["ece"])
    # samples of the stages this run trained (a skipped stage took no time here)
    ran = {stage for stage, run in stage_runs.items() if run["status"] != "skipped"}
    samples = (
        len(train_ex) * (hp["pretrain_epochs"] * ("pretrain" in ran) + hp["sft_epochs"] * ("sft" in ran))
        + len(dpo_pool) * hp["dpo_epochs"] * ("dpo" in ran)
        + hp["grpo_steps"] * hp["batch_size"] * ("grpo" in ran)
    )
    metrics = {
        **evaluation,
        "train_samples_per_second": samples / training_seconds if training_seconds else 0.0,
        "training_seconds": training_seconds,
        "train_documents": float(len(train_ex)),
        "temperature": router.temperature,
        "catalog_size": float(len(kb.catalog)),
        "loss_first": sft_history[0][1] if sft_history else float("nan"),
        "loss_last": sft_history[-1][1] if sft_history else float("nan"),
    }
    reporter.log_metrics({f"test_{k}": v for k, v in metrics.items()}, 0)
    result = {
        "model": MODEL,
        "metrics": metrics,
        "checkpoint_dir": str(final_dir),
        "output_dir": str(output_dir),
        "base_model": f"llama-tiny(h{hp['hidden_size']},l{hp['num_layers']}) pre-trained on routing prompts",
        "data_versions": versions,
        "candidate_source": candidate_source,
        "skipped_document_types": {"train": skipped, "test": test_skipped},
        "loss_history": sft_history,
        "pretrain_loss_history": pre_history,
        "dpo_loss_history": dpo_history,
        "grpo_reward_history": grpo_history,
        "stages": stage_runs,
        "reliability": reliability,
        "reliability_png": str(output_dir / "reliability.png"),
        "hyperparameters": hp,
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return result
