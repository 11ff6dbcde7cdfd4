"""Business rules as data (``data/business_rules.yaml``) and their evaluation on ADC documents.

A rule names where it applies (document types, scope), how bad a violation is, and whether the
system may correct it itself; its logic is one expression for :mod:`rule_evaluator`. Scopes:

* ``document``: once per document (``header``, ``items``, ``params`` in scope);
* ``line_item``: once per line item (``item`` in scope too);
* ``cross_document``: once per bundle of related documents, e.g. PO + invoice + goods receipt for the
  3-way match (roles such as ``po``, ``invoice``, ``gr`` in scope);
* ``corpus``: duplicate detection; ``key`` is evaluated per document and equal keys are duplicates.

A rule whose fields are absent from a document does not apply to it (it is not a pass or a failure);
mandatory-field rules use ``present(...)``, which sees absence instead of skipping.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from sap_llm_core.knowledge_base import transformations as tf
from sap_llm_core.knowledge_base.rule_evaluator import (
    MissingValue,
    PrintedValue,
    Record,
    RuleSyntaxError,
    compile_rule,
    evaluate,
    lazy,
)


def _lang(value: Any) -> str:
    return getattr(value, "language", "EN")


def _amount(value: Any) -> Decimal:
    if isinstance(value, Decimal | int):
        return Decimal(value)
    return Decimal(tf.parse_amount(value, _lang(value)))


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(tf.parse_date(value, _lang(value)))


def _ok(func: Callable[..., Any]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        try:
            func(value, _lang(value))
        except tf.TransformationError:
            return False
        return True

    return check


@lazy
def _present(*args: Any) -> bool:
    for arg in args:
        try:
            value = arg.value()
        except MissingValue:
            return False
        if value is None or (isinstance(value, str) and not value.strip()):
            return False
    return True


def _sum_amounts(items: Any, field: str) -> Decimal:
    if not isinstance(items, list):
        raise MissingValue("items")
    total = Decimal(0)
    for item in items:
        value = item.get(field) if isinstance(item, Record) else None
        if value is None:
            raise MissingValue(f"items.{field}")
        total += _amount(value)
    return total


def _line_total(quantity: Any, price: Any) -> Decimal:
    return Decimal(tf.calculate_line_total(quantity, price, _lang(quantity)))


def _within(actual: Any, expected: Any, tolerance: Any) -> bool:
    """|actual - expected| <= |expected| * tolerance (relative), the usual 3-way-match test."""
    a, e, t = Decimal(actual), Decimal(expected), Decimal(str(tolerance))
    return abs(a - e) <= abs(e) * t


def _round2(value: Any) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _sap_number(value: Any) -> str:
    text = str(value).strip()
    return text.lstrip("0") if text.isdigit() else text


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "amount": _amount,
    "quantity": lambda v: Decimal(tf.parse_quantity(v, _lang(v))),
    "percent": lambda v: Decimal(tf.parse_percent(v, _lang(v))),
    "date": _date,
    "present": _present,
    "iban_valid": _ok(tf.clean_iban),
    "vat_valid": _ok(tf.normalize_vat_number),
    "currency_valid": _ok(tf.extract_currency_code),
    "sum_amounts": _sum_amounts,
    "line_total": _line_total,
    "within": _within,
    "round2": _round2,
    "number": _sap_number,
    "upper": lambda v: str(v).upper(),
    "year": lambda v: _date(v).year,
    "integer": lambda v: int(str(v).strip()),
    "abs": abs,
    "min": min,
    "max": max,
    "len": len,
}

Scope = Literal["document", "line_item", "cross_document", "corpus"]
SCOPE_NAMES: dict[str, frozenset[str]] = {
    "document": frozenset({"header", "items", "params", "document_type", "language"}),
    "line_item": frozenset({"header", "items", "item", "params", "document_type", "language"}),
    "corpus": frozenset({"header", "items", "document_type", "language", "params"}),
}


class BusinessRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    description: str
    applies_to: list[str]
    severity: Literal["error", "warning", "info"]
    auto_correctable: bool = False
    category: str
    scope: Scope = "document"
    expression: str | None = None
    key: str | None = None  # corpus scope: the duplicate key
    roles: dict[str, str] = Field(default_factory=dict)  # cross_document: role -> document type
    params: dict[str, Any] = Field(default_factory=dict)
    correction: dict[str, str] = Field(default_factory=dict)  # {"field": ..., "expression": ...}

    def names(self) -> frozenset[str]:
        if self.scope == "cross_document":
            return frozenset({"params", *self.roles})
        return SCOPE_NAMES[self.scope]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules: list[BusinessRule]


def load_rules(path: str | Path | None = None) -> RuleSet:
    if path is None:
        text = (
            resources.files("sap_llm_core.knowledge_base")
            .joinpath("data/business_rules.yaml")
            .read_text("utf-8")
        )
    else:
        text = Path(path).read_text("utf-8")
    return RuleSet.model_validate(yaml.safe_load(text))


def parse_errors(rules: RuleSet) -> dict[str, str]:
    """Rule id -> why it does not parse; empty when every rule parses (the asset check)."""
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for rule in rules.rules:
        if rule.id in seen:
            errors[rule.id] = "duplicate rule id"
        seen.add(rule.id)
        source = rule.key if rule.scope == "corpus" else rule.expression
        if not source:
            errors[rule.id] = f"scope {rule.scope} needs {'key' if rule.scope == 'corpus' else 'expression'}"
            continue
        try:
            compile_rule(source, FUNCTIONS, rule.names())
            if rule.correction:
                compile_rule(rule.correction["expression"], FUNCTIONS, rule.names())
        except (RuleSyntaxError, KeyError) as exc:
            errors[rule.id] = str(exc)
        if rule.scope == "cross_document" and not rule.roles:
            errors[rule.id] = "cross_document rule without roles"
    return errors


class Finding(BaseModel):
    rule_id: str
    severity: str
    passed: bool
    location: str
    message: str
    auto_correctable: bool = False
    suggestion: str | None = None


def _doc_context(doc: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    lang = str(doc.get("language", "EN"))
    return {
        "header": Record(doc.get("header", {}), lang),
        "items": [Record(i, lang) for i in doc.get("line_items", [])],
        "params": Record(params, lang),
        "document_type": doc.get("document_type"),
        "language": lang,
    }


class RuleEngine:
    """Compiled rules; evaluate documents, bundles and corpora deterministically."""

    def __init__(self, rules: RuleSet):
        bad = parse_errors(rules)
        if bad:
            raise RuleSyntaxError(f"rules do not parse: {bad}")
        self.rules = rules.rules
        self._trees = {
            r.id: compile_rule(r.key if r.scope == "corpus" else r.expression or "", FUNCTIONS, r.names())
            for r in rules.rules
        }
        self._corrections = {
            r.id: compile_rule(r.correction["expression"], FUNCTIONS, r.names())
            for r in rules.rules
            if r.correction
        }

    def _run(self, rule: BusinessRule, context: Mapping[str, Any], location: str) -> Finding | None:
        try:
            passed = bool(evaluate(self._trees[rule.id], context, FUNCTIONS))
        except MissingValue:
            return None  # not applicable
        except (tf.TransformationError, ArithmeticError, TypeError, ValueError) as exc:
            return Finding(
                rule_id=rule.id,
                severity=rule.severity,
                passed=False,
                location=location,
                message=f"{rule.description}: value not interpretable ({exc})",
            )
        suggestion = None
        if not passed and rule.id in self._corrections:
            try:
                suggestion = str(evaluate(self._corrections[rule.id], context, FUNCTIONS))
            except (MissingValue, tf.TransformationError, ArithmeticError, TypeError, ValueError):
                suggestion = None
        return Finding(
            rule_id=rule.id,
            severity=rule.severity,
            passed=passed,
            location=location,
            message=rule.description,
            auto_correctable=rule.auto_correctable and passed is False,
            suggestion=suggestion,
        )

    def check_document(self, doc: Mapping[str, Any]) -> list[Finding]:
        out: list[Finding] = []
        doc_type = doc.get("document_type")
        for rule in self.rules:
            if doc_type not in rule.applies_to or rule.scope not in ("document", "line_item"):
                continue
            ctx = _doc_context(doc, rule.params)
            if rule.scope == "document":
                finding = self._run(rule, ctx, "header")
                if finding:
                    out.append(finding)
            else:
                for i, item in enumerate(ctx["items"]):
                    finding = self._run(rule, {**ctx, "item": item}, f"line_items[{i}]")
                    if finding:
                        out.append(finding)
        return out

    def check_bundle(self, bundle: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
        """Cross-document rules over related documents keyed by role (``po``, ``invoice``, ``gr``)."""
        out: list[Finding] = []
        for rule in self.rules:
            if rule.scope != "cross_document":
                continue
            if not all(
                role in bundle and bundle[role].get("document_type") == t for role, t in rule.roles.items()
            ):
                continue
            ctx: dict[str, Any] = {role: bundle[role] for role in rule.roles}
            ctx["params"] = Record(rule.params)
            finding = self._run(rule, ctx, "+".join(sorted(rule.roles)))
            if finding:
                out.append(finding)
        return out

    def find_duplicates(self, docs: Iterable[Mapping[str, Any]]) -> list[Finding]:
        """Corpus rules: documents whose duplicate key is equal. Locations are input positions."""
        docs = list(docs)
        out: list[Finding] = []
        for rule in self.rules:
            if rule.scope != "corpus":
                continue
            groups: dict[str, list[int]] = defaultdict(list)
            for i, doc in enumerate(docs):
                if doc.get("document_type") not in rule.applies_to:
                    continue
                try:
                    key = evaluate(self._trees[rule.id], _doc_context(doc, rule.params), FUNCTIONS)
                except (MissingValue, tf.TransformationError, ArithmeticError):
                    continue
                groups[repr([str(k) if isinstance(k, PrintedValue) else k for k in key])].append(i)
            for key in sorted(groups):
                if len(groups[key]) > 1:
                    out.append(
                        Finding(
                            rule_id=rule.id,
                            severity=rule.severity,
                            passed=False,
                            location=",".join(str(i) for i in groups[key]),
                            message=f"{rule.description}: {key}",
                        )
                    )
        return out
