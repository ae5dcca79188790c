"""DiffAugment's ops (Zhao, Liu, Lin, Zhu, Han 2020), for comparisons.

A DiffAugment policy string such as 'color,translation,cutout' resolves to
these (see `registry.get`). Definitions as in that paper's code, on images
in [-1, 1]; strength 1 is DiffAugment's setting and scales each amount
linearly (0 is the identity):
  * color: brightness + U(-0.5, 0.5); saturation: (x - mean_c) * U(0, 2) +
    mean_c; contrast: (x - mean) * U(0.5, 1.5) + mean.
  * translation: integer shifts up to ratio 1/8 of the size, zero padding.
  * cutout: a square of half the size (ratio 1/2) set to zero.
"""

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.augment.registry import register
from tfgda.augment.spatial import box_mask

__all__ = ["color", "diffaugment_cutout", "diffaugment_translation"]


def _factor(seed, images, low, high):
    return tf.cast(tf.random.stateless_uniform(
        [tf.shape(images)[0], 1, 1, 1], seed, low, high), images.dtype)


@register("color", family="diffaugment", default_strength=1.0,
          needs_rgb=True)
def color(images, seed, strength):
    """DiffAugment's brightness, saturation and contrast, in that order."""
    s = strength
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    x = images + _factor(seeds[0], images, -0.5 * s, 0.5 * s)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _factor(seeds[1], images, 1 - s, 1 + s) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _factor(seeds[2], images, 1 - 0.5 * s,
                                1 + 0.5 * s) + mean


@register("diffaugment_translation", family="diffaugment",
          default_strength=0.125, max_strength=0.5)
def diffaugment_translation(images, seed, strength):
    """Integer shifts in [-r size, r size] per axis, zero padding."""
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    ones = tf.ones([batch])
    mats = []
    for axis_seed, size in ((seeds[0], images.shape[1]),
                            (seeds[1], images.shape[2])):
        shift = tf.cast(tf.floor(size * tf.cast(strength, tf.float32) + 0.5),
                        tf.int32)
        t = tf.random.stateless_uniform([batch], axis_seed, -shift,
                                        shift + 1, tf.int32)
        mats.append(sampling.window_matrices(
            ones, -tf.cast(t, tf.float32), size, padding="zeros"))
    return sampling.resample(images, *mats)


@register("diffaugment_cutout", family="diffaugment", default_strength=0.5)
def diffaugment_cutout(images, seed, strength):
    """A square of side r size set to 0, centre uniform, clipped."""
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    ones = tf.ones([batch])
    strength = tf.cast(strength, tf.float32)
    mask = box_mask(seed, batch, height, width,
                    ones * tf.floor(height * strength + 0.5),
                    ones * tf.floor(width * strength + 0.5))
    return images * (1 - tf.cast(mask, images.dtype))
