"""Names of cells and runs: ``<aggregator> k=v ... | <algorithm> k=v ... | seed=<s>``, printed and read back."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .. import _checks


def format_value(v) -> str:
    """How a value prints in a cell name (see :class:`Sweep`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        rest = ",".join(f"{k}={format_value(x)}" for k, x in v.items() if k != "name")
        if "name" in v:
            return format_value(v["name"]) + (f"[{rest}]" if rest else "")
        return "{" + rest + "}"
    if isinstance(v, (list, tuple)):
        return "(" + ",".join(format_value(x) for x in v) + ")"
    return str(v)


_ESCAPES = {"%": "%25", " ": "%20", "|": "%7C"}
_UNESCAPE = re.compile("|".join(map(re.escape, _ESCAPES.values())))


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _unescape(text: str) -> str:
    back = {v: k for k, v in _ESCAPES.items()}
    return _UNESCAPE.sub(lambda m: back[m.group(0)], text)


def _read_value(text: str):
    """A value of a name read back: the scalar that prints as ``text``, else ``text`` itself."""
    for v in ({"true": True, "false": False, "none": None}.get(text, text),):
        if v is not text:
            return v
    for conv in (int, float):
        try:
            v = conv(text)
        except ValueError:
            continue
        return v if format_value(v) == text else text
    return text


def _aggregator_name(spec) -> str:
    """The canonical name of an aggregator spec (its text when it does not parse: validation
    reports why, naming the cell)."""
    from ..aggregators import parse

    try:
        return parse(spec).name
    except (ValueError, TypeError):
        return format_value(spec)


@dataclass(frozen=True)
class RunName:
    """The parts of a cell's or run's name (see :class:`Sweep`): the aggregator's canonical
    name, the other grid keys, the algorithm's name and grid keys, and the seed (None for a
    cell). ``str()`` gives the name and :func:`parse_run_name` reads it back."""

    aggregator: str
    keys: dict = field(default_factory=dict)
    algorithm: str = ""
    algorithm_keys: dict = field(default_factory=dict)
    seed: int | None = None

    def __str__(self) -> str:
        def part(head, keys):
            return " ".join([_escape(head)] + [f"{_escape(k)}={_escape(format_value(v))}" for k, v in keys.items()])
        name = part(self.aggregator, self.keys) + " | " + part(self.algorithm, self.algorithm_keys)
        return name if self.seed is None else run_name(name, self.seed)


def run_name(cell: str, seed: int) -> str:
    """The name of one run of a cell: ``<cell> | seed=<seed>``."""
    return f"{cell} | seed={seed}"


def parse_run_name(name: str) -> RunName:
    """The :class:`RunName` of a cell's or run's name: ``str(parse_run_name(n)) == n`` for every
    name a sweep gives, and the aggregator part is a spec :func:`sco.aggregators.parse` reads."""
    if not isinstance(name, str):
        _checks.fail("parse_run_name", "name", "be a str", name, kind=TypeError)
    parts = name.split(" | ")
    seed = None
    if len(parts) == 3 and re.fullmatch(r"seed=\d+", parts[2]):
        seed = int(parts.pop()[5:])
    if len(parts) != 2 or not all(parts):
        _checks.fail("parse_run_name", "name", "read '<aggregator> key=value ... | <algorithm> key=value ... "
                     "[| seed=<s>]'", name)

    def split(part):
        head, *pairs = part.split(" ")
        keys = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key:
                _checks.fail("parse_run_name", "name", "hold key=value pairs after each part's head", name)
            keys[_unescape(key)] = _read_value(_unescape(value))
        return _unescape(head), keys

    (agg, keys), (alg, alg_keys) = split(parts[0]), split(parts[1])
    return RunName(agg, keys, alg, alg_keys, seed)
