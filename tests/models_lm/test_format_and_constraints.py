"""Text format, tokenizer and the constrained decoder, without training: the guarantees that hold by
construction (valid schema JSON, values copied from the document) must hold even for a random model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from sap_llm_core.models.base_lm.formatting import (
    ExtractionSchema,
    adc_json,
    completion_text,
    pretraining_text,
    prompt_text,
    render_adc,
)
from sap_llm_core.models.base_lm.pretrain import BaseLMHyperparameters, build_model
from sap_llm_core.models.base_lm.tagged import INSIDE, layout, spans_to_adc, tag_tokens
from sap_llm_core.models.base_lm.tokenizer import token_bytes, train_tokenizer
from sap_llm_core.models.language_decoder.extract import (
    Extractor,
    evaluate,
    field_values,
    is_word_run,
    schema_compliant,
)
from sap_llm_core.models.language_decoder.tag_decoding import greedy_decode, parse_generated


@pytest.fixture(scope="module")
def schema(corpus_records):
    return ExtractionSchema.from_records(corpus_records[:280])


@pytest.fixture(scope="module")
def tokenizer(corpus_records, schema):
    texts = [pretraining_text(r, schema) for r in corpus_records[:280]]
    return train_tokenizer(texts, 1024, tag_tokens(schema.types))


@pytest.fixture(scope="module")
def random_model(tokenizer):
    hp = BaseLMHyperparameters(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return build_model(hp, tokenizer).eval()


def test_schema_orders_keys_as_printed_and_covers_every_type(corpus_records, schema):
    po = schema.types["PURCHASE_ORDER"]
    assert {"po_number", "po_date", "vendor_name", "total_amount"} <= set(po.header)
    assert po.columns[:2] == ["item_number", "material_number"]
    assert po.header.index("subtotal") < po.header.index("total_amount")
    assert {r.document_type for r in corpus_records[:280]} == set(schema.types)
    assert ExtractionSchema.from_json(schema.to_json()) == schema


def test_tagged_completion_rewrites_the_document_and_parses_back_to_the_ground_truth(
    corpus_records, schema, tokenizer
):
    for record in corpus_records[280:330]:
        type_schema = schema.types[record.document_type]
        completion = completion_text(record, schema)
        ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        words, parsed = parse_generated(ids, tokenizer, type_schema)
        assert words == list(record.words)  # the completion is the document, tags aside
        assert parsed == json.loads(render_adc(adc_json(record), type_schema))
        assert schema_compliant(parsed, type_schema)
    assert prompt_text(record) == f"document_type: {record.document_type}\n"


def test_malformed_tags_are_rejected(schema):
    ts = schema.types["PURCHASE_ORDER"]
    assert spans_to_adc(["a", "b"], ["", INSIDE], ts) is None  # <I> after an untagged word
    assert spans_to_adc(["a"], ["<B:h.not_a_key>"], ts) is None
    ok = spans_to_adc(["4500", "x"], [f"<B:h.{ts.header[0]}>", ""], ts)
    assert ok["header"][ts.header[0]] == "4500" and ok["line_items"] == []


def test_tokenizer_is_byte_exact_and_tags_are_single_tokens(corpus_records, schema, tokenizer):
    table = token_bytes(tokenizer)
    for record in corpus_records[300:320]:
        text = prompt_text(record) + " ".join(w for w, _ in layout(record))
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert b"".join(table.get(i, b"") for i in ids) == text.encode()
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    for tag in tag_tokens(schema.types):
        assert len(tokenizer(tag, add_special_tokens=False)["input_ids"]) == 1


class _Noise(LogitsProcessor):
    """Random scores: a model that wants anything, to stress the constraint."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids, scores):
        return torch.rand(scores.shape, generator=self.generator) * 50


def test_constrained_output_is_schema_json_from_document_words_whatever_the_model(
    corpus_records, schema, tokenizer, random_model
):
    """An untrained model knows nothing, so anything it writes comes from the constraint alone; with
    random scores on top (through ``generate``) it still cannot write anything else."""
    extractor = Extractor(random_model, tokenizer, schema)
    records = corpus_records[330:336]
    ev = evaluate(extractor, records, constrained=True)
    metrics = ev.metrics("c")
    assert metrics["c/documents"] == 6
    assert metrics["c/schema_compliance"] == metrics["c/valid_json"] == 1.0
    assert metrics["c/hallucination_rate"] == 0.0
    for seed, record in enumerate(corpus_records[336:346]):
        processor = extractor.processor([record])
        prompt = tokenizer([prompt_text(record)], return_tensors="pt")
        out = random_model.generate(
            **prompt,
            max_new_tokens=processor.documents[0].max_tokens,
            do_sample=True,
            logits_processor=LogitsProcessorList([_Noise(seed), processor]),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        ids = out[0, prompt["input_ids"].shape[1] :].tolist()
        assert tokenizer.eos_token_id in ids  # finished within the known length
        words, parsed = parse_generated(ids, tokenizer, schema.types[record.document_type])
        assert words == list(record.words)
        assert schema_compliant(parsed, schema.types[record.document_type])
        values = field_values(parsed)
        assert values and all(is_word_run(v, record.words) for v in values.values())


def test_fast_greedy_decoding_equals_generate_with_the_processor(
    corpus_records, schema, tokenizer, random_model
):
    extractor = Extractor(random_model, tokenizer, schema)
    record = corpus_records[346]
    processor = extractor.processor([record])
    prompt = tokenizer([prompt_text(record)], return_tensors="pt")
    out = random_model.generate(
        **prompt,
        max_new_tokens=processor.documents[0].max_tokens,
        do_sample=False,
        logits_processor=LogitsProcessorList([processor]),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    fast = greedy_decode(random_model, prompt["input_ids"][0].tolist(), extractor.processor([record]))
    assert out[0, prompt["input_ids"].shape[1] :].tolist()[: len(fast)] == fast


def test_free_decoding_is_scored_as_written(corpus_records, schema, tokenizer, random_model):
    extractor = Extractor(random_model, tokenizer, schema, max_new_tokens=40)
    ev = evaluate(extractor, corpus_records[330:332], constrained=False, batch_size=2)
    assert ev.documents == 2 and len(ev.latencies) == 2


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
    good = json.loads(render_adc(adc_json(record), ts))
    assert schema_compliant(good, ts)
    assert not schema_compliant({**good, "extra": 1}, ts)
    missing = {"header": dict(list(good["header"].items())[1:]), "line_items": good["line_items"]}
    assert not schema_compliant(missing, ts)
    assert not schema_compliant(None, ts)
