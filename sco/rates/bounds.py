"""Theorems as data: a `Bound` holds a theorem's right-hand side as a sympy expression."""

from __future__ import annotations

import ast
import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import sympy
import torch
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from .. import _checks

# --------------------------------------------------------------------------------------
# Parameters: the README's notation, with where a claim finds each value
# --------------------------------------------------------------------------------------


class Param(NamedTuple):
    """A symbol a bound may use: its LaTeX form, meaning, and where its value comes from."""
    name: str
    latex: str
    meaning: str
    source: str  # "objective", "noise", "run", "aggregator", "arrivals" or "derived"


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("m", "m", "number of workers", "run"),
    Param("f", "f", "number of Byzantine workers", "run"),
    Param("delta", r"\delta", "Byzantine fraction of workers, f/m", "run"),
    Param("lam", r"\lambda", "Byzantine fraction of updates (asynchronous)", "run"),
    Param("d", "d", "dimension", "objective"),
    Param("T", "T", "horizon (number of iterations)", "run"),
    Param("t", "t", "step, 1-based", "run"),
    Param("L", "L", "smoothness constant", "objective"),
    Param("mu", r"\mu", "strong-convexity constant", "objective"),
    Param("D", "D", "diameter of the domain, or ||x_1 - x*||", "objective"),
    Param("Delta", r"\Delta", "initial suboptimality f(x_1) - f* (nonconvex)", "objective"),
    Param("zeta", r"\zeta", "heterogeneity, zeta^2 = mean_i ||grad f_i - grad f||^2", "objective"),
    Param("sigma", r"\sigma", "gradient noise: E||grad f(x;z) - grad f(x)||^2 <= sigma^2", "noise"),
    Param("sigma_L", r"\sigma_L", "smoothness variance", "noise"),
    Param("sigma_tilde", r"\tilde{\sigma}", "effective noise, sigma_tilde^2 = 2 sigma^2 + 8 D^2 sigma_L^2",
          "derived"),
    Param("tau", r"\tau", "staleness of a message", "arrivals"),
    Param("tau_bar", r"\bar{\tau}", "mean staleness over arrivals", "arrivals"),
    Param("kappa", r"\kappa", "robustness coefficient of the aggregator", "aggregator"),
    Param("kappa_base", r"\kappa_A", "robustness coefficient of CTMA's anchor aggregator A", "aggregator"),
    Param("eta", r"\eta", "step size", "run"),
    Param("n", "n", "honest workers in the arrival pool", "arrivals"),
    Param("p", "p", "arrival probabilities p_i of the honest workers (a vector, last axis)", "arrivals"),
    Param("inv_p_sum", r"\sum_i p_i^{-1}", "sum over the honest workers of 1/p_i", "derived"),
)}

_SYMBOLS: dict[str, sympy.Symbol] = {}


def symbol(name: str) -> sympy.Symbol:
    """The canonical sympy symbol of a parameter; every parameter is a positive real."""
    s = _SYMBOLS.get(name)
    if s is None:
        s = _SYMBOLS[name] = sympy.Symbol(name, positive=True)
    return s


# Scalars computed from other scalars when not given: name -> definition.
DERIVED: dict[str, sympy.Expr] = {
    "sigma_tilde": sympy.sqrt(2 * symbol("sigma") ** 2 + 8 * symbol("D") ** 2 * symbol("sigma_L") ** 2),
    "delta": symbol("f") / symbol("m"),
}


def _reduce_n(p):
    return float(p.shape[-1])


def _reduce_inv_p_sum(p):
    return (1 / p).sum(-1)


# Scalars computed from a vector parameter (its last axis) when not given: name -> (vector, fn).
# A bound therefore takes either the vector itself (p=[...]) or the precomputed scalars.
REDUCTIONS: dict[str, tuple[str, object]] = {
    "n": ("p", _reduce_n),
    "inv_p_sum": ("p", _reduce_inv_p_sum),
}
VECTORS = frozenset(v for v, _ in REDUCTIONS.values())

# --------------------------------------------------------------------------------------
# Safe parsing: Python's ast with a whitelist, building sympy objects directly
# --------------------------------------------------------------------------------------

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
    return sympy.Add(*terms), terms


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


# --------------------------------------------------------------------------------------
# Numeric evaluation on floats, numpy arrays and torch tensors
# --------------------------------------------------------------------------------------

class _NumpyOps:
    sqrt, exp, log, abs = np.sqrt, np.exp, np.log, np.abs
    minimum, maximum = np.minimum, np.maximum

    @staticmethod
    def heaviside(x):
        return np.heaviside(x, 0.5)


class _TorchOps:
    sqrt, exp, log, abs = torch.sqrt, torch.exp, torch.log, torch.abs
    minimum, maximum = torch.minimum, torch.maximum

    @staticmethod
    def heaviside(x):
        return torch.heaviside(x, torch.full_like(x, 0.5))


def _backend(values: Mapping):
    """Convert values to one array type: torch if any value is a tensor, else float64 numpy."""
    tensors = [v for v in values.values() if isinstance(v, torch.Tensor)]
    if tensors:
        ref = tensors[0]
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        conv = {k: torch.as_tensor(v, dtype=dtype, device=ref.device) for k, v in values.items()}
        return conv, _TorchOps, "torch"
    scalar = all(np.ndim(v) == 0 for v in values.values())
    return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}, _NumpyOps, \
        "float" if scalar else "numpy"


def _walk(e, env, ops):
    if e.is_Symbol:
        return env[e.name]
    if e.is_Number or e.is_NumberSymbol:
        return float(e)
    args = e.args
    if e.is_Add:
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            out = out + _walk(a, env, ops)
        return out
    if e.is_Mul:
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            out = out * _walk(a, env, ops)
        return out
    if e.is_Pow:
        base, ex = args
        if ex == sympy.Rational(1, 2):
            return ops.sqrt(_walk(base, env, ops))
        if ex.is_Integer:
            return _walk(base, env, ops) ** int(ex)
        return _walk(base, env, ops) ** _walk(ex, env, ops)
    if isinstance(e, (sympy.Min, sympy.Max)):
        fn = ops.minimum if isinstance(e, sympy.Min) else ops.maximum
        out = _walk(args[0], env, ops)
        for a in args[1:]:
            b = _walk(a, env, ops)
            out = fn(*_as_pair(out, b))
        return out
    fns = {sympy.exp: ops.exp, sympy.log: ops.log, sympy.Abs: ops.abs, sympy.Heaviside: ops.heaviside}
    fn = fns.get(type(e))
    if fn is not None:
        x = _walk(args[0], env, ops)
        return fn(_as_array(x, ops))
    raise TypeError(f"Cannot evaluate {type(e).__name__} in {e}: bounds use + - * / ** and "
                    f"{sorted(FUNCTIONS)} only.")


def _as_array(x, ops):
    if isinstance(x, float):
        return np.float64(x) if ops is _NumpyOps else torch.tensor(x, dtype=torch.float64)
    return x


def _as_pair(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ref = a if isinstance(a, torch.Tensor) else b
        return (torch.as_tensor(a, dtype=ref.dtype, device=ref.device),
                torch.as_tensor(b, dtype=ref.dtype, device=ref.device))
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def _finish(x, kind):
    if kind == "float":
        return float(x)
    if kind == "numpy":
        return np.asarray(x, dtype=np.float64)
    return x


# --------------------------------------------------------------------------------------
# The Bound
# --------------------------------------------------------------------------------------

KINDS = ("exact", "upper", "lower", "shape")
ORDERS = ("O", "Omega", "Theta")
TAGS = ("V-text", "V-code", "D", "R", "I")
_RELATION_LATEX = {"exact": "=", "upper": r"\le", "lower": r"\ge"}
_ORDER_LATEX = {"O": r"\mathcal{O}", "Omega": r"\Omega", "Theta": r"\Theta"}


class Regime(NamedTuple):
    """The range ``lo <= param <= hi`` where ``term`` carries at least ``share`` of the bound."""
    param: str
    term: int
    share: float
    lo: float
    hi: float

    def __str__(self):
        lo = "0" if self.lo == 0 else f"{self.lo:.4g}"
        hi = "inf)" if math.isinf(self.hi) else f"{self.hi:.4g}]"
        return f"{self.param} in [{lo}, {hi}"


@dataclasses.dataclass(frozen=True, eq=False)
class Bound:
    r"""A theorem's right-hand side as data.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"mu2sgd_estimator_error"``.
    expr : str or sympy.Expr
        The right-hand side, e.g. ``"L*D**2/T + sigma_tilde*D/sqrt(T)"``. Strings go
        through `parse_expression` (no code is executed); the top-level summands, in
        written order, are the bound's `terms`.
    kind : {"exact", "upper", "lower", "shape"}
        ``exact``: an identity, measured = expr. ``upper``/``lower``: an inequality whose
        constants are stated and may be checked. ``shape``: only the O(.)/Omega(.)
        shape; constants are meaningless, only exponents may be checked.
    source : str
        Precise pointer, e.g. ``"[Lev23, Thm. 1]"`` or ``"[digest §4.2]"``.
    claim : str
        One sentence a reader understands: what the bound says.
    quantity : str
        The measured left-hand side in plain text, e.g. ``"E[f(x_T) - f*]"``.
    tag : {"V-text", "V-code", "D", "R", "I"}
        Provenance, in the digest's legend (papers.md §0): read in text, read in code,
        derived (and proved) in the digest, recollection, inferred.
    verified : bool
        Whether the constants were checked against the source's own text.
    note : str
        What is known about the constants (one or two sentences).
    order : {"O", "Omega", "Theta"}
        For ``kind="shape"``: which asymptotic relation.
    quantity_latex : str, optional
        LaTeX of the left-hand side.
    symbols : mapping of str to str, optional
        Extra symbol names (with their meaning) besides the README's notation (`PARAMS`).

    Evaluation takes the parameters by name, as floats, numpy arrays or torch tensors
    (broadcast together); derived scalars (``sigma_tilde`` from ``sigma, D, sigma_L``;
    ``delta`` from ``f, m``; ``n`` and ``inv_p_sum`` from the vector ``p``) are computed
    when not given.

    The predicted exponent in a parameter p is the log-derivative

    .. math::

        a_p(\theta) = \frac{\partial \log B}{\partial \log p}(\theta)
                    = \sum_k s_k(\theta)\, \frac{\partial \log B_k}{\partial \log p}(\theta),
        \qquad s_k = B_k / B,

    a share-weighted average of the terms' exponents: the dominant term sets the slope.
    """

    name: str
    expr: sympy.Expr
    kind: str
    source: str
    claim: str
    quantity: str
    tag: str
    verified: bool = False
    note: str = ""
    order: str = "O"
    quantity_latex: str | None = None
    symbols: Mapping[str, str] = dataclasses.field(default_factory=dict)
    terms: tuple = dataclasses.field(default=(), repr=False)

    def __post_init__(self):
        owner = "Bound"
        for field in ("name", "source", "claim", "quantity", "note"):
            if not isinstance(getattr(self, field), str):
                _checks.fail(owner, field, "be a string", getattr(self, field), kind=TypeError)
        _checks.one_of(owner, "kind", self.kind, KINDS)
        _checks.one_of(owner, "order", self.order, ORDERS)
        _checks.one_of(owner, "tag", self.tag, TAGS)
        if not isinstance(self.verified, bool):
            _checks.fail(owner, "verified", "be a bool", self.verified, kind=TypeError)
        names = _names(self.symbols, owner)
        expr, terms = _parse(self.expr, names, owner, "expr")
        if self.terms:
            # Re-terming (subs, excess): the given terms must add up to the expression.
            terms = tuple(_parse(t, names, owner, "terms")[0] for t in self.terms)
            if sympy.simplify(sympy.Add(*terms) - expr) != 0:
                _checks.fail(owner, "terms", "add up to expr", self.terms)
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "symbols", dict(self.symbols))

    # -- description ---------------------------------------------------------------------

    @property
    def relation(self) -> str:
        """``"=="``, ``"<="`` or ``">="``: how the measured quantity relates to the bound."""
        if self.kind == "shape":
            return {"O": "<=", "Omega": ">=", "Theta": "=="}[self.order]
        return {"exact": "==", "upper": "<=", "lower": ">="}[self.kind]

    @property
    def parameters(self) -> tuple[str, ...]:
        """The symbols the expression uses, sorted."""
        return tuple(sorted(s.name for s in self.expr.free_symbols))

    def _symbol_names(self):
        return {symbol(p.name): p.latex for p in PARAMS.values()} | \
            {symbol(s): s for s in self.symbols}

    def latex(self, term: int | str | None = None) -> str:
        """LaTeX of ``quantity relation right-hand side``, terms in written order.

        With ``term``, the LaTeX of that one term only.
        """
        names = self._symbol_names()
        if term is not None:
            return sympy.latex(self.terms[self.term_index(term)], symbol_names=names)
        rhs = ""
        for i, t in enumerate(self.terms):
            s = sympy.latex(t, symbol_names=names)
            rhs += s if i == 0 else (f" {s}" if s.startswith("-") else f" + {s}")
        if self.kind == "shape":
            rhs = _ORDER_LATEX[self.order] + r"\left(" + rhs + r"\right)"
            rel = "="
        else:
            rel = _RELATION_LATEX[self.kind]
        lhs = self.quantity_latex or r"\text{" + self.quantity + "}"
        return f"{lhs} {rel} {rhs}"

    def _repr_latex_(self):
        return f"${self.latex()}$"

    def __str__(self):
        rhs = " + ".join(str(t) for t in self.terms)
        if self.kind == "shape":
            rhs = f"{self.order}({rhs})"
            rel = "="
        else:
            rel = self.relation
        ver = "verified" if self.verified else "unverified"
        return f"{self.name}: {self.quantity} {rel} {rhs}   [{self.kind}; {self.source}; [{self.tag}], {ver}]"

    def describe(self) -> str:
        """Several lines for a reader: claim, formula, source, provenance, parameters."""
        lines = [str(self), f"  claim: {self.claim}"]
        if self.note:
            lines.append(f"  constants: {self.note}")
        for name in self.parameters:
            meaning = PARAMS[name].meaning if name in PARAMS else self.symbols[name]
            lines.append(f"  {name}: {meaning}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready description (for reports)."""
        return {
            "name": self.name, "expression": str(self.expr), "terms": [str(t) for t in self.terms],
            "latex": self.latex(), "kind": self.kind, "order": self.order if self.kind == "shape" else None,
            "relation": self.relation, "source": self.source, "tag": self.tag, "verified": self.verified,
            "note": self.note, "claim": self.claim, "quantity": self.quantity,
            "parameters": list(self.parameters),
        }

    # -- terms ---------------------------------------------------------------------------

    def term_index(self, term: int | str | sympy.Expr) -> int:
        """Index of a term given as an index or as an expression equal to one of the terms."""
        n = len(self.terms)
        if isinstance(term, numbers.Integral) and not isinstance(term, bool):
            if not -n <= term < n:
                _checks.fail(f"Bound '{self.name}'", "term", f"be an index in [{-n}, {n})", term)
            return int(term) % n
        if isinstance(term, (str, sympy.Basic)):
            e = _parse(term, _names(self.symbols, "Bound"), f"Bound '{self.name}'", "term")[0]
            for i, t in enumerate(self.terms):
                if sympy.simplify(t - e) == 0:
                    return i
            _checks.fail(f"Bound '{self.name}'", "term", f"be one of the terms {[str(t) for t in self.terms]}",
                         term)
        _checks.fail(f"Bound '{self.name}'", "term", "be an int or an expression", term, kind=TypeError)

    # -- evaluation ----------------------------------------------------------------------

    def _env(self, exprs, vals, owner):
        """Resolve the symbols of ``exprs`` from ``vals`` (deriving what is missing)."""
        need = set().union(*(e.free_symbols for e in exprs))
        env = {}
        missing = []

        def resolve(name):
            if name in env:
                return True
            if name in vals:
                env[name] = vals[name]
                return True
            if name in DERIVED:
                d = DERIVED[name]
                if all(resolve(s.name) for s in d.free_symbols):
                    env[name] = _evaluate(d, {s.name: env[s.name] for s in d.free_symbols})
                    return True
            if name in REDUCTIONS:
                vec, fn = REDUCTIONS[name]
                if vec in vals:
                    p = vals[vec]
                    p = p if isinstance(p, torch.Tensor) else np.asarray(p, dtype=np.float64)
                    if p.ndim < 1 or p.shape[-1] < 1 or not bool((p > 0).all()):
                        _checks.fail(owner, vec, "be a vector of positive entries (last axis)", vals[vec])
                    env[name] = fn(p)
                    return True
            return False

        for s in sorted(need, key=lambda s: s.name):
            if not resolve(s.name):
                missing.append(s.name)
        if missing:
            how = []
            for name in missing:
                if name in DERIVED:
                    how.append(f"{name} (or {', '.join(sorted(x.name for x in DERIVED[name].free_symbols))})")
                elif name in REDUCTIONS:
                    how.append(f"{name} (or the vector {REDUCTIONS[name][0]})")
                else:
                    how.append(name)
            _checks.fail(owner, "values", f"give every parameter of the bound: {', '.join(how)}",
                         sorted(vals), "Pass them as keywords or in a mapping.")
        for k, v in env.items():
            if not isinstance(v, (numbers.Real, np.ndarray, torch.Tensor, list, tuple)) or isinstance(v, bool):
                _checks.fail(owner, k, "be a real number, a numpy array or a torch tensor", v, kind=TypeError)
        return env

    def __call__(self, values: Mapping | None = None, /, **kw):
        """Evaluate the bound; floats give a float, arrays an array, tensors a tensor."""
        owner = f"Bound '{self.name}'"
        return _evaluate(self.expr, self._env([self.expr], _merge(values, kw), owner))

    def term_values(self, values: Mapping | None = None, /, **kw) -> list:
        """Each term evaluated, in written order, broadcast to a common shape."""
        owner = f"Bound '{self.name}'"
        env = self._env(self.terms, _merge(values, kw), owner)
        out = [_evaluate(t, env) for t in self.terms]
        ref = next((o for o in out if isinstance(o, torch.Tensor)), None)
        if ref is not None:  # a term free of the tensor-valued parameters comes back as a float
            return list(torch.broadcast_tensors(*[torch.as_tensor(o, dtype=ref.dtype, device=ref.device)
                                                  for o in out]))
        if all(isinstance(o, float) for o in out):
            return out
        return list(np.broadcast_arrays(*[np.asarray(o, dtype=np.float64) for o in out]))

    def shares(self, values: Mapping | None = None, /, **kw) -> np.ndarray:
        """Fraction of the bound carried by each term: a float64 array (n_terms, *shape)."""
        parts = [np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
                 for v in self.term_values(values, **kw)]
        parts = np.stack(np.broadcast_arrays(*parts))
        if (parts < 0).any():
            raise ValueError(f"Shares need nonnegative terms; a term of bound '{self.name}' is negative "
                             f"at these values.")
        total = parts.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, parts / np.where(total > 0, total, 1.0), 0.0)

    def dominant(self, values: Mapping | None = None, /, **kw):
        """Index of the largest term (an int, or an int array for array values)."""
        idx = self.shares(values, **kw).argmax(0)
        return int(idx) if idx.ndim == 0 else idx

    # -- exponents and regimes -----------------------------------------------------------

    def _in_terms_of(self, e, param, owner):
        """Substitute derived symbols whose definition contains ``param`` (sigma -> sigma_tilde)."""
        names = _names(self.symbols, owner) | set(VECTORS)
        if param not in names:
            _checks.fail(owner, "param", f"be a parameter name, one of {sorted(names)}", param)
        if param in VECTORS:
            red = sorted(k for k, (v, _) in REDUCTIONS.items() if v == param)
            _checks.fail(owner, "param", "be a scalar parameter", param,
                         f"'{param}' is a vector; take exponents in its reductions {red}.")
        p = symbol(param)
        for _ in range(len(DERIVED)):
            subs = {symbol(k): d for k, d in DERIVED.items()
                    if symbol(k) in e.free_symbols and p in d.free_symbols}
            if not subs:
                break
            e = e.subs(subs)
        return e, p

    def exponent(self, param: str, values: Mapping | None = None, /, *, term=None, **kw):
        """Local exponent d log B / d log param: symbolic without values, numeric with them.

        With ``term``, the exponent of that term alone. Derived symbols are expanded when
        ``param`` enters through them (the exponent in ``sigma`` of a bound written with
        ``sigma_tilde``).
        """
        owner = f"Bound '{self.name}'.exponent"
        e = self.expr if term is None else self.terms[self.term_index(term)]
        e, p = self._in_terms_of(e, param, owner)
        a = p * sympy.diff(e, p) / e
        if values is None and not kw:
            return sympy.simplify(a)
        vals = _merge(values, kw)
        return _evaluate(a, self._env([a], vals, owner)) if a.free_symbols else float(a)

    def crossover(self, param: str, i, j, values: Mapping | None = None, /, **kw):
        """Value(s) of ``param`` where terms ``i`` and ``j`` are equal.

        Symbolic (a list of sympy expressions) without values; a sorted list of floats with
        them. For ``L*D**2/T + sigma*D/sqrt(T)``: ``T = L**2*D**2/sigma**2``.
        """
        owner = f"Bound '{self.name}'.crossover"
        a, b = self.terms[self.term_index(i)], self.terms[self.term_index(j)]
        a, p = self._in_terms_of(a, param, owner)
        b, _ = self._in_terms_of(b, param, owner)
        sols = [s for s in sympy.solve(sympy.Eq(a, b), p) if s.is_positive is not False]
        if values is None and not kw:
            return sols
        vals = _merge(values, kw)
        out = []
        for s in sols:
            v = _evaluate(s, self._env([s], vals, owner)) if s.free_symbols else float(s)
            if np.ndim(v) == 0 and math.isfinite(float(v)) and float(v) > 0:
                out.append(float(v))
        return sorted(out)

    def regime(self, param: str, term, values: Mapping | None = None, /, *, share: float = 0.5,
               **kw) -> Regime | None:
        r"""The interval of ``param`` where ``term`` carries at least ``share`` of the bound.

        The other parameters are fixed at ``values`` (scalars). Every term must be a power
        of ``param`` there, :math:`B_j = c_j p^{a_j}`; then :math:`B/B_k = \sum_j (c_j/c_k)
        p^{a_j - a_k}` is convex in :math:`\log p` and the regime is one interval, found by
        root finding. Returns None when the term never carries that share.

        .. note::
           For ``kind="shape"`` the constants are those written (often 1), so the regime is
           only as good as they are.
        """
        owner = f"Bound '{self.name}'.regime"
        share = _checks.real(owner, "share", share, low=0, high=1, low_open=True, high_open=True)
        k = self.term_index(term)
        vals = _merge(values, kw)
        vals.pop(param, None)
        exps, logc = [], []
        for t in self.terms:
            e, p = self._in_terms_of(t, param, owner)
            a = sympy.simplify(p * sympy.diff(e, p) / e) if e != 0 else sympy.Integer(0)
            if p in a.free_symbols:
                _checks.fail(owner, "param", f"enter every term as a power (B_j = c_j {param}**a_j)", param,
                             f"Term {t} is not a power of {param}; use shares() on a grid instead.")
            a = _evaluate(a, self._env([a], vals, owner)) if a.free_symbols else float(a)
            c = _evaluate(e.subs(p, 1), self._env([e.subs(p, 1)], vals, owner))
            if np.ndim(a) or np.ndim(c):
                _checks.fail(owner, "values", f"hold scalars for every parameter except {param}", sorted(vals))
            exps.append(float(a))
            logc.append(math.log(float(c)) if float(c) > 0 else -math.inf)
        if logc[k] == -math.inf:
            return None
        keep = [j for j in range(len(exps)) if logc[j] > -math.inf]
        a = np.array([exps[j] - exps[k] for j in keep])
        b = np.array([logc[j] - logc[k] for j in keep])
        lo, hi = _share_interval(a, b, -math.log(share))
        if lo is None:
            return None
        return Regime(param, k, share, math.exp(lo), math.exp(hi))

    def explain(self, param: str, values: Mapping | None = None, /, **kw) -> str:
        """A few lines for a reader: local exponent, dominant term and each term's regime."""
        vals = _merge(values, kw)
        at = vals.get(param)
        if np.ndim(at) != 0:
            _checks.fail(f"Bound '{self.name}'.explain", "values", f"hold a scalar value of {param}", at)
        a = self.exponent(param, vals)
        sh = self.shares(vals)
        k = int(sh.argmax(0))
        lines = [f"{self.name} at {param}={at:.4g}: d log B / d log {param} = {float(a):+.3f}; "
                 f"dominant term {self.terms[k]} ({100 * sh[k]:.0f}% of the bound)"]
        for j, t in enumerate(self.terms):
            try:
                r = self.regime(param, j, vals, share=0.5)
            except ValueError:
                r = "n/a (not a power of " + param + ")"
            aj = self.exponent(param, vals, term=j)
            lines.append(f"  term {j}: {t}   exponent {float(aj):+.3g}; dominates (>= 50%) for "
                         f"{r if r is not None else 'no ' + param}")
        return "\n".join(lines)

    # -- new bounds from this one --------------------------------------------------------

    def subs(self, *, name: str | None = None, **replacements) -> Bound:
        """A new bound with symbols replaced: ``BOUNDS["byzantine_sync"].subs(kappa="delta")``.

        Replacements are numbers, safe-parsed strings or sympy expressions (another bound's
        ``expr``). The kind, source and provenance stay; the note records the substitution.
        """
        owner = f"Bound '{self.name}'.subs"
        names = _names(self.symbols, owner)
        rep = {}
        for k, v in replacements.items():
            if k not in names:
                _checks.fail(owner, k, f"name a symbol of the bound, one of {sorted(names)}", k)
            rep[symbol(k)] = _parse(v, names, owner, k)[0]
        text = ", ".join(f"{k} := {rep[symbol(k)]}" for k in replacements)
        return dataclasses.replace(
            self, name=name or f"{self.name}[{text}]", expr=self.expr.subs(rep),
            terms=tuple(t.subs(rep) for t in self.terms),
            note=(self.note + " " if self.note else "") + f"Substituted {text}.")

    def scaled(self, constants) -> Bound:
        """A new bound whose term ``j`` is multiplied by ``constants[j]`` (exponents unchanged).

        For a shape bound, whose written constants are placeholders, scaled terms place the
        crossovers where the measured curve has them (see `sco.rates.calibrate_terms`).
        """
        owner = f"Bound '{self.name}'.scaled"
        c = [_checks.real(owner, "constants", v, low=0) for v in constants]
        if len(c) != len(self.terms):
            _checks.fail(owner, "constants", f"hold one value per term ({len(self.terms)})", list(constants))
        terms = tuple(sympy.Float(cj, 15) * t for cj, t in zip(c, self.terms))
        text = ", ".join(f"{cj:.3g}" for cj in c)
        return dataclasses.replace(self, name=f"{self.name}.scaled", expr=sympy.Add(*terms), terms=terms,
                                   note=(self.note + " " if self.note else "") + f"Terms scaled by {text}.")

    def excess(self, param: str, at: float = 0.0) -> Bound:
        """The bound minus its value at ``param = at``: what ``y(p) - y(at)`` should follow.

        Terms that do not depend on ``param`` cancel and are dropped, so the regime and
        exponent analysis sees only the terms that move (the ``sqrt(delta/T)`` term of the
        synchronous rate when the baseline is the run at delta = 0).
        """
        owner = f"Bound '{self.name}'.excess"
        _, p = self._in_terms_of(self.expr, param, owner)
        at = _checks.real(owner, "at", at, low=0)
        terms = []
        for t in self.terms:
            t, _ = self._in_terms_of(t, param, owner)
            d = sympy.simplify(t - t.subs(p, sympy.nsimplify(at)))
            if d != 0:
                terms.append(d)
        if not terms:
            _checks.fail(owner, "param", "be a parameter the bound depends on", param)
        return dataclasses.replace(
            self, name=f"{self.name}.excess({param}={at:g})", expr=sympy.Add(*terms), terms=tuple(terms),
            quantity=f"{self.quantity} at {param} minus at {param}={at:g}", quantity_latex=None)

    def values_from(self, *sources, **overrides) -> dict:
        """Collect this bound's parameters from mappings or objects (attributes), in order.

        Later sources win; ``overrides`` win over all. Collects every known parameter name
        found, so derived symbols can be computed from their inputs.
        """
        wanted = set(PARAMS) | set(self.symbols)
        out = {}
        for src in sources:
            for name in wanted:
                if isinstance(src, Mapping):
                    if name in src:
                        out[name] = src[name]
                elif hasattr(src, name):
                    v = getattr(src, name)
                    if isinstance(v, (numbers.Real, np.ndarray, torch.Tensor)):
                        out[name] = v
        out.update(overrides)
        return out


def _merge(values, kw) -> dict:
    """Parameters given as a mapping and/or keywords (keywords win)."""
    vals = dict(values or {})
    vals.update(kw)
    return vals


def _evaluate(e, env):
    """Evaluate a sympy expression on a dict name -> value, in the values' array type."""
    conv, ops, kind = _backend({k: env[k] for k in (s.name for s in e.free_symbols)})
    return _finish(_walk(e, conv, ops), kind)


def _share_interval(a, b, c):
    """Solve h(u) = logsumexp(b + a u) <= c for u, h convex; return (lo, hi) or (None, None).

    ``a`` and ``b`` include the reference term itself (a = b = 0), so h >= 0.
    """
    def h(u):
        return logsumexp(b + a * u)

    def dh(u):
        return float(softmax(b + a * u) @ a)

    pos, neg = (a > 0).any(), (a < 0).any()
    if pos and neg:
        lo, hi = -1.0, 1.0
        while dh(lo) > 0:
            lo *= 2
        while dh(hi) < 0:
            hi *= 2
        u0 = brentq(dh, lo, hi) if dh(lo) < 0 < dh(hi) else (lo if dh(lo) == 0 else hi)
        h0 = h(u0)
    elif pos:  # h increases: infimum at -inf, the terms with a == 0
        u0, h0 = -math.inf, logsumexp(b[a == 0])
    elif neg:
        u0, h0 = math.inf, logsumexp(b[a == 0])
    else:
        return (-math.inf, math.inf) if h(0.0) <= c else (None, None)
    if h0 > c:
        return None, None

    def root(direction):
        if math.isinf(u0):
            # start from a point inside the regime on the finite side
            start = 0.0
            while h(start) > c:
                start += -direction * (1 + abs(start))
        else:
            start = u0
        step = 1.0
        far = start + direction * step
        while h(far) <= c:
            step *= 2
            far = start + direction * step
        return brentq(lambda u: h(u) - c, *sorted((start, far)))

    lo = -math.inf if not neg else root(-1.0)
    hi = math.inf if not pos else root(+1.0)
    return lo, hi


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------

_EXCESS = r"\mathbb{E}[f(x_T) - f^*]"
_EST = r"\mathbb{E}\|d_t - \nabla f(x_t)\|^2"
_AGG = r"\mathbb{E}\|\hat d_t - \nabla f(x_t)\|^2"
_GRAD = r"\mathbb{E}\|\nabla f(\hat x)\|"

BOUNDS: dict[str, Bound] = {b.name: b for b in (
    Bound(
        "sgd_smooth_convex", "L*D**2/T + sigma*D/sqrt(T)", kind="shape",
        source="[Bub15, §6.2]", tag="R", quantity="E[f(x_bar_T) - f*]", quantity_latex=_EXCESS,
        claim="Averaged projected SGD on an L-smooth convex problem with noise variance sigma^2 and a "
              "constant step tuned to T and sigma, eta ~ min(1/L, D/(sigma sqrt(T))), reaches excess loss "
              "O(L D^2/T + sigma D/sqrt(T)).",
        note="Recalled, not checked against [Bub15]; the order-one constants and the exact step are not "
             "used, so test exponents only. AnyTime-SGD [Cut19] has the same shape."),
    Bound(
        "mu2sgd_noiseless", "L*D**2/T", kind="shape",
        source="[Lev23]; [digest §3.3, §7.4]", tag="R", quantity="E[f(x_T) - f*]", quantity_latex=_EXCESS,
        claim="With exact gradients, mu^2-SGD (alpha_t = t, beta_t = 1/t, eta = 1/(4LT)) reaches excess "
              "loss O(L D^2/T): slope -1 in T.",
        note="The abstract [V-text] claims optimal noiseless and noisy rates with one fixed step; the "
             "expression, eta = 1/(4LT) and any constant are recollection (papers.md §3.3)."),
    Bound(
        "anytime_noiseless_pep", "4*L*D**2/T", kind="upper",
        source="proofs_check.pep_anytime [THG17, GMT+22]", tag="D", quantity="f(x_T) - f*",
        quantity_latex=r"f(x_T) - f^*",
        claim="Noiseless AnyTime-GD (alpha_t = t) with eta = 1/(4 L T) on an L-smooth convex function has "
              "f(x_T) - f* <= 4 L D^2 / T with D = ||x_1 - x*||.",
        note="The worst case over the class computed by performance estimation (PEP) for T <= 8 equals "
             "4T/(T+1) L D^2/T, attained by a Huber function; proofs_check proves 4T/(T+1) <= 4 for all T "
             "and that 4 is the supremum. The constant is this project's computation, not the paper's."),
    Bound(
        "mu2sgd", "L*D**2/T + sigma_tilde*D/sqrt(T)", kind="shape",
        source="[Lev23]; [digest §3.3, §7.4]", tag="R", quantity="E[f(x_T) - f*]", quantity_latex=_EXCESS,
        claim="mu^2-SGD with the fixed step eta = 1/(4LT), not tuned to the noise, reaches excess loss "
              "O(L D^2/T + sigma_tilde D/sqrt(T)): slope -1 while L D^2/T dominates, -1/2 after.",
        note="Recollection of [Lev23] (papers.md §3.3); neither the constant nor the exact range of eta "
             "was obtained, so the crossover T = (L D/sigma_tilde)^2 is only up to constants."),
    Bound(
        "sgd_estimator_error", "sigma**2", kind="upper",
        source="[digest §7.3]", tag="D", quantity="E||g_t - grad f(x_t)||^2",
        quantity_latex=r"\mathbb{E}\|g_t - \nabla f(x_t)\|^2",
        claim="A plain stochastic gradient has error E||g_t - grad f(x_t)||^2 <= sigma^2 at every t: it "
              "does not decay (slope 0 in t).",
        note="This is the bounded-variance assumption itself; equality when the noise model's variance "
             "is exactly sigma^2."),
    Bound(
        "mu2sgd_estimator_error", "(2*sigma**2 + 8*D**2*sigma_L**2)/t", kind="upper",
        source="[digest §3.3, §7.3]; [Lev23]", tag="D", quantity="E||d_t - grad f(x_t)||^2",
        quantity_latex=_EST,
        claim="The mu^2-SGD estimate (beta_t = 1/t, alpha_t = t, d_1 = g_1, one sample at both points) "
              "has error E||d_t - grad f(x_t)||^2 <= (2 sigma^2 + 8 D^2 sigma_L^2)/t = sigma_tilde^2/t.",
        note="Proved in the digest from the exact identity t eps_t = sum_tau (e_tau + (tau-1) Z_tau) and "
             "||x_tau - x_{tau-1}|| <= 2D/(tau+1); not compared with [Lev23]'s own statement. With "
             "sigma_L = 0 the error is at most sigma^2/t, half the bound."),
    Bound(
        "mu2sgd_estimator_error_mean", "sigma_tilde**2/(m*t)", kind="upper",
        source="[digest §4.4, §7.3]", tag="D", quantity="E||d_bar_t - grad f(x_t)||^2",
        quantity_latex=r"\mathbb{E}\|\bar d_t - \nabla f(x_t)\|^2",
        claim="The mean of m honest workers' mu^2-SGD estimates has error <= sigma_tilde^2/(m t): "
              "exponent -1 in m at fixed t and -1 in t at fixed m.",
        note="Derived in the digest: the workers' martingale increments have zero conditional mean and "
             "are conditionally independent, so cross terms vanish; m counts the averaged honest workers."),
    Bound(
        "mu2sgd_estimator_error_aggregated", "2*kappa*sigma_tilde**2/t + 2*sigma_tilde**2/((1 - delta)*m*t)",
        kind="upper", source="[digest §4.4, §7.3]", tag="D", quantity="E||d_hat_t - grad f(x_t)||^2",
        quantity_latex=_AGG,
        claim="Aggregating m workers' mu^2-SGD estimates with a (delta, kappa)-robust rule keeps the 1/t "
              "decay: E||d_hat_t - grad f(x_t)||^2 <= 2 (kappa + 1/((1-delta) m)) sigma_tilde^2/t.",
        note="Derived in the digest from (a+b)^2 <= 2a^2 + 2b^2, the honest spread rho_t^2 <= "
             "sigma_tilde^2/t and the in-expectation (delta, kappa) definition, whose exact wording in "
             "[DL24a] is unverified [R]; |G| = (1-delta) m honest workers."),
    Bound(
        "byzantine_sync", "L*D**2/T + sigma_tilde*D/sqrt(m*T) + sigma_tilde*D*sqrt(kappa/T)", kind="shape",
        source="[DL24a, main theorem]; [digest §4.4]", tag="R", quantity="E[f(x_T) - f*]",
        quantity_latex=_EXCESS,
        claim="Synchronous Byzantine mu^2-SGD with a (delta, kappa)-robust aggregator reaches excess loss "
              "O(L D^2/T + sigma_tilde D/sqrt(mT) + sigma_tilde D sqrt(kappa/T)); with CTMA (kappa = "
              "O(delta)) the last term is sigma_tilde D sqrt(delta/T), the lower bound's shape.",
        note="The theorem (and its number) was not obtained (papers.md §0, §4.4): the shape is recollection "
             "consistent with the digest's error decomposition [D]; no constant is known. Use "
             ".subs(kappa=...) for a given aggregator."),
    Bound(
        "byzantine_sync_lower", "sigma*D/sqrt(m*T) + sigma*D*sqrt(delta/T)", kind="shape", order="Omega",
        source="[AAL18]; [digest §3.7]", tag="R", quantity="E[f(x_T) - f*]", quantity_latex=_EXCESS,
        claim="With a delta-fraction of Byzantine workers and noise of variance sigma^2, no method beats "
              "Omega(sigma D/sqrt(mT) + sigma D sqrt(delta/T)) (plus the deterministic L D^2/T).",
        note="[AAL18]'s abstract [V-text] gives 1/sqrt(Tm) + alpha/sqrt(T) under almost-surely bounded "
             "noise; the sqrt(delta) form under bounded variance is the digest's heuristic [D] and a "
             "recalled lower bound of [KHJ21] [R]; constants unknown."),
    Bound(
        "byzantine_async",
        "L*D**2/T + L*D**2*tau_bar/T + sigma_tilde*D/sqrt(T) + sigma_tilde*D*sqrt(lam/T)", kind="shape",
        source="[DL24b, main theorem]; [digest §5.5, §3.8]", tag="R", quantity="E[f(x_T) - f*]",
        quantity_latex=_EXCESS,
        claim="Asynchronous Byzantine mu^2-SGD with count weights and w-CTMA reaches O(L D^2 (1 + tau_bar)/T "
              "+ sigma_tilde D/sqrt(T) + sigma_tilde D sqrt(lam/T)): slope -1/2 in T at large T, an "
              "excess over lam = 0 growing like sqrt(lam), and the delay only in the fast 1/T part.",
        note="Expected shape only (papers.md §5.5): the theorem was not obtained. The delay term "
             "L D^2 tau_bar/T is the digest's derivation [D] from ||x_t - x_{t-tau}|| <= 2 D tau/t; the "
             "normalization of the Byzantine term (the factor Gamma of §5.5) and all constants are unknown."),
    Bound(
        "count_weight_variance_ratio", "inv_p_sum/n**2", kind="exact",
        source="[digest §5.2, §7.4]", tag="D", quantity="Var_uniform / Var_counts",
        quantity_latex=r"\mathrm{Var}_{\mathrm{uniform}} / \mathrm{Var}_{\mathrm{counts}}",
        claim="When worker i's estimate has variance sigma_tilde^2/(p_i t) (no staleness, no Byzantine "
              "workers), uniform weights give (1/n^2) sum_i 1/p_i >= 1 times the variance of count "
              "weights, with equality iff arrivals are uniform.",
        note="Exact under that variance model [D] (AM-HM); staleness adds bias in a simulation, so compare "
             "with a tolerance. Pass the vector p (last axis) or the scalars n and inv_p_sum."),
    Bound(
        "heterogeneity_floor", "kappa*zeta**2 + kappa*sigma_tilde**2/t + sigma_tilde**2/(m*t)", kind="shape",
        source="[KHJ22]; [digest §4.4]", tag="R", quantity="E||d_hat_t - grad f(x_t)||^2",
        quantity_latex=_AGG,
        claim="With heterogeneous honest workers (spread zeta^2), a (delta, kappa)-robust aggregate keeps "
              "an error floor kappa zeta^2 that does not vanish as t grows.",
        note="The shape follows from the digest's §4.4 decomposition once the honest spread includes "
             "zeta^2 (rho^2 <= zeta^2 + sigma_tilde^2/t, derived here, not in the digest); the matching "
             "lower bound Omega(delta zeta^2) is recalled from [KHJ22] [R]. Constants unknown."),
    Bound(
        "ctma_kappa", "8*delta/(1 - delta)*(1 + delta/(1 - delta)*kappa_base)", kind="upper",
        source="[digest §4.2]", tag="D", quantity="kappa of CTMA", quantity_latex=r"\kappa_{\mathrm{CTMA}}",
        claim="CTMA on an anchor aggregator of robustness kappa_A is (delta, kappa)-robust with kappa <= "
              "8q(1 + q kappa_A), q = delta/(1-delta): O(delta) for any O(1) anchor.",
        note="Proved instance-wise in the digest (largest observed ratio 0.61 over 20,000 instances), "
             "assuming |S| = |G| = (1-delta) m; [DL24a]'s own constant was not obtained (recalled as "
             "O(delta (1 + kappa)) [R])."),
    Bound(
        "robustness_lower", "f/(m - 2*f)", kind="lower",
        source="[AFG+23]; [digest §3.4, §7.2]", tag="R", quantity="worst-case ratio R of any aggregator",
        quantity_latex=r"\sup R(A)",
        claim="No aggregator is (f, kappa)-robust with kappa < f/(m - 2f) = delta/(1 - 2 delta): its "
              "worst-case ratio R is at least that.",
        note="Recalled from [AFG+23] [R], not checked against its text."),
    Bound(
        "storm_nonconvex", "sqrt(L*Delta/T) + (sigma*L*Delta)**(1/3)/T**(1/3)", kind="shape",
        source="[CO19, abstract]", tag="V-text", quantity="E||grad f(x_hat)||", quantity_latex=_GRAD,
        claim="STORM with its adaptive steps eta_t = k/(w + sum ||g||^2)^(1/3) and a_t = c eta^2 finds a "
              "point with E||grad f|| = O(1/sqrt(T) + sigma^(1/3)/T^(1/3)) on smooth nonconvex problems.",
        note="The T and sigma exponents are read in [CO19]'s abstract [V-text]; the step schedule is "
             "recalled [R]. The L and Delta factors are chosen here for dimensional consistency, not "
             "taken from [CO19], and log factors are dropped."),
    Bound(
        "sgd_nonconvex", "sqrt(L*Delta/T) + (sigma**2*L*Delta/T)**(1/4)", kind="shape",
        source="[GL13]; quoted in [CO19, §1]", tag="V-text", quantity="E||grad f(x_hat)||",
        quantity_latex=_GRAD,
        claim="SGD with a tuned step, returning a random iterate, finds E||grad f|| = O(sqrt(L Delta/T) + "
              "(sigma^2 L Delta/T)^(1/4)) on smooth nonconvex problems: slope -1/4 in T with noise.",
        note="The T^(-1/4) rate is read in [CO19]'s introduction citing [GL13] [V-text]; the form with L "
             "and Delta is recalled from [GL13] [R]; constants not checked."),
)}
