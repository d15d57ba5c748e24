"""Domains: batched projections against per-point loops, diameters, errors."""

import numpy as np
import pytest
import torch

from reference_objectives import project_ball, project_box
from sco.domains import Ball, Box, Unconstrained, make_domain


def _pts(shape, d, scale=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, d, generator=g, dtype=torch.float64)


def test_ball_projection_matches_a_loop():
    center = np.array([0.5, -1.0, 2.0])
    ball = Ball(3, 1.5, center)
    x = _pts((4, 5), 3)
    got = ball.project(x)
    ref = project_ball(x.reshape(-1, 3).numpy(), center, 1.5).reshape(4, 5, 3)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-14, atol=1e-14)
    assert ball.diameter == 3.0 and ball.contains(got).all()


def test_box_projection_matches_a_loop():
    lo, hi = np.array([-1.0, 0.0, 0.5]), np.array([1.0, 0.1, 3.0])
    box = Box(3, lo, hi)
    x = _pts((6,), 3)
    np.testing.assert_array_equal(box.project(x).numpy(), project_box(x.numpy(), lo, hi))
    assert box.diameter == pytest.approx(np.linalg.norm(hi - lo))


@pytest.mark.parametrize("dom", [Ball(4, 0.7), Box(4, -0.3, 0.2), Unconstrained(4)], ids=["ball", "box", "R^d"])
def test_projection_is_idempotent_keeps_inside_points_and_dtype(dom):
    x = _pts((3, 2), 4)
    p = dom.project(x)
    torch.testing.assert_close(dom.project(p), p, rtol=0, atol=1e-15)  # boundary points: to an ulp
    inside = dom.project(0.01 * x)
    assert torch.equal(dom.project(inside), inside)
    assert dom.project(x.float()).dtype == torch.float32
    x_copy = x.clone()
    dom.project(x)
    assert torch.equal(x, x_copy)


def test_projection_of_the_center_is_finite():
    assert torch.equal(Ball(2, 1.0).project(torch.zeros(2, dtype=torch.float64)), torch.zeros(2, dtype=torch.float64))


def test_make_domain_and_errors():
    assert isinstance(make_domain(3), Unconstrained) and isinstance(make_domain(3, radius=1.0), Ball)
    assert isinstance(make_domain(3, box=(-1, 1)), Box)
    with pytest.raises(ValueError, match="The 'radius' parameter of Ball must be > 0. Got radius=-1"):
        Ball(3, -1)
    with pytest.raises(ValueError, match="The 'hi' parameter of Box must be >= lo in every coordinate"):
        Box(2, 1.0, 0.0)
    with pytest.raises(ValueError, match="The 'x' parameter of Ball.project must have shape \\(..., d\\) with d=3"):
        Ball(3, 1.0).project(torch.zeros(2))
    with pytest.raises(ValueError, match="The 'center' parameter of Ball must have shape \\(3,\\)"):
        Ball(3, 1.0, [0.0, 1.0])
