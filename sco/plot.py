"""Plots shared by reports and notebooks: measured curves with seed bands, fitted power laws, bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _checks


def _pyplot():
    import matplotlib.pyplot as plt  # imported lazily: the core does not need matplotlib
    return plt


def _axes(ax, size=(6.4, 4.4)):
    if ax is None:
        _, ax = _pyplot().subplots(figsize=size, dpi=110)
    return ax


def band(ax, x, y, *, color, label: str, style: str = "o-"):
    """Plot the seed mean of ``y`` (n_seeds, n) against ``x`` (n,) with a 10-90% band over
    seeds (when there are several); returns the mean."""
    y = np.asarray(y, dtype=float)
    y = y[None] if y.ndim == 1 else y
    mean = np.nanmean(y, axis=0)
    if y.shape[0] > 1:
        label = f"{label} (mean of {y.shape[0]} seeds)"
    ax.plot(x, mean, style, color=color, ms=3.5, lw=1.3, label=label)
    if y.shape[0] > 1:
        lo, hi = np.nanquantile(y, [0.1, 0.9], axis=0)
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
    return mean


def tick_label(v: float) -> str:
    """A legible tick label: at most 3 significant digits, plain decimals from 1e-4 to 1e6
    (0.00457, 0.25, 1600), else short scientific notation (1e-5, 2.5e7)."""
    v = float(v)
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    r = float(f"{v:.3g}")  # rounded to 3 significant digits first: 999.7 is 1000
    a = abs(r)
    if 1e-4 <= a < 1000:
        return f"{r:.3g}"
    if 1000 <= a < 1e6:
        return f"{r:.0f}"
    mantissa, exp = f"{r:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"


def _finish(ax, xlabel, ylabel, title, logx, logy, legend=True):
    if logx:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
        ax.set_xscale("log")
        # labels at 1, 2 and 5 times powers of ten, as plain numbers: readable on grids (delta, zeta,
        # eta) that span less than a decade, where the default labels only the powers of ten
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    if legend:
        ax.legend(fontsize=7, loc="best")
    return ax


def draw(fig, ax=None, title: str | None = None):
    """Draw a :class:`sco.verify.Figure` on ``ax`` (a new one when None) and return the axes:
    each series as its seed mean with a 10-90% band over seeds, its fitted power law (slope
    and interval in the legend), the slope a check predicted (dotted) and its bound (dashed)."""
    ax = _axes(ax)
    for i, s in enumerate(fig.series):
        color = f"C{i}"
        band(ax, s.x, s.y, color=color, label=s.label)
        if s.fit is not None:
            xs = np.asarray(s.fit.x, dtype=float)
            a, (lo_a, hi_a) = s.fit.exponent, s.fit.interval
            ax.plot(xs, s.fit.predict(xs), "-", color=color, lw=2.2, alpha=0.55,
                    label=f"fit: slope {a:.2f} [{lo_a:.2f}, {hi_a:.2f}]")
        if s.slope is not None and s.fit is not None:
            xs = np.asarray(s.fit.x, dtype=float)
            ax.plot(xs, s.fit.predict(xs[:1])[0] * (xs / xs[0]) ** s.slope, ":", color=color, lw=1.6,
                    label=s.slope_label or f"predicted slope {s.slope:.2f}")
        if s.bound is not None:
            ax.plot(s.x, np.broadcast_to(s.bound, np.shape(s.x)), "--", color=color, lw=1.2,
                    label=s.bound_label or "bound")
    categories = tuple(fig.categories)
    _finish(ax, fig.xlabel, fig.ylabel, title, fig.logx, fig.logy, legend=not categories)
    if categories:  # the names on the axis: two dozen legend entries would hide the points
        ax.set_xticks(np.arange(1, len(categories) + 1))
        ax.set_xticklabels(categories, rotation=60, ha="right", fontsize=7)
    if fig.logx:
        xs = np.unique(np.concatenate([np.ravel(s.x) for s in fig.series]))
        if 1 < len(xs) <= 10:
            # a sweep over a few values: label them, not matplotlib's crowded minor ticks
            ax.set_xticks(xs)
            ax.set_xticklabels([tick_label(v) for v in xs])
    return ax


def save_figure(fig, path, title: str | None = None) -> Path:
    """Draw ``fig`` into a PNG file at ``path`` (Agg, no display needed)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    plt = _pyplot()
    f, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    draw(fig, ax, title)
    f.tight_layout()
    f.savefig(path)
    plt.close(f)
    return Path(path)


def panels(n: int, ncols: int = 3, size=(4.2, 3.2), sharey: bool = False):
    """A figure of ``n`` small multiples on a grid of ``ncols`` columns: (figure, flat list
    of n axes); unused cells are hidden."""
    n = _checks.integer("panels", "n", n, low=1)
    ncols = min(_checks.integer("panels", "ncols", ncols, low=1), n)
    nrows = -(-n // ncols)
    f, axes = _pyplot().subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), dpi=100,
                                 squeeze=False, sharey=sharey)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return f, flat[:n]


def curves(traces, metric: str, ax=None, *, xlabel: str = "step t", ylabel: str | None = None,
           title: str | None = None, logx: bool = True, logy: bool = True, scale: float = 1.0,
           steps_from: int = 1):
    """One curve per trace: the seed mean of ``metric`` over the logged steps with a 10-90%
    band over seeds (the runs of the trace). ``traces`` maps labels to
    :class:`~sco.trace.Trace` objects (or is a list, labelled by aggregator and algorithm);
    ``scale`` multiplies the values (100 for accuracies in %); steps before ``steps_from``
    are left out (log axes start at t = 1)."""
    ax = _axes(ax)
    if not isinstance(traces, dict):
        traces = {f"{tr.config['aggregator']} + {tr.meta.get('algorithm', '')}": tr for tr in traces}
    for i, (label, tr) in enumerate(traces.items()):
        if metric not in tr.metrics:
            _checks.fail("curves", "metric", f"be a metric of the trace {label!r}: one of {sorted(tr.metrics)}",
                         metric)
        keep = tr.steps >= steps_from
        band(ax, tr.steps[keep], scale * tr[metric][:, keep], color=f"C{i % 10}", label=label, style="-")
    return _finish(ax, xlabel, ylabel or metric, title, logx, logy)


def bars(table: dict, ax=None, *, ylabel: str, title: str | None = None, logy: bool = False,
         scale: float = 1.0, xlabel: str = ""):
    """Grouped bars: ``table[group][label]`` holds one value per seed; each bar is the seed
    mean with a 10-90% whisker. Groups (e.g. attacks) go along the x axis, labels (e.g.
    aggregators) are the colours, in first-seen order."""
    ax = _axes(ax, size=(7.5, 4.0))
    groups = list(table)
    labels = list(dict.fromkeys(k for g in groups for k in table[g]))
    width = 0.8 / max(len(labels), 1)
    for j, label in enumerate(labels):
        xs, means, lo, hi = [], [], [], []
        for i, g in enumerate(groups):
            if label not in table[g]:
                continue
            v = scale * np.asarray(table[g][label], dtype=float).ravel()
            m = np.nanmean(v)
            q = np.nanquantile(v, [0.1, 0.9])
            xs.append(i + (j - (len(labels) - 1) / 2) * width)
            means.append(m)
            lo.append(max(m - q[0], 0.0))  # equal seeds: rounding can put a quantile past the mean
            hi.append(max(q[1] - m, 0.0))
        ax.bar(xs, means, width=width * 0.95, color=f"C{j % 10}", label=label,
               yerr=[lo, hi] if len(lo) else None, capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    _finish(ax, xlabel, ylabel, title, False, logy, legend=False)
    ax.legend(fontsize=7, loc="best", ncol=2)
    return ax


def points_2d(honest, byzantine, outputs: dict, ax=None, *, title: str | None = None, target=None):
    """The 2-D picture of one aggregation: honest rows (dots), Byzantine rows (red crosses),
    the honest mean (the target, a star) and where each rule of ``outputs`` (name -> point)
    lands (one marker each)."""
    ax = _axes(ax, size=(4.2, 4.2))
    honest = np.asarray(honest, dtype=float)
    byzantine = np.asarray(byzantine, dtype=float).reshape(-1, 2)
    ax.scatter(honest[:, 0], honest[:, 1], s=14, color="0.45", label="honest rows")
    if len(byzantine):
        ax.scatter(byzantine[:, 0], byzantine[:, 1], s=40, marker="x", color="red", lw=1.5,
                   label=f"Byzantine rows ({len(byzantine)})")
    target = honest.mean(0) if target is None else np.asarray(target, dtype=float)
    ax.scatter(*target, s=160, marker="*", color="gold", edgecolor="k", zorder=5, label="honest mean")
    markers = "osD^vP<>hX"
    for i, (name, p) in enumerate(outputs.items()):
        p = np.asarray(p, dtype=float)
        ax.scatter(*p, s=55, marker=markers[i % len(markers)], facecolor="none", edgecolor=f"C{i % 10}",
                   lw=1.8, zorder=6, label=name)
    ax.set_aspect("equal", adjustable="datalim")
    return _finish(ax, "coordinate 1", "coordinate 2", title, False, False)


def timeline(trace, ax=None, *, run: int = 0, steps: int | None = None, title: str | None = None):
    """Who arrived when in an asynchronous run: one dot per server step at the arriving
    worker's id (red: Byzantine), coloured by the staleness of the message it delivered;
    ``steps`` limits the picture to the first steps. Returns the axes."""
    if "worker" not in trace.events:
        _checks.fail("timeline", "trace", "come from an asynchronous run (arrivals given)", "synchronous trace")
    ax = _axes(ax, size=(8.0, 3.4))
    w = np.asarray(trace.events["worker"][run])
    tau = np.asarray(trace.events["staleness"][run])
    T = len(w) if steps is None else min(steps, len(w))
    t = np.arange(1, T + 1)
    h = trace.config["m"] - trace.config["f"]
    sc = ax.scatter(t, w[:T], c=tau[:T], s=9, cmap="viridis", label="arrival (colour: staleness τ)")
    byz = w[:T] >= h
    if byz.any():
        ax.scatter(t[byz], w[:T][byz], s=22, facecolor="none", edgecolor="red", lw=0.9, label="Byzantine arrival")
    ax.figure.colorbar(sc, ax=ax, label="staleness τ (steps)")
    ax.set_ylim(-0.8, trace.config["m"] - 0.2)
    return _finish(ax, "server step t", "arriving worker id", title, False, False)
