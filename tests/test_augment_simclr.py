"""SimCLR's views: the crop's area law, flips, jitter and grey images."""

import numpy as np
import tensorflow as tf

from tfgda import augment

SEED = tf.constant([2, 9], tf.int64)
N = 1000


def test_views_stay_in_range_and_differ():
    x = tf.random.stateless_uniform([N, 16, 16, 3], [1, 1], -1, 1)
    pipeline = augment.get("simclr")
    a, b = pipeline(x, SEED), pipeline(x, SEED + 1)
    assert a.numpy().min() >= -1 - 1e-5 and a.numpy().max() <= 1 + 1e-5
    assert not np.allclose(a, b)


def test_about_a_fifth_of_the_views_are_grey():
    x = tf.random.stateless_uniform([N, 8, 8, 3], [1, 2], -1, 1)
    y = augment.get("simclr")(x, SEED).numpy()
    grey = np.abs(y[..., 0] - y[..., 1]).max(axis=(1, 2)) < 1e-5
    assert 0.15 < grey.mean() < 0.25


def test_crop_area_is_between_8_percent_and_all_of_the_image():
    # A column ramp: the crop's width shows as the spread of the values.
    ramp = tf.broadcast_to(
        tf.reshape(tf.linspace(-1.0, 1.0, 32), [1, 1, 32, 1]), [N, 32, 32, 3]
    )
    y = augment.get("simclr", 0.0)(ramp, SEED).numpy()  # no colour jitter
    colour = np.abs(y[..., 0] - y[..., 1]).max(axis=(1, 2)) < 1e-5
    spread = (y[:, 0, -1, 0] - y[:, 0, 0, 0]) / 2  # = the crop width w
    width = np.abs(spread[colour])
    assert width.min() > 0.2 and width.max() <= 1.0 + 1e-3  # sqrt(0.08 * 3/4)
    assert width.max() > 0.95
    assert 0.4 < (spread[colour] < 0).mean() < 0.6  # flipped half the time
