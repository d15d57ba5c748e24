"""Plots shared by reports and notebooks: measured curves with seed bands, fitted power laws, bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib.pyplot as plt  # imported lazily: the core does not need matplotlib
    return plt


def draw(fig, ax=None, title: str | None = None):
    """Draw a :class:`sco.verify.Figure` on ``ax`` (a new one when None) and return the axes:
    each series as its seed mean with a 10-90% band over seeds, its fitted power law (slope
    and interval in the legend) and its bound (dashed)."""
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6.4, 4.4), dpi=110)
    for i, s in enumerate(fig.series):
        color = f"C{i}"
        y = np.asarray(s.y, dtype=float)
        y = y[None] if y.ndim == 1 else y
        mean = np.nanmean(y, axis=0)
        label = s.label + (f" (mean of {y.shape[0]} seeds)" if y.shape[0] > 1 else "")
        ax.plot(s.x, mean, "o-", color=color, ms=3.5, lw=1.3, label=label)
        if y.shape[0] > 1:
            lo, hi = np.nanquantile(y, [0.1, 0.9], axis=0)
            ax.fill_between(s.x, lo, hi, color=color, alpha=0.18, lw=0)
        if s.fit is not None:
            xs = np.asarray(s.fit.x, dtype=float)
            a, (lo_a, hi_a) = s.fit.exponent, s.fit.interval
            ax.plot(xs, s.fit.predict(xs), "-", color=color, lw=2.2, alpha=0.55,
                    label=f"fit: slope {a:.2f} [{lo_a:.2f}, {hi_a:.2f}]")
        if s.bound is not None:
            ax.plot(s.x, np.broadcast_to(s.bound, np.shape(s.x)), "--", color=color, lw=1.2,
                    label=s.bound_label or "bound")
    if fig.logx:
        ax.set_xscale("log")
        xs = np.unique(np.concatenate([np.ravel(s.x) for s in fig.series]))
        if 1 < len(xs) <= 10:
            # a sweep over a few values: label them, not matplotlib's crowded minor ticks
            from matplotlib.ticker import NullFormatter
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{v:g}" for v in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
    if fig.logy:
        ax.set_yscale("log")
    ax.set_xlabel(fig.xlabel)
    ax.set_ylabel(fig.ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="best")
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
