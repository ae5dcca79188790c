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
        return tf.reduce_sum(
            layers.spectral_normalize(w, u)[0] ** 2
            * tf.range(12, dtype=tf.float32)[:, None][:4]
        )

    with tf.GradientTape() as tape:
        y = f(kernel)
    grad = tape.gradient(y, kernel).numpy()
    eps, w = 1e-3, kernel.numpy()
    delta = np.zeros_like(w)
    delta[1, 2] = eps
    numeric = (f(tf.constant(w + delta)) - f(tf.constant(w - delta))) / (
        2 * eps
    )
    assert grad[1, 2] == pytest.approx(float(numeric), rel=2e-2, abs=1e-3)


@pytest.mark.parametrize(
    "factory, kwargs, g_count, d_count",
    [
        (models.biggan, dict(ch=64), 4_373_251, 1_059_074),
        (models.biggan, dict(ch=64, d_attention=False), 4_373_251, 1_038_593),
        (models.biggan, dict(ch=96), 9_360_899, 2_378_114),
        (models.biggan, dict(ch=96, d_attention=False), 9_360_899, 2_332_033),
        (models.biggan_pytorch, dict(ch=64), 4_668_163, 4_207_361),
    ],
)
def test_biggan_parameter_counts_match_the_paper(
    factory, kwargs, g_count, d_count
):
    g, d = factory((32, 32, 3), 10, **kwargs)
    models.build(g, d)
    assert models.count_params(g) == g_count
    assert models.count_params(d) == d_count


@pytest.mark.parametrize("factory", [models.biggan, models.biggan_pytorch])
def test_biggan_is_conditional(factory):
    g, d = factory((32, 32, 3), 10, dim_z=8, ch=4)
    z = tf.random.normal([4, 8])
    a = g(z, tf.constant([0, 0, 0, 0]))
    b = g(z, tf.constant([5, 5, 5, 5]))
    assert a.shape == (4, 32, 32, 3)
    assert not np.allclose(a, b)  # the class changes the image
    assert d(a, tf.constant([0, 1, 2, 3])).shape == (4,)
    assert d.features(a).shape[0] == 4


def _input_gradient(d, images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(d(images, tf.zeros([images.shape[0]], tf.int32)))
    return tape.gradient(total, images).numpy()


def _constant_over_2x2(grad):
    cells = grad.reshape(grad.shape[0], 16, 2, 16, 2, 3)
    return np.allclose(cells, cells[:, :, :1, :, :1], atol=1e-9)


@pytest.mark.parametrize("factory", [models.biggan, models.biggan_pytorch])
def test_biggan_d_sees_pixels_below_mid_grey(factory):
    """D's main path sees the whole [-1, 1] range: with a ReLU on the
    images, only the 1x1 shortcut would see a dark image, and D's input
    gradient would be constant over each 2x2 pooling window."""
    tf.keras.utils.set_random_seed(0)
    _, d = factory((32, 32, 3), 10, dim_z=8, ch=4)
    dark = -tf.random.stateless_uniform([2, 32, 32, 3], [0, 1], 0.1, 1.0)
    grad = _input_gradient(d, dark)
    assert np.abs(grad).max() > 0
    assert not _constant_over_2x2(grad)
    # The check can fail: with the ReLU back, the gradient is constant.
    d.blocks[0].preactivation = True
    assert _constant_over_2x2(_input_gradient(d, dark))


def test_biggan_needs_labels_and_32x32():
    with pytest.raises(ValueError, match="needs a dataset with labels"):
        models.biggan((32, 32, 3), 0)
    with pytest.raises(ValueError, match="dataset.resize = 32"):
        models.biggan((64, 64, 3), 10)


def test_zero_insertion_upsampling():
    x = tf.reshape(tf.range(1, 5, dtype=tf.float32), [1, 2, 2, 1])
    up = layers.upsample(x, "zeros")[0, :, :, 0].numpy()
    np.testing.assert_array_equal(
        up, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    )
    near = layers.upsample(x, "nearest")[0, :, :, 0].numpy()
    np.testing.assert_array_equal(near[:2, :2], [[1, 1], [1, 1]])


def test_conditional_batch_norm_scale_and_offset():
    cbn = layers.ConditionalBatchNorm(spectral_norm=False)
    x = tf.random.normal([8, 4, 4, 3], seed=1) * 3 + 2
    c = tf.random.normal([8, 5], seed=2)
    out = cbn(x, c, training=True).numpy()
    mean = x.numpy().mean(axis=(0, 1, 2))
    std = np.sqrt(x.numpy().var(axis=(0, 1, 2)) + 1e-5)
    gamma = c.numpy() @ cbn.gamma.kernel.numpy()
    beta = c.numpy() @ cbn.beta.kernel.numpy()
    expected = ((x.numpy() - mean) / std) * gamma[:, None, None] + beta[
        :, None, None
    ]
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_non_local_block_starts_as_identity():
    block = layers.NonLocalBlock()
    x = tf.random.normal([2, 8, 8, 16])
    np.testing.assert_allclose(block(x), x)  # sigma = 0 at init
    block.sigma.assign(1.0)
    assert not np.allclose(block(x), x)


@pytest.mark.parametrize(
    "factory, default",
    [
        (models.sndcgan, "uniform"),
        (models.biggan, "normal"),
        (models.biggan_pytorch, "normal"),
    ],
)
def test_latents_follow_each_models_distribution(factory, default):
    """compare_gan: z ~ U(-1, 1) for SNDCGAN, N(0, 1) in its BigGAN
    configs; bindable per model."""
    g, _ = factory((32, 32, 3), 10, dim_z=8)
    assert g.z_distribution == default
    z = models.sample_z(g, 4000, [1, 2]).numpy()
    assert z.shape == (4000, 8)
    if default == "uniform":
        assert z.min() >= -1.0 and z.max() <= 1.0
        assert z.std() == pytest.approx(1 / np.sqrt(3), abs=0.01)
    else:
        assert np.abs(z).max() > 2.5
        assert z.std() == pytest.approx(1.0, abs=0.02)
    other = "normal" if default == "uniform" else "uniform"
    assert (
        factory((32, 32, 3), 10, dim_z=8, z_distribution=other)[
            0
        ].z_distribution
        == other
    )
    with pytest.raises(ValueError, match="z_distribution 'gauss' is not"):
        factory((32, 32, 3), 10, z_distribution="gauss")


def _initial_weights(factory, num_classes, **kwargs):
    import keras

    keras.backend.clear_session()  # the same layer names both times
    keras.utils.set_random_seed(0)
    g, d = factory((32, 32, 3), num_classes, **kwargs)
    models.build(g, d)
    return {
        f"{m.name}/{v.path}": v.numpy() for m in (g, d) for v in m.variables
    }


@pytest.mark.parametrize(
    "factory, num_classes, kwargs",
    [
        (models.sndcgan, 0, {"ch": 4}),
        (models.biggan, 10, {"ch": 4, "dim_z": 8}),
        (models.biggan_pytorch, 10, {"ch": 4, "dim_z": 8}),
    ],
)
def test_models_build_by_their_first_call_with_keras_initial_weights(
    monkeypatch, factory, num_classes, kwargs
):
    """G and D build their sublayers during their first call, without
    Keras' symbolic trace of every nesting level, and get the weights
    Keras' own way gives them, bit for bit, for a seed."""
    import keras
    from keras.src import backend

    traces = []
    trace = backend.compute_output_spec
    monkeypatch.setattr(
        backend,
        "compute_output_spec",
        lambda *a, **k: traces.append(a[0]) or trace(*a, **k),
    )
    ours = _initial_weights(factory, num_classes, **kwargs)
    assert not traces
    # Keras' default: build by tracing `call` on symbolic inputs.
    monkeypatch.setattr(layers.BuiltByCall, "build", keras.layers.Layer.build)
    keras_way = _initial_weights(factory, num_classes, **kwargs)
    assert traces
    assert list(ours) == list(keras_way)
    for name, value in ours.items():
        np.testing.assert_array_equal(value, keras_way[name], err_msg=name)
