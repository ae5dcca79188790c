"""Mixing augmentations: CutMix and MixUp with another image of the batch.

The partner of each image is drawn by a random permutation of the batch (an
image may draw itself). Each op returns `(images, MixInfo(partner, weight))`
with `weight` the fraction of the partner in the result, so a loss can mix
the discriminator's targets when real and fake images are mixed together.
"""

import tensorflow as tf

from tfgda.augment.registry import MixInfo
from tfgda.augment.registry import register
from tfgda.augment.spatial import box_mask

__all__ = ["cutmix", "mixup"]


def _partners(seed, batch):
    return tf.argsort(tf.random.stateless_uniform([batch], seed))


@register("cutmix", family="mixing", mixing=True)
def cutmix(images, seed, strength):
    """Pastes a box of area fraction a ~ U(0, lambda) (sides sqrt(a) H and
    sqrt(a) W, centre uniform, clipped at the border) from the partner.

    Our choice: U(0, lambda) rather than the CutMix paper's Beta law, so
    lambda bounds the pasted area as it bounds every other op here. The
    weight is the area actually pasted (after clipping).
    """
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    partner = _partners(seeds[0], batch)
    side = tf.sqrt(
        tf.random.stateless_uniform([batch], seeds[1], 0.0, strength)
    )
    mask = box_mask(
        seeds[2],
        batch,
        height,
        width,
        tf.round(side * height),
        tf.round(side * width),
    )
    mask = tf.cast(mask, images.dtype)
    mixed = images * (1 - mask) + tf.gather(images, partner) * mask
    weight = tf.reduce_mean(mask, axis=[1, 2, 3])
    return mixed, MixInfo(partner, tf.cast(weight, tf.float32))


@register("mixup", family="mixing", mixing=True)
def mixup(images, seed, strength):
    """x' = (1 - a) x + a x_partner with a ~ U(0, lambda) per image.

    Our choice: U(0, lambda) rather than Beta(lambda, lambda), so that
    lambda bounds the partner's share.
    """
    batch = tf.shape(images)[0]
    seed_p, seed_a = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    partner = _partners(seed_p, batch)
    a = tf.random.stateless_uniform([batch], seed_a, 0.0, strength)
    a_images = tf.cast(a, images.dtype)[:, None, None, None]
    mixed = (1 - a_images) * images + a_images * tf.gather(images, partner)
    return mixed, MixInfo(partner, a)
