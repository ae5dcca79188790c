"""GAN architectures: each is one gin-configurable factory returning (G, D).

A generator is a Keras model called as `G(z, labels, training=...)` with a
`dim_z` attribute; a discriminator as `D(images, labels, training=...)`
returning logits of shape [batch], and `D.features(...)` returning its
penultimate features. Both have a boolean `conditional` class attribute.
A generator's `z_distribution` ('uniform': U(-1, 1), compare_gan's default
`z_generator`; 'normal': N(0, 1), its BigGAN config) says how its latents
are drawn everywhere: training, samples, evaluation and export.
"""

import tensorflow as tf

from tfgda.models.biggan import biggan
from tfgda.models.biggan import biggan_pytorch
from tfgda.models.latents import Z_DISTRIBUTIONS
from tfgda.models.latents import sample_z
from tfgda.models.sndcgan import sndcgan
from tfgda.models.standing import standing_stats

__all__ = [
    "Z_DISTRIBUTIONS",
    "biggan",
    "biggan_pytorch",
    "build",
    "count_params",
    "sample_z",
    "sndcgan",
    "standing_stats",
]


def count_params(model):
    """Trainable parameters (weights, biases, BN gamma/beta) of a model."""
    return int(sum(v.shape.num_elements() for v in model.trainable_variables))


def build(generator, discriminator, batch_size=2):
    """Creates every variable of a (G, D) pair by calling both once."""
    z = tf.zeros([batch_size, generator.dim_z])
    labels = tf.zeros([batch_size], tf.int32)
    discriminator(generator(z, labels), labels)
