"""Spatial augmentations: each random parameter follows its definition."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda.augment import sampling

SEED = tf.constant([3, 4], tf.int64)
N, SIZE = 2000, 32


def _ramp(axis):
    """Every pixel holds its coordinate along `axis` (1: rows, 2: cols)."""
    coords = tf.range(SIZE, dtype=tf.float32)
    shape = [1, SIZE, 1, 1] if axis == 1 else [1, 1, SIZE, 1]
    return tf.broadcast_to(tf.reshape(coords, shape), [N, SIZE, SIZE, 3])


def _apply(name, strength, axis):
    return augment.get(name, strength)(_ramp(axis), SEED).numpy()


def test_reflect_matches_numpy():
    index = tf.range(-9, 14)
    expected = np.pad(np.arange(5), 9, mode="reflect")[:23]
    np.testing.assert_array_equal(sampling.reflect(index, 5), expected)


@pytest.mark.parametrize("strength", [0.1, 0.4])
def test_translation_shifts_are_whole_pixels_bounded_by_lambda(strength):
    for axis in (1, 2):
        out = _apply("translation", strength, axis)
        centre = out[:, 16, 16, 0]
        shift = 16 - centre  # out(i) = i - t away from the reflected border
        np.testing.assert_array_equal(shift, np.round(shift))
        bound = round(strength * SIZE)
        assert np.abs(shift).max() == bound  # the range is filled...
        assert np.abs(shift).max() <= strength * SIZE + 0.5  # ...not passed
        assert abs(shift.mean()) < 0.3
        assert len(np.unique(shift)) == 2 * bound + 1


def test_translation_fills_by_reflection():
    x = tf.reshape(tf.range(SIZE, dtype=tf.float32), [1, 1, SIZE, 1])
    x = tf.tile(x, [N, 1, 1, 1])
    out = augment.get("translation_x", 0.25)(x, SEED).numpy()[:, 0, :, 0]
    shift = out[:, 16] - 16
    row = out[np.argmax(shift)]  # the largest shift to the left
    np.testing.assert_array_equal(
        row,
        np.pad(np.arange(SIZE), 8, mode="reflect")[
            8 + int(shift.max()) : 8 + int(shift.max()) + SIZE
        ],
    )


def test_single_axis_translations_leave_the_other_axis():
    np.testing.assert_array_equal(_apply("translation_x", 0.3, 1), _ramp(1))
    np.testing.assert_array_equal(_apply("translation_y", 0.3, 2), _ramp(2))
    assert not np.array_equal(_apply("translation_x", 0.3, 2), _ramp(2))


def _slope(out):
    """The scale of the map around the centre column of a column ramp."""
    return (out[:, 0, 18, 0] - out[:, 0, 14, 0]) / 4


@pytest.mark.parametrize("strength", [0.2, 0.5])
def test_zoom_in_scale_law(strength):
    slope = _slope(_apply("zoom_in", strength, 2))  # = 1 - s
    assert slope.min() >= 1 - strength - 1e-4 and slope.max() <= 1 + 1e-4
    assert slope.min() < 1 - 0.95 * strength and slope.max() > 0.99
    assert abs(slope.mean() - (1 - strength / 2)) < 0.02  # s ~ U(0, lambda)


@pytest.mark.parametrize("strength", [0.2, 0.5])
def test_zoom_out_scale_law(strength):
    slope = _slope(_apply("zoom_out", strength, 2))  # = 1 + s
    assert slope.min() >= 1 - 1e-4 and slope.max() <= 1 + strength + 1e-4
    assert slope.max() > 1 + 0.95 * strength
    assert abs(slope.mean() - (1 + strength / 2)) < 0.02


def test_zoom_out_map_is_reflect_pad_then_resize():
    # Scale 1.5 centred: the same as reflect-padding 8 pixels per side and
    # resizing 48 -> 32 with bilinear interpolation.
    x = tf.random.uniform([1, SIZE, SIZE, 3], -1, 1, seed=1)
    mats = sampling.window_matrices(
        tf.constant([1.5]), tf.constant([-8.0]), size=SIZE
    )
    out = sampling.resample(x, mats, mats)
    padded = tf.pad(x, [[0, 0], [8, 8], [8, 8], [0, 0]], mode="REFLECT")
    reference = tf.image.resize(padded, [SIZE, SIZE], "bilinear")
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_zoom_in_map_is_crop_then_resize():
    x = tf.random.uniform([1, SIZE, SIZE, 3], -1, 1, seed=2)
    mats = sampling.window_matrices(
        tf.constant([0.5]), tf.constant([8.0]), size=SIZE
    )
    out = sampling.resample(x, mats, mats)
    reference = tf.image.resize(x[:, 8:24, 8:24], [SIZE, SIZE], "bilinear")
    # Away from the window's edge, where resize clamps and we read on.
    np.testing.assert_allclose(
        out[:, 1:-1, 1:-1], reference[:, 1:-1, 1:-1], atol=1e-5
    )


def test_cutout_area_and_position():
    ones = tf.ones([N, SIZE, SIZE, 3])
    strength = 0.25
    out = augment.get("cutout", strength)(ones, SEED).numpy()[..., 0]
    assert set(np.unique(out)) <= {-1.0, 1.0}
    black = (out == -1).sum(axis=(1, 2))
    side = round(strength * SIZE)
    assert black.max() == side * side and black.min() > 0
    assert (black < side * side).any()  # clipped at the border sometimes
    centres = np.array([np.argwhere(o == -1).mean(axis=0) for o in out])
    assert centres.min() < 4 and centres.max() > SIZE - 5  # uniform over it


def test_crop_flip_flips_half_and_shifts_by_at_most_the_pad():
    out = _apply("crop_flip", 0.125, 2)
    direction = out[:, 0, 17, 0] - out[:, 0, 16, 0]
    flipped = direction < 0
    assert 0.45 < flipped.mean() < 0.55
    # Column 16 reads source 16 + t, or 15 + t when flipped (31 - 16 + t).
    shift = out[:, 0, 16, 0] - np.where(flipped, 15, 16)
    assert np.abs(shift).max() == 4
    assert len(np.unique(shift)) == 9  # every offset in [-4, 4]


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("height,width", [(32, 32), (7, 5), (1, 4)])
def test_shift_copies_pixels_as_the_shift_matrices_do(padding, height, width):
    # Shifts up to twice the size, so reflection wraps more than once.
    batch = 40
    x = tf.random.stateless_uniform([batch, height, width, 3], [1, 2], -1, 1)
    rows = tf.random.stateless_uniform(
        [batch], [3, 4], -2 * height, 2 * height + 1, tf.int32
    )
    cols = tf.random.stateless_uniform(
        [batch], [5, 6], -2 * width, 2 * width + 1, tf.int32
    )
    weights = tf.random.stateless_uniform(x.shape, [7, 8])
    ones = tf.ones([batch])

    def dense(x):
        return sampling.resample(
            x,
            sampling.window_matrices(
                ones, tf.cast(rows, tf.float32), size=height, padding=padding
            ),
            sampling.window_matrices(
                ones, tf.cast(cols, tf.float32), size=width, padding=padding
            ),
        )

    def gathered(x):
        return sampling.shift(x, rows, cols, padding=padding)

    (y_dense, g_dense), (y_gathered, g_gathered) = [
        _value_and_gradient(fn, x, weights) for fn in (dense, gathered)
    ]
    np.testing.assert_array_equal(y_gathered, y_dense)
    np.testing.assert_allclose(g_gathered, g_dense, atol=1e-6)


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
def test_bilinear_reads_as_the_resampling_matrices_do(padding):
    # Zoom in and out, flips, and windows reaching past the border.
    batch, height, width = 24, 9, 6
    x = tf.random.stateless_uniform([batch, height, width, 3], [1, 2], -1, 1)
    scale = tf.random.stateless_uniform([batch], [3, 4], -1.6, 1.6)
    start = tf.random.stateless_uniform([batch], [5, 6], -4.0, 8.0)
    weights = tf.random.stateless_uniform(x.shape, [7, 8])
    rows = sampling.window_sources(scale, start, height)
    cols = sampling.window_sources(scale[::-1], start[::-1], width)

    def dense(x):
        return sampling.resample(
            x,
            sampling.axis_matrix(rows, height, padding),
            sampling.axis_matrix(cols, width, padding),
        )

    def gathered(x):
        return sampling.bilinear(x, rows, cols, padding=padding)

    (y_dense, g_dense), (y_gathered, g_gathered) = [
        _value_and_gradient(fn, x, weights) for fn in (dense, gathered)
    ]
    np.testing.assert_allclose(y_gathered, y_dense, atol=1e-6)
    np.testing.assert_allclose(g_gathered, g_dense, atol=1e-5)


def _value_and_gradient(fn, x, weights):
    """fn(x), and the gradient of sum(fn(x) * weights) to x."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(y * weights)
    return y.numpy(), tape.gradient(loss, x).numpy()
