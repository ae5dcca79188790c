"""The latent distribution of a generator, drawn statelessly.

compare_gan draws z ~ U(-1, 1) by default (`ModularGAN.z_generator`) and
switches to N(0, 1) in its BigGAN configs (`z.distribution_fn =
@tf.random.normal`); each model factory holds its paper default in
`z_distribution`, bindable in gin.
"""

import tensorflow as tf

from tfgda.errors import UserError

__all__ = ["Z_DISTRIBUTIONS", "check_z_distribution", "sample_z"]

Z_DISTRIBUTIONS = ("uniform", "normal")


def check_z_distribution(name):
    """Raises a UserError unless `name` is a known latent distribution."""
    if name not in Z_DISTRIBUTIONS:
        raise UserError(
            f"z_distribution {name!r} is not one of {Z_DISTRIBUTIONS}."
        )
    return name


def sample_z(generator, count, seed):
    """[count, dim_z] latents of `generator`'s distribution from `seed`."""
    shape = [count, generator.dim_z]
    if generator.z_distribution == "uniform":
        return tf.random.stateless_uniform(shape, seed, -1.0, 1.0)
    return tf.random.stateless_normal(shape, seed)
