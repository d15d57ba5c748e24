"""Theorems as data: a `Bound` holds a statement's right-hand side as a sympy expression, with its provenance."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import numpy as np
import sympy
import torch

from .. import _checks
from .analysis import Analysis, _merge
from .evaluate import _check_value, _evaluate
from .expr import _names, _parse
from .params import DERIVED, PARAMS, REDUCTIONS, symbol

KINDS = ("exact", "upper", "lower", "shape")
ORDERS = ("O", "Omega", "Theta")
#: How a statement was obtained: read in the paper's own text (transcribed), read in another
#: paper's restatement (restated), proved by this project with a proof in proofs_check (derived),
#: or recalled from the literature without a text to check it against (recalled).
PROVENANCE = ("transcribed", "restated", "derived", "recalled")
_RELATION_LATEX = {"exact": "=", "upper": r"\le", "lower": r"\ge"}
_ORDER_LATEX = {"O": r"\mathcal{O}", "Omega": r"\Omega", "Theta": r"\Theta"}

@dataclasses.dataclass(frozen=True, eq=False)
class Bound(Analysis):
    r"""A statement's right-hand side as data, with where it comes from.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"dl24b_lemma_c3"``.
    expr : str or sympy.Expr
        The right-hand side, e.g. ``"L*D**2/T + sigma_tilde*D/sqrt(T)"``. Strings go
        through `parse_expression` (no code is executed); the top-level summands, in
        written order, are the bound's `terms`.
    kind : {"exact", "upper", "lower", "shape"}
        ``exact``: an identity, measured = expr. ``upper``/``lower``: an inequality whose
        constants are stated and may be checked. ``shape``: only the O(.)/Omega(.)
        shape; constants are meaningless, only exponents may be checked.
    source : str
        Precise pointer: paper key and number, e.g. ``"[DL24b, Lemma C.3]"``.
    claim : str
        One sentence a reader understands: what the bound says.
    quantity : str
        The measured left-hand side in plain text, e.g. ``"E[f(x_T) - f*]"``.
    provenance : {"transcribed", "restated", "derived", "recalled"}
        How the statement was obtained (:data:`PROVENANCE`): transcribed from the source's
        own text, restated by another paper (``source`` names both), derived by this
        project (``proof`` names the proofs_check module), or recalled without a text.
    statement : str
        The statement as printed in the source (transcribed or restated), symbol for symbol.
    proof : str
        For derived statements, the proofs_check module that checks them.
    assumptions : str
        The conditions under which the statement holds (step size, ranges).
    note : str
        What is known about the constants, and where the text is garbled.
    order : {"O", "Omega", "Theta"}
        For ``kind="shape"``: which asymptotic relation.
    quantity_latex : str, optional
        LaTeX of the left-hand side.
    symbols : mapping of str to str, optional
        Extra symbol names (with their meaning) besides the README's notation (`PARAMS`).

    ``verified`` is True exactly for transcribed statements: the only ones checked
    against the source's own text.

    Evaluation takes the parameters by name, as floats, numpy arrays or torch tensors
    (broadcast together); parameters must be finite and nonnegative (positive for counts
    such as T, t, m); derived scalars (:data:`DERIVED`: ``sigma_tilde`` from ``sigma, D,
    sigma_L, K``; ``delta`` from ``f, m``; ``n`` and ``inv_p_sum`` from the vector ``p``)
    are computed when not given.

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
    provenance: str
    statement: str = ""
    proof: str = ""
    assumptions: str = ""
    note: str = ""
    order: str = "O"
    quantity_latex: str | None = None
    symbols: Mapping[str, str] = dataclasses.field(default_factory=dict)
    terms: tuple = dataclasses.field(default=(), repr=False)

    def __post_init__(self):
        owner = "Bound"
        for field in ("name", "source", "claim", "quantity", "statement", "proof", "assumptions", "note"):
            if not isinstance(getattr(self, field), str):
                _checks.fail(owner, field, "be a string", getattr(self, field), kind=TypeError)
        _checks.one_of(owner, "kind", self.kind, KINDS)
        _checks.one_of(owner, "order", self.order, ORDERS)
        _checks.one_of(owner, "provenance", self.provenance, PROVENANCE)
        if self.provenance in ("transcribed", "restated") and not self.statement:
            _checks.fail(owner, "statement", f"hold the statement as printed for a {self.provenance} bound",
                         self.statement)
        if self.provenance == "derived" and not self.proof:
            _checks.fail(owner, "proof", "name the proofs_check module that proves a derived bound", self.proof)
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

    @property
    def verified(self) -> bool:
        """Whether the statement was checked against its source's own text (transcribed)."""
        return self.provenance == "transcribed"

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
        return f"{self.name}: {self.quantity} {rel} {rhs}   [{self.kind}; {self.source}; {self.provenance}, {ver}]"

    def describe(self) -> str:
        """Several lines for a reader: claim, formula, source, provenance, parameters."""
        lines = [str(self), f"  claim: {self.claim}"]
        if self.statement:
            lines.append(f"  as printed: {self.statement}")
        if self.assumptions:
            lines.append(f"  assumptions: {self.assumptions}")
        if self.proof:
            lines.append(f"  proof: {self.proof}")
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
            "relation": self.relation, "source": self.source, "provenance": self.provenance,
            "verified": self.verified, "statement": self.statement, "proof": self.proof,
            "assumptions": self.assumptions, "note": self.note, "claim": self.claim, "quantity": self.quantity,
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
        for k, v in vals.items():
            _check_value(owner, k, v)
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
        return env

    def _value(self, e, env, owner):
        """``e`` evaluated on ``env``; a non-finite result means values outside its domain."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # reported below, by name
            out = _evaluate(e, env)
        arr = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        if not np.isfinite(arr).all():
            at = {k: (v if np.ndim(v) == 0 else f"array of shape {np.shape(v)}") for k, v in env.items()}
            _checks.fail(owner, "values", f"lie in the domain of {e} (a finite result)", at,
                         "The statement is not defined there (a division by zero, a log or root of a "
                         "negative number).")
        return out

    def __call__(self, values: Mapping | None = None, /, **kw):
        """Evaluate the bound; floats give a float, arrays an array, tensors a tensor."""
        owner = f"Bound '{self.name}'"
        return self._value(self.expr, self._env([self.expr], _merge(values, kw), owner), owner)

    def term_values(self, values: Mapping | None = None, /, **kw) -> list:
        """Each term evaluated, in written order, broadcast to a common shape."""
        owner = f"Bound '{self.name}'"
        env = self._env(self.terms, _merge(values, kw), owner)
        out = [self._value(t, env, owner) for t in self.terms]
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
