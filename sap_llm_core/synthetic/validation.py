"""Domain checks on a document record: amounts add up and every ground-truth value is on the page.

Used twice on purpose: by the generator, which quarantines a record that fails instead of writing
it, and by the asset checks, which re-read the stored shards and must not trust the generator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sap_llm_core.schema import DocumentRecord
from sap_llm_core.synthetic.catalog import Language
from sap_llm_core.synthetic.locales import parse_amount

CENT = Decimal("0.01")
_PATH = re.compile(r"^(header)\.(\w+)$|^line_items\[(\d+)\]\.(\w+)$")


def value_at(ground_truth: dict, path: str) -> str | None:
    match = _PATH.match(path)
    if not match:
        return None
    if match.group(1):
        return ground_truth.get("header", {}).get(match.group(2))
    items = ground_truth.get("line_items", [])
    index = int(match.group(3))
    return items[index].get(match.group(4)) if index < len(items) else None


def leaf_paths(ground_truth: dict) -> Iterator[str]:
    for key in ground_truth.get("header", {}):
        yield f"header.{key}"
    for i, item in enumerate(ground_truth.get("line_items", [])):
        for key in item:
            yield f"line_items[{i}].{key}"


def span_problems(record: DocumentRecord) -> list[str]:
    """Every ground-truth value must be exactly the words its span points at, in order."""
    gt = record.ground_truth_json()
    spans = {s.field: s for s in record.field_spans}
    problems = []
    for path in leaf_paths(gt):
        expected = value_at(gt, path)
        span = spans.get(path)
        if span is None:
            problems.append(f"{path}: no word span for value {expected!r}")
            continue
        found = " ".join(record.words[i] for i in span.word_indices)
        if found != expected:
            problems.append(f"{path}: words say {found!r}, ground truth says {expected!r}")
    return problems


def amount_problems(record: DocumentRecord) -> list[str]:
    """Line total = quantity x unit price; subtotal, tax and total add up; debits equal credits."""
    gt = record.ground_truth_json()
    lang = Language(record.language)
    header = gt.get("header", {})
    items = gt.get("line_items", [])
    problems: list[str] = []

    def num(text: str, where: str) -> Decimal | None:
        try:
            return parse_amount(text, lang)
        except (InvalidOperation, ValueError):
            problems.append(f"{where}: {text!r} is not a {lang.value} number")
            return None

    line_sum = Decimal(0)
    for i, item in enumerate(items):
        if "line_total" not in item:
            continue
        total = num(item["line_total"], f"line_items[{i}].line_total")
        if total is None:
            continue
        line_sum += total
        if "quantity" in item and "unit_price" in item:
            qty = num(item["quantity"], f"line_items[{i}].quantity")
            price = num(item["unit_price"], f"line_items[{i}].unit_price")
            if qty is not None and price is not None:
                expected = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
                if expected != total:
                    problems.append(f"line_items[{i}]: {qty} x {price} = {expected}, printed {total}")

    if "subtotal" in header:
        subtotal = num(header["subtotal"], "header.subtotal")
        if subtotal is not None and subtotal != line_sum:
            problems.append(f"subtotal {subtotal} != sum of line totals {line_sum}")
        tax = num(header.get("tax_amount", "0"), "header.tax_amount")
        total = num(header.get("total_amount", "0"), "header.total_amount")
        rate_text = header.get("tax_rate", "").rstrip("%")
        if subtotal is not None and tax is not None and rate_text:
            expected_tax = (subtotal * Decimal(rate_text) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            if expected_tax != tax:
                problems.append(f"tax {tax} != {rate_text}% of {subtotal} = {expected_tax}")
        if None not in (subtotal, tax, total) and subtotal + tax != total:
            problems.append(f"subtotal {subtotal} + tax {tax} != total {total}")
    elif "total_amount" in header and items:
        total = num(header["total_amount"], "header.total_amount")
        if total is not None and total != line_sum:
            problems.append(f"total {total} != sum of lines {line_sum}")

    if "total_debit" in header:
        debit = num(header["total_debit"], "header.total_debit")
        credit = num(header["total_credit"], "header.total_credit")
        if debit != credit:
            problems.append(f"total debit {debit} != total credit {credit}")
    return problems


def record_problems(record: DocumentRecord) -> list[str]:
    return span_problems(record) + amount_problems(record)
