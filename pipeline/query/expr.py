"""Harper's SQL expressions over one row: a sqlglot expression compiled once into a Python closure.

One evaluator for every place an expression meets a stored row outside DuckDB: the WHERE and SET of an
UPDATE and the WHERE of a DELETE (evaluated on the shard, on the current row, when the command is applied),
a single-table SELECT's WHERE pushed down to the shards, and a SELECT without FROM. Its operators follow
Harper 4.7 (AlaSQL over Harper's index), as observed on a real Harper:

- ``=``, ``<>``, ``<``, ``>``... between an attribute and a constant compare values of the same JSON type
  (Harper answers them from its index: a range never crosses types), and the literals ``'true'``/``'false'``
  are the booleans there (``adorable = 'false'`` finds false, not the text 'false'); between computed
  values (``tomorrow_epoch > NOW()``) they compare as JavaScript does, numeric text as its number;
- ``IN (...)`` compares loosely: ``id IN ('1', '2')`` finds the numeric keys 1 and 2;
- a comparison with NULL is false (``IS NULL`` is how to find it; a missing attribute is NULL);
- ``LIKE`` ignores case; ``+`` concatenates when either side is text; arithmetic on NULL is NULL;
- functions are Harper's (:mod:`pipeline.query.functions`), the same definitions the final stage uses.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from sqlglot import exp

from ..contract.validate_sql import parse_expression
from .exceptions import SearchFailed
from .functions import lookup
from .plan import order_key

Row = dict[str, Any]
Compiled = Callable[[Row], Any]

#: sqlglot's own nodes for functions that Harper's SQL spells without parentheses
KEYWORD_FUNCTIONS = {exp.CurrentTimestamp: "current_timestamp", exp.CurrentDate: "current_date",
                      exp.CurrentTime: "current_time"}


class NotEvaluable(SearchFailed):
    """An expression the evaluator does not know (the final stage may still)."""


def column_name(node: exp.Expression) -> str | None:
    """The attribute a node names: a column, or AlaSQL's ``[name]``; None otherwise."""
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return node.name
    if isinstance(node, exp.Array) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Column):
        return node.expressions[0].name
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    """JavaScript's Number(): booleans count, numeric text converts, anything else is not a number."""
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        return value
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0
        except ValueError:
            return None
    return None


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def text(value: Any) -> str:
    """JavaScript's String() of a JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return str(_integral(value)) if value.is_integer() else repr(value)
    return value if isinstance(value, str) else str(value)


def equal(a: Any, b: Any) -> bool:
    """Harper's ``=``: the same JSON type and value."""
    if a is None or b is None:
        return False
    return order_key(a) == order_key(b)


def loosely_equal(a: Any, b: Any) -> bool:
    """JavaScript's ``==`` as IN uses it: numeric text equals its number."""
    if equal(a, b):
        return True
    if is_number(a) and isinstance(b, str) or is_number(b) and isinstance(a, str):
        x, y = _number(a), _number(b)
        return x is not None and y is not None and x == y
    return False


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def within_type(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        ka, kb = order_key(a), order_key(b)
        return ka[0] == kb[0] and compare(ka, kb)
    return within_type


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    exp.EQ: equal, exp.NEQ: lambda a, b: a is not None and b is not None and not equal(a, b),
    exp.GT: _ordered(lambda a, b: a > b), exp.GTE: _ordered(lambda a, b: a >= b),
    exp.LT: _ordered(lambda a, b: a < b), exp.LTE: _ordered(lambda a, b: a <= b)}


def _js_ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """JavaScript's relational operators: text against text by characters, otherwise as numbers."""
    def js(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if isinstance(a, str) and isinstance(b, str):
            return compare(a, b)
        x, y = _number(a), _number(b)
        return x is not None and y is not None and compare(x, y)
    return js


def _js_equal(a: Any, b: Any) -> bool:
    return loosely_equal(a, b)


_JS_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    exp.EQ: _js_equal, exp.NEQ: lambda a, b: a is not None and b is not None and not _js_equal(a, b),
    exp.GT: _js_ordered(lambda a, b: a > b), exp.GTE: _js_ordered(lambda a, b: a >= b),
    exp.LT: _js_ordered(lambda a, b: a < b), exp.LTE: _js_ordered(lambda a, b: a <= b)}
_CONSTANTS = (exp.Literal, exp.Boolean, exp.Null, exp.Neg)


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        return text(a) + text(b)
    return _arithmetic(lambda x, y: x + y)(a, b)


def _arithmetic(op: Callable[[float, float], float]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        x, y = _number(a), _number(b)
        if x is None or y is None or a is None or b is None:
            return None
        try:
            result = op(x, y)
        except ZeroDivisionError:
            return None
        return None if isinstance(result, float) and (math.isnan(result) or math.isinf(result)) else \
            _integral(result)
    return apply


_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    exp.Add: _add, exp.Sub: _arithmetic(lambda x, y: x - y), exp.Mul: _arithmetic(lambda x, y: x * y),
    exp.Div: _arithmetic(lambda x, y: x / y), exp.Mod: _arithmetic(math.fmod),
    exp.DPipe: lambda a, b: None if a is None or b is None else text(a) + text(b)}


def _like(pattern: str) -> re.Pattern:
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def literal(node: exp.Expression) -> Any:
    """The value of a constant node; NotEvaluable when it is not one."""
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        number = float(node.this)
        return _integral(number) if "." not in node.this and "e" not in node.this.lower() else number
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    raise NotEvaluable(f"not a constant: {node.sql()}")


def compile_expression(node: exp.Expression) -> Compiled:
    """``node`` as a function of a row (attribute name to JSON value)."""
    if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
        value = literal(node)
        return lambda row: value
    name = column_name(node)
    if name is not None:
        if name == "undefined" and isinstance(node, exp.Column) and not node.this.quoted:
            return lambda row: None
        return lambda row: row.get(name)
    if isinstance(node, exp.Paren):
        return compile_expression(node.this)
    if isinstance(node, exp.Neg):
        inner = compile_expression(node.this)
        return lambda row: None if (v := _number(inner(row))) is None else -v
    if isinstance(node, exp.Not):
        inner = compile_expression(node.this)
        return lambda row: not _truthy(inner(row))
    if isinstance(node, exp.And):
        left, right = compile_expression(node.left), compile_expression(node.right)
        return lambda row: _truthy(left(row)) and _truthy(right(row))
    if isinstance(node, exp.Or):
        left, right = compile_expression(node.left), compile_expression(node.right)
        return lambda row: _truthy(left(row)) or _truthy(right(row))
    if type(node) in _COMPARE:
        constant = isinstance(node.left, _CONSTANTS) or isinstance(node.right, _CONSTANTS)
        compare = _COMPARE[type(node)] if constant else _JS_COMPARE[type(node)]
        left, right = _compared(node.left), _compared(node.right)
        return lambda row: compare(left(row), right(row))
    if type(node) in _ARITHMETIC:
        operate, left, right = _ARITHMETIC[type(node)], compile_expression(node.left), compile_expression(node.right)
        return lambda row: operate(left(row), right(row))
    if isinstance(node, exp.Is):
        inner = compile_expression(node.this)
        if isinstance(node.expression, exp.Null):
            return lambda row: inner(row) is None
        wanted = compile_expression(node.expression)
        return lambda row: equal(inner(row), wanted(row))
    if isinstance(node, exp.In) and node.args.get("expressions"):
        inner = compile_expression(node.this)
        options = [compile_expression(e) for e in node.expressions]
        return lambda row: (v := inner(row)) is not None and any(loosely_equal(v, o(row)) for o in options)
    if isinstance(node, exp.Between):
        inner = compile_expression(node.this)
        low, high = compile_expression(node.args["low"]), compile_expression(node.args["high"])
        at_least, at_most = _COMPARE[exp.GTE], _COMPARE[exp.LTE]
        return lambda row: at_least(v := inner(row), low(row)) and at_most(v, high(row))
    if isinstance(node, (exp.Like, exp.ILike)):
        inner, pattern = compile_expression(node.this), compile_expression(node.expression)
        return lambda row: (v := inner(row)) is not None and (p := pattern(row)) is not None and \
            _like(text(p)).fullmatch(text(v)) is not None
    if isinstance(node, exp.Coalesce):
        parts = [compile_expression(e) for e in [node.this, *node.expressions]]
        return lambda row: next((v for p in parts if (v := p(row)) is not None), None)
    return _function(node)


def _compared(node: exp.Expression) -> Compiled:
    """A side of a comparison: the text literals 'true' and 'false' are Harper's booleans there."""
    if isinstance(node, exp.Literal) and node.is_string and node.this in ("true", "false"):
        value = node.this == "true"
        return lambda row: value
    return compile_expression(node)


def _function(node: exp.Expression) -> Compiled:
    if type(node) in KEYWORD_FUNCTIONS:
        name, args = KEYWORD_FUNCTIONS[type(node)], []
    elif isinstance(node, exp.Anonymous):
        name, args = node.name, list(node.expressions)
    elif isinstance(node, exp.Func):
        name, args = node.sql_name(), [a for a in node.args.values() if isinstance(a, exp.Expression)]
    else:
        raise NotEvaluable(f"not supported here: {node.sql(dialect='mysql')}")
    function = lookup(name)
    if function is None:
        raise NotEvaluable(f"unknown function {name}")
    if not function.min_args <= len(args) <= function.max_args:
        raise NotEvaluable(f"{name} takes {function.min_args} to {function.max_args} arguments")
    parts = [compile_expression(a) for a in args]
    call = function.call
    return lambda row: call(*(p(row) for p in parts))


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness, as AlaSQL's WHERE uses it."""
    if value is None or value is False:
        return False
    if is_number(value):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def compile_condition(node: exp.Expression) -> Callable[[Row], bool]:
    """A WHERE clause as a predicate over a row."""
    compiled = compile_expression(node)
    return lambda row: _truthy(compiled(row))


def compile_where(sql: str) -> Callable[[Row], bool]:
    """A condition sent as SQL text (a pushed-down WHERE, a DML's) compiled where the rows are."""
    return compile_condition(parse_expression(sql))
