import datetime as dt
import random
import re
from decimal import Decimal

import pytest
from stdnum import iban as std_iban

from sap_llm_core.synthetic import identifiers as ids
from sap_llm_core.synthetic.catalog import Language
from sap_llm_core.synthetic.locales import (
    format_amount,
    format_date,
    format_quantity,
    parse_amount,
    parse_date,
)

COUNTRIES = ["DE", "GB", "FR", "ES", "IT"]


@pytest.mark.parametrize("country", COUNTRIES)
def test_ibans_have_valid_check_digits(country):
    rng = random.Random(country)
    for _ in range(200):
        value = ids.make_iban(rng, country)
        assert value.startswith(country)
        assert std_iban.is_valid(value)
        assert std_iban.is_valid(ids.format_iban(value))


def test_corrupted_iban_is_detected_by_the_same_validator():
    value = ids.make_iban(random.Random(1), "DE")
    broken = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert not std_iban.is_valid(broken)


@pytest.mark.parametrize(
    ("country", "pattern"),
    [
        ("DE", r"^DE\d{9}$"),
        ("FR", r"^FR\d{2}\d{9}$"),
        ("IT", r"^IT\d{11}$"),
        ("ES", r"^ES[A-Z]\d{7}[0-9A-Z]$"),
        ("GB", r"^GB\d{9}$"),
    ],
)
def test_vat_ids_follow_each_country_format(country, pattern):
    rng = random.Random(country)
    for _ in range(100):
        vat = ids.make_vat_id(rng, country)
        assert re.match(pattern, vat), vat
        assert ids.vat_is_valid(vat)


def test_sap_number_ranges():
    rng = random.Random(0)
    assert re.match(r"^45\d{8}$", ids.sap_number(rng, "purchase_order"))
    assert re.match(r"^50\d{8}$", ids.sap_number(rng, "goods_receipt"))
    assert re.match(r"^90\d{6}$", ids.sap_number(rng, "billing_document"))
    assert re.match(r"^[1-9]\d{7}$", ids.sap_number(rng, "material"))


@pytest.mark.parametrize(
    ("language", "amount", "date"),
    [
        (Language.EN, "1,234,567.89", "03/15/2024"),
        (Language.DE, "1.234.567,89", "15.03.2024"),
        (Language.FR, "1234567,89", "15/03/2024"),
        (Language.ES, "1.234.567,89", "15/03/2024"),
        (Language.IT, "1.234.567,89", "15/03/2024"),
    ],
)
def test_localised_numbers_and_dates_round_trip(language, amount, date):
    value = Decimal("1234567.89")
    assert format_amount(value, language) == amount
    assert parse_amount(amount, language) == value
    assert format_date(dt.date(2024, 3, 15), language) == date
    assert parse_date(date, language) == dt.date(2024, 3, 15)


def test_quantities_print_decimals_only_when_needed():
    assert format_quantity(Decimal(12), Language.DE) == "12"
    assert format_quantity(Decimal("12.5"), Language.DE) == "12,500"
    assert parse_amount("1,200", Language.EN) == Decimal(1200)
