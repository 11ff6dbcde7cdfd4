"""Per-language conventions: labels, dates, numbers, currencies, tax rates, Faker locale.

The ground truth keeps values exactly as printed (``15.03.2024``, ``1.234,56``), because the
extractor copies values from the document's words; turning them into SAP's canonical forms is the
knowledge base's transformation library's job. The parsers here invert the printers for checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

import yaml

from sap_llm_core.synthetic.catalog import Language

_ORDER = [Language.EN, Language.DE, Language.FR, Language.ES, Language.IT]


@dataclass(frozen=True)
class LocaleSpec:
    language: Language
    faker_locale: str
    country: str  # ISO country of the parties' addresses, IBANs and VAT IDs
    currencies: tuple[str, ...]
    tax_rates: tuple[int, ...]
    date_pattern: str  # strftime pattern
    thousands: str  # "" for none
    decimal: str


LOCALES: dict[Language, LocaleSpec] = {
    Language.EN: LocaleSpec(Language.EN, "en_GB", "GB", ("GBP", "USD", "EUR"), (20, 5), "%m/%d/%Y", ",", "."),
    Language.DE: LocaleSpec(Language.DE, "de_DE", "DE", ("EUR", "CHF"), (19, 7), "%d.%m.%Y", ".", ","),
    # French typography groups thousands with a narrow space, which would split an amount into two
    # words; French ERP print-outs commonly print amounts ungrouped, so we do too.
    Language.FR: LocaleSpec(Language.FR, "fr_FR", "FR", ("EUR",), (20, 10), "%d/%m/%Y", "", ","),
    Language.ES: LocaleSpec(Language.ES, "es_ES", "ES", ("EUR",), (21, 10), "%d/%m/%Y", ".", ","),
    Language.IT: LocaleSpec(Language.IT, "it_IT", "IT", ("EUR",), (22, 10), "%d/%m/%Y", ".", ","),
}


@cache
def _labels() -> dict:
    text = resources.files("sap_llm_core.synthetic").joinpath("labels.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def localized(entry: list[str], language: Language) -> str:
    return entry[_ORDER.index(language)]


def label(field: str, language: Language) -> str:
    return localized(_labels()["labels"][field], language)


def title(document_type: str, language: Language) -> str:
    return localized(_labels()["titles"][document_type], language)


def vocabulary(name: str, language: Language) -> list[str]:
    """A localised word list from labels.yaml (materials, payment_terms, footers, ...)."""
    return [localized(entry, language) for entry in _labels()[name]]


def page_word(language: Language) -> str:
    return localized(_labels()["page_word"], language)


def known_label_fields() -> set[str]:
    return set(_labels()["labels"])


# dates --------------------------------------------------------------------------------------------
def format_date(value: dt.date, language: Language) -> str:
    return value.strftime(LOCALES[language].date_pattern)


def parse_date(text: str, language: Language) -> dt.date:
    return dt.datetime.strptime(text, LOCALES[language].date_pattern).date()


# numbers ------------------------------------------------------------------------------------------
def format_amount(value: Decimal, language: Language, places: int = 2) -> str:
    spec = LOCALES[language]
    quantised = f"{value:,.{places}f}"  # 1,234.56
    integer, _, fraction = quantised.partition(".")
    integer = integer.replace(",", spec.thousands)
    return integer + (spec.decimal + fraction if places else "")


def parse_amount(text: str, language: Language) -> Decimal:
    spec = LOCALES[language]
    cleaned = text.replace(spec.thousands, "") if spec.thousands else text
    return Decimal(cleaned.replace(spec.decimal, "."))


def format_quantity(value: Decimal, language: Language) -> str:
    """Whole quantities print without decimals, weights and volumes with three."""
    places = 0 if value == value.to_integral_value() else 3
    return format_amount(value, language, places)
