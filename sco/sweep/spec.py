"""Sweep specs: a base experiment and grid axes, expanded into named cells and validated up front."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import _checks
from .._registry import load_toml
from ..backend import default_dtype
from ..simulate import _DTYPES, Experiment, Plan
from .names import RunName, _aggregator_name, format_value, parse_run_name, run_name  # noqa: F401

#: Keys of an :class:`~sco.simulate.Experiment`: the first part of every grid key.
EXPERIMENT_KEYS = tuple(f.name for f in dataclasses.fields(Experiment))
_SPEC_KEYS = ("name", "base", "grid", "batch")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a full experiment config whose seeds run as one batch.

    ``name`` identifies the cell in its sweep (see :class:`Sweep` for the scheme), ``grid``
    maps each axis key to the cell's value (non-scalars as their name text, so that the
    table's columns hold plain values) and ``config`` holds every :class:`Experiment` field,
    ``seeds`` as a list.
    """

    name: str
    grid: dict
    config: dict

    @property
    def seeds(self) -> list[int]:
        return list(self.config["seeds"])

    def run_name(self, seed: int) -> str:
        """The name of the run of this cell with one seed: ``<cell> | seed=<seed>``."""
        return run_name(self.name, seed)


class Sweep:
    """A grid of experiments: a base :class:`~sco.simulate.Experiment` and axes of values.

    Parameters
    ----------
    base : the fields every cell shares (a dict of :class:`Experiment` fields, or an Experiment).
    grid : axes, ``key -> list of values``; every combination is a cell (the last axis varies
        fastest). A key is an Experiment field (``"lam"``), a dotted path into a field that is
        a table (``"algorithm.eta"``, ``"noise.sigma"``; a nested dict means the same, which is
        what TOML's ``algorithm.eta = [...]`` gives), or several comma-separated keys whose
        values move together (``"m,f" = [[8, 2], [16, 4]]``). ``"seeds"`` is not an axis but
        the runs of every cell (a list of seeds, or n for 0..n-1); it may sit in ``base`` instead.
    name : the sweep's name in the store (default: the spec file's stem, or "sweep").
    batch : at most this many seeds per batch (default: all seeds of a cell in one batch).

    Cells are named from the keys the grid varies (:class:`RunName`)::

        <aggregator> <key>=<value> ... | <algorithm> <key>=<value> ... | seed=<s>

    e.g. ``ctma(cwmed) lam=0.2 | mu2sgd eta=0.1 | seed=3``: the cell's aggregator (its
    canonical name, :func:`sco.aggregators.parse`), then the grid's other keys in axis order
    (dotted paths kept: ``noise.sigma=1.0``), then the algorithm's name with its grid keys
    (``algorithm.eta`` shows as ``eta``), then the seed; the cell itself is the name without
    `` | seed=<s>``. The separators (space, ``|``) lie outside the aggregator grammar, so
    :func:`parse_run_name` reads every part back. Values print as ``0.1``, ``1e-05``,
    ``true``, ``none``, a named table ``{name="alie", z=1.5}`` as ``alie[z=1.5]``, a list as
    ``(a,b)``; a space, ``|`` or ``%`` inside a value is written ``%20``, ``%7C``, ``%25``.
    A grid may expand to at most ``max_runs`` runs (cells x seeds, default 1,000,000).
    """

    def __init__(self, base=None, grid=None, *, name: str = "sweep", batch: int | None = None,
                 max_runs: int = 1_000_000):
        if not isinstance(name, str) or not name:
            _fail("name", "be a non-empty string", name)
        self.name = name
        if isinstance(base, Experiment):
            base = base.to_dict()
        base = {} if base is None else base
        if not isinstance(base, dict):
            _fail("base", "be a table of Experiment fields", base, kind=TypeError)
        unknown = sorted(set(base) - set(EXPERIMENT_KEYS))
        if unknown:
            _fail("base", f"hold Experiment fields only: {list(EXPERIMENT_KEYS)}", unknown[0])
        self.base = Experiment().to_dict() | base
        self.batch = None if batch is None else _checks.integer(f"sweep '{name}'", "batch", batch, low=1)
        self.axes = _axes(grid if grid is not None else {})
        self.seeds = self._seeds(base, grid or {})
        max_runs = _checks.integer(f"sweep '{name}'", "max_runs", max_runs, low=1)
        cells = math.prod(len(values) for _, values in self.axes)
        if cells * len(self.seeds) > max_runs:
            sizes = " x ".join(str(len(v)) for _, v in self.axes)
            _fail("grid", f"expand to at most max_runs={max_runs:,} runs (cells x seeds)",
                  f"{sizes} = {cells:,} cells x {len(self.seeds)} seeds",
                  hint="Split the sweep into several, or pass a larger max_runs.")
        self.cells = self._expand()

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, spec: dict, *, name: str | None = None) -> Sweep:
        """A sweep from ``{"name": ..., "base": {...}, "grid": {...}, "batch": n}``."""
        if not isinstance(spec, dict):
            _fail("spec", "be a table with keys base, grid (and name, batch)", spec, kind=TypeError)
        unknown = sorted(set(spec) - set(_SPEC_KEYS))
        if unknown:
            _fail(unknown[0], f"be one of the spec's keys {list(_SPEC_KEYS)}", spec[unknown[0]],
                  hint="Experiment fields go under [base], axes under [grid].")
        return cls(spec.get("base"), spec.get("grid"), name=spec.get("name", name or "sweep"),
                   batch=spec.get("batch"))

    @classmethod
    def from_toml(cls, path) -> Sweep:
        """A sweep from a TOML file (top-level ``name``, ``batch``; tables ``[base]``, ``[grid]``)."""
        path = Path(path)
        return cls.from_dict(load_toml(path), name=path.stem)

    @classmethod
    def load(cls, spec) -> Sweep:
        """A :class:`Sweep` as is, a dict spec, or the path of a TOML spec."""
        if isinstance(spec, Sweep):
            return spec
        if isinstance(spec, dict):
            return cls.from_dict(spec)
        if isinstance(spec, (str, Path)):
            return cls.from_toml(spec)
        _fail("spec", "be a Sweep, a dict or the path of a TOML file", spec, kind=TypeError)

    def _seeds(self, base: dict, grid: dict) -> list[int]:
        if "seeds" in base and "seeds" in grid:
            _fail("seeds", "be given once, in base or in grid", grid["seeds"])
        seeds = grid.get("seeds", self.base["seeds"])
        where = "grid.seeds" if "seeds" in grid else "base.seeds"
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            return list(range(_checks.integer(f"sweep '{self.name}'", where, seeds, low=1)))
        if not isinstance(seeds, (list, tuple)) or not seeds:
            _fail(where, "be a positive int n (seeds 0..n-1) or a non-empty list of seeds", seeds, kind=TypeError)
        out = [_checks.integer(f"sweep '{self.name}'", where, s, low=0) for s in seeds]
        if len(set(out)) != len(out):
            _fail(where, "hold distinct seeds", seeds)
        return out

    def _expand(self) -> list[Cell]:
        cells, names = [], {}
        for combo in itertools.product(*(values for _, values in self.axes)):
            config = _copy(self.base)
            grid = {}
            for (keys, _), value in zip(self.axes, combo):
                parts = value if len(keys) > 1 else (value,)
                for key, v in zip(keys, parts):
                    _set(config, key, v, self.name)
                    grid[key] = v if _scalar(v) else format_value(v)
            config["seeds"] = list(self.seeds)
            config["progress"] = False
            name = self._name(config, grid)
            if name in names:
                _fail("grid", "give every cell a distinct name", name,
                      hint=f"Two cells print alike: {names[name]} and {grid}. Use values that print "
                           "differently (e.g. not both 1 and 1.0).")
            names[name] = grid
            cells.append(Cell(name, grid, config))
        return cells

    def _name(self, config: dict, grid: dict) -> str:
        alg = config["algorithm"]
        other = {k: v for k, v in grid.items()
                 if k.split(".")[0] not in ("aggregator", "algorithm")}
        if "algorithm" in grid or not isinstance(alg, dict):
            alg_name = alg.get("name") if isinstance(alg, dict) else alg
            alg_keys = {k: v for k, v in alg.items() if k != "name"} if isinstance(alg, dict) else {}
        else:
            alg_name = alg.get("name")
            alg_keys = {k.split(".", 1)[1]: v for k, v in grid.items()
                        if k.startswith("algorithm.") and k != "algorithm.name"}
        return str(RunName(_aggregator_name(config["aggregator"]), other, format_value(alg_name), alg_keys))

    # -- validation -----------------------------------------------------------------------------

    def validate(self, device: str | None = None, *, cuda: bool | None = None) -> None:
        """Build every cell's :class:`~sco.simulate.Plan` (objects, sizes, memory, a trial call of
        the aggregator and the attack) before any cell runs, so that what a run would reject is
        rejected here (and by ``--dry-run``); the first invalid cell raises, naming the cell and
        the offending key.

        ``device`` is where cells without a device will run; ``cuda`` whether the executor has
        CUDA GPUs (default: this machine's). A CUDA cell is validated on the CPU (in the dtype
        it will run in) when the GPUs are elsewhere, on a cluster.
        """
        here = torch.cuda.is_available()
        cuda = here if cuda is None else cuda
        for cell in self.cells:
            config = dict(cell.config)
            run_on = config["device"] or device
            try:
                if run_on is not None and torch.device(run_on).type == "cuda" and not here:
                    if not cuda:
                        _checks.fail("Experiment", "device", "name a device that the executor has (it has no "
                                     "CUDA GPU)", run_on)
                    config["dtype"] = config["dtype"] or "float32"
                    run_on = "cpu"
                config["device"] = run_on
                Plan(Experiment.from_dict(config))
            except (ValueError, TypeError, MemoryError, KeyError, RuntimeError) as e:
                raise self._cell_error(cell, e) from e

    def _cell_error(self, cell: Cell, e: Exception) -> Exception:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        # a list in [base] where the error names that key: the user meant an axis
        lists = [k for k, v in _flat(self.base) if isinstance(v, list) and f"'{k.rsplit('.', 1)[-1]}'" in msg
                 and k.split(".")[0] not in ("seeds", "log", "weights")]
        hint = (f" base.{lists[0]} is a list: to sweep over its values, move it to [grid]." if lists else "")
        kind = type(e) if isinstance(e, (ValueError, TypeError, MemoryError)) else ValueError
        return kind(f"Cell '{cell.name}' of sweep '{self.name}' is invalid: {msg}{hint}")

    def __len__(self) -> int:
        return len(self.cells)

    def __repr__(self) -> str:
        axes = ", ".join(f"{','.join(k)}: {len(v)}" for k, v in self.axes)
        return f"Sweep({self.name!r}, {len(self.cells)} cells x {len(self.seeds)} seeds; axes {axes or 'none'})"


# -- helpers ----------------------------------------------------------------------------------------


def dtype_name(dtype, device: str) -> str:
    """The canonical name of a config's dtype ('float64', 'float32'), its default filled in."""
    dtype = default_dtype(device) if dtype is None else _DTYPES.get(dtype, dtype)
    return str(dtype).replace("torch.", "")


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _fail(name, expected, got, hint=None, kind=ValueError):
    _checks.fail("the sweep spec", name, expected, got, hint=hint, kind=kind)


def _axes(grid: dict, prefix: str = "") -> list[tuple[tuple[str, ...], list]]:
    """The grid's axes as (keys, values), nested tables flattened to dotted keys."""
    if not isinstance(grid, dict):
        _fail("grid", "be a table of axes (key = [values])", grid, kind=TypeError)
    axes, seen = [], set()
    for key, values in grid.items():
        if not prefix and key == "seeds":
            continue
        path = prefix + key
        if isinstance(values, dict):
            axes += _axes(values, path + ".")
            continue
        keys = tuple(prefix + k.strip() for k in key.split(",")) if "," in key else (path,)
        for k in keys:
            if k.split(".")[0] not in EXPERIMENT_KEYS:
                _fail(f"grid.{k}", f"start with an Experiment field, one of {list(EXPERIMENT_KEYS)}", values)
            if k in seen:
                _fail(f"grid.{k}", "appear in one axis only", values)
            seen.add(k)
        if not isinstance(values, (list, tuple)) or not values:
            _fail(f"grid.{path}", "be a non-empty list of values (one cell per value)", values, kind=TypeError)
        if len(keys) > 1:
            for v in values:
                if not isinstance(v, (list, tuple)) or len(v) != len(keys):
                    _fail(f"grid.{path}", f"hold lists of {len(keys)} values, one per key", v, kind=TypeError)
        axes.append((keys, list(values)))
    return axes


def _set(config: dict, key: str, value, sweep: str) -> None:
    """Set a dotted key in a config; a name string becomes the table {name = ...} to reach into."""
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if isinstance(child, str):
            child = {"name": child}
        elif not isinstance(child, dict):
            where = ".".join(parts[:i + 1])
            _checks.fail(f"sweep '{sweep}'", f"grid.{key}", f"reach into a table, but base.{where} is "
                         f"{child!r}", value, hint=f"Give base.{where} as a table with a name.")
        node[part] = child = dict(child)
        node = child
    node[parts[-1]] = value


def _copy(config):
    if isinstance(config, dict):
        return {k: _copy(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_copy(v) for v in config]
    return config


def _flat(config: dict, prefix: str = ""):
    for k, v in config.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield prefix + k, v

