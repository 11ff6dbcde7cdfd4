"""Entity-level F1 over BIO tags (the seqeval/CoNLL definition: an entity counts only when its label
and exact word span both match), plus accuracy, without extra dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# ``DocumentRecord.source`` of the public datasets (sap_llm_core.corpus.loaders.LOADERS): their labels are
# their own (FUNSD question/answer/header, CORD menu.*, SROIE company/date/...), not SAP fields.
PUBLIC_SOURCES = frozenset({"funsd", "cord", "sroie", "rvl_cdip"})


def entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """(label, start, end) spans from BIO tags; an I- without a matching B- starts a new entity."""
    found: set[tuple[str, int, int]] = set()
    label, start = None, -1
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == label
        if label is not None and not continues:
            found.add((label, start, i - 1))
            label = None
        if prefix in ("B", "I") and not continues:
            label, start = name, i
    return found


def entity_prf(gold: Iterable[Sequence[str]], predicted: Iterable[Sequence[str]]) -> dict[str, float]:
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted, strict=True):
        ge, pe = entities(g), entities(p)
        tp += len(ge & pe)
        n_gold += len(ge)
        n_pred += len(pe)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold_entities": float(n_gold)}


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0
