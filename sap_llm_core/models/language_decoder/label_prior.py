"""A count-based label prior fused with the language model at each tag decision (shallow fusion).

Why: the decision "which field is this word?" hinges on the label printed before the value
(``Rechnungsnummer:``, ``N° de facture``, ``PO Reference``), in five languages and fourteen layouts. The
small LM learns where values are within its CPU budget but still confuses which key a value belongs
to; counting, on the training split, which tag follows each run of up to three preceding words gives
that mapping directly. Contexts never seen often enough (names, amounts, line-item cells) have no
prior, so there the model alone decides. Fitted with the adapter, saved beside it
(``label_prior.json``), and measured separately (``constrained_lm_only`` metrics) so the model's own
share stays visible.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from sap_llm_core.models.base_lm.formatting import ExtractionSchema, adc_json
from sap_llm_core.models.base_lm.tagged import layout, value_spans, word_tags
from sap_llm_core.schema import DocumentRecord

PRIOR_FILE = "label_prior.json"
CONTEXT_WORDS = 3
SEP = "\x1f"  # joins context words in the saved keys (never inside an OCR word)


class LabelPrior:
    """``P(tag | document type, preceding words)`` with back-off from three words to one."""

    def __init__(self, counts: dict[str, dict[str, dict[str, int]]], min_count: int = 3, weight: float = 1.0):
        self.counts = counts  # doc type -> joined context -> tag -> count
        self.min_count = min_count
        self.weight = weight

    @classmethod
    def fit(
        cls,
        records: Sequence[DocumentRecord],
        schema: ExtractionSchema,
        min_count: int = 3,
        weight: float = 1.0,
    ) -> LabelPrior:
        raw: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
        for record in records:
            adc, type_schema = adc_json(record), schema.types.get(record.document_type)
            if adc is None or type_schema is None:
                continue
            words = [w for w, _ in layout(record)]
            tags = word_tags(len(words), value_spans(record, adc, type_schema))
            for i, tag in enumerate(tags):
                for k in range(1, CONTEXT_WORDS + 1):
                    if i >= k:
                        raw[record.document_type][SEP.join(words[i - k : i])][tag] += 1
        counts = {
            doc_type: {
                ctx: dict(tags)
                for ctx, tags in contexts.items()
                if sum(tags.values()) >= min_count and any(t for t in tags)  # informative contexts only
            }
            for doc_type, contexts in raw.items()
        }
        return cls(counts, min_count, weight)

    def log_probs(
        self, doc_type: str, words: Sequence[str], index: int, options: Sequence[str]
    ) -> list[float]:
        """Weighted log-probabilities of ``options`` (tags, "" for none) after word ``index``; zeros
        when no context of the word has been seen (the model then decides alone)."""
        contexts = self.counts.get(doc_type) or {}
        for k in range(CONTEXT_WORDS, 0, -1):
            if index < k:
                continue
            tags = contexts.get(SEP.join(words[index - k : index]))
            if tags:
                total = sum(tags.values()) + len(options)
                return [self.weight * math.log((tags.get(t, 0) + 1) / total) for t in options]
        return [0.0] * len(options)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PRIOR_FILE
        path.write_text(
            json.dumps({"min_count": self.min_count, "weight": self.weight, "counts": self.counts})
        )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> LabelPrior | None:
        path = Path(folder) / PRIOR_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["counts"], data["min_count"], data["weight"])
