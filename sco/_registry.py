"""Configs: one spec protocol for every registry ({"name": ..., **options}), and reading TOML files."""

from __future__ import annotations

import difflib
import inspect
import re

from . import _checks


class Named:
    """Objects described by ``params()`` ({"name": ..., **options}), printed as name(options)."""

    name = "named"

    def params(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "name")
        return f"{self.name}({args})"


def load_toml(path) -> dict:
    """Parse a TOML config file; a syntax error raises ValueError with the file, line and column."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: malformed TOML: {e}") from None


def close_matches(word, known) -> str:
    """" Did you mean 'x'?" for the known names closest to ``word`` (empty when none is close)."""
    near = difflib.get_close_matches(str(word), [str(k) for k in known], n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(n) for n in near)}?" if near else ""


def spec_parts(owner: str, spec, param: str = "spec") -> tuple[str, dict]:
    """The name and options of a spec, the one protocol of every registry.

    A spec is a name, a dict ``{"name": ..., **options}``, or ByzFL's form
    ``{"name": ..., "parameters": {...}}`` (converted here, at the boundary). Flat options and
    ``parameters`` may be mixed, but an option given in both raises: nothing is dropped silently.
    """
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, dict):
        _checks.fail(owner, param, "be a name or a dict {'name': ..., **options}", spec, kind=TypeError)
    if "name" not in spec:
        _checks.fail(owner, param, "have a 'name' key ({'name': ..., **options})", spec)
    name = spec["name"]
    if not isinstance(name, str):
        _checks.fail(owner, param, "have a string 'name'", spec, kind=TypeError)
    options = {k: v for k, v in spec.items() if k not in ("name", "parameters")}
    if "parameters" in spec:
        params = spec["parameters"]
        if params is None:
            params = {}
        if not isinstance(params, dict):
            _checks.fail(owner, param, "have a dict of options under 'parameters' (ByzFL's form)", spec,
                         kind=TypeError)
        both = sorted(set(params) & set(options))
        if both:
            _checks.fail(owner, param, "give each option once, either flat or under 'parameters'", spec,
                         hint=f"{both} appear in both places.")
        options.update(params)
    return name, options


def lookup(name: str, registry: dict, what: str, plural: str | None = None):
    """``registry[name]``; an unknown name raises ValueError with the known names and close matches."""
    if name not in registry:
        raise ValueError(f"Unknown {what} {name!r}. Known {plural or what + 's'}: {sorted(registry)}."
                         f"{close_matches(name, registry)}")
    return registry[name]


def check_options(owner: str, name: str, fn, options: dict, *, reserved=(), param: str = "spec") -> dict:
    """Check ``options`` against the keywords ``fn`` accepts (``reserved`` ones are the caller's):
    an unknown option or a missing required one raises, naming the valid ones."""
    params = inspect.signature(fn).parameters.values()
    valid = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - set(reserved)
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        for key in options:
            if key not in valid:
                _checks.fail(owner, param, f"use options of {name} among {sorted(valid)}", key,
                             hint=f"'{key}' is not an option of {name}.{close_matches(key, valid)}")
    for p in params:
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) \
                and p.name not in reserved and p.name not in options:
            _checks.fail(owner, param, f"give {name} its option '{p.name}'", name,
                         hint=f"Write {{'name': '{name}', '{p.name}': ...}}.")
    return options


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def call(owner: str, name: str, fn, options: dict, param: str = "spec"):
    """``fn(**options)``, where ``fn`` forwards ``**options`` further: an option no callee accepts
    is reported as an unknown option of ``name``, not as the callee's TypeError."""
    try:
        return fn(**options)
    except TypeError as e:
        bad = _UNEXPECTED.search(str(e))
        if bad is None or bad.group(1) not in options:
            raise
        _checks.fail(owner, param, f"use options that {name} accepts", bad.group(1),
                     hint=f"'{bad.group(1)}' is not an option of {name}.")


def build(owner: str, spec, registry: dict, cls: type, what: str, plural: str | None = None, extra=None):
    """An instance from an instance of ``cls`` (returned as is) or a spec of ``registry``
    (:func:`spec_parts`); unknown names and options fail with the known ones. ``extra`` holds
    arguments the caller supplies (not options of the spec: giving one in the spec raises)."""
    if isinstance(spec, cls):
        return spec
    if not isinstance(spec, (str, dict)):
        _checks.fail(owner, "spec", f"be a {cls.__name__}, a name or a dict with a 'name' key", spec, kind=TypeError)
    name, options = spec_parts(owner, spec)
    fn = lookup(name, registry, what, plural)
    extra = extra or {}
    for key in set(options) & set(extra):
        _checks.fail(owner, "spec", f"not give '{key}': the caller sets it", spec)
    check_options(owner, name, fn, options, reserved=tuple(extra))
    return call(owner, name, fn, {**options, **extra})
