"""Registries of aggregator names and the parser of composed names such as ``"nnm+ctma(cwmed)"``."""

from __future__ import annotations

import inspect
import re

from .. import _checks
from .._registry import close_matches, spec_parts
from ._core import Aggregator, accepted_keywords
from .coordinate import cwmed, cwtm, mean
from .distance import centered_clipping, geometric_median, krum, multi_krum, rfa
from .filters import caf, meamed, monna
from .flag import flag
from .meta import _options_suffix, bucketing, ctma, nnm
from .preagg import arc, clipping
from .subset import mda, smea

AGGREGATORS = {
    "mean": mean,
    "cwmed": cwmed,
    "cwtm": cwtm,
    "geometric_median": geometric_median,
    "rfa": rfa,
    "krum": krum,
    "multi_krum": multi_krum,
    "centered_clipping": centered_clipping,
    "mda": mda,
    "smea": smea,
    "meamed": meamed,
    "caf": caf,
    "monna": monna,
    "flag": flag,
}
"""Rules by canonical name: plain functions ``agg(x, weights=None, *, ...)``."""

META_AGGREGATORS = {"ctma": ctma, "nnm": nnm, "bucketing": bucketing, "arc": arc, "clipping": clipping}
"""Meta-aggregators by name: functions from an aggregator (and options) to an :class:`Aggregator`."""

ALIASES = {
    # other spellings of our rules
    "average": "mean", "avg": "mean", "median": "cwmed", "trimmed_mean": "cwtm", "trmean": "cwtm",
    "gm": "geometric_median", "geomed": "geometric_median", "multikrum": "multi_krum",
    "cc": "centered_clipping",
    # the authors' code names ([DL24a-code], [DL24b-code, weighted_cwmed.py, weighted_rfa.py])
    "weighted_cwmed": "cwmed[mode=upper]", "weighted_rfa": "rfa[nu=0.0]",
    "weighted_avg": "mean", "cw_trimmed_mean": "cwtm", "lower_median": "cwmed[mode=lower]",
    # ByzFL class names, with ByzFL's conventions ([ByzFL] v0.0.11)
    "Average": "mean", "Median": "cwmed", "TrMean": "cwtm",
    "GeometricMedian": "rfa", "Krum": "krum[neighbors=byzfl]",
    "MultiKrum": "multi_krum[neighbors=byzfl]", "CenteredClipping": "centered_clipping[tau=100.0]",
    "NNM": "nnm", "Bucketing": "bucketing", "CTMA": "ctma",
    "MDA": "mda", "SMEA": "smea", "Meamed": "meamed", "CAF": "caf[tau_max=all]", "MoNNA": "monna",
    "ARC": "arc", "Clipping": "clipping", "fa": "flag", "flag_aggregator": "flag",
}
"""Other names, each expanding to a spec."""

# ByzFL parameter names that differ from ours, per class.
_BYZFL_PARAMS = {"CenteredClipping": {"L": "iters"}}
_CALL_ARGS = {"x", "weights", "lam", "center", "generator", "base"}
_MAX_DEPTH = 64  # deeper specs are typos; Python's recursion limit would end them in a RecursionError
_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_.\-]*)|(.))")


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = [(m.group(1), m.group(2)) for m in _TOKEN.finditer(text) if m.group(0).strip()]
        self.i = 0
        self.depth = 0

    def error(self, what: str):
        text = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        _checks.fail("parse", "spec", f"follow the grammar NAME[key=value,...](spec) with '+' chains ({what})",
                     text)

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, sym=None):
        tok = self.peek()
        if sym is not None and tok[1] != sym:
            self.error(f"expected '{sym}'")
        self.i += 1
        return tok

    def chain(self):
        calls = [self.call()]
        while self.peek()[1] == "+":
            self.take("+")
            calls.append(self.call())
        return calls

    def call(self):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            self.error(f"nested at most {_MAX_DEPTH} deep")
        name, sym = self.take()
        if name is None:
            self.error(f"expected a name, got {sym!r}")
        options = {}
        if self.peek()[1] == "[":
            self.take("[")
            while True:
                key, _ = self.take()
                if key is None:
                    self.error("expected an option name")
                self.take("=")
                parts = []
                while self.peek()[1] not in (",", "]") and self.peek() != (None, None):
                    tok = self.take()
                    parts.append(tok[0] if tok[0] is not None else tok[1])
                options[key] = _value("".join(parts))
                if self.take()[1] == "]":
                    break
        arg = None
        if self.peek()[1] == "(":
            self.take("(")
            arg = self.chain()
            self.take(")")
        self.depth -= 1
        return name, options, arg


def _defaults(fn) -> dict:
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty and p.name not in _CALL_ARGS}


def _check_options(name: str, fn, options: dict) -> dict:
    valid = set(_defaults(fn)) | {p.name for p in inspect.signature(fn).parameters.values()
                                  if p.kind is p.KEYWORD_ONLY and p.name not in _CALL_ARGS}
    for key in options:
        if key not in valid:
            _checks.fail("parse", "spec", f"use options of {name} among {sorted(valid)}", key,
                         hint=f"'{key}' is not an option of {name}.{close_matches(key, valid)}")
    return options


def _meta(name: str, options: dict, base: Aggregator) -> Aggregator:
    meta = META_AGGREGATORS[name]
    defaults = _defaults(meta)
    return meta(base, **{k: v for k, v in _check_options(name, meta, options).items()
                         if k not in defaults or v != defaults[k]})


def _build(calls, extra: dict | None = None) -> Aggregator:
    if len(calls) > 1:
        *metas, (last, last_opts, last_arg) = calls
        if last_arg is None:
            _checks.fail("parse", "spec", "end a '+' chain with a meta-aggregator applied to a base, "
                         "as in nnm+ctma(cwmed)", last)
        for name, _, arg in metas:
            if arg is not None:
                _checks.fail("parse", "spec", "have a base only on the last element of a '+' chain", name)
        inner = last_arg
        for name, opts, _ in metas:
            inner = [(name, opts, inner)]
        return _build([(last, last_opts, inner)], extra)
    name, options, arg = calls[0]
    options = {**options, **(extra or {})}
    if name in ALIASES:
        (alias_name, alias_opts, alias_arg), = _Parser(ALIASES[name]).chain()
        return _build([(alias_name, {**alias_opts, **options}, arg if arg is not None else alias_arg)])
    if name in META_AGGREGATORS:
        if arg is None:
            _checks.fail("parse", "spec", f"give {name} a base in parentheses, as in {name}(cwmed)", name)
        return _meta(name, options, _build(arg))
    if name in AGGREGATORS:
        if arg is not None:
            _checks.fail("parse", "spec", f"not give the rule {name} a base (only {sorted(META_AGGREGATORS)} take one)",
                         name)
        fn = AGGREGATORS[name]
        defaults = _defaults(fn)
        for p in inspect.signature(fn).parameters.values():
            if p.kind is p.KEYWORD_ONLY and p.default is inspect.Parameter.empty \
                    and p.name not in _CALL_ARGS and p.name not in options:
                _checks.fail("parse", "spec", f"give {name} its option '{p.name}'", name,
                             hint=f"Write {name}[{p.name}=...].")
        options = {k: v for k, v in _check_options(name, fn, options).items()
                   if k not in defaults or v != defaults[k] or type(v) is not type(defaults[k])}
        acc = accepted_keywords(fn)
        return Aggregator(name=name + _options_suffix(options), fn=fn, options=tuple(sorted(options.items())),
                          needs_center="center" in acc, needs_generator="generator" in acc)
    _checks.fail("parse", "spec", f"name a registered aggregator: one of {sorted(AGGREGATORS)}, "
                 f"a meta-aggregator {sorted(META_AGGREGATORS)}, or an alias {sorted(ALIASES)}", name)


def parse(spec, /, **options) -> Aggregator:
    """An :class:`Aggregator` from a name, a composed spec, or a dict spec.

    Grammar of a spec (whitespace is ignored)::

        spec    := chain
        chain   := call ("+" call)*
        call    := NAME options? ("(" spec ")")?
        options := "[" KEY "=" VALUE ("," KEY "=" VALUE)* "]"

    * ``NAME`` is a key of :data:`AGGREGATORS` (a rule), of :data:`META_AGGREGATORS` (a rule
      that takes the rule in parentheses as its base), or of :data:`ALIASES`.
    * ``VALUE`` is an int, a float, ``true``/``false``, ``none`` or a bare word (a string).
    * ``m1+m2+...+mk(A)``, with meta-aggregators ``m1..mk`` of which only the last has the
      parenthesized base, is ``mk(...m2(m1(A)))``: the authors' ``"nnm+ctma(A)"`` is
      ``ctma(nnm(A))``, CTMA anchored at ``A(NNM(x))`` trimming the original rows ([DL24a-code, nnm_and_ctma.py]).

    The canonical name (``Aggregator.name``) is the nested form with options sorted by key and
    options equal to their defaults left out: ``parse("nnm+ctma(geometric_median[max_iter=1000])")``
    is named ``"ctma(nnm(geometric_median))"``. ByzFL's class names are aliases that select
    ByzFL's conventions (``"Median"`` is the interpolating median, ``"GeometricMedian"`` is
    :func:`rfa`, ``"Krum"`` uses m - f - 1 neighbours); lower-case names select ours.

    ``spec`` follows the grammar above (``"cwmed"``, ``"ctma(cwmed)"``,
    ``"nnm+ctma(geometric_median)"``, ``"bucketing[s=2](krum)"``), or is an
    :class:`Aggregator` (returned as is), or a dict ``{"name": ..., **options}`` (the spec
    protocol of every registry; ByzFL's ``{"name": ..., "parameters": {...}}`` is the same
    dict, and an option given both flat and under ``parameters`` raises), where a
    meta-aggregator's options include ``"base"`` (a spec or a dict); ``pre_aggregators`` (a
    list of such specs, ByzFL's "pre_aggregators") wraps the result as ByzFL does (``[NNM]``
    then ``TrMean`` is ``nnm(cwtm)``). Keyword ``options`` apply to the outermost rule (one
    given in the dict as well raises). ``lam`` is never an option: it is an argument of the
    call. Specs nest at most 64 deep.

    >>> parse("nnm+ctma(cwmed)").name
    'ctma(nnm(cwmed))'
    """
    if isinstance(spec, Aggregator):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec, options)
    if not isinstance(spec, str):
        _checks.fail("parse", "spec", "be a str, a dict or an Aggregator", spec, kind=TypeError)
    p = _Parser(spec)
    calls = p.chain()
    if p.i != len(p.tokens):
        p.error("unexpected text after the spec")
    return _build(calls, options)


def _from_dict(spec: dict, options: dict) -> Aggregator:
    spec = dict(spec)
    pre_aggregators = spec.pop("pre_aggregators", None) or []
    name, params = spec_parts("parse", spec)  # flat options and ByzFL's "parameters" alike
    if "f" in params:
        _checks.fail("parse", "spec", "not give 'f' (the Byzantine count is the call's lam = f/m)", params,
                     hint="Pass lam=f/m when calling the aggregator.")
    both = sorted(set(params) & set(options))
    if both:
        _checks.fail("parse", "spec", "give each option once, in the dict or as a keyword", spec,
                     hint=f"{both} appear in both places.")
    params = {_BYZFL_PARAMS.get(name, {}).get(k, k): v for k, v in params.items()}
    base = params.pop("base", None)
    params.update(options)
    if base is None:
        agg = _build([(name, params, None)])
    else:
        (meta_name, alias_opts, _), = _Parser(ALIASES.get(name, name)).chain()
        if meta_name not in META_AGGREGATORS:
            _checks.fail("parse", "spec", f"give 'base' only to a meta-aggregator {sorted(META_AGGREGATORS)}", name)
        agg = _meta(meta_name, {**alias_opts, **params}, parse(base))
    if not isinstance(pre_aggregators, (list, tuple)):
        _checks.fail("parse", "pre_aggregators", "be a list of specs (ByzFL's form)", pre_aggregators, kind=TypeError)
    for pre in reversed(pre_aggregators):  # ByzFL applies them in list order
        pre_name, pre_params = spec_parts("parse", pre, "pre_aggregators")
        agg = _from_dict({"name": pre_name, **pre_params, "base": agg}, {})
    return agg
