"""Identifiers that must look and validate like real ones: IBANs, BICs, VAT IDs, SAP numbers.

Check digits are computed, then the result is confirmed with python-stdnum, so a checksum bug shows
up as an exception here rather than as quietly invalid training data.
"""

from __future__ import annotations

import random
import string

from stdnum import get_cc_module, luhn
from stdnum import iban as std_iban
from stdnum.iso7064 import mod_11_10

_DIGITS = string.digits
_UPPER = string.ascii_uppercase


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_DIGITS, k=n))


def _italian_cin(bban_without_cin: str) -> str:
    """CIN control letter of an Italian BBAN (ABI + CAB + 12-character account)."""
    odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
    total = 0
    for pos, char in enumerate(bban_without_cin):
        value = int(char) if char.isdigit() else _UPPER.index(char)
        total += odd[value] if pos % 2 == 0 else value
    return _UPPER[total % 26]


def _french_rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97):02d}"


def _spanish_ccc_digits(bank: str, branch: str, account: str) -> str:
    weights = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]

    def digit(number: str) -> str:
        value = 11 - sum(int(c) * w for c, w in zip(number, weights, strict=True)) % 11
        return {11: "0", 10: "1"}.get(value, str(value))

    return digit("00" + bank + branch) + digit(account)


def make_iban(rng: random.Random, country: str) -> str:
    if country == "DE":
        bban = _digits(rng, 8) + _digits(rng, 10)
    elif country == "GB":
        bban = "".join(rng.choices(_UPPER, k=4)) + _digits(rng, 6) + _digits(rng, 8)
    elif country == "FR":
        bank, branch, account = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
        bban = bank + branch + account + _french_rib_key(bank, branch, account)
    elif country == "ES":
        bank, branch, account = _digits(rng, 4), _digits(rng, 4), _digits(rng, 10)
        bban = bank + branch + _spanish_ccc_digits(bank, branch, account) + account
    elif country == "IT":
        rest = _digits(rng, 5) + _digits(rng, 5) + _digits(rng, 12)
        bban = _italian_cin(rest) + rest
    else:
        raise ValueError(f"no IBAN format for country {country!r}")
    iban = country + std_iban.calc_check_digits(country + "00" + bban) + bban
    return std_iban.validate(iban)


def format_iban(iban: str) -> str:
    """Groups of four, as printed on invoices (several words on the page, one value)."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def make_bic(rng: random.Random, country: str) -> str:
    bank = "".join(rng.choices(_UPPER, k=4))
    location = rng.choice(_UPPER) + rng.choice(_UPPER + _DIGITS)
    branch = rng.choice(["", "XXX", _digits(rng, 3)])
    return bank + country + location + branch


def _first_valid(candidates, validator) -> str:
    for candidate in candidates:
        if validator(candidate):
            return candidate
    raise RuntimeError("no valid candidate")  # pragma: no cover - the loops below always find one


def make_vat_id(rng: random.Random, country: str) -> str:
    if country == "DE":
        body = str(rng.randint(1, 9)) + _digits(rng, 7)
        vat = "DE" + body + mod_11_10.calc_check_digit(body)
    elif country == "FR":
        stem = str(rng.randint(1, 9)) + _digits(rng, 7)
        siren = stem + luhn.calc_check_digit(stem)
        vat = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    elif country == "IT":
        stem = _digits(rng, 7) + f"{rng.randint(1, 100):03d}"
        vat = "IT" + stem + luhn.calc_check_digit(stem)
    elif country == "ES":
        stem = rng.choice("ABCDEFGHJUV") + _digits(rng, 7)
        vat = _first_valid((f"ES{stem}{d}" for d in _DIGITS), vat_is_valid)
    elif country == "GB":
        stem = str(rng.randint(1, 9)) + _digits(rng, 6)
        vat = _first_valid((f"GB{stem}{d:02d}" for d in range(100)), vat_is_valid)
    else:
        raise ValueError(f"no VAT format for country {country!r}")
    if not vat_is_valid(vat):
        raise ValueError(f"generated VAT ID {vat} does not validate")  # a bug in the code above
    return vat


def vat_is_valid(vat: str) -> bool:
    """Validate a VAT ID with its country's python-stdnum module (GB is no longer in stdnum.eu)."""
    module = get_cc_module(vat[:2].lower(), "vat")
    return bool(module and module.is_valid(vat))


# SAP-style numbers -------------------------------------------------------------------------------
NUMBER_RANGES: dict[str, tuple[str, int]] = {
    # prefix, digits after the prefix (S/4HANA default number ranges)
    "purchase_order": ("45", 8),
    "sales_order": ("", 7),
    "billing_document": ("90", 6),
    "goods_receipt": ("50", 8),
    "material_document": ("49", 8),
    "delivery": ("80", 6),
    "accounting_document": ("10", 8),
    "payment_document": ("15", 8),
    "credit_memo": ("6", 7),
    "vendor": ("17", 6),
    "customer": ("10", 5),
    "material": ("", 8),
}


def sap_number(rng: random.Random, kind: str) -> str:
    prefix, width = NUMBER_RANGES[kind]
    first = "" if prefix else str(rng.randint(1, 9))
    return prefix + first + _digits(rng, width - len(first))


def external_invoice_number(rng: random.Random, year: int) -> str:
    """Vendors number their invoices their own way; the extractor must copy, not guess."""
    style = rng.randrange(4)
    if style == 0:
        return f"INV-{year}-{rng.randint(1, 99999):05d}"
    if style == 1:
        return f"{year % 100:02d}{_digits(rng, 6)}"
    if style == 2:
        return f"R{year}{_digits(rng, 5)}"
    return f"{rng.choice(_UPPER)}{rng.choice(_UPPER)}/{rng.randint(100, 9999)}/{year}"
