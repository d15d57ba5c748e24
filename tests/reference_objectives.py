"""Slow, independent references for objectives and domains: plain numpy loops."""

import numpy as np


def project_ball(x, center, radius):
    """Project each row of x onto the ball, one point at a time."""
    out = np.array(x, dtype=float, copy=True)
    for i in range(out.shape[0]):
        v = out[i] - center
        n = np.linalg.norm(v)
        if n > radius:
            out[i] = center + v * (radius / n)
    return out


def project_box(x, lo, hi):
    out = np.array(x, dtype=float, copy=True)
    for i in range(out.shape[0]):
        for k in range(out.shape[1]):
            out[i, k] = min(max(out[i, k], lo[k]), hi[k])
    return out


def accelerated_projected_gradient(grad, project, x0, L, mu=0.0, iters=20000, tol=1e-13):
    """FISTA / Nesterov's accelerated projected gradient with the constant-momentum
    schedule when mu > 0 [Nesterov 2004, (2.2.19)], an independent first-order solver."""
    x = y = np.array(x0, dtype=float)
    t = 1.0
    q = mu / L
    beta_sc = (1 - np.sqrt(q)) / (1 + np.sqrt(q)) if mu > 0 else None
    for _ in range(iters):
        x_new = project(y - grad(y) / L)
        if np.linalg.norm(x_new - x) <= tol * max(1.0, np.linalg.norm(x)):
            return x_new
        if beta_sc is None:
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            beta = (t - 1) / t_new
            t = t_new
        else:
            beta = beta_sc
        y = x_new + beta * (x_new - x)
        x = x_new
    return x
