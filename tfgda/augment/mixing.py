"""Mixing augmentations: CutMix and MixUp with another image of the batch.

The partner of each image is drawn by a random permutation of the batch (an
image may draw itself). Each op returns `(images, MixInfo(partner, weight))`
with `weight` the fraction of the partner in the result, so a loss can mix
the discriminator's targets when real and fake images are mixed together.
"""

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.augment.registry import MixInfo
from tfgda.augment.registry import register
from tfgda.augment.spatial import box_corner
from tfgda.augment.spatial import box_mask_at

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
    box_h, box_w = tf.round(side * height), tf.round(side * width)
    top, left = box_corner(seeds[2], batch, height, width, box_h, box_w)
    mixed, weight = _paste_box(images, partner, top, left, box_h, box_w)
    return mixed, MixInfo(partner, weight)


@sampling.compiled
def _paste_box(images, partner, top, left, box_h, box_w):
    """Each image with its box (see `box_mask_at`) taken from its partner,
    and the share of the image pasted."""
    mask = box_mask_at(
        top, left, images.shape[1], images.shape[2], box_h, box_w
    )
    weight = tf.reduce_mean(mask, axis=[1, 2, 3])
    mask = tf.cast(mask, images.dtype)
    mixed = images * (1 - mask) + tf.gather(images, partner) * mask
    return mixed, weight


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
    return _blend(images, partner, a), MixInfo(partner, a)


@sampling.compiled
def _blend(images, partner, a):
    """(1 - a) x + a x[partner], per image."""
    a = tf.cast(a, images.dtype)[:, None, None, None]
    return (1 - a) * images + a * tf.gather(images, partner)
