"""Inference and held-out evaluation: document type, subtype and field entities per document."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from sap_llm_core.models.vision_encoder.features import (
    NO_SUBTYPE,
    OUTSIDE,
    TokenizerAdapter,
    bio_tags,
    collate,
    encode,
)
from sap_llm_core.models.vision_encoder.metrics import accuracy, entities, entity_prf
from sap_llm_core.models.vision_encoder.model import VisionEncoder
from sap_llm_core.schema import DocumentRecord


@dataclass
class Prediction:
    document_type: str
    subtype: str | None
    type_confidence: float
    tags: list[str]

    def fields(self, words: list[str]) -> list[dict[str, Any]]:
        """Predicted entities as ``{"label", "text", "word_indices"}``."""
        return [
            {"label": label, "text": " ".join(words[s : e + 1]), "word_indices": list(range(s, e + 1))}
            for label, s, e in sorted(entities(self.tags), key=lambda x: x[1])
        ]


@torch.no_grad()
def predict(
    model: VisionEncoder,
    tokenizer: Any,
    records: list[DocumentRecord],
    max_length: int = 384,
    batch_size: int = 16,
    max_subtokens_per_word: int = 3,
) -> list[Prediction]:
    model.eval()
    device = next(model.parameters()).device
    adapter = TokenizerAdapter(tokenizer, max_subtokens_per_word)
    labels = model.labels
    out: list[Prediction] = []
    # Sort by length so each batch pads little; restore the caller's order at the end.
    order = sorted(range(len(records)), key=lambda i: len(records[i].words))
    by_index: dict[int, Prediction] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        items = [encode(records[i], adapter, None, max_length) for i in chunk]
        batch = collate(items, tokenizer.pad_token_id or 0)
        outputs = model(**{k: v.to(device) for k, v in batch.items()})
        type_probs = outputs["type_logits"].float().softmax(-1).cpu()
        subtype_ids = outputs["subtype_logits"].argmax(-1).cpu()
        tag_ids = outputs["tag_logits"].argmax(-1).cpu()
        for row, index in enumerate(chunk):
            tags = [OUTSIDE] * items[row]["num_words"]
            for position, word in enumerate(batch["word_of_token"][row].tolist()):
                if word >= 0:
                    tags[word] = labels.tags[tag_ids[row, position]]
            subtype = labels.subtypes[subtype_ids[row]]
            confidence, type_id = type_probs[row].max(-1)
            by_index[index] = Prediction(
                document_type=labels.document_types[type_id],
                subtype=None if subtype == NO_SUBTYPE else subtype,
                type_confidence=float(confidence),
                tags=tags,
            )
    out = [by_index[i] for i in range(len(records))]
    return out


def evaluate(
    model: VisionEncoder, tokenizer: Any, records: list[DocumentRecord], **kwargs: Any
) -> dict[str, float]:
    """Held-out metrics: type/subtype accuracy, field entity P/R/F1, inference documents/s."""
    start = time.perf_counter()
    predictions = predict(model, tokenizer, records, **kwargs)
    seconds = time.perf_counter() - start
    fields = entity_prf([bio_tags(r) for r in records], [p.tags for p in predictions])
    return {
        "type_accuracy": accuracy([r.document_type for r in records], [p.document_type for p in predictions]),
        "subtype_accuracy": accuracy(
            [r.subtype or NO_SUBTYPE for r in records], [p.subtype or NO_SUBTYPE for p in predictions]
        ),
        "field_precision": fields["precision"],
        "field_recall": fields["recall"],
        "field_f1": fields["f1"],
        "eval_documents": float(len(records)),
        "inference_documents_per_second": len(records) / seconds if seconds else 0.0,
    }
