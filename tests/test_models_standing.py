"""Standing statistics: an EMA generator's own batch-norm statistics."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import models
from tfgda.errors import UserError
from tfgda.models import standing


def _perturbed(factory):
    """A generator whose weights no longer fit its batch-norm statistics,
    as an EMA generator's do not fit the raw G's."""
    tf.keras.utils.set_random_seed(0)
    g, _ = factory((32, 32, 3), 10, dim_z=8, ch=4)
    g(tf.zeros([2, 8]), tf.zeros([2], tf.int32))
    for v in g.trainable_variables:
        v.assign(v + 0.05 * tf.random.normal(v.shape))
    return g


def _recompute_batch(g, n):
    """The z and labels `recompute` draws for its first batch."""
    seed = tf.constant([0, 2**21], tf.int64)
    return (
        models.sample_z(g, n, seed),
        tf.random.stateless_uniform([n], seed + [0, 1], 0, 10, tf.int32),
    )


@pytest.mark.parametrize("factory", [models.sndcgan, models.biggan])
def test_statistics_are_the_generators_own(factory):
    """After the recomputation over one batch, every BN layer's moving
    mean and variance are that batch's statistics of its own activations:
    inference mode on the batch equals training mode (batch statistics)."""
    g = _perturbed(factory)
    z, labels = _recompute_batch(g, 64)
    before = np.abs(g(z, labels) - g(z, labels, training=True)).max()
    assert before > 0.05  # the borrowed statistics are another network's
    g = _perturbed(factory)
    assert standing.recompute(g, 10, 64, batch_size=64) == 64
    assert standing.samples_used(g) == 64
    inference = g(z, labels).numpy()
    np.testing.assert_allclose(
        inference, g(z, labels, training=True), atol=1e-5
    )
    assert all(
        layer.momentum == 0.9 for layer in standing.batch_norm_layers(g)
    )  # restored


def test_statistics_average_the_batches_and_replay():
    g = _perturbed(models.sndcgan)
    first = standing.batch_norm_layers(g)[0]  # after the dense layer on z
    u = [
        v.numpy().copy() for v in g.non_trainable_variables if "sn_u" in v.path
    ]
    standing.recompute(g, 0, 100, batch_size=50)  # two batches
    z = tf.concat(
        [
            models.sample_z(g, 50, tf.constant([0, 2**21 + k], tf.int64))
            for k in range(2)
        ],
        0,
    )
    dense = g.dense(z).numpy().reshape(2, 50, -1)
    np.testing.assert_allclose(
        first.moving_mean, dense.mean(1).mean(0), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        first.moving_variance, dense.var(1).mean(0), rtol=1e-4, atol=1e-5
    )
    mean = first.moving_mean.numpy().copy()
    standing.recompute(g, 0, 100, batch_size=50)
    np.testing.assert_array_equal(first.moving_mean, mean)  # deterministic
    after = [v.numpy() for v in g.non_trainable_variables if "sn_u" in v.path]
    for a, b in zip(u, after):
        np.testing.assert_array_equal(a, b)


def test_bad_settings():
    with pytest.raises(UserError, match="standing_stats.num_samples must"):
        models.standing_stats(num_samples=0)
