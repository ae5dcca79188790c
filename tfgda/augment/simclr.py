"""SimCLR's augmentation, for the views of the contrastive loss.

As in google-research/simclr (Chen et al. 2020), per image: a random resized
crop of area fraction U(1 - s, 1) and aspect ratio in [3/4, 4/3] (log-
uniform), resized back (bilinear); a horizontal flip with probability 1/2;
with probability 0.8 a colour jitter of brightness (x times U(1 - 0.8j,
1 + 0.8j)), contrast and saturation (each U(1 - 0.8j, 1 + 0.8j)) and hue
(a rotation of U(-0.2j, 0.2j) turns in YIQ space), clipped to the valid
range after each; with probability 0.2 a conversion to grey.

The strength s is the crop-and-resize strength, the knob the paper's Fig. 6
varies (0.1-0.9; the paper found that changing the colour jitter did not
help). Its law is ours (the pages do not give it): the crop's smallest area
is 1 - s, so the default s = 0.92 is SimCLR's own U(0.08, 1). The jitter
strength j is SimCLR's CIFAR-10 value, 0.5 (its README's command,
--color_jitter_strength=0.5).
Our choices: the jitter ops run in a fixed order (SimCLR shuffles it), and a
crop side that would exceed the image is clipped to it (SimCLR re-draws).
"""

import math

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.augment.registry import register

__all__ = ["COLOUR_JITTER", "SIMCLR_CROP", "simclr"]

COLOUR_JITTER = 0.5  # SimCLR's colour-jitter strength for CIFAR-10
SIMCLR_CROP = 0.92  # crop area U(1 - 0.92, 1) = SimCLR's U(0.08, 1)

# Plain lists, not tensors: no TensorFlow op may run at import time (a
# multi-worker strategy must be created before the runtime starts).
_RGB_TO_YIQ = [
    [0.299, 0.596, 0.211],
    [0.587, -0.274, -0.523],
    [0.114, -0.322, 0.312],
]
_LUMA = [0.299, 0.587, 0.114]


def _u(seed, batch, low, high):
    return tf.random.stateless_uniform([batch], seed, low, high)


def _crop_flip(x, seeds, batch, strength):
    h_size, w_size = x.shape[1], x.shape[2]
    area = _u(seeds[0], batch, 1.0 - strength, 1.0)
    log_ratio = _u(seeds[1], batch, math.log(3 / 4), math.log(4 / 3))
    ratio = tf.exp(log_ratio)
    w = tf.minimum(tf.sqrt(area * ratio), 1.0)
    h = tf.minimum(tf.sqrt(area / ratio), 1.0)
    start_y = _u(seeds[2], batch, 0.0, 1.0) * (1 - h) * h_size
    start_x = _u(seeds[3], batch, 0.0, 1.0) * (1 - w) * w_size
    flip = _u(seeds[4], batch, 0.0, 1.0) < 0.5
    scale_x = tf.where(flip, -w, w)
    start_x = tf.where(flip, start_x + w * w_size, start_x)
    return sampling.bilinear(
        x,
        sampling.window_sources(h, start_y, h_size),
        sampling.window_sources(scale_x, start_x, w_size),
    )


def _jitter(x, seeds, batch, s):
    def factor(seed, amount):
        return _u(seed, batch, 1 - amount, 1 + amount)[:, None, None, None]

    clip = lambda t: tf.clip_by_value(t, 0.0, 1.0)  # noqa: E731
    x = clip(x * factor(seeds[0], 0.8 * s))
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = clip((x - mean) * factor(seeds[1], 0.8 * s) + mean)
    grey = tf.reduce_sum(x * tf.constant(_LUMA), axis=-1, keepdims=True)
    x = clip((x - grey) * factor(seeds[2], 0.8 * s) + grey)
    angle = 2 * math.pi * _u(seeds[3], batch, -0.2 * s, 0.2 * s)
    cos, sin = tf.cos(angle), tf.sin(angle)
    zeros, ones = tf.zeros_like(cos), tf.ones_like(cos)
    rotation = tf.stack(
        [
            tf.stack([ones, zeros, zeros], -1),
            tf.stack([zeros, cos, -sin], -1),
            tf.stack([zeros, sin, cos], -1),
        ],
        -2,
    )  # [B, 3, 3]
    rgb_to_yiq = tf.constant(_RGB_TO_YIQ)
    yiq = tf.einsum("bhwc,cd->bhwd", x, rgb_to_yiq)
    yiq = tf.einsum("bhwd,bed->bhwe", yiq, rotation)
    yiq_to_rgb = tf.linalg.inv(rgb_to_yiq)
    return clip(tf.einsum("bhwd,dc->bhwc", yiq, yiq_to_rgb))


@register(
    "simclr",
    family="simclr",
    default_strength=SIMCLR_CROP,
    max_strength=0.99,  # a crop of area 0 has no pixels
    identity_at_zero=False,
    needs_rgb=True,
)
def simclr(images, seed, strength, jitter=COLOUR_JITTER):
    """One SimCLR view of each image at crop-and-resize strength `strength`
    (see the module docstring)."""
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 12))
    x = (tf.cast(images, tf.float32) + 1.0) / 2.0
    x = _crop_flip(x, seeds[:5], batch, strength)
    jittered = _jitter(x, seeds[5:9], batch, jitter)
    apply = (_u(seeds[9], batch, 0.0, 1.0) < 0.8)[:, None, None, None]
    x = tf.where(apply, jittered, x)
    grey = tf.reduce_sum(x * tf.constant(_LUMA), axis=-1, keepdims=True)
    to_grey = (_u(seeds[10], batch, 0.0, 1.0) < 0.2)[:, None, None, None]
    x = tf.where(to_grey, tf.tile(grey, [1, 1, 1, 3]), x)
    return tf.cast(x * 2.0 - 1.0, images.dtype)
