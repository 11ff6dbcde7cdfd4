"""Transformations from values *as printed on a document* to SAP OData property values.

The extractor copies words off the page (``15.03.2024``, ``1.234,56``, ``DE89 3704 0044 ...``); SAP
wants ``2024-03-15``, ``1234.56``, ``DE89370400440532013000``. Field mappings name a transformation
from :data:`TRANSFORMATIONS` by string, so mappings stay data and this registry is the one place that
knows the conventions. Every function is pure and deterministic, and raises
:class:`TransformationError` (a ``ValueError``) on input it cannot interpret instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from stdnum import vatin
from stdnum.exceptions import ValidationError as StdnumError


class TransformationError(ValueError):
    """A printed value that a transformation cannot turn into an SAP value."""


LANGUAGES = ("EN", "DE", "FR", "ES", "IT")

# Printed date patterns per document language: the first is what the generator prints; the others
# are common variants of the same locale (two-digit years, dashes) so real documents parse too.
DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "EN": ("%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%d %b %Y", "%B %d, %Y"),
    "DE": ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d"),
    "FR": ("%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%Y-%m-%d"),
    "ES": ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%Y-%m-%d"),
    "IT": ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"),
}
# thousands separator, decimal separator
NUMBER_FORMATS: dict[str, tuple[str, str]] = {
    "EN": (",", "."),
    "DE": (".", ","),
    "FR": (" ", ","),
    "ES": (".", ","),
    "IT": (".", ","),
}

CURRENCY_SYMBOLS = {
    "€": "EUR",
    "$": "USD",
    "US$": "USD",
    "£": "GBP",
    "CHF": "CHF",
    "Fr.": "CHF",
    "¥": "JPY",
    "kr": "SEK",
    "zł": "PLN",
}
ISO_CURRENCIES = frozenset(
    [
        "EUR",
        "USD",
        "GBP",
        "CHF",
        "JPY",
        "CNY",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "CAD",
        "AUD",
        "INR",
        "BRL",
        "MXN",
        "ZAR",
        "TRY",
        "RUB",
    ]
)

# Printed unit -> SAP internal unit of measure code (T006), as the OData APIs expect.
UNIT_CODES = {
    "EA": "EA",
    "EACH": "EA",
    "PC": "PC",
    "PCS": "PC",
    "PCE": "PC",
    "ST": "PC",
    "STK": "PC",
    "PZ": "PC",
    "PZA": "PC",
    "UD": "PC",
    "UDS": "PC",
    "BOX": "BOX",
    "KAR": "BOX",
    "PAL": "PAL",
    "SET": "SET",
    "KG": "KG",
    "G": "G",
    "T": "TO",
    "TO": "TO",
    "LB": "LB",
    "L": "L",
    "LTR": "L",
    "ML": "ML",
    "M3": "M3",
    "M": "M",
    "CM": "CM",
    "MM": "MM",
    "KM": "KM",
    "H": "H",
    "HR": "H",
}
# Dimension and factor to that dimension's base unit, for convert_unit.
_UNIT_FACTORS: dict[str, tuple[str, Decimal]] = {
    "G": ("mass", Decimal("0.001")),
    "KG": ("mass", Decimal(1)),
    "TO": ("mass", Decimal(1000)),
    "LB": ("mass", Decimal("0.45359237")),
    "ML": ("volume", Decimal("0.001")),
    "L": ("volume", Decimal(1)),
    "M3": ("volume", Decimal(1000)),
    "MM": ("length", Decimal("0.001")),
    "CM": ("length", Decimal("0.01")),
    "M": ("length", Decimal(1)),
    "KM": ("length", Decimal(1000)),
}


def _require(value: Any, name: str) -> str:
    if value is None or str(value).strip() == "":
        raise TransformationError(f"{name}: empty value")
    return str(value).strip()


def _lang(language: str | None) -> str:
    lang = (language or "EN").upper()
    if lang not in LANGUAGES:
        raise TransformationError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    return lang


# text ------------------------------------------------------------------------------------------
def strip(value: Any, language: str | None = None, max_length: int | None = None) -> str:
    """Collapse whitespace; cut to the property's MaxLength so a long name never fails a POST."""
    text = " ".join(_require(value, "strip").split())
    return text[:max_length] if max_length else text


def uppercase(value: Any, language: str | None = None) -> str:
    return strip(value).upper()


def pad_left_zeros(value: Any, language: str | None = None, width: int = 10) -> str:
    """SAP's ALPHA conversion: purely numeric keys are stored left-padded with zeros to the field
    length (``4500001234`` stays, ``12345`` -> ``0000012345``); alphanumeric keys are left alone."""
    text = _require(value, "pad_left_zeros").replace(" ", "")
    if not text.isdigit():
        return text
    text = text.lstrip("0") or "0"  # "00010" fits a 4-digit item field as "0010"
    if len(text) > width:
        raise TransformationError(f"pad_left_zeros: {text!r} is longer than {width} digits")
    return text.zfill(width)


# dates -----------------------------------------------------------------------------------------
def parse_date(value: Any, language: str | None = None) -> str:
    """Printed date in the document language's convention -> ISO ``YYYY-MM-DD``.

    The language decides day/month order: ``03/04/2024`` is 4 March in EN and 3 April in FR.
    """
    text = _require(value, "parse_date")
    for fmt in DATE_FORMATS[_lang(language)]:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise TransformationError(f"parse_date: {text!r} is not a {_lang(language)} date")


def to_odata_v2_datetime(value: Any, language: str | None = None) -> str:
    """ISO or printed date -> OData V2 ``Edm.DateTime`` JSON literal ``/Date(<ms since epoch>)/``."""
    text = _require(value, "to_odata_v2_datetime")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = dt.date.fromisoformat(parse_date(text, language))
    millis = (day - dt.date(1970, 1, 1)).days * 86_400_000
    return f"/Date({millis})/"


def fiscal_year(value: Any, language: str | None = None) -> str:
    """A four-digit year, from ``2024`` or from any printed date."""
    text = _require(value, "fiscal_year")
    if re.fullmatch(r"\d{4}", text):
        return text
    return parse_date(text, language)[:4]


# numbers ---------------------------------------------------------------------------------------
def parse_amount(value: Any, language: str | None = None, places: int | None = None) -> str:
    """Printed amount -> plain decimal string (``1.234,56`` DE -> ``1234.56``).

    Currency symbols/codes around the number are ignored; a trailing or leading minus and
    parentheses mean negative. ``places`` rounds half-up (SAP amounts have fixed scale).
    """
    text = _require(value, "parse_amount")
    thousands, decimal = NUMBER_FORMATS[_lang(language)]
    negative = text.startswith("(") and text.endswith(")") or "-" in text
    core = re.sub(r"[^\d.,' \u00a0\u202f]", "", text).strip()
    for sep in {thousands, " ", "\u00a0", "\u202f", "'"}:
        core = core.replace(sep, "")
    core = core.replace(decimal, ".")
    if core.count(".") > 1 or not re.fullmatch(r"\d+(\.\d+)?|\.\d+", core):
        raise TransformationError(f"parse_amount: {text!r} is not a {_lang(language)} amount")
    number = Decimal(core)
    if negative:
        number = -number
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return format(number, "f")


def parse_quantity(value: Any, language: str | None = None) -> str:
    """Quantities print like amounts (``1.500,250`` DE); the number only, the unit is separate."""
    return parse_amount(value, language)


def parse_percent(value: Any, language: str | None = None) -> str:
    """``19%`` / ``19,5 %`` -> ``19`` / ``19.5``."""
    return parse_amount(_require(value, "parse_percent").replace("%", ""), language)


def calculate_line_total(
    quantity: Any, unit_price: Any, language: str | None = None, price_unit: Any = 1
) -> str:
    """Quantity x unit price / price unit, rounded half-up to cents, as SAP computes net values."""
    qty = Decimal(parse_quantity(quantity, language))
    price = Decimal(parse_amount(unit_price, language))
    per = Decimal(str(price_unit))
    if per <= 0:
        raise TransformationError("calculate_line_total: price unit must be positive")
    return format((qty * price / per).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


# currencies and units ---------------------------------------------------------------------------
def extract_currency_code(value: Any, language: str | None = None) -> str:
    """ISO 4217 code from ``EUR``, ``€``, ``1.234,56 EUR`` or ``$ 12.00``."""
    text = _require(value, "extract_currency_code")
    for code in re.findall(r"\b[A-Za-z]{3}\b", text):
        if code.upper() in ISO_CURRENCIES:
            return code.upper()
    for symbol in sorted(CURRENCY_SYMBOLS, key=len, reverse=True):
        if symbol in text:
            return CURRENCY_SYMBOLS[symbol]
    raise TransformationError(f"extract_currency_code: no currency in {text!r}")


def normalize_unit(value: Any, language: str | None = None) -> str:
    """Printed unit (``PC``, ``Stk``, ``pcs``, ``kg``) -> SAP unit of measure code."""
    text = _require(value, "normalize_unit").upper().rstrip(".")
    if text not in UNIT_CODES:
        raise TransformationError(f"normalize_unit: unknown unit {value!r}")
    return UNIT_CODES[text]


def convert_unit(value: Any, from_unit: str, to_unit: str, language: str | None = None) -> str:
    """Convert a quantity between units of one dimension (``1,5`` G -> KG ``0.0015``)."""
    src, dst = normalize_unit(from_unit), normalize_unit(to_unit)
    qty = Decimal(parse_quantity(value, language))
    if src == dst:
        return format(qty, "f")
    if src not in _UNIT_FACTORS or dst not in _UNIT_FACTORS:
        raise TransformationError(f"convert_unit: no conversion from {src} to {dst}")
    (dim_a, fa), (dim_b, fb) = _UNIT_FACTORS[src], _UNIT_FACTORS[dst]
    if dim_a != dim_b:
        raise TransformationError(f"convert_unit: {src} ({dim_a}) and {dst} ({dim_b}) differ")
    return format((qty * fa / fb).normalize(), "f")


# bank and tax identifiers -----------------------------------------------------------------------
def iban_is_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check on a compact IBAN."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def clean_iban(value: Any, language: str | None = None) -> str:
    """``DE89 3704 0044 0532 0130 00`` -> ``DE89370400440532013000``; refuses a bad checksum."""
    text = re.sub(r"[\s\-.]", "", _require(value, "clean_iban")).upper()
    if text.startswith("IBAN"):
        text = text[4:]
    if not iban_is_valid(text):
        raise TransformationError(f"clean_iban: {value!r} fails the IBAN checksum")
    return text


def clean_bic(value: Any, language: str | None = None) -> str:
    text = re.sub(r"\s", "", _require(value, "clean_bic")).upper()
    if not re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", text):
        raise TransformationError(f"clean_bic: {value!r} is not a BIC")
    return text


def normalize_vat_number(value: Any, language: str | None = None) -> str:
    """VAT number with country prefix in SAP's compact form (``DE 123 456 789`` -> ``DE123456789``),
    checksum-verified with python-stdnum (EU states and GB) so a misread digit is caught here rather
    than by the tax authority."""
    text = _require(value, "normalize_vat_number")
    try:
        return vatin.validate(text)
    except StdnumError as exc:
        raise TransformationError(f"normalize_vat_number: {value!r} is not a valid VAT number") from exc


_DEBIT_CREDIT = {
    "S": "S",
    "D": "S",
    "DR": "S",
    "DEBIT": "S",
    "SOLL": "S",
    "DARE": "S",
    "DEBE": "S",
    "H": "H",
    "C": "H",
    "CR": "H",
    "A": "H",
    "CREDIT": "H",
    "HABEN": "H",
    "AVERE": "H",
    "HABER": "H",
}


def debit_credit_code(value: Any, language: str | None = None) -> str:
    """Printed debit/credit marker in any of the five languages -> SAP ``S`` (debit) / ``H`` (credit).
    Debit prints as S (Soll), D (debit/debe/dare); credit as H (Haben/haber), C, or A (avere)."""
    text = _require(value, "debit_credit_code").upper().rstrip(".")
    if text not in _DEBIT_CREDIT:
        raise TransformationError(f"debit_credit_code: {value!r} is not a debit/credit marker")
    return _DEBIT_CREDIT[text]


_COUNTRIES = {
    "DE": ("germany", "deutschland", "allemagne", "alemania", "germania"),
    "FR": ("france", "frankreich", "francia"),
    "ES": ("spain", "spanien", "espagne", "españa", "spagna"),
    "IT": ("italy", "italien", "italie", "italia"),
    "GB": ("united kingdom", "vereinigtes königreich", "royaume-uni", "reino unido", "regno unito", "uk"),
    "US": ("united states", "usa", "vereinigte staaten", "états-unis", "estados unidos", "stati uniti"),
    "CH": ("switzerland", "schweiz", "suisse", "suiza", "svizzera"),
    "AT": ("austria", "österreich", "autriche"),
}


def country_code(value: Any, language: str | None = None) -> str:
    """ISO 3166 alpha-2 code from a code or a country name in one of the five languages."""
    text = _require(value, "country_code")
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    lowered = text.lower()
    for code, names in _COUNTRIES.items():
        if lowered in names:
            return code
    raise TransformationError(f"country_code: unknown country {value!r}")


def payment_terms_code(value: Any, language: str | None = None) -> str:
    """Printed payment terms in any of the five languages -> the project's 4-character terms key.

    ``Net 30 days``/``30 Tage netto`` -> ``NT30``; ``2% 10 days net 30`` -> ``2130`` style keys are
    ambiguous across customers, so discount terms become ``D<pct><days>`` (``D210``); immediate
    payment (``Due immediately``/``Sofort fällig``/...) -> ``0001`` as in SAP's standard table.
    """
    text = _require(value, "payment_terms_code").lower()
    if any(w in text for w in ("immediate", "sofort", "réception", "inmediato", "immediato")):
        return "0001"
    pct = re.search(r"(\d+(?:[.,]\d+)?)\s*%", text)
    numbers = [int(n) for n in re.findall(r"(?<![.,\d])(\d+)(?![.,]?\d*\s*%)", text)]
    if pct:
        rest = [n for n in numbers if str(n) != pct.group(1)]
        if not rest:
            raise TransformationError(f"payment_terms_code: no days in {value!r}")
        return f"D{pct.group(1).replace(',', '').replace('.', '')}{rest[0]}"[:4]
    if numbers:
        return f"NT{numbers[0]:02d}"[:4]
    raise TransformationError(f"payment_terms_code: cannot read {value!r}")


Transformation = Callable[..., str]

TRANSFORMATIONS: dict[str, Transformation] = {
    "strip": strip,
    "uppercase": uppercase,
    "pad_left_zeros": pad_left_zeros,
    "parse_date": parse_date,
    "to_odata_v2_datetime": to_odata_v2_datetime,
    "fiscal_year": fiscal_year,
    "parse_amount": parse_amount,
    "parse_quantity": parse_quantity,
    "parse_percent": parse_percent,
    "calculate_line_total": calculate_line_total,
    "extract_currency_code": extract_currency_code,
    "normalize_unit": normalize_unit,
    "convert_unit": convert_unit,
    "clean_iban": clean_iban,
    "clean_bic": clean_bic,
    "normalize_vat_number": normalize_vat_number,
    "debit_credit_code": debit_credit_code,
    "country_code": country_code,
    "payment_terms_code": payment_terms_code,
}


def apply(name: str, value: Any, language: str | None = None, **params: Any) -> str:
    """Apply a transformation by name, as field mappings do."""
    try:
        func = TRANSFORMATIONS[name]
    except KeyError:
        raise TransformationError(f"unknown transformation {name!r}") from None
    return func(value, language=language, **params)


def is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True
