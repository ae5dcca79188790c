"""Appearance augmentations: brightness, colour shifts and instance noise.

Amounts are in the paper's [0, 1] pixel units and converted here: a shift of
b in [0, 1] units is 2b on our [-1, 1] images. Outputs are not clipped (a
clip would zero the gradient of saturated pixels); the shift is bounded by
2 lambda. Strength 0 is the identity.
"""

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.augment.registry import register

__all__ = ["blueness", "brightness", "greenness", "instance_noise", "redness"]


def _per_image(images, seed, strength):
    """c ~ U(-lambda, lambda) per image, in [0, 1] units, shape [B,1,1,1]."""
    shift = tf.random.stateless_uniform(
        [tf.shape(images)[0], 1, 1, 1], seed, -strength, strength
    )
    return tf.cast(shift, images.dtype)


def _pass_through(upstream, images, shift):
    """The gradient of images + 2 shift to the images."""
    del images, shift
    return upstream


@sampling.compiled(gradient=_pass_through)
def _add(images, shift):
    """images + 2 shift: a shift in [0, 1] units, on [-1, 1] images (the
    doubling, exact, inside the compiled function: one kernel less)."""
    return images + 2.0 * shift


@register("brightness", family="appearance", fusable=True)
def brightness(images, seed, strength):
    """Adds b ~ U(-lambda, lambda) ([0, 1] units) to every pixel."""
    return _add(images, _per_image(images, seed, strength))


def _channel_shift(images, seed, strength, channel):
    onehot = tf.one_hot(channel, 3, dtype=images.dtype)
    return _add(images, _per_image(images, seed, strength) * onehot)


@register("redness", family="appearance", needs_rgb=True, fusable=True)
def redness(images, seed, strength):
    """Adds c ~ U(-lambda, lambda) ([0, 1] units) to the red channel."""
    return _channel_shift(images, seed, strength, 0)


@register("greenness", family="appearance", needs_rgb=True, fusable=True)
def greenness(images, seed, strength):
    """Adds c ~ U(-lambda, lambda) ([0, 1] units) to the green channel."""
    return _channel_shift(images, seed, strength, 1)


@register("blueness", family="appearance", needs_rgb=True, fusable=True)
def blueness(images, seed, strength):
    """Adds c ~ U(-lambda, lambda) ([0, 1] units) to the blue channel."""
    return _channel_shift(images, seed, strength, 2)


@register("instance_noise", family="appearance")
def instance_noise(images, seed, strength):
    """Adds N(0, lambda^2) noise ([0, 1] units) to every pixel."""
    noise = tf.random.stateless_normal(
        tf.shape(images), seed, stddev=2.0 * strength
    )
    return images + tf.cast(noise, images.dtype)
