"""The completion the language models learn: the document's OCR text re-written with a field tag after
every word that belongs to an ADC value, and its inverse (tagged text -> ADC JSON).

Why tags after words instead of the JSON itself: a model that writes JSON must *find* each value in the
prompt and copy it, token by token (an induction circuit that a small model learns only after many
steps). Re-writing the document with tags turns extraction into a local decision: after reading a
word, with everything before it in view, is it the first word of a value (``<B:h.invoice_number>``),
the next word of the value before it (``<I>``), or no value (nothing)? Constrained decoding forces the
document's words, so the model only makes those decisions; the ADC JSON is assembled from the tagged
spans, valid for the type's schema by construction, every value a run of the document's words.

Example: ``Rechnungsnummer: DJ/1524/2026<B:h.invoice_number>\\n`` and ``Hecker<B:h.vendor_name>
Hellwig<I> GmbH<I>``. A line item starts when a column tag repeats a column the current item has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sap_llm_core.schema import DocumentRecord

INSIDE = "<I>"
MAX_VALUE_WORDS = 24  # the longest ground-truth value (a receipt address) is 18 words


def header_tag(key: str) -> str:
    return f"<B:h.{key}>"


def column_tag(column: str) -> str:
    return f"<B:c.{column}>"


def tag_tokens(types: dict[str, Any]) -> list[str]:
    """Every tag of every type's schema (``types``: doc type -> TypeSchema), in a stable order."""
    tags = {header_tag(k) for s in types.values() for k in s.header}
    tags |= {column_tag(c) for s in types.values() for c in s.columns}
    return [INSIDE, *sorted(tags)]


def layout(record: DocumentRecord) -> list[tuple[str, str]]:
    """``(word, separator after it)``: OCR lines when they hold exactly the words (keeps rows on their
    own lines, which line items need), else the words spaced; the last separator is empty."""
    lines = [line.split() for line in record.ocr_text.splitlines()]
    if [w for line in lines for w in line] == list(record.words):
        out = [(w, "\n" if j == len(line) - 1 else " ") for line in lines for j, w in enumerate(line)]
    else:
        out = [(w, " ") for w in record.words]
    if out:
        out[-1] = (out[-1][0], "")
    return out


@dataclass(frozen=True)
class Span:
    start: int  # first word index
    end: int  # last word index (inclusive)
    tag: str  # header_tag(key) or column_tag(column)


def value_spans(record: DocumentRecord, adc: dict[str, Any], type_schema: Any) -> list[Span]:
    """Word spans of the ground-truth values: the record's field spans where they spell the value,
    else the first run of words that does. Values found nowhere, or overlapping an earlier span, are
    left out (the model cannot copy them; they count as misses in evaluation)."""
    words = list(record.words)
    annotated = {s.field: s.word_indices for s in record.field_spans if s.word_indices}
    wanted: list[tuple[str, str, str]] = []
    for key, value in adc["header"].items():
        if key in type_schema.header and isinstance(value, str):
            wanted.append((f"header.{key}", key, header_tag(key)))
    for row, item in enumerate(adc["line_items"]):
        for col, value in item.items():
            if col in type_schema.columns and isinstance(value, str):
                wanted.append((f"line_items[{row}].{col}", col, column_tag(col)))
    values = {f"header.{k}": v for k, v in adc["header"].items()}
    for row, item in enumerate(adc["line_items"]):
        values.update({f"line_items[{row}].{c}": v for c, v in item.items()})
    taken: set[int] = set()
    spans: list[Span] = []
    for path, key, tag in wanted:
        value = values[path]
        parts = value.split(" ")
        n = len(parts)
        indices = annotated.get(path) or annotated.get(key if path.startswith("header.") else "")
        start = None
        if indices and words[indices[0] : indices[0] + n] == parts:
            start = indices[0]
        else:
            start = next((i for i in range(len(words) - n + 1) if words[i : i + n] == parts), None)
        if start is None or n > MAX_VALUE_WORDS or taken & set(range(start, start + n)):
            continue
        taken |= set(range(start, start + n))
        spans.append(Span(start, start + n - 1, tag))
    return sorted(spans, key=lambda s: s.start)


def word_tags(n_words: int, spans: Sequence[Span]) -> list[str]:
    """The tag written after each word ("" for none)."""
    tags = [""] * n_words
    for span in spans:
        tags[span.start] = span.tag
        for i in range(span.start + 1, span.end + 1):
            tags[i] = INSIDE
    return tags


def tagged_text(record: DocumentRecord, tags: Sequence[str]) -> str:
    return "".join(word + tag + sep for (word, sep), tag in zip(layout(record), tags, strict=True))


def spans_to_adc(words: Sequence[str], tags: Sequence[str], type_schema: Any) -> dict[str, Any] | None:
    """ADC JSON in the type's key order (missing keys null) from per-word tags; None when the tags are
    malformed (``<I>`` after an untagged word) or name a key outside the type's schema."""
    header: dict[str, str] = {}
    items: list[dict[str, str]] = []
    current: tuple[str, str] | None = None  # ("h"|"c", key) of the value being extended
    values: list[list[str]] = []
    for word, tag in zip(words, tags, strict=True):
        if tag == INSIDE:
            if current is None:
                return None
            values[-1].append(word)
        elif tag.startswith("<B:") and tag.endswith(">"):
            kind, _, key = tag[3:-1].partition(".")
            if kind == "h" and key in type_schema.header:
                values.append([word])
                if key not in header:  # a header key already filled: later copies are ignored
                    header[key] = values[-1]  # type: ignore[assignment]
            elif kind == "c" and key in type_schema.columns:
                if not items or key in items[-1]:
                    items.append({})
                values.append([word])
                items[-1][key] = values[-1]  # type: ignore[assignment]
            else:
                return None
            current = (kind, key)
        elif tag == "":
            current = None
        else:
            return None
    return {
        "header": {k: " ".join(header[k]) if k in header else None for k in type_schema.header},
        "line_items": [
            {c: " ".join(item[c]) if c in item else None for c in type_schema.columns} for item in items
        ],
    }
