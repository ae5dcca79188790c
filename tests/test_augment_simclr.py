"""SimCLR's views: the crop's area law, flips, jitter and grey images."""

import numpy as np
import tensorflow as tf

from tfgda import augment
from tfgda.augment import simclr

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


def _crop_widths(strength):
    """The crop widths of N views of a column ramp without colour jitter
    (the crop's width shows as the spread of the values), signed: < 0 for
    a flipped view; grey views left out."""
    ramp = tf.broadcast_to(
        tf.reshape(tf.linspace(-1.0, 1.0, 32), [1, 1, 32, 1]), [N, 32, 32, 3]
    )
    y = simclr.simclr(ramp, SEED, strength, jitter=0.0).numpy()
    colour = np.abs(y[..., 0] - y[..., 1]).max(axis=(1, 2)) < 1e-5
    return ((y[:, 0, -1, 0] - y[:, 0, 0, 0]) / 2)[colour]


def test_crop_area_is_between_8_percent_and_all_of_the_image():
    # The default strength is SimCLR's own crop, area U(0.08, 1).
    assert augment.describe("simclr").default_strength == simclr.SIMCLR_CROP
    spread = _crop_widths(simclr.SIMCLR_CROP)
    width = np.abs(spread)
    assert width.min() > 0.2 and width.max() <= 1.0 + 1e-3  # sqrt(0.08 * 3/4)
    assert width.min() < 0.35
    assert width.max() > 0.95
    assert 0.4 < (spread < 0).mean() < 0.6  # flipped half the time


def test_the_strength_is_the_crops_and_the_jitter_is_simclrs():
    """Fig. 6's knob: the crop's smallest area is 1 - strength (width at
    least sqrt((1 - s) 3/4)), so crops shrink as the strength grows; the
    colour jitter stays at SimCLR's CIFAR-10 strength."""
    means = []
    for strength in (0.1, 0.3, 0.5, 0.7, 0.9):
        width = np.abs(_crop_widths(strength))
        assert width.min() >= np.sqrt((1 - strength) * 3 / 4) - 1e-3
        means.append(width.mean())
    assert means == sorted(means, reverse=True)
    assert means[0] > 0.9 and means[-1] < 0.75
    x = tf.random.stateless_uniform([8, 16, 16, 3], [3, 4], -1, 1)
    assert simclr.COLOUR_JITTER == 0.5
    assert not np.allclose(
        simclr.simclr(x, SEED, 0.3, jitter=0.0),
        simclr.simclr(x, SEED, 0.3),
    )
