"""A small, safe expression evaluator for business rules written as data.

Rules are strings like ``amount(header.total_amount) <= amount(po.header.total_amount) * (1 +
params.tolerance)``. They are parsed with :func:`ast.parse` and walked here over a short allow-list of
node types: no ``eval``/``exec``, no attribute access except on :class:`Record` values (no dunders,
no methods), no calls except to the functions handed in, no comprehensions, lambdas or imports. A rule
that uses anything else fails to *parse*, which is what the ``business_rules`` asset check reports.

Float literals become :class:`~decimal.Decimal` so money arithmetic stays exact.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any


class RuleSyntaxError(ValueError):
    """The expression uses syntax or names the evaluator does not allow."""


class MissingValue(LookupError):
    """A referenced field is absent: the rule does not apply to this document."""


class PrintedValue(str):
    """A value as printed on a document, remembering the document's language for parsing."""

    language: str

    def __new__(cls, text: str, language: str) -> PrintedValue:
        obj = super().__new__(cls, text)
        obj.language = language
        return obj


class Record:
    """Read-only attribute view over a dict (a document, its header, a line item, params)."""

    __slots__ = ("_data", "_language")

    def __init__(self, data: Mapping[str, Any], language: str = "EN"):
        self._data = data
        self._language = language

    def get(self, name: str) -> Any:
        if name not in self._data or self._data[name] is None:
            return None
        return wrap(self._data[name], self._language)

    def __repr__(self) -> str:
        return f"Record({dict(self._data)!r})"


def wrap(value: Any, language: str = "EN") -> Any:
    """Dicts become :class:`Record`, lists of dicts lists of records, strings :class:`PrintedValue`."""
    if isinstance(value, Record | PrintedValue):
        return value
    if isinstance(value, Mapping):
        return Record(value, str(value.get("language", language)))
    if isinstance(value, list | tuple):
        return [wrap(v, language) for v in value]
    if isinstance(value, str):
        return PrintedValue(value, language)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Constant,
    ast.Call,
    ast.List,
    ast.Tuple,
    ast.IfExp,
    *_BINOPS,
    *_CMPOPS,
)
MAX_LENGTH = 2000


def compile_rule(
    expression: str, functions: Mapping[str, Callable[..., Any]], names: set[str] | frozenset[str]
) -> ast.Expression:
    """Parse and validate; raise :class:`RuleSyntaxError` naming the first disallowed construct."""
    if len(expression) > MAX_LENGTH:
        raise RuleSyntaxError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise RuleSyntaxError(f"syntax error at column {exc.offset}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise RuleSyntaxError(f"{type(node).__name__} is not allowed in rules")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise RuleSyntaxError(f"attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                raise RuleSyntaxError(f"call to {ast.unparse(node.func)!r} is not an allowed function")
            if node.keywords:
                raise RuleSyntaxError("keyword arguments are not allowed")
        if isinstance(node, ast.Name) and node.id not in names and node.id not in functions:
            raise RuleSyntaxError(f"unknown name {node.id!r}")
    return tree


def evaluate(
    tree: ast.Expression, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> Any:
    """Evaluate a tree from :func:`compile_rule`. Missing fields raise :class:`MissingValue`."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return Decimal(str(node.value)) if isinstance(node.value, float) else node.value
        if isinstance(node, ast.Name):
            if node.id in context:
                return wrap(context[node.id])
            raise MissingValue(node.id)
        if isinstance(node, ast.Attribute):
            base = ev(node.value)
            if not isinstance(base, Record):
                raise MissingValue(f"{ast.unparse(node.value)} is empty or not a record")
            value = base.get(node.attr)
            if value is None:
                raise MissingValue(ast.unparse(node))
            return value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(ev(v) for v in node.values)
            return any(ev(v) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            operand = ev(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = ev(comp)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        if isinstance(node, ast.List | ast.Tuple):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Call):
            func = functions[node.func.id]  # type: ignore[union-attr]
            if getattr(func, "lazy", False):  # present(x): must see a missing field, not raise
                return func(*[_Lazy(ev, a) for a in node.args])
            return func(*[ev(a) for a in node.args])
        raise RuleSyntaxError(f"{type(node).__name__} is not allowed in rules")

    return ev(tree)


class _Lazy:
    """An argument evaluated on demand, so ``present(header.x)`` can catch :class:`MissingValue`."""

    def __init__(self, ev: Callable[[ast.AST], Any], node: ast.AST):
        self._ev, self._node = ev, node

    def value(self) -> Any:
        return self._ev(self._node)


def lazy(func: Callable[..., Any]) -> Callable[..., Any]:
    func.lazy = True  # type: ignore[attr-defined]
    return func
