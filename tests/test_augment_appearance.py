"""Appearance augmentations: amounts in the paper's [0, 1] units."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment

SEED = tf.constant([5, 6], tf.int64)
N = 4000


def _delta(name, strength):
    x = tf.random.stateless_uniform([N, 4, 4, 3], [1, 2], -0.5, 0.5)
    return (augment.get(name, strength)(x, SEED) - x).numpy()


@pytest.mark.parametrize("strength", [0.1, 0.5])
def test_brightness_is_one_shift_per_image_uniform_in_2_lambda(strength):
    delta = _delta("brightness", strength)
    per_image = delta[:, 0, 0, 0]
    np.testing.assert_allclose(
        delta,
        np.broadcast_to(per_image[:, None, None, None], delta.shape),
        atol=1e-6,
    )
    # b ~ U(-lambda, lambda) in [0, 1] units is 2b on [-1, 1] images.
    assert np.abs(per_image).max() <= 2 * strength + 1e-6
    assert np.abs(per_image).max() > 0.98 * 2 * strength
    assert per_image.std() == pytest.approx(2 * strength / np.sqrt(3), rel=0.05)


@pytest.mark.parametrize(
    "name, channel", [("redness", 0), ("greenness", 1), ("blueness", 2)]
)
def test_colour_shifts_touch_one_channel(name, channel):
    delta = _delta(name, 0.3)
    others = [c for c in range(3) if c != channel]
    np.testing.assert_allclose(delta[..., others], 0, atol=1e-6)
    shift = delta[:, 0, 0, channel]
    assert np.abs(shift).max() <= 0.6 + 1e-6 and shift.std() > 0.3


def test_instance_noise_std_is_two_lambda():
    delta = _delta("instance_noise", 0.1)
    assert delta.std() == pytest.approx(0.2, rel=0.02)
    assert abs(delta.mean()) < 0.005
    # Independent per pixel, unlike brightness.
    assert np.corrcoef(delta[:, 0, 0, 0], delta[:, 1, 1, 1])[0, 1] < 0.05
