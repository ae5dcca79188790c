"""Architectures: shapes, the paper's parameter counts, spectral norm."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import models
from tfgda.models import layers


def test_sndcgan_parameter_counts_match_the_paper():
    g, d = models.sndcgan((32, 32, 3), 0)
    models.build(g, d)
    assert models.count_params(g) == 3_828_739
    assert models.count_params(d) == 5_860_865


def test_sndcgan_shapes_and_range():
    g, d = models.sndcgan((32, 32, 3), 0, dim_z=16, ch=4)
    z = tf.random.normal([5, 16]) * 10
    images = g(z, training=False)
    assert images.shape == (5, 32, 32, 3)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    assert d(images).shape == (5,)
    assert d.features(images).shape == (5, 4 * 4 * 32)


def test_sndcgan_rejects_sides_not_divisible_by_8():
    with pytest.raises(ValueError, match="divisible by 8"):
        models.sndcgan((30, 30, 3), 0)


def test_spectral_norm_converges_to_unit_spectral_norm():
    layer = layers.SNDense(7)
    layer.build((None, 5))
    for _ in range(50):
        layer(tf.zeros([1, 5]), training=True)
    kernel = layer._normalized_kernel(training=False).numpy()
    assert np.linalg.norm(kernel, 2) == pytest.approx(1.0, rel=1e-3)
    # The stored kernel itself is left unnormalized.
    assert np.linalg.norm(layer.kernel.numpy(), 2) != pytest.approx(1.0)


def test_spectral_norm_u_updates_only_in_training():
    layer = layers.SNConv2D(4, 3)
    x = tf.ones([1, 6, 6, 2])
    layer(x)
    u = layer.sn_u.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.sn_u.numpy(), u)
    layer(x, training=True)
    assert not np.allclose(layer.sn_u.numpy(), u)


def test_spectral_norm_gradient_flows_through_sigma():
    # d/dW of sum(W / sigma(W)) differs from the gradient that treats
    # sigma as a constant; check against finite differences.
    kernel = tf.Variable(tf.random.normal([4, 3], seed=1))
    u = tf.random.normal([1, 3], seed=2)
    for _ in range(30):  # converge u so sigma is a smooth function of W
        _, u = layers.spectral_normalize(kernel, u)

    def f(w):
        return tf.reduce_sum(layers.spectral_normalize(w, u)[0] ** 2 *
                             tf.range(12, dtype=tf.float32)[:, None][:4])
    with tf.GradientTape() as tape:
        y = f(kernel)
    grad = tape.gradient(y, kernel).numpy()
    eps, w = 1e-3, kernel.numpy()
    delta = np.zeros_like(w)
    delta[1, 2] = eps
    numeric = (f(tf.constant(w + delta)) - f(tf.constant(w - delta))) / (
        2 * eps)
    assert grad[1, 2] == pytest.approx(float(numeric), rel=2e-2, abs=1e-3)
