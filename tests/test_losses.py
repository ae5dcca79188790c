"""GAN losses against direct numpy computations."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda.training import losses

REAL = np.array([2.0, 0.5, -1.5, 0.0], np.float32)
FAKE = np.array([-2.0, 0.3, 1.2, -0.9], np.float32)


def test_hinge():
    d, g = losses.hinge(REAL, FAKE)
    np.testing.assert_allclose(
        d, np.maximum(0, 1 - REAL) + np.maximum(0, 1 + FAKE), rtol=1e-6
    )
    np.testing.assert_allclose(g, -FAKE)


def test_non_saturating():
    d, g = losses.non_saturating(REAL, FAKE)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(
        d, -np.log(sigmoid(REAL)) - np.log(1 - sigmoid(FAKE)), rtol=1e-5
    )
    np.testing.assert_allclose(g, -np.log(sigmoid(FAKE)), rtol=1e-5)


@pytest.mark.parametrize("loss", [losses.hinge, losses.non_saturating])
def test_generator_step_needs_no_real_logits(loss):
    d, g = loss(None, FAKE)
    assert d is None and g.shape == FAKE.shape


@pytest.mark.parametrize("loss", [losses.hinge, losses.non_saturating])
def test_mixed_targets_interpolate_the_real_and_fake_terms(loss):
    logits = tf.constant([-2.0, -0.5, 0.0, 0.7, 3.0])
    real_term, _ = loss(logits, None)
    both, _ = loss(logits, logits)
    fake_term = both - real_term
    for r in (0.0, 0.25, 1.0):
        np.testing.assert_allclose(
            losses.mixed_target_d_loss(loss, logits, tf.fill([5], r)),
            r * real_term + (1 - r) * fake_term,
            rtol=1e-6,
        )
    # r = 1 is the real term, r = 0 the fake term, as the loss defines.
    d, _ = loss(logits, -logits)
    np.testing.assert_allclose(
        losses.mixed_target_d_loss(loss, logits, tf.ones([5]))
        + losses.mixed_target_d_loss(loss, -logits, tf.zeros([5])),
        d,
        rtol=1e-6,
    )
