"""Records -> model inputs: sub-tokens aligned to words, word boxes per token, BIO labels.

Only the first sub-token of a word carries the word's label (the others get -100, ignored by the loss
and by decoding), the usual alignment for token classification. ``max_subtokens_per_word`` caps long
numbers and compounds (an IBAN is ~10 WordPieces): the first pieces identify the word's shape and the
box carries its position, and the shorter sequence makes CPU training affordable.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import torch

from sap_llm_core.schema import DocumentRecord

IGNORE = -100
NO_SUBTYPE = "NONE"
OUTSIDE = "O"
SHAPE_BUCKETS = 4096  # hashed word shapes; id 0 is "no word" (CLS, SEP, padding)


def word_shape(word: str) -> str:
    """The word's form with its content abstracted: digits -> ``d``, letters -> ``X``/``x`` (runs of
    letters capped at 3), punctuation kept. ``2.234,96`` -> ``d.ddd,dd``, ``11/22/2024`` ->
    ``dd/dd/dddd``, ``DE123456789`` -> ``XXddddddddd``. With one sub-token per word the encoder sees only
    a number's first piece (``2``); the shape restores the format that tells a quantity from a price,
    a date or a document number."""
    out: list[str] = []
    run = 0
    for char in word[:24]:
        code = "d" if char.isdigit() else "X" if char.isupper() else "x" if char.isalpha() else char
        run = run + 1 if out and code in "Xx" and out[-1] == code else 0
        if code not in "Xx" or run < 3:
            out.append(code)
    return "".join(out)


def shape_id(word: str) -> int:
    return 1 + zlib.crc32(word_shape(word).encode("utf-8")) % (SHAPE_BUCKETS - 1)


def bio_tags(record: DocumentRecord) -> list[str]:
    """Word-level BIO tags from ``field_spans``: B- on a span's first word, I- on the rest."""
    tags = [OUTSIDE] * len(record.words)
    for span in record.field_spans:
        for position, index in enumerate(sorted(span.word_indices)):
            if tags[index] == OUTSIDE:  # overlapping spans: the first one wins
                tags[index] = f"{'B' if position == 0 else 'I'}-{span.label}"
    return tags


@dataclass
class LabelSpace:
    """The classes of the three heads, fixed at training time and saved with the model."""

    document_types: list[str]
    subtypes: list[str]
    tags: list[str]
    type_index: dict[str, int] = field(init=False, repr=False)
    subtype_index: dict[str, int] = field(init=False, repr=False)
    tag_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.type_index = {t: i for i, t in enumerate(self.document_types)}
        self.subtype_index = {t: i for i, t in enumerate(self.subtypes)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def from_records(cls, records: list[DocumentRecord], known_types: list[str] | None = None) -> LabelSpace:
        types = sorted(set(known_types or []) | {r.document_type for r in records})
        subtypes = sorted({r.subtype or NO_SUBTYPE for r in records} | {NO_SUBTYPE})
        labels = sorted({span.label for r in records for span in r.field_spans})
        tags = [OUTSIDE] + [f"{p}-{label}" for label in labels for p in ("B", "I")]
        return cls(types, subtypes, tags)

    def to_json(self) -> dict[str, list[str]]:
        return {"document_types": self.document_types, "subtypes": self.subtypes, "tags": self.tags}


@dataclass
class TokenizerAdapter:
    """Per-word tokenisation that works for WordPiece (BERT) and BPE (LayoutLMv3/RoBERTa) alike."""

    tokenizer: Any
    max_subtokens_per_word: int = 3
    _cache: dict[str, list[int]] = field(default_factory=dict, repr=False)

    @property
    def bpe(self) -> bool:
        return self.tokenizer.cls_token == "<s>"

    def word_ids(self, word: str) -> list[int]:
        if word not in self._cache:
            text = f" {word}" if self.bpe else word
            ids = self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(text))
            self._cache[word] = (ids or [self.tokenizer.unk_token_id])[: self.max_subtokens_per_word]
        return self._cache[word]


def encode(
    record: DocumentRecord,
    adapter: TokenizerAdapter,
    labels: LabelSpace | None,
    max_length: int,
) -> dict[str, Any]:
    """One document as token ids, boxes, the word of each token and (when training) labels."""
    tok = adapter.tokenizer
    input_ids, boxes, word_of_token, tag_ids = [tok.cls_token_id], [[0, 0, 0, 0]], [-1], [IGNORE]
    shapes = [0]
    tags = bio_tags(record) if labels is not None else None
    for index, (word, box) in enumerate(zip(record.words, record.boxes, strict=True)):
        pieces = adapter.word_ids(word)
        shape = shape_id(word)
        if len(input_ids) + len(pieces) > max_length - 1:
            break  # truncated: words past here are predicted O
        for position, piece in enumerate(pieces):
            input_ids.append(piece)
            boxes.append(list(box))
            shapes.append(shape)
            word_of_token.append(index if position == 0 else -1)
            if tags is not None:
                tag_ids.append(labels.tag_index.get(tags[index], 0) if position == 0 else IGNORE)
    input_ids.append(tok.sep_token_id)
    boxes.append([1000, 1000, 1000, 1000])
    shapes.append(0)
    word_of_token.append(-1)
    tag_ids.append(IGNORE)
    item: dict[str, Any] = {
        "input_ids": input_ids,
        "bbox": boxes,
        "shape_ids": shapes,
        "word_of_token": word_of_token,
        "num_words": len(record.words),
    }
    if labels is not None:
        item["tag_labels"] = tag_ids
        item["type_label"] = labels.type_index.get(record.document_type, IGNORE)
        item["subtype_label"] = labels.subtype_index.get(record.subtype or NO_SUBTYPE, IGNORE)
    return item


def collate(items: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest document (dynamic padding: no work on pad tokens beyond that)."""
    width = max(len(i["input_ids"]) for i in items)
    n = len(items)
    batch = {
        "input_ids": torch.full((n, width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((n, width), dtype=torch.long),
        "bbox": torch.zeros((n, width, 4), dtype=torch.long),
        "shape_ids": torch.zeros((n, width), dtype=torch.long),
        "word_of_token": torch.full((n, width), -1, dtype=torch.long),
    }
    with_labels = "tag_labels" in items[0]
    if with_labels:
        batch["tag_labels"] = torch.full((n, width), IGNORE, dtype=torch.long)
        batch["type_labels"] = torch.tensor([i["type_label"] for i in items], dtype=torch.long)
        batch["subtype_labels"] = torch.tensor([i["subtype_label"] for i in items], dtype=torch.long)
    for row, item in enumerate(items):
        length = len(item["input_ids"])
        batch["input_ids"][row, :length] = torch.tensor(item["input_ids"])
        batch["attention_mask"][row, :length] = 1
        batch["bbox"][row, :length] = torch.tensor(item["bbox"])
        batch["shape_ids"][row, :length] = torch.tensor(item["shape_ids"])
        batch["word_of_token"][row, :length] = torch.tensor(item["word_of_token"])
        if with_labels:
            batch["tag_labels"][row, :length] = torch.tensor(item["tag_labels"])
    return batch
