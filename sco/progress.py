"""Progress bars with an ETA: tqdm on a terminal, tqdm's widget in Jupyter (tqdm.auto's choice), nothing elsewhere."""

from __future__ import annotations

import importlib.util
import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel (as tqdm.autonotebook decides: an IPython kernel app)."""
    ip = sys.modules.get("IPython")
    if ip is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:  # pragma: no cover - a broken IPython install
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _widgets() -> bool:
    """Whether ipywidgets (what tqdm.notebook's bars are made of) is installed."""
    return importlib.util.find_spec("ipywidgets") is not None


def auto() -> bool:
    """Whether a bar shows by default: stderr is a terminal, or a Jupyter kernel with
    ipywidgets (without them tqdm would fall back to text on stderr and warn: no bar)."""
    if in_notebook():
        return _widgets()
    return sys.stderr.isatty()


def tqdm_class():
    """tqdm.auto's class: the notebook widget in a Jupyter kernel with ipywidgets, else the
    terminal bar (which writes to stderr)."""
    if in_notebook() and _widgets():
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def bar(iterable=None, *, total=None, desc: str | None = None, unit: str = "it", enabled: bool | None = None):
    """A progress bar over ``iterable`` (or a manual one of ``total`` steps), with an ETA;
    ``enabled`` None shows it where :func:`auto` says, False returns ``iterable`` itself
    (a manual bar: None)."""
    if not (auto() if enabled is None else enabled):
        return iterable
    cls = tqdm_class()
    kw = {} if cls.__module__.startswith("tqdm.notebook") else {"file": sys.stderr}
    return cls(iterable, total=total, desc=desc, unit=unit, **kw)


__all__ = ["auto", "bar", "in_notebook", "tqdm_class"]
