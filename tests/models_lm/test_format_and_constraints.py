"""Text format, tokenizer and the constrained decoder, without training: the guarantees that hold by
construction (valid schema JSON, values copied from the document) must hold even for a random model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LogitsProcessorList

from sap_llm_core.models.base_lm.formatting import (
    ExtractionSchema,
    adc_json,
    completion_text,
    pretraining_text,
    prompt_text,
)
from sap_llm_core.models.base_lm.pretrain import BaseLMHyperparameters, build_model
from sap_llm_core.models.base_lm.tokenizer import token_bytes, train_tokenizer
from sap_llm_core.models.language_decoder.constrained import (
    ConstrainedJSONLogitsProcessor,
    DocumentAutomaton,
    VocabTrie,
)
from sap_llm_core.models.language_decoder.extract import (
    Extractor,
    evaluate,
    field_values,
    is_word_run,
    schema_compliant,
)


@pytest.fixture(scope="module")
def schema(corpus_records):
    return ExtractionSchema.from_records(corpus_records[:280])


@pytest.fixture(scope="module")
def tokenizer(corpus_records, schema):
    return train_tokenizer([pretraining_text(r, schema) for r in corpus_records[:280]], 1024)


def test_schema_orders_keys_as_printed_and_covers_every_type(corpus_records, schema):
    po = schema.types["PURCHASE_ORDER"]
    assert {"po_number", "po_date", "vendor_name", "total_amount"} <= set(po.header)
    assert po.columns[:2] == ["item_number", "material_number"]
    assert po.header.index("subtotal") < po.header.index("total_amount")
    assert {r.document_type for r in corpus_records[:280]} == set(schema.types)
    assert ExtractionSchema.from_json(schema.to_json()) == schema


def test_completion_is_the_ground_truth_in_schema_order(corpus_records, schema):
    record = corpus_records[0]
    completion = json.loads(completion_text(record, schema))
    gt = adc_json(record)
    assert list(completion["header"]) == schema.types[record.document_type].header
    assert {k: v for k, v in completion["header"].items() if v is not None} == gt["header"]
    assert completion["line_items"] == [
        {c: item.get(c) for c in schema.types[record.document_type].columns} for item in gt["line_items"]
    ]


def test_tokenizer_is_byte_exact_and_tokenizes_words_alike(corpus_records, schema, tokenizer):
    table = token_bytes(tokenizer)
    for record in corpus_records[300:320]:
        text = pretraining_text(record, schema)
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert b"".join(table.get(i, b"") for i in ids) == text.encode()
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # a word is the same token ids wherever it appears: copying is repeating ids
    word = corpus_records[300].words[5]
    in_prompt = tokenizer(f"x {word} y", add_special_tokens=False)["input_ids"][2:-2]
    in_json = tokenizer(f'{{"k":"{word}","z":1}}', add_special_tokens=False)["input_ids"]
    assert all(i in in_json for i in in_prompt)


def test_automaton_accepts_ground_truth_and_rejects_invented_values(corpus_records, schema, tokenizer):
    trie = VocabTrie(tokenizer)
    table = token_bytes(tokenizer)
    for record in corpus_records[280:330]:
        automaton = DocumentAutomaton(schema.types[record.document_type], record.words)
        state = automaton.start
        for tid in tokenizer(completion_text(record, schema), add_special_tokens=False)["input_ids"]:
            assert tid in automaton.allowed_tokens(state, trie), (record.id, table[tid])
            state = automaton.advance(state, table[tid])
        assert state == ("E",)
        assert automaton.allowed_tokens(state, trie) == [tokenizer.eos_token_id]
    record = corpus_records[280]
    automaton = DocumentAutomaton(schema.types[record.document_type], record.words)
    first_key = schema.types[record.document_type].header[0]
    prefix = f'{{"header":{{"{first_key}":"'.encode()
    state = automaton.advance(automaton.start, prefix)
    assert state is not None
    assert automaton.advance(state, b"ZZZ-not-in-the-document") is None  # invented value
    assert automaton.advance(automaton.start, b'{"header":{"made_up_key":') is None  # invented key
    assert automaton.advance(automaton.start, prefix + record.words[0].encode() + b'"') is not None


def test_random_model_with_constraints_writes_schema_json_from_document_words(
    corpus_records, schema, tokenizer
):
    """An untrained model knows nothing, so anything it writes comes from the constraint alone."""
    hp = BaseLMHyperparameters(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model = build_model(hp, tokenizer).eval()
    # a small token budget: the processor must still close the JSON (the shortest way out) in time
    extractor = Extractor(model, tokenizer, schema, max_new_tokens=160)
    records = corpus_records[330:336]
    ev = evaluate(extractor, records, constrained=True, batch_size=3)
    metrics = ev.metrics("c")
    assert metrics["c/documents"] == 6
    assert metrics["c/schema_compliance"] == 1.0
    assert metrics["c/valid_json"] == 1.0
    assert metrics["c/hallucination_rate"] == 0.0
    assert ev.predicted > 0  # it did write values, and each is a run of the document's words
    extractor.max_new_tokens = 40
    free = evaluate(extractor, records[:2], constrained=False).metrics("u")
    assert free["u/schema_compliance"] == 0.0  # the same model without the constraint writes noise


def test_processor_masks_per_row_and_allows_only_eos_at_the_end(corpus_records, schema, tokenizer):
    trie, table = VocabTrie(tokenizer), token_bytes(tokenizer)
    records = corpus_records[336:338]
    automata = [DocumentAutomaton(schema.types[r.document_type], r.words) for r in records]
    processor = ConstrainedJSONLogitsProcessor(automata, trie, table)
    prompt = torch.zeros((2, 4), dtype=torch.long)
    scores = processor(prompt, torch.zeros((2, len(tokenizer))))
    opening = tokenizer('{"header":{"', add_special_tokens=False)["input_ids"][0]
    assert torch.isfinite(scores[:, opening]).all()
    assert torch.isfinite(scores).sum(dim=1).tolist() == [
        len(a.allowed_tokens(a.start, trie)) for a in automata
    ]
    assert not torch.isfinite(scores[:, tokenizer.eos_token_id]).any()
    assert isinstance(LogitsProcessorList([processor]), LogitsProcessorList)


def test_metrics_helpers():
    words = ["Total", "1.234,50", "EUR", "ACME", "GmbH"]
    assert is_word_run("ACME GmbH", words)
    assert not is_word_run("ACME  GmbH", words) and not is_word_run("ACME Gmb", words)
    assert field_values({"header": {"a": "x", "b": None}, "line_items": [{"c": "y"}]}) == {
        "header.a": "x",
        "line_items[0].c": "y",
    }


def test_schema_compliance_is_strict(corpus_records, schema):
    record = corpus_records[0]
    ts = schema.types[record.document_type]
    good = json.loads(completion_text(record, schema))
    assert schema_compliant(good, ts)
    assert not schema_compliant({**good, "extra": 1}, ts)
    missing = {"header": dict(list(good["header"].items())[1:]), "line_items": good["line_items"]}
    assert not schema_compliant(missing, ts)
    assert not schema_compliant(None, ts)
    assert prompt_text(record).endswith("\nJSON:\n")
