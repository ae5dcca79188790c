"""GAN losses against direct numpy computations."""

import numpy as np
import pytest

from tfgda import losses

REAL = np.array([2.0, 0.5, -1.5, 0.0], np.float32)
FAKE = np.array([-2.0, 0.3, 1.2, -0.9], np.float32)


def test_hinge():
    d, g = losses.hinge(REAL, FAKE)
    np.testing.assert_allclose(
        d, np.maximum(0, 1 - REAL) + np.maximum(0, 1 + FAKE), rtol=1e-6)
    np.testing.assert_allclose(g, -FAKE)


def test_non_saturating():
    d, g = losses.non_saturating(REAL, FAKE)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(
        d, -np.log(sigmoid(REAL)) - np.log(1 - sigmoid(FAKE)), rtol=1e-5)
    np.testing.assert_allclose(g, -np.log(sigmoid(FAKE)), rtol=1e-5)


@pytest.mark.parametrize("loss", [losses.hinge, losses.non_saturating])
def test_generator_step_needs_no_real_logits(loss):
    d, g = loss(None, FAKE)
    assert d is None and g.shape == FAKE.shape
