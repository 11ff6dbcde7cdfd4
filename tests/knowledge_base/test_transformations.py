"""Transformations: printed values in five languages -> SAP values, checked against the synthetic
generator's own printers (its formatters are the reference for what appears on a page)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from sap_llm_core.knowledge_base import transformations as tf
from sap_llm_core.knowledge_base.transformations import TransformationError
from sap_llm_core.synthetic import identifiers as ids
from sap_llm_core.synthetic.catalog import Language
from sap_llm_core.synthetic.locales import LOCALES, format_amount, format_date, format_quantity


@pytest.mark.parametrize(
    ("text", "lang", "iso"),
    [
        ("03/15/2024", "EN", "2024-03-15"),
        ("15.03.2024", "DE", "2024-03-15"),
        ("15/03/2024", "FR", "2024-03-15"),
        ("15/03/2024", "ES", "2024-03-15"),
        ("15/03/2024", "IT", "2024-03-15"),
        ("03/04/2024", "EN", "2024-03-04"),
        ("03/04/2024", "FR", "2024-04-03"),
        ("1.2.24", "DE", "2024-02-01"),
        ("2024-03-15", "IT", "2024-03-15"),
    ],
)
def test_parse_date_follows_the_language(text: str, lang: str, iso: str) -> None:
    assert tf.parse_date(text, lang) == iso


def test_parse_date_refuses_what_the_language_cannot_mean() -> None:
    with pytest.raises(TransformationError):
        tf.parse_date("15/03/2024", "EN")  # month 15
    with pytest.raises(TransformationError):
        tf.parse_date("31.02.2024", "DE")
    with pytest.raises(TransformationError):
        tf.parse_date("", "DE")


@pytest.mark.parametrize(
    ("text", "lang", "value"),
    [
        ("1,234.56", "EN", "1234.56"),
        ("1.234,56", "DE", "1234.56"),
        ("1234,56", "FR", "1234.56"),
        ("1 234,56", "FR", "1234.56"),
        ("1.234,56", "ES", "1234.56"),
        ("1.234.567,89", "IT", "1234567.89"),
        ("EUR 1.234,56", "DE", "1234.56"),
        ("-12,50", "DE", "-12.50"),
        ("(12.50)", "EN", "-12.50"),
        ("7", "EN", "7"),
    ],
)
def test_parse_amount(text: str, lang: str, value: str) -> None:
    assert tf.parse_amount(text, lang) == value


def test_parse_amount_rejects_garbage_and_rounds_half_up() -> None:
    with pytest.raises(TransformationError):
        tf.parse_amount("1.234.56,7,8", "DE")
    with pytest.raises(TransformationError):
        tf.parse_amount("n/a", "EN")
    assert tf.parse_amount("2.345", "EN", places=2) == "2.35"


def test_round_trip_with_the_generator_printers() -> None:
    rng = random.Random(7)
    for lang in Language:
        for _ in range(200):
            value = Decimal(rng.randrange(0, 10**9)) / 100
            assert Decimal(tf.parse_amount(format_amount(value, lang), lang.value)) == value
            qty = Decimal(rng.randrange(1, 10**6)) / 1000
            assert Decimal(tf.parse_quantity(format_quantity(qty, lang), lang.value)) == qty
            day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 2000))
            assert tf.parse_date(format_date(day, lang), lang.value) == day.isoformat()


def test_iban_cleaning_and_checksum() -> None:
    assert tf.clean_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert tf.clean_iban("iban gb82-west-1234-5698-7654-32") == "GB82WEST12345698765432"
    with pytest.raises(TransformationError, match="checksum"):
        tf.clean_iban("DE89 3704 0044 0532 0130 01")
    rng = random.Random(3)
    for lang in Language:
        iban = ids.make_iban(rng, LOCALES[lang].country)
        assert tf.clean_iban(ids.format_iban(iban)) == iban


def test_vat_numbers_are_normalised_and_verified() -> None:
    assert tf.normalize_vat_number("DE 136 695 976") == "DE136695976"
    assert tf.normalize_vat_number("fr40303265045") == "FR40303265045"
    with pytest.raises(TransformationError):
        tf.normalize_vat_number("DE136695977")
    rng = random.Random(5)
    for lang in Language:
        vat = ids.make_vat_id(rng, LOCALES[lang].country)
        assert tf.normalize_vat_number(vat) == vat.replace(" ", "").upper()


def test_pad_left_zeros_is_sap_alpha_conversion() -> None:
    assert tf.pad_left_zeros("12345", width=10) == "0000012345"
    assert tf.pad_left_zeros("00010", width=4) == "0010"
    assert tf.pad_left_zeros("ABC-1", width=10) == "ABC-1"
    with pytest.raises(TransformationError):
        tf.pad_left_zeros("12345678901", width=10)


def test_currency_units_and_line_totals() -> None:
    assert tf.extract_currency_code("1.234,56 EUR") == "EUR"
    assert tf.extract_currency_code("£ 12.00") == "GBP"
    assert tf.extract_currency_code("usd") == "USD"
    with pytest.raises(TransformationError):
        tf.extract_currency_code("12.00")
    assert tf.normalize_unit("Stk") == "PC" and tf.normalize_unit("kg") == "KG"
    assert tf.convert_unit("1,5", "G", "KG", "DE") == "0.0015"
    assert tf.convert_unit("2", "TO", "KG") == "2000"
    with pytest.raises(TransformationError, match="differ"):
        tf.convert_unit("1", "KG", "L")
    assert tf.calculate_line_total("1.500,250", "12,00", "DE") == "18003.00"
    assert tf.calculate_line_total("3", "0.335", "EN") == "1.01"  # half-up to the cent
    assert tf.calculate_line_total("10", "25.00", "EN", price_unit=100) == "2.50"


def test_codes_in_five_languages() -> None:
    assert [tf.debit_credit_code(x) for x in ("S", "H", "D", "C", "A")] == ["S", "H", "S", "H", "H"]
    assert tf.payment_terms_code("30 Tage netto") == "NT30"
    assert tf.payment_terms_code("2% 10 giorni 30 netto") == "D210"
    assert tf.payment_terms_code("Payable à réception") == "0001"
    assert tf.country_code("Deutschland") == "DE" and tf.country_code("españa") == "ES"
    assert tf.fiscal_year("15.03.2024", "DE") == "2024"
    assert tf.to_odata_v2_datetime("2024-03-15") == "/Date(1710460800000)/"


def test_registry_apply_by_name() -> None:
    assert tf.apply("parse_date", "15.03.2024", language="DE") == "2024-03-15"
    assert tf.apply("pad_left_zeros", "42", width=5) == "00042"
    with pytest.raises(TransformationError, match="unknown transformation"):
        tf.apply("no_such_thing", "x")
