import pytest
from pydantic import ValidationError

from sap_llm_core.synthetic.catalog import SUBTYPES, DocumentType
from sap_llm_core.synthetic.config import DEFAULT_MIX, GeneratorConfig


def test_default_mix_follows_the_seeds():
    config = GeneratorConfig()
    assert config.mix["SUPPLIER_INVOICE"] == 0.30
    assert config.mix["PURCHASE_ORDER"] == 0.30
    assert config.mix["GOODS_RECEIPT"] == 0.20
    assert len(config.document_types) >= 13
    assert set(DEFAULT_MIX) == {t.value for t in DocumentType}


def test_catalog_has_the_seed_subtypes():
    assert {"STANDARD", "BLANKET", "CONTRACT", "SCHEDULING_AGREEMENT", "FRAMEWORK", "SERVICE"} <= set(
        SUBTYPES[DocumentType.PURCHASE_ORDER]
    )
    assert {"STANDARD", "CREDIT_MEMO", "DEBIT_MEMO", "PROFORMA", "COMMERCIAL"} <= set(
        SUBTYPES[DocumentType.SUPPLIER_INVOICE]
    )
    assert all(SUBTYPES[t] for t in DocumentType)


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"mix": {**DEFAULT_MIX, "PURCHASE_ORDER": 0.2, "TELEGRAM": 0.1}}, "mix", "unknown document type"),
        ({"num_documents": -1}, "num_documents", "greater than or equal to 0"),
        ({"mix": {**DEFAULT_MIX, "PURCHASE_ORDER": 0.5}}, "mix", "sum to 1"),
        ({"languages": ["EN", "PT"]}, "languages", "unsupported language"),
        ({"mix": {**DEFAULT_MIX, "PURCHASE_ORDER": -0.3, "SUPPLIER_INVOICE": 0.9}}, "mix", ">= 0"),
        ({"augment_fraction": 1.5}, "augment_fraction", "less than or equal to 1"),
    ],
)
def test_invalid_config_names_the_field(override, field, message):
    with pytest.raises(ValidationError) as excinfo:
        GeneratorConfig(**override)
    error = excinfo.value.errors()[0]
    assert error["loc"][0] == field
    assert message in str(excinfo.value)


def test_unknown_key_is_rejected():
    with pytest.raises(ValidationError, match="num_docs"):
        GeneratorConfig(num_docs=10)


def test_fingerprint_ignores_num_documents_only():
    base = GeneratorConfig()
    assert base.shard_fingerprint_fields() == GeneratorConfig(num_documents=99).shard_fingerprint_fields()
    assert base.shard_fingerprint_fields() != GeneratorConfig(seed=7).shard_fingerprint_fields()
