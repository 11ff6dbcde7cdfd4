"""Constrained decoding of the tagged completion: the document's own words are forced token by token
(in the tokenizer's canonical spelling), and after each word the model chooses only among "no tag",
``<I>`` (continue the value before) and the ``<B:...>`` tags of the document type's schema.

So by construction every extracted value is a run of the document's words (hallucination is
impossible) and the assembled ADC JSON has exactly the type's keys (schema compliance is certain),
and the completion's length is known in advance (``TaggedDocument.max_tokens``): no token budget
can cut it short. ``TaggingLogitsProcessor`` works inside ``model.generate``; :func:`greedy_decode`
is the same decision rule with forced tokens fed to the model in one step each run (the model is only
asked where it has a choice), several times faster on a CPU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from sap_llm_core.models.base_lm.formatting import TypeSchema
from sap_llm_core.models.base_lm.tagged import (
    INSIDE,
    MAX_VALUE_WORDS,
    column_tag,
    header_tag,
    layout,
    spans_to_adc,
)
from sap_llm_core.models.language_decoder.label_prior import LabelPrior
from sap_llm_core.schema import DocumentRecord


class TaggedDocument:
    """One record's forced token stream: canonical token ids of each word and its separator, plus the
    tag ids its type may use."""

    def __init__(self, record: DocumentRecord, type_schema: TypeSchema, tokenizer: PreTrainedTokenizerBase):
        pairs = layout(record)
        self.type_schema = type_schema
        self.words = [w for w, _ in pairs]
        encoded = tokenizer(self.words, add_special_tokens=False)["input_ids"] if pairs else []
        self.word_ids: list[list[int]] = [list(ids) for ids in encoded]
        seps = {sep: tokenizer(sep, add_special_tokens=False)["input_ids"] for _, sep in pairs if sep}
        eos = tokenizer.eos_token_id
        self.sep_ids = [seps[sep] if sep else [eos] for _, sep in pairs]
        vocab = tokenizer.get_vocab()
        self.header_tags = {vocab[header_tag(k)]: k for k in type_schema.header if header_tag(k) in vocab}
        self.column_tags = [vocab[column_tag(c)] for c in type_schema.columns if column_tag(c) in vocab]
        self.inside = vocab[INSIDE]
        self.eos = eos
        self.doc_type = record.document_type
        self.tag_names = {t: header_tag(k) for t, k in self.header_tags.items()}
        self.tag_names.update(
            {vocab[column_tag(c)]: column_tag(c) for c in type_schema.columns if column_tag(c) in vocab}
        )
        self.tag_names[self.inside] = INSIDE
        self.max_tokens = (
            sum(len(w) + len(s) + 1 for w, s in zip(self.word_ids, self.sep_ids, strict=True)) + 1
        )


@dataclass
class _Row:
    word: int = 0  # index of the current word
    offset: int = 0  # tokens of the current word (then of its separator) already written
    phase: str = "W"  # W: writing the word, D: tag decision, S: writing the separator, E: done
    run: int = 0  # words in the value being extended (0: the previous word has no tag)
    used_header: set[str] = field(default_factory=set)  # header keys already tagged (each once)
    tags: list[int | None] = field(default_factory=list)


class TaggingLogitsProcessor(LogitsProcessor):
    """Masks every token but the allowed ones, one :class:`TaggedDocument` per batch row; works with
    ``model.generate`` (greedy or sampling) on left-padded batches."""

    def __init__(
        self,
        documents: Sequence[TaggedDocument],
        pad_token_id: int | None = None,
        prior: LabelPrior | None = None,
    ):
        self.documents = list(documents)
        self.prior = prior
        self.rows = [_Row() if d.words else _Row(phase="E") for d in self.documents]
        self.pad_token_id = pad_token_id
        self.prompt_len: int | None = None
        self.consumed = [0] * len(self.documents)

    # the automaton -------------------------------------------------------------------------------
    def allowed(self, index: int) -> list[int]:
        doc, row = self.documents[index], self.rows[index]
        if row.phase == "E":
            return [doc.eos] + ([self.pad_token_id] if self.pad_token_id is not None else [])
        if row.phase == "W":
            return [doc.word_ids[row.word][row.offset]]
        sep = doc.sep_ids[row.word]
        if row.phase == "S":
            return [sep[row.offset]]
        options = [sep[0], *doc.column_tags]
        options += [t for t, k in doc.header_tags.items() if k not in row.used_header]
        if 0 < row.run < MAX_VALUE_WORDS:
            options.append(doc.inside)
        return options

    def bias(self, index: int, allowed: Sequence[int]) -> list[float] | None:
        """The label prior's log-probabilities of the allowed tags at a decision (None elsewhere)."""
        row = self.rows[index]
        if self.prior is None or row.phase != "D":
            return None
        doc = self.documents[index]
        options = [doc.tag_names.get(t, "") for t in allowed]
        return self.prior.log_probs(doc.doc_type, doc.words, row.word, options)

    def advance(self, index: int, token: int) -> None:
        doc, row = self.documents[index], self.rows[index]
        if row.phase == "E":
            return
        if row.phase == "W":
            row.offset += 1
            if row.offset == len(doc.word_ids[row.word]):
                row.phase, row.offset = "D", 0
            return
        if row.phase == "D":
            if token == doc.inside:
                row.tags.append(token)
                row.run += 1
                row.phase = "S"
                return
            if token in doc.header_tags or token in doc.column_tags:
                row.tags.append(token)
                if token in doc.header_tags:
                    row.used_header.add(doc.header_tags[token])
                row.run = 1
                row.phase = "S"
                return
            row.tags.append(None)
            row.run = 0
            row.phase = "S"  # the token is the separator's first: fall through
        row.offset += 1
        if row.offset == len(doc.sep_ids[row.word]):
            row.word, row.offset = row.word + 1, 0
            row.phase = "W" if row.word < len(doc.words) else "E"

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        generated = input_ids.shape[1] - self.prompt_len
        mask = torch.full_like(scores, float("-inf"))
        for index in range(len(self.documents)):
            for token in input_ids[index, self.prompt_len + self.consumed[index] :].tolist():
                self.advance(index, token)
            self.consumed[index] = generated
            allowed = self.allowed(index)
            bias = self.bias(index, allowed)
            mask[index, allowed] = 0.0 if bias is None else torch.tensor(bias, dtype=mask.dtype)
        return scores + mask

    def word_tags(self, index: int, tokenizer: PreTrainedTokenizerBase) -> list[str]:
        """The tag (string) chosen after each word of row ``index``."""
        names = tokenizer.convert_ids_to_tokens([t for t in self.rows[index].tags if t is not None])
        it = iter(names)
        return [next(it) if t is not None else "" for t in self.rows[index].tags]


@torch.inference_mode()
def greedy_decode(
    model: torch.nn.Module, prompt_ids: list[int], processor: TaggingLogitsProcessor
) -> list[int]:
    """Greedy constrained decoding of row 0, asking the model only where there is a choice: a run of
    forced tokens is fed in one forward pass (with the KV cache). Same output as greedy ``generate``
    with the processor."""
    from transformers import DynamicCache

    cache = DynamicCache()
    pending = list(prompt_ids)
    generated: list[int] = []
    position = 0
    while processor.rows[0].phase != "E":
        allowed = processor.allowed(0)
        if len(allowed) == 1:
            token = allowed[0]
        else:
            ids = torch.tensor([pending])
            positions = torch.arange(position, position + len(pending)).unsqueeze(0)
            out = model(input_ids=ids, past_key_values=cache, position_ids=positions, use_cache=True)
            cache = out.past_key_values
            position += len(pending)
            pending = []
            scores = out.logits[0, -1, allowed].float()
            bias = processor.bias(0, allowed)
            if bias is not None:
                scores = torch.log_softmax(scores, dim=-1) + torch.tensor(bias)
            token = allowed[int(torch.argmax(scores))]
        pending.append(token)
        generated.append(token)
        processor.advance(0, token)
    return generated


_TAGGED = re.compile(r"^([^\x00]+)(?:\x00(\d+)\x01)?$")


def parse_generated(
    ids: Sequence[int], tokenizer: PreTrainedTokenizerBase, type_schema: TypeSchema
) -> tuple[list[str], dict | None]:
    """Words and ADC JSON from generated ids (constrained or free). Free text may be malformed: a tag
    with no word before it, two tags on a word, or a tag outside the type: then the JSON is None."""
    special = set(tokenizer.all_special_ids) - {tokenizer.eos_token_id, tokenizer.pad_token_id}
    pieces: list[str] = []
    run: list[int] = []
    for token in ids:
        if token in (tokenizer.eos_token_id, tokenizer.pad_token_id):
            break
        if token in special:
            pieces.append(tokenizer.decode(run))
            pieces.append(f"\x00{token}\x01")
            run = []
        else:
            run.append(token)
    pieces.append(tokenizer.decode(run))
    words, tags = [], []
    for chunk in "".join(pieces).split():
        match = _TAGGED.match(chunk)
        if match is None:
            return words, None
        words.append(match.group(1))
        tag = match.group(2)
        tags.append(tokenizer.convert_ids_to_tokens(int(tag)) if tag else "")
    return words, spans_to_adc(words, tags, type_schema)
