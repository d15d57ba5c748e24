"""Safe parsing of bound expressions: Python's ast with a whitelist, building sympy objects directly."""

from __future__ import annotations

import ast
import math
import numbers
from collections.abc import Mapping

import sympy

from .. import _checks
from .params import PARAMS, symbol

FUNCTIONS = {
    "sqrt": (sympy.sqrt, 1, 1), "cbrt": (sympy.cbrt, 1, 1), "log": (sympy.log, 1, 1),
    "exp": (sympy.exp, 1, 1), "Abs": (sympy.Abs, 1, 1),
    "Min": (sympy.Min, 2, None), "Max": (sympy.Max, 2, None),
}
MAX_LENGTH = 1000
MAX_DEPTH = 100
MAX_EXPONENT = 64          # |e| in x**e when e is a number
MAX_LOG10 = 300            # |log10 (a**e)| when both a and e are numbers

_NODE_NAMES = {
    ast.Attribute: "an attribute access", ast.Subscript: "a subscript", ast.Lambda: "a lambda",
    ast.Compare: "a comparison", ast.BoolOp: "a boolean operator", ast.IfExp: "a conditional expression",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.JoinedStr: "an f-string", ast.Starred: "a starred argument",
    ast.NamedExpr: "an assignment expression", ast.Await: "an await", ast.Slice: "a slice",
}
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class _Reject(Exception):
    """A construct outside the whitelist; turned into one ValueError at the boundary."""


def _log10_abs(r: sympy.Rational) -> float:
    # math.log10 accepts integers of any size, so this never overflows.
    return math.log10(abs(int(r.p))) - math.log10(int(r.q))


def _number(v) -> sympy.Expr:
    """A finite real constant (Python's or numpy's) as an exact sympy number."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _Reject(f"only numbers are allowed as constants, found {v!r}")
    if isinstance(v, numbers.Integral):
        return sympy.Integer(int(v))
    v = float(v)
    if not math.isfinite(v):
        raise _Reject(f"numbers must be finite, found {v!r}")
    return sympy.Rational(repr(v))  # 0.5 -> 1/2 exactly, so T**0.5 is sqrt(T)


class _Builder:
    def __init__(self, names):
        self.names = names

    def build(self, node, depth=0):
        if depth > MAX_DEPTH:
            raise _Reject(f"the expression is nested deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if isinstance(node, ast.Constant):
            return _number(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return symbol(node.id)
            if node.id in FUNCTIONS:
                raise _Reject(f"'{node.id}' is a function; call it, as in {node.id}(T)")
            raise _Reject(f"unknown name '{node.id}'; the allowed names are {sorted(self.names)}")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand, d)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, d)
            raise _Reject(f"the unary operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitXor):
                raise _Reject("'^' is not a power in Python syntax; write T**2")
            if type(node.op) not in _OPS:
                raise _Reject(f"the operator {type(node.op).__name__} is not allowed; use + - * / **")
            a, b = self.build(node.left, d), self.build(node.right, d)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                if b == 0:
                    raise _Reject("division by zero")
                return a / b
            return self._pow(a, b)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else "a computed function"
                raise _Reject(f"calls to {what!s} are not allowed; the allowed functions are "
                              f"{sorted(FUNCTIONS)}")
            fn, lo, hi = FUNCTIONS[node.func.id]
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise _Reject(f"{node.func.id}() takes positional arguments only")
            if len(node.args) < lo or (hi is not None and len(node.args) > hi):
                raise _Reject(f"{node.func.id}() takes {lo if hi == lo else f'at least {lo}'} "
                              f"argument(s), found {len(node.args)}")
            return fn(*(self.build(a, d) for a in node.args))
        raise _Reject(f"found {_NODE_NAMES.get(type(node), type(node).__name__)}, which is not allowed")

    @staticmethod
    def _pow(a, b):
        # sympy evaluates number**number exactly, so 9**9**9 would hang: bound it first.
        if b.is_Number:
            if abs(b) > MAX_EXPONENT:
                raise _Reject(f"exponents must be at most {MAX_EXPONENT} in absolute value, found {b}")
            if a.is_Rational and a != 0 and abs(float(b)) * abs(_log10_abs(a)) > MAX_LOG10:
                raise _Reject(f"the number {a}**{b} is larger than 1e{MAX_LOG10}")
        if a == 0 and b.is_Number and b < 0:
            raise _Reject("division by zero")
        return a ** b


def _summands(node):
    """Top-level summands of a parsed sum, in written order, as (sign, node) pairs."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = _summands(node.right)
        if isinstance(node.op, ast.Sub):
            right = [(-s, n) for s, n in right]
        return _summands(node.left) + right
    return [(1, node)]


def _parse(text, names, owner: str, name: str = "expression"):
    """Parse ``text`` into (sympy expression, its top-level terms in written order)."""
    if isinstance(text, sympy.Basic):
        expr = _canonical(sympy.sympify(text), names, owner, name)
        _check_real(expr, str(text), owner, name)
        return expr, tuple(sympy.Add.make_args(expr))
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        try:
            expr = _number(text)
        except _Reject as e:
            _checks.fail(owner, name, "be a finite number", text, f"Rejected: {e}.")
        return expr, (expr,)
    if not isinstance(text, str):
        _checks.fail(owner, name, "be a string or a sympy expression", text, kind=TypeError)
    if len(text) > MAX_LENGTH:
        _checks.fail(owner, name, f"have at most {MAX_LENGTH} characters", f"<{len(text)} characters>")
    hint = (f"Write an arithmetic expression in + - * / ** over numbers, the parameter names and "
            f"the functions {', '.join(sorted(FUNCTIONS))}.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        _checks.fail(owner, name, "be a valid arithmetic expression", text,
                     f"It does not parse ({type(e).__name__}: {getattr(e, 'msg', e)}). {hint}")
    builder = _Builder(names)
    try:
        terms = tuple(sign * builder.build(node) for sign, node in _summands(tree.body))
    except _Reject as e:
        _checks.fail(owner, name, "be an arithmetic expression in the allowed symbols", text,
                     f"Rejected: {e}. {hint}")
    except RecursionError:
        _checks.fail(owner, name, "be an arithmetic expression in the allowed symbols", text,
                     f"Rejected: the expression is nested too deeply. {hint}")
    expr = sympy.Add(*terms)
    _check_real(expr, text, owner, name)
    return expr, terms


def _check_real(expr, text, owner, name):
    """Every parameter is a nonnegative real, so a statement must be real where they are
    positive: log(0), sqrt(-1)*T and log(-T) (= log(T) + i pi) are refused here; an argument
    whose sign depends on the values (log(T - 5)) is refused when evaluated outside its domain."""
    if expr.has(sympy.I, sympy.zoo, sympy.oo, sympy.nan) or expr.is_extended_real is False:
        _checks.fail(owner, name, "be real-valued for positive parameters", text,
                     f"It evaluates to {expr}, which is complex or infinite.")


def _canonical(expr, names, owner, name):
    """Replace same-named symbols by the canonical positive ones; reject unknown names."""
    free = expr.free_symbols
    unknown = sorted(str(s) for s in free if str(s) not in names)
    if unknown:
        _checks.fail(owner, name, f"use only the names {sorted(names)}", str(expr),
                     f"Unknown: {unknown}.")
    return expr.xreplace({s: symbol(str(s)) for s in free})


def parse_expression(text: str, *, symbols: Mapping[str, str] | None = None) -> sympy.Expr:
    """Parse an arithmetic expression into sympy without executing any code.

    Only numbers, the parameter names of ``PARAMS`` (plus ``symbols``), ``+ - * / **``,
    unary minus and calls to ``sqrt, cbrt, log, exp, Abs, Min, Max`` are accepted; the
    syntax tree is walked and sympy objects are built node by node, so nothing is
    ``eval``-ed (``sympify`` and ``parse_expr`` both call ``eval``). Numeric powers
    are bounded (``9**9**9`` is rejected rather than computed).

    Parameters
    ----------
    text : str
        For example ``"L*D**2/T + sigma*D/sqrt(T)"``.
    symbols : mapping of str to str, optional
        Extra symbol names (with a short meaning) allowed besides ``PARAMS``.
    """
    return _parse(text, _names(symbols, "parse_expression"), "parse_expression")[0]


def _names(extra, owner):
    names = set(PARAMS)
    for s in extra or {}:
        if not (isinstance(s, str) and s.isidentifier() and not s.startswith("_")) or s in FUNCTIONS:
            _checks.fail(owner, "symbols", "hold identifiers that do not start with '_' and are not "
                         "function names", s)
        names.add(s)
    return frozenset(names)


