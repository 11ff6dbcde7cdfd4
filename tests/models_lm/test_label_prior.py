"""The label prior: fitted on training documents, it names the field after a printed label, stays
silent where it has seen nothing, survives a save/load, and only biases the constrained choice."""

from __future__ import annotations

import pytest

from sap_llm_core.models.base_lm.formatting import ExtractionSchema, pretraining_text
from sap_llm_core.models.base_lm.pretrain import BaseLMHyperparameters, build_model
from sap_llm_core.models.base_lm.tagged import tag_tokens
from sap_llm_core.models.base_lm.tokenizer import train_tokenizer
from sap_llm_core.models.language_decoder.extract import Extractor, evaluate
from sap_llm_core.models.language_decoder.label_prior import LabelPrior


@pytest.fixture(scope="module")
def fitted(corpus_records):
    train = corpus_records[:280]
    schema = ExtractionSchema.from_records(train)
    return schema, LabelPrior.fit(train, schema, weight=2.0)


def test_prior_names_the_field_after_its_label_and_is_silent_elsewhere(fitted, tmp_path):
    schema, prior = fitted
    options = ["", "<B:h.po_number>", "<B:h.po_date>"]
    contexts = prior.counts["PURCHASE_ORDER"]
    # some seen label context whose most frequent tag is the PO number
    label = next(ctx for ctx, tags in contexts.items() if max(tags, key=tags.get) == "<B:h.po_number>")
    words = [*label.split("\x1f"), "4500012345"]
    scores = prior.log_probs("PURCHASE_ORDER", words, len(words) - 1, options)
    assert scores.index(max(scores)) == 1
    assert prior.log_probs("PURCHASE_ORDER", ["zzqx-unseen", "1"], 1, options) == [0.0, 0.0, 0.0]
    prior.save(tmp_path)
    loaded = LabelPrior.load(tmp_path)
    assert loaded.counts == prior.counts and loaded.weight == 2.0
    assert LabelPrior.load(tmp_path / "missing") is None


def test_fused_decoding_keeps_the_guarantees_and_changes_decisions(corpus_records, fitted):
    """The prior biases the choice among allowed tags only: whatever it says, the output is still
    schema JSON of the document's words. (Its lift in F1 over a trained model is in metrics.json.)"""
    schema, prior = fitted
    texts = [pretraining_text(r, schema) for r in corpus_records[:280]]
    tokenizer = train_tokenizer(texts, 1024, tag_tokens(schema.types))
    hp = BaseLMHyperparameters(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model = build_model(hp, tokenizer).eval()
    held_out = corpus_records[340:346]
    alone = evaluate(Extractor(model, tokenizer, schema), held_out, constrained=True)
    fused = evaluate(Extractor(model, tokenizer, schema, prior=prior), held_out, constrained=True)
    metrics = fused.metrics("f")
    assert metrics["f/schema_compliance"] == metrics["f/valid_json"] == 1.0
    assert metrics["f/hallucination_rate"] == 0.0
    assert [e["output"] for e in fused.examples] != [e["output"] for e in alone.examples]
