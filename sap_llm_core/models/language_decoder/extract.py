"""OCR text -> ADC JSON with the base model (+ LoRA adapter), unconstrained or constrained, and the
held-out metrics: schema compliance, field precision/recall/F1 (exact match), hallucination rate and
latency. Unconstrained decoding is measured too, so the report shows what the constraint buys."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from sap_llm_core.models.base_lm.formatting import (
    ExtractionSchema,
    TypeSchema,
    adc_json,
    prompt_text,
)
from sap_llm_core.models.base_lm.pretrain import SCHEMA_FILE
from sap_llm_core.models.language_decoder.label_prior import LabelPrior
from sap_llm_core.models.language_decoder.tag_decoding import (
    TaggedDocument,
    TaggingLogitsProcessor,
    greedy_decode,
    parse_generated,
)
from sap_llm_core.models.lm_runtime import configure_threads
from sap_llm_core.schema import DocumentRecord


class MissingWeightsError(FileNotFoundError):
    """Base weights or adapter not found where they were looked for (never a hub download)."""


def require_model_dir(path: str | Path, what: str) -> Path:
    """The folder of a saved model, or a clear error naming the path looked in."""
    folder = Path(path)
    has_weights = any((folder / name).exists() for name in ("model.safetensors", "adapter_model.safetensors"))
    if not folder.is_dir() or not has_weights:
        raise MissingWeightsError(
            f"{what}: no weights at {folder.resolve()} (looked for model.safetensors / "
            "adapter_model.safetensors); materialise the upstream asset or point the config at a local "
            "folder. Hub model names are never downloaded."
        )
    return folder


def load_model(
    base_dir: str | Path, adapter_dir: str | Path | None = None
) -> tuple[PreTrainedModel, Any, Any]:
    """(model, tokenizer, schema) from local folders only; the adapter is merged for fast inference."""
    from transformers import AutoModelForCausalLM

    configure_threads(0)
    base = require_model_dir(base_dir, "base_language_model")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    schema = ExtractionSchema.from_json(json.loads((base / SCHEMA_FILE).read_text()))
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    if adapter_dir is not None:
        from peft import PeftModel

        adapter = require_model_dir(adapter_dir, "language_decoder adapter")
        model = PeftModel.from_pretrained(model, adapter, local_files_only=True).merge_and_unload()
    model.eval()
    return model, tokenizer, schema


def load_extractor(base_dir: str | Path | None, adapter_dir: str | Path | None = None) -> Extractor:
    """The extraction API: base (+ adapter, + its label prior when saved beside it) from local folders.

    ``load_extractor(base, adapter).extract(records)`` returns one :class:`Extraction` per record with
    ``parsed`` the ADC JSON; :func:`evaluate` scores a list of records against their ground truth.
    ``base_dir=None`` takes the base the adapter was trained on (``base_model_dir.txt`` beside it)."""
    if base_dir is None:
        if adapter_dir is None:
            raise ValueError("load_extractor needs a base folder, an adapter folder, or both")
        pointer = Path(adapter_dir) / "base_model_dir.txt"
        if not pointer.is_file():
            raise MissingWeightsError(
                f"no base_model_dir.txt in {Path(adapter_dir).resolve()}: pass base_dir"
            )
        base_dir = pointer.read_text().strip()
    model, tokenizer, schema = load_model(base_dir, adapter_dir)
    prior = LabelPrior.load(adapter_dir) if adapter_dir is not None else None
    return Extractor(model, tokenizer, schema, prior=prior)


@dataclass
class Extraction:
    """One document's result: ``parsed`` is the ADC JSON (None when free decoding wrote malformed
    tags), ``text`` that JSON as a string (or the raw output when malformed), ``raw`` the tagged text."""

    record_id: str
    text: str
    parsed: dict[str, Any] | None
    seconds: float
    raw: str = ""


class Extractor:
    """Holds the model, tokenizer and schema; turns records into ADC JSON, constrained or free."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        schema: ExtractionSchema,
        max_new_tokens: int | None = None,
        prior: LabelPrior | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.schema = schema
        self.max_new_tokens = max_new_tokens  # free decoding only; None: the document's own length
        self.prior = prior  # fused at constrained tag decisions (see label_prior); None: the model alone

    def type_schema(self, record: DocumentRecord) -> TypeSchema:
        schema = self.schema.types.get(record.document_type)
        if schema is None:
            raise KeyError(
                f"document type {record.document_type!r} of {record.id} has no extraction schema; "
                f"known: {sorted(self.schema.types)}"
            )
        return schema

    def processor(self, records: Sequence[DocumentRecord]) -> TaggingLogitsProcessor:
        """The constraint for a batch of records (also usable with ``model.generate``)."""
        docs = [TaggedDocument(r, self.type_schema(r), self.tokenizer) for r in records]
        return TaggingLogitsProcessor(docs, self.tokenizer.pad_token_id, self.prior)

    def _result(self, record: DocumentRecord, ids: Sequence[int], seconds: float) -> Extraction:
        _, parsed = parse_generated(ids, self.tokenizer, self.type_schema(record))
        raw = self.tokenizer.decode(ids, skip_special_tokens=False)
        text = json.dumps(parsed, ensure_ascii=False) if parsed is not None else raw
        return Extraction(record.id, text, parsed, seconds, raw)

    @torch.inference_mode()
    def extract(self, records: Sequence[DocumentRecord], constrained: bool = True) -> list[Extraction]:
        """ADC JSON per record. Constrained: one document at a time, forced tokens batched (see
        ``greedy_decode``); free: one batched greedy ``generate`` for the baseline."""
        if not records:
            return []
        if constrained:
            results = []
            for record in records:
                started = time.perf_counter()
                processor = self.processor([record])
                prompt = self.tokenizer(prompt_text(record))["input_ids"]
                ids = greedy_decode(self.model, prompt, processor)
                results.append(self._result(record, ids, time.perf_counter() - started))
            return results
        started = time.perf_counter()
        self.tokenizer.padding_side = "left"
        batch = self.tokenizer([prompt_text(r) for r in records], return_tensors="pt", padding=True)
        budget = self.max_new_tokens or max(
            TaggedDocument(r, self.type_schema(r), self.tokenizer).max_tokens for r in records
        )
        out = self.model.generate(
            **batch,
            max_new_tokens=budget,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        seconds = (time.perf_counter() - started) / len(records)
        rows = out[:, batch["input_ids"].shape[1] :].tolist()
        return [self._result(r, row, seconds) for r, row in zip(records, rows, strict=True)]


# metrics ---------------------------------------------------------------------------------------
def schema_compliant(parsed: dict[str, Any] | None, schema: TypeSchema) -> bool:
    """Exactly the type's keys, string-or-null values, line items as objects with the type's columns."""
    if not isinstance(parsed, dict) or set(parsed) != {"header", "line_items"}:
        return False
    header, items = parsed["header"], parsed["line_items"]
    if not isinstance(header, dict) or list(header) != schema.header:
        return False
    if not all(v is None or isinstance(v, str) for v in header.values()):
        return False
    if not isinstance(items, list):
        return False
    for item in items:
        if not isinstance(item, dict) or list(item) != schema.columns:
            return False
        if not all(v is None or isinstance(v, str) for v in item.values()):
            return False
    return True


def field_values(adc: dict[str, Any] | None) -> dict[str, str]:
    """Flat ``path -> value`` of non-null string values (line items by position)."""
    if not isinstance(adc, dict):
        return {}
    out: dict[str, str] = {}
    header = adc.get("header")
    if isinstance(header, dict):
        out.update({f"header.{k}": v for k, v in header.items() if isinstance(v, str)})
    items = adc.get("line_items")
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                out.update({f"line_items[{i}].{k}": v for k, v in item.items() if isinstance(v, str)})
    return out


def is_word_run(value: str, words: Sequence[str]) -> bool:
    """True when ``value`` is a contiguous run of the document's words joined by single spaces."""
    parts = value.split(" ")
    if not value or any(p == "" for p in parts):
        return False
    n = len(parts)
    return any(list(words[i : i + n]) == parts for i in range(len(words) - n + 1))


@dataclass
class Evaluation:
    documents: int = 0
    compliant: int = 0
    valid_json: int = 0
    true_positive: int = 0
    predicted: int = 0
    gold: int = 0
    hallucinated: int = 0
    latencies: list[float] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self, prefix: str) -> dict[str, float]:
        precision = self.true_positive / self.predicted if self.predicted else 0.0
        recall = self.true_positive / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        lat = sorted(self.latencies) or [0.0]
        return {
            f"{prefix}/documents": float(self.documents),
            f"{prefix}/schema_compliance": self.compliant / self.documents if self.documents else 0.0,
            f"{prefix}/valid_json": self.valid_json / self.documents if self.documents else 0.0,
            f"{prefix}/field_precision": precision,
            f"{prefix}/field_recall": recall,
            f"{prefix}/field_f1": f1,
            f"{prefix}/hallucination_rate": self.hallucinated / self.predicted if self.predicted else 0.0,
            f"{prefix}/latency_p50_s": statistics.median(lat),
            f"{prefix}/latency_p95_s": lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))],
            f"{prefix}/docs_per_second": len(lat) / sum(lat) if sum(lat) else 0.0,
        }


def evaluate(
    extractor: Extractor,
    records: Sequence[DocumentRecord],
    constrained: bool,
    batch_size: int = 1,
    keep_examples: int = 3,
) -> Evaluation:
    """Extract every record and score it against its ground truth (records without ADC are skipped)."""
    usable = [r for r in records if adc_json(r) is not None and r.document_type in extractor.schema.types]
    ev = Evaluation()
    for start in range(0, len(usable), batch_size):
        chunk = usable[start : start + batch_size]
        for record, result in zip(chunk, extractor.extract(chunk, constrained=constrained), strict=True):
            ev.documents += 1
            ev.latencies.append(result.seconds)
            ev.valid_json += result.parsed is not None
            ev.compliant += schema_compliant(result.parsed, extractor.type_schema(record))
            gold = field_values(adc_json(record))
            pred = field_values(result.parsed)
            ev.gold += len(gold)
            ev.predicted += len(pred)
            ev.true_positive += sum(1 for k, v in pred.items() if gold.get(k) == v)
            ev.hallucinated += sum(1 for v in pred.values() if not is_word_run(v, record.words))
            if len(ev.examples) < keep_examples:
                ev.examples.append({"id": record.id, "output": result.text[:2000]})
    return ev
