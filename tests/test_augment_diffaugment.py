"""DiffAugment's ops, as defined in that paper's code."""

import numpy as np
import tensorflow as tf

from tfgda import augment

SEED = tf.constant([1, 3], tf.int64)


def test_translation_pads_with_zeros_and_shifts_by_at_most_an_eighth():
    x = tf.ones([500, 32, 32, 3])
    y = augment.get("diffaugment_translation")(x, SEED).numpy()[..., 0]
    zero_rows = (y == 0).all(axis=2).sum(axis=1)
    zero_cols = (y == 0).all(axis=1).sum(axis=1)
    assert set(np.unique(y)) == {0.0, 1.0}
    assert zero_rows.max() == 4 and zero_cols.max() == 4


def test_cutout_zeroes_a_half_size_square():
    x = tf.ones([500, 32, 32, 3])
    y = augment.get("diffaugment_cutout")(x, SEED).numpy()[..., 0]
    assert (y == 0).sum(axis=(1, 2)).max() == 16 * 16


def test_color_keeps_the_batch_mean_order():
    # Contrast and saturation act around the mean: a grey image stays grey.
    x = tf.fill([50, 8, 8, 3], 0.2)
    y = augment.get("color")(x, SEED).numpy()
    np.testing.assert_allclose(
        y, y[:, :1, :1, :1].repeat(8, 1).repeat(8, 2).repeat(3, 3), atol=1e-6
    )
    assert np.abs(y[:, 0, 0, 0] - 0.2).max() <= 0.5 + 1e-6
