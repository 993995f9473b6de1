"""Small rules written in a workspace's configuration, such as `attributes.auto_resolved != true`.

Eligibility (`policy.eligible_if`) and closed-loop alerts (`alerts[].when`, e.g.
`nps <= 6 or csat <= 2`, `"refund" in comment`) are Python-like expressions
evaluated by `simpleeval`, narrowed to what a rule needs: names, dotted and
`["key"]` access into the context, comparisons, `in`, `and`/`or`/`not`, plain
arithmetic and literals. They are checked when compiled, so a configuration
can be rejected before it is stored, and evaluating one never raises.

The semantics are those of data that may be missing, since events rarely carry
every field: a missing name or key reads as `null`, ordering comparisons
with `null` (or between a number and a string) are false, and `true` equals
only the boolean `true`, so `attributes.auto_resolved != true` holds when the
attribute is missing, `1` or `"yes"`.
"""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from simpleeval import EvalWithCompoundTypes, safe_add

MAX_LENGTH = 1000
MAX_DEPTH = 32
CONSTANTS: Mapping[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}

# Everything else (calls, powers, slices, f-strings, comprehensions, lambdas…) is refused:
# a rule needs none of it, and each is a way to make evaluation slow or leak internals.
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Name, ast.Load, ast.Constant, ast.Attribute, ast.Subscript, ast.List, ast.Tuple,
)  # fmt: skip
_SCALARS = (str, int, float, bool, type(None))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(left: object, right: object) -> bool:
    """JSON equality: `true` is not `1`, as Python would have it."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """Ordering between two numbers or two strings; anything else (a missing value) is false."""

    def ordered(left: Any, right: Any) -> bool:
        if (_is_number(left) and _is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        ):
            return compare(left, right)
        return False

    return ordered


def _arithmetic(calculate: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Arithmetic on numbers only: no string repetition or `%` formatting to blow up."""

    def arithmetic(left: Any, right: Any) -> Any:
        if not (_is_number(left) and _is_number(right)):
            raise TypeError("arithmetic needs two numbers")
        return calculate(left, right)

    return arithmetic


def _contains(item: Any, container: Any) -> bool:
    """`"refund" in comment`, `plan in ["gold", "silver"]`, `"vip" in attributes`."""
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_same(item, element) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        return safe_add(left, right)  # bounded by simpleeval's string length limit
    return _arithmetic(operator.add)(left, right)


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Eq: _same,
    ast.NotEq: lambda left, right: not _same(left, right),
    ast.Is: _same,
    ast.IsNot: lambda left, right: not _same(left, right),
    ast.Lt: _ordered(operator.lt),
    ast.LtE: _ordered(operator.le),
    ast.Gt: _ordered(operator.gt),
    ast.GtE: _ordered(operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda item, container: not _contains(item, container),
    ast.Not: operator.not_,
    ast.USub: lambda value: _arithmetic(operator.sub)(0, value),
    ast.UAdd: lambda value: _arithmetic(operator.add)(0, value),
    ast.Add: _plus,
    ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul),
    ast.Div: _arithmetic(operator.truediv),
    ast.FloorDiv: _arithmetic(operator.floordiv),
    ast.Mod: _arithmetic(operator.mod),
}


def _lookup(container: Any, key: Any) -> Any:
    """A field of the context: missing reads as null, and only data can be looked into."""
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list | tuple) and isinstance(key, int) and not isinstance(key, bool):
        return container[key] if -len(container) <= key < len(container) else None
    raise TypeError(f"cannot look up {key!r} in a {type(container).__name__}")


class _Evaluator(EvalWithCompoundTypes):  # type: ignore[misc]  # simpleeval is untyped
    """simpleeval with data-only lookups: never `getattr`, so no way into Python's internals."""

    nodes: dict[type[ast.AST], Callable[[Any], Any]]

    def __init__(self, context: Mapping[str, Any]) -> None:
        super().__init__(operators=_OPERATORS, functions={}, names=self._name)
        self.nodes = {kind: handler for kind, handler in self.nodes.items() if kind in _ALLOWED}
        self._context = context

    def _name(self, node: ast.Name) -> Any:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        return self._context.get(node.id)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        return _lookup(self._eval(node.value), node.attr)

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        return _lookup(self._eval(node.value), self._eval(node.slice))


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked rule, ready to be evaluated against many contexts."""

    text: str
    tree: ast.Expression

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """Whether the rule holds for `context`; a rule that fails to evaluate does not hold.

        Never raises: an event that breaks a rule (a string where a number was
        expected, a division by zero) must not stop the pipeline.
        """
        try:
            result = _Evaluator(context).eval(self.text, previously_parsed=self.tree.body)
            return bool(result)
        except Exception:
            return False


def compile_expression(text: str, *, names: Collection[str] | None = None) -> Expression:
    """Parse and check a rule; ValueError says what is wrong with it.

    `names`, when given, are the only top-level names the rule may use (besides
    `true`, `false` and `null`), so a typo is caught when the configuration is
    saved rather than silently reading as null.
    """
    if not text.strip():
        raise ValueError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. an invalid escape in a string literal
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"invalid expression: {error.msg} (column {error.offset})") from None
    except (ValueError, RecursionError, MemoryError):
        raise ValueError("invalid expression: it cannot be parsed") from None
    _check(tree, names)
    return Expression(text=text, tree=tree)


def _check(tree: ast.Expression, names: Collection[str] | None) -> None:
    pending: list[tuple[ast.AST, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the expression nests deeper than {MAX_DEPTH} levels")
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"{_describe(node)} is not allowed in an expression")
        if isinstance(node, ast.Constant) and not isinstance(node.value, _SCALARS):
            raise ValueError(f"the literal {node.value!r} is not allowed in an expression")
        if isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name.startswith("_"):
                raise ValueError(f"names starting with '_' are not allowed ({name})")
        allowed_names = CONSTANTS.keys() | (names or ())
        if isinstance(node, ast.Name) and names is not None and node.id not in allowed_names:
            raise ValueError(f"unknown name {node.id!r}; expected one of {sorted(names)}")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _describe(node: ast.AST) -> str:
    described = {
        ast.Call: "calling a function",
        ast.Pow: "the power operator (**)",
        ast.Slice: "slicing",
        ast.JoinedStr: "an f-string",
        ast.Lambda: "lambda",
        ast.NamedExpr: "assignment (:=)",
        ast.IfExp: "a conditional expression",
    }
    return described.get(type(node), type(node).__name__)
