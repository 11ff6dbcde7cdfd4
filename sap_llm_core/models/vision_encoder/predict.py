"""Inference and held-out evaluation: document type, subtype and field entities per document."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sap_llm_core.models.vision_encoder.features import (
    NO_SUBTYPE,
    OUTSIDE,
    TokenizerAdapter,
    bio_tags,
    collate,
    encode,
)
from sap_llm_core.models.vision_encoder.metrics import PUBLIC_SOURCES, accuracy, entities, entity_prf
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


def bio_structure(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per tag: whether it is an ``I-x`` and the index of its ``B-x`` (itself when there is none)."""
    inside = np.array([t.startswith("I-") for t in tags])
    index = {t: i for i, t in enumerate(tags)}
    begin = np.array([index.get(f"B-{t[2:]}", i) if t.startswith("I-") else i for i, t in enumerate(tags)])
    return inside, begin


def viterbi_bio(log_probs: np.ndarray, structure: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """The most probable tag sequence (per-word log-probabilities ``[words, tags]``) that is valid BIO:
    an ``I-x`` only after ``B-x`` or ``I-x``, everything else anywhere. A CRF-free repair of the greedy
    decoding, which otherwise splits an entity wherever one inner word's tag flips to another label.
    O(words x tags): an ``O``/``B-`` tag may follow the best tag, an ``I-x`` the better of ``B-x``/``I-x``."""
    inside, begin = structure
    if len(log_probs) == 0:
        return []
    own = np.arange(len(inside))
    score = np.where(inside, -np.inf, log_probs[0])
    back = np.empty((len(log_probs), len(inside)), dtype=np.int64)
    for t in range(1, len(log_probs)):
        previous = np.where(inside, np.where(score[begin] >= score, begin, own), score.argmax())
        score = score[previous] + log_probs[t]
        back[t] = previous
    path = [int(score.argmax())]
    for t in range(len(log_probs) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


@torch.no_grad()
def predict(
    model: VisionEncoder,
    tokenizer: Any,
    records: list[DocumentRecord],
    max_length: int = 384,
    batch_size: int = 16,
    max_subtokens_per_word: int = 3,
    bio_decoding: str = "viterbi",
) -> list[Prediction]:
    """Type, subtype and per-word BIO tags for each record. ``bio_decoding``: ``"viterbi"`` (valid BIO,
    the default) or ``"greedy"`` (per-word argmax)."""
    model.eval()
    device = next(model.parameters()).device
    adapter = TokenizerAdapter(tokenizer, max_subtokens_per_word)
    labels = model.labels
    structure = bio_structure(labels.tags)
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
        tag_log_probs = outputs["tag_logits"].float().log_softmax(-1).cpu()
        for row, index in enumerate(chunk):
            tags = [OUTSIDE] * items[row]["num_words"]
            word_of_token = batch["word_of_token"][row]
            positions = (word_of_token >= 0).nonzero().squeeze(1)  # first sub-tokens, in word order
            scores = tag_log_probs[row, positions]
            if bio_decoding == "viterbi":
                tag_ids = viterbi_bio(scores.numpy(), structure)
            else:
                tag_ids = scores.argmax(-1).tolist()
            for word, tag_id in zip(word_of_token[positions].tolist(), tag_ids, strict=True):
                tags[word] = labels.tags[tag_id]
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
    """Held-out metrics: type/subtype accuracy, field entity P/R/F1, inference documents/s.

    Field F1 is reported per population, because the public datasets' labels are not SAP fields (FUNSD
    question/answer/header, CORD menu items, SROIE company/date/address/total):

    * ``field_f1`` / ``field_precision`` / ``field_recall``: SAP fields on the SAP documents (every source
      but the public datasets), the figure the registry's target is about; on a split with no SAP
      document (a FUNSD-only run) the same as ``field_f1_all``;
    * ``field_f1_all``: every document of the split, public ones included (the former ``field_f1``);
    * ``public_entity_f1``: the public datasets' own entities on their documents;
    * ``field_f1.<source>`` and ``type_accuracy.<source>``/``subtype_accuracy.<source>``: per source.

    Type and subtype accuracy are over every document.
    """
    start = time.perf_counter()
    predictions = predict(model, tokenizer, records, **kwargs)
    seconds = time.perf_counter() - start
    gold_tags = [bio_tags(r) for r in records]
    predicted_tags = [p.tags for p in predictions]

    def fields_of(indices: list[int]) -> dict[str, float]:
        return entity_prf([gold_tags[i] for i in indices], [predicted_tags[i] for i in indices])

    def accuracies(indices: list[int]) -> tuple[float, float]:
        return (
            accuracy(
                [records[i].document_type for i in indices], [predictions[i].document_type for i in indices]
            ),
            accuracy(
                [records[i].subtype or NO_SUBTYPE for i in indices],
                [predictions[i].subtype or NO_SUBTYPE for i in indices],
            ),
        )

    everything = list(range(len(records)))
    sap = [i for i in everything if records[i].source not in PUBLIC_SOURCES]
    public = [i for i in everything if records[i].source in PUBLIC_SOURCES]
    overall = fields_of(everything)
    sap_fields = fields_of(sap) if sap else overall
    type_accuracy, subtype_accuracy = accuracies(everything)
    metrics = {
        "type_accuracy": type_accuracy,
        "subtype_accuracy": subtype_accuracy,
        "field_precision": sap_fields["precision"],
        "field_recall": sap_fields["recall"],
        "field_f1": sap_fields["f1"],
        "field_f1_all": overall["f1"],
        "field_precision_all": overall["precision"],
        "field_recall_all": overall["recall"],
        "public_entity_f1": fields_of(public)["f1"] if public else float("nan"),
        "eval_documents": float(len(records)),
        "eval_sap_documents": float(len(sap)),
        "inference_documents_per_second": len(records) / seconds if seconds else 0.0,
    }
    for source in sorted({r.source for r in records}):
        indices = [i for i in everything if records[i].source == source]
        metrics[f"field_f1.{source}"] = fields_of(indices)["f1"]
        metrics[f"type_accuracy.{source}"], metrics[f"subtype_accuracy.{source}"] = accuracies(indices)
    return metrics
