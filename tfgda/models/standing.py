"""Standing statistics: an EMA generator's own batch-norm statistics.

The exponential moving average of G's weights is another network than G:
the moving batch-norm statistics that G accumulated describe G's
activations, not the average's. compare_gan (its BigGAN configs turn BN
moving averages off and accumulate "standing statistics" over 204,800
generated samples before every evaluation, `eval_gan_lib.
_update_bn_accumulators`) and BigGAN-PyTorch (`utils.accumulate_standing_
stats`) recompute them from the averaged generator's own samples; so do we,
before every evaluation, export, leak check and sample grid of an EMA
generator.

Each batch-norm layer's moving mean and variance become the average over
`num_samples / batch_size` batches of the batch mean and (biased) variance
of its inputs, computed with every layer in training mode (each layer sees
activations normalized with its batch's statistics), as BigGAN-PyTorch
does. z and labels come from fixed seeds, so the result is deterministic.
Spectral-norm vectors and every other non-batch-norm state are left as
they were.
"""

import dataclasses

import gin
import keras
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.models.latents import sample_z

__all__ = [
    "StandingStats",
    "batch_norm_layers",
    "recompute",
    "samples_used",
    "standing_stats",
]


@dataclasses.dataclass(frozen=True)
class StandingStats:
    """How many samples the standing statistics of an EMA G are
    accumulated over (see `standing_stats`)."""

    num_samples: int
    grid_samples: int
    batch_size: int


@gin.configurable("standing_stats")
def standing_stats(num_samples=204_800, grid_samples=2_048, batch_size=256):
    """Settings of the standing statistics of an EMA generator.

    Args:
      num_samples: for evaluation, export and the leak check (compare_gan:
        204,800).
      grid_samples: for the sample grids written during training (a
        preview; our choice, to keep them cheap).
      batch_size: generated images per batch.
    """
    for name, value in (
        ("num_samples", num_samples),
        ("grid_samples", grid_samples),
        ("batch_size", batch_size),
    ):
        if not isinstance(value, int) or value <= 0:
            raise UserError(
                f"standing_stats.{name} must be a positive "
                f"integer, got {value!r}."
            )
    return StandingStats(num_samples, grid_samples, batch_size)


def batch_norm_layers(model):
    """Every Keras BatchNormalization layer inside `model`."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def recompute(generator, num_classes, num_samples, batch_size=256, seed=0):
    """Sets `generator`'s batch-norm statistics to its own (module
    docstring); returns the number of samples used (whole batches, at least
    `num_samples`), or 0 for a generator without batch norm. The count is
    also kept as `generator.standing_stats_samples`, for result files."""
    layers = batch_norm_layers(generator)
    if not layers:
        return 0
    bn_variables = {id(v) for layer in layers for v in layer.variables}
    others = [
        v
        for v in generator.non_trainable_variables
        if id(v) not in bn_variables
    ]
    kept = [v.numpy() for v in others]  # spectral-norm vectors
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(tf.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(tf.zeros_like(layer.moving_variance))
    batches = -(-num_samples // batch_size)
    try:
        for k in range(batches):
            for layer in layers:  # a running average over the batches
                layer.momentum = k / (k + 1)
            batch_seed = tf.constant([seed, 2**21 + k], tf.int64)
            z = sample_z(generator, batch_size, batch_seed)
            labels = tf.random.stateless_uniform(
                [batch_size],
                batch_seed + [0, 1],
                0,
                max(num_classes, 1),
                tf.int32,
            )
            generator(z, labels, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for variable, value in zip(others, kept):
            variable.assign(value)
    generator.standing_stats_samples = batches * batch_size
    return batches * batch_size


def samples_used(generator):
    """The sample count of the generator's last recomputation (0: its
    statistics are the trained ones)."""
    return int(getattr(generator, "standing_stats_samples", 0))
