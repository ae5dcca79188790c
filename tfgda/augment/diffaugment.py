"""DiffAugment's ops (Zhao, Liu, Lin, Zhu, Han 2020), for comparisons.

A DiffAugment policy string such as 'color,translation,cutout' resolves to
these (see `registry.get`). Definitions as in that paper's code, on images
in [-1, 1]; strength 1 is DiffAugment's setting and scales each amount
linearly (0 is the identity):
  * color: brightness + U(-0.5, 0.5); saturation: (x - mean_c) * U(0, 2) +
    mean_c; contrast: (x - mean) * U(0.5, 1.5) + mean.
  * translation: integer shifts up to ratio 1/8 of the size, zero padding.
  * cutout: a square of half the size (ratio 1/2) set to zero; its offset
    is an integer in [0, size] for an even side ([0, size) for an odd one)
    and the square spans offset - side // 2 onwards, clipped, as in
    DiffAugment's `rand_cutout`.
Each op draws its parameters and calls a pure function of them
(`color_with`, `translation_by`, `cutout_at`), which the parity tests feed
with the draws of DiffAugment's own code.
"""

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.augment.registry import register
from tfgda.augment.spatial import fill_box

__all__ = [
    "color",
    "color_with",
    "cutout_at",
    "diffaugment_cutout",
    "diffaugment_translation",
    "translation_by",
]


def _factor(seed, images, low, high):
    return tf.cast(
        tf.random.stateless_uniform(
            [tf.shape(images)[0], 1, 1, 1], seed, low, high
        ),
        images.dtype,
    )


@sampling.compiled
def color_with(images, brightness, saturation, contrast):
    """x + b, then (x - mean_c) s + mean_c, then (x - mean) c + mean, with
    per-image [B, 1, 1, 1] amounts b, s and c.

    Computed as the one affine map it is: the channel mean of x + b is
    mean_c(x) + b and the mean of the saturated image is mean(x) + b, so
    out = c s x + c (1 - s) mean_c(x) + (1 - c) mean(x) + b: two means of
    the input and one pass over its pixels.
    """
    channels = images.shape[-1]
    mean_c = tf.add_n([images[..., i : i + 1] for i in range(channels)])
    mean_c /= channels
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    b, s, c = (
        tf.cast(t, images.dtype) for t in (brightness, saturation, contrast)
    )
    return (c * s) * images + (c * (1 - s)) * mean_c + ((1 - c) * mean + b)


@register(
    "color",
    family="diffaugment",
    default_strength=1.0,
    needs_rgb=True,
    fusable=True,
)
def color(images, seed, strength):
    """DiffAugment's brightness, saturation and contrast, in that order."""
    s = strength
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    return color_with(
        images,
        _factor(seeds[0], images, -0.5 * s, 0.5 * s),
        _factor(seeds[1], images, 1 - s, 1 + s),
        _factor(seeds[2], images, 1 - 0.5 * s, 1 + 0.5 * s),
    )


def _side(size, strength):
    """DiffAugment's length of `strength` of `size` pixels, rounded."""
    return tf.floor(size * tf.cast(strength, tf.float32) + 0.5)


def translation_by(images, rows, cols):
    """out[i, j] = in[i + rows, j + cols] per image (int [B] shifts), zero
    outside: DiffAugment's `rand_translation` for given shifts."""
    return sampling.shift(images, rows, cols, padding="zeros")


@register(
    "diffaugment_translation",
    family="diffaugment",
    default_strength=0.125,
    max_strength=0.5,
    fusable=True,
)
def diffaugment_translation(images, seed, strength):
    """Integer shifts in [-r size, r size] per axis, zero padding."""
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shifts = []
    for axis_seed, size in (
        (seeds[0], images.shape[1]),
        (seeds[1], images.shape[2]),
    ):
        most = tf.cast(_side(size, strength), tf.int32)
        shifts.append(
            tf.random.stateless_uniform(
                [batch], axis_seed, -most, most + 1, tf.int32
            )
        )
    return translation_by(images, *shifts)


def cutout_at(images, offset_y, offset_x, strength):
    """Zeroes the square of side r size whose rows start at offset_y -
    side // 2 and columns at offset_x - side // 2 (int [B]), clipped."""
    height, width = images.shape[1], images.shape[2]
    side_h, side_w = _side(height, strength), _side(width, strength)
    top = tf.cast(offset_y, tf.float32) - tf.floor(side_h / 2)
    left = tf.cast(offset_x, tf.float32) - tf.floor(side_w / 2)
    ones = tf.ones_like(top)
    return fill_box(images, top, left, ones * side_h, ones * side_w, value=0.0)


@register(
    "diffaugment_cutout",
    family="diffaugment",
    default_strength=0.5,
    fusable=True,
)
def diffaugment_cutout(images, seed, strength):
    """A square of side r size set to 0 at a uniform integer offset in
    [0, size + 1 - side % 2) per axis (DiffAugment's law), clipped."""
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    offsets = []
    for axis_seed, size in (
        (seeds[0], images.shape[1]),
        (seeds[1], images.shape[2]),
    ):
        side = tf.cast(_side(size, strength), tf.int32)
        offsets.append(
            tf.random.stateless_uniform(
                [batch], axis_seed, 0, size + 1 - side % 2, tf.int32
            )
        )
    return cutout_at(images, *offsets, strength)
