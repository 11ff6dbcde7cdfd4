"""Unit behaviour of the reasoning engine: labels from the mappings data, KB-constrained decoding,
calibration maths, bad input. No training here (see test_reasoning_engine_training.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sap_llm_core.knowledge_base.edmx_parser import find_edmx_files, parse_file
from sap_llm_core.knowledge_base.field_mappings import load_mappings
from sap_llm_core.models.reasoning_engine.examples import (
    KnowledgeBaseView,
    Routing,
    RoutingExample,
    UnknownDocumentTypeError,
    build_examples,
    label_from_mapping,
)
from sap_llm_core.models.reasoning_engine.model import (
    Router,
    build_base_model,
    build_tokenizer,
    expected_calibration_error,
    fit_temperature,
    parse_routing,
    routing_reward,
)
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.training.registry import get_trainer

SHARED_EDMX = Path(__file__).resolve().parents[2].parent / "shared" / "sap-edmx"


@pytest.fixture(scope="module")
def schemas() -> list:
    if not SHARED_EDMX.is_dir():
        pytest.skip(f"{SHARED_EDMX} not present")
    return [parse_file(p) for p in find_edmx_files(SHARED_EDMX)]


@pytest.fixture(scope="module")
def kb(schemas: list) -> KnowledgeBaseView:
    return KnowledgeBaseView.build(load_mappings(), schemas)


def test_label_comes_from_mappings_and_edmx(kb: KnowledgeBaseView, schemas: list) -> None:
    by_api = {d.api: d for d in schemas}
    mappings = load_mappings()
    assert label_from_mapping(mappings, "PURCHASE_ORDER", by_api) == Routing(
        "API_PURCHASEORDER_PROCESS_SRV", "A_PurchaseOrder", "POST"
    )
    # The billing document entity set is read-only in the real $metadata (sap:creatable="false").
    assert label_from_mapping(mappings, "CUSTOMER_INVOICE", by_api).method == "GET"
    for doc_type, dtm in mappings.document_types.items():
        label = label_from_mapping(mappings, doc_type, by_api)
        assert (label.endpoint, label.entity) == (dtm.api, dtm.header_entity)
        assert label in kb.catalog and kb.is_valid(label)


def test_label_follows_a_changed_mapping_file(tmp_path: Path, schemas: list) -> None:
    """The label is data: re-pointing a type in the YAML re-points the ground truth."""
    source = Path(__file__).resolve().parents[2] / "sap_llm_core/knowledge_base/data/field_mappings.yaml"
    data = yaml.safe_load(source.read_text())
    data["document_types"]["CREDIT_MEMO"]["api"] = "API_BILLING_DOCUMENT_SRV"
    data["document_types"]["CREDIT_MEMO"]["header_entity"] = "A_BillingDocument"
    path = tmp_path / "mappings.yaml"
    path.write_text(yaml.safe_dump(data))
    label = label_from_mapping(load_mappings(path), "CREDIT_MEMO", {d.api: d for d in schemas})
    assert label == Routing("API_BILLING_DOCUMENT_SRV", "A_BillingDocument", "GET")


def _record(doc_type: str) -> DocumentRecord:
    return DocumentRecord(
        id=f"doc-{doc_type}",
        source="test",
        document_type=doc_type,
        language="EN",
        page_width=1,
        page_height=1,
        ocr_text="",
        words=[],
        boxes=[],
        ground_truth='{"header": {"vendor_name": "ACME"}}',
    )


def test_unknown_document_type_is_a_clear_error(kb: KnowledgeBaseView) -> None:
    with pytest.raises(UnknownDocumentTypeError, match=r"'RECEIPT' has no field mapping.*PURCHASE_ORDER"):
        label_from_mapping(kb.mappings, "RECEIPT")
    with pytest.raises(UnknownDocumentTypeError, match="RECEIPT"):
        build_examples([_record("RECEIPT")], kb, None, strict=True)
    # Training skips (and counts) what no API routes instead of failing the whole split.
    examples, skipped = build_examples([_record("RECEIPT"), _record("SALES_ORDER")], kb, None)
    assert [e.document_type for e in examples] == ["SALES_ORDER"] and skipped == {"RECEIPT": 1}


def test_constrained_decoding_never_leaves_the_knowledge_base(kb: KnowledgeBaseView) -> None:
    """Even an untrained model on prompts full of unseen words and fake API names can only pick KB
    routings: the decoder scores the catalog, it does not free-generate."""
    prompts = [RoutingExample("a", "PURCHASE_ORDER", "EN", {"x": 1}).prompt()]
    tokenizer = build_tokenizer(prompts + [o.text() for o in kb.catalog])
    router = Router(build_base_model(tokenizer, 32, 1, 2, seed=0), tokenizer, kb.catalog)
    rng = np.random.default_rng(0)
    examples = [
        RoutingExample(
            f"d{i}",
            str(rng.choice(["PURCHASE_ORDER", "NOT_A_TYPE", "API_FAKE_SRV"])),
            "XX",
            {f"f{j}": j for j in range(int(rng.integers(0, 6)))},
            candidates=["API_DOES_NOT_EXIST", "Z_CUSTOM_SRV"],
            similar=["API_FAKE_SRV"],
        )
        for i in range(40)
    ]
    outputs = router.route(examples)
    assert len(outputs) == 40
    for out in outputs:
        routing = Routing(out["endpoint"], out["entity"], out["method"])
        assert routing in kb.catalog and kb.is_valid(routing)
        assert 0.0 < out["confidence"] <= 1.0 and out["reasoning"]
    assert not kb.is_valid(Routing("API_FAKE_SRV", "A_Fake", "POST"))
    assert not kb.is_valid(Routing("API_SALES_ORDER_SRV", "A_PurchaseOrder", "POST"))


def test_router_rejects_catalog_words_outside_its_vocabulary(kb: KnowledgeBaseView) -> None:
    tokenizer = build_tokenizer(["route type"])
    with pytest.raises(ValueError, match="out-of-vocabulary"):
        Router(build_base_model(tokenizer, 32, 1, 2, seed=0), tokenizer, kb.catalog)


def test_expected_calibration_error() -> None:
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)
    # Two bins: 0.95 conf with 1/2 right (gap 0.45), 0.25 conf with 1/2 right (gap 0.25): mean 0.35.
    conf = [0.95, 0.95, 0.25, 0.25]
    assert expected_calibration_error(conf, [True, False, True, False]) == pytest.approx(0.35)
    with pytest.raises(ValueError):
        expected_calibration_error([], [])


def test_temperature_scaling_fixes_overconfidence() -> None:
    rng = np.random.default_rng(1)
    n, k = 2000, 5
    true_logits = rng.normal(size=(n, k)) * 1.5
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    targets = np.array([rng.choice(k, p=p) for p in probs])
    overconfident = true_logits * 4.0
    t = fit_temperature(overconfident, targets)
    assert 3.0 < t < 5.5

    def ece_at(temp: float) -> float:
        z = overconfident / temp
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return expected_calibration_error(p.max(1), p.argmax(1) == targets)

    assert ece_at(t) < 0.05 < ece_at(1.0)


def test_reward_weights() -> None:
    right = Routing("API_A", "A", "POST")
    assert routing_reward(right, right, True, 1.0) == pytest.approx(1.0)
    assert routing_reward(Routing("API_A", "B", "POST"), right, True, 0.0) == pytest.approx(0.8)
    assert routing_reward(Routing("API_B", "B", "GET"), right, False, 1.0) == pytest.approx(0.0)


def test_trainer_is_registered() -> None:
    from sap_llm_core.models.reasoning_engine.train import train

    assert get_trainer("reasoning_engine") is train


def test_parse_routing_reads_the_json_and_the_model_form_and_nothing_else() -> None:
    r = Routing("API_SALES_ORDER_SRV", "A_SalesOrder", "POST")
    assert parse_routing(f" {r.text()} ") == r
    assert (
        parse_routing('{"endpoint": "API_SALES_ORDER_SRV", "entity": "A_SalesOrder", "method": "POST"}') == r
    )
    for bad in (
        "",
        "endpoint API_SALES_ORDER_SRV entity A_SalesOrder",  # cut short
        f"{r.text()} plant",  # trailing words
        "entity A_SalesOrder endpoint API_SALES_ORDER_SRV method POST",  # wrong order
        '{"endpoint": "API_SALES_ORDER_SRV", "entity": "A_SalesOrder"}',
        "{not json",
    ):
        assert parse_routing(bad) is None, bad


def test_grpo_reward_function_scores_generated_routings_with_the_seed_weights(kb: KnowledgeBaseView) -> None:
    """0.7 API + 0.2 business rules + 0.1 calibration on the routing a completion states, with the
    confidence the policy gives it; the completion is what follows the forced ``endpoint``."""
    from sap_llm_core.models.reasoning_engine.train import GRPO_FORCED_PREFIX, grpo_reward_function

    prompt = RoutingExample("a", "PURCHASE_ORDER", "EN", {"x": 1}).prompt()
    tokenizer = build_tokenizer([prompt] + [o.text() for o in kb.catalog])
    scorer = Router(build_base_model(tokenizer, 32, 1, 2, seed=0), tokenizer, kb.catalog)
    gold = Routing("API_PURCHASEORDER_PROCESS_SRV", "A_PurchaseOrder", "POST")
    wrong_api = next(o for o in kb.catalog if o.endpoint != gold.endpoint)
    confidence = scorer.probabilities([prompt])[0]
    logged: dict[str, float] = {}

    def words(r: Routing) -> str:
        return r.text().removeprefix(GRPO_FORCED_PREFIX).strip()

    completions = [
        words(gold),
        words(wrong_api),
        "A_PurchaseOrder method POST plant",
        "API_FAKE_SRV entity X method GET",
    ]
    rewards = grpo_reward_function(scorer, kb)(
        prompts=[f"{prompt} {GRPO_FORCED_PREFIX}"] * 4,
        completions=completions,
        gold=[gold.as_dict()] * 4,
        log_metric=lambda name, value: logged.__setitem__(name, value),
        trainer_state=None,
    )
    c_gold = confidence[kb.catalog.index(gold)]
    c_wrong = confidence[kb.catalog.index(wrong_api)]
    assert rewards[0] == pytest.approx(0.7 + 0.2 + 0.1 * c_gold)
    assert rewards[1] == pytest.approx(0.1 * (1 - c_wrong))
    assert rewards[2] == 0.0  # not a routing
    assert rewards[3] == pytest.approx(0.1)  # parsed, not in the KB: only "confident it is wrong"
    assert logged == {"routing_parsed": 0.75, "routing_api_correct": 0.25}
