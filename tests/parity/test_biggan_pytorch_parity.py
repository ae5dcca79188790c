"""tfgda's `biggan_pytorch` against the BigGAN-PyTorch CIFAR model of
DiffAugment-biggan-cifar: the same weights (spectral-norm vectors and
batch-norm statistics included) give the same G images and D logits, in
inference and in training mode."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import models

CH, DIM_Z, CLASSES, BATCH = 4, 128, 10, 6


def _copy_conv(ours, ref, name):
    ours.kernel.assign(np.transpose(ref[f"{name}.weight"], (2, 3, 1, 0)))
    if f"{name}.bias" in ref:
        ours.bias.assign(ref[f"{name}.bias"])
    ours.sn_u.assign(ref[f"{name}.u0"])


def _copy_linear(ours, ref, name, permutation=None):
    """A [out, in] linear layer into a [in, out] kernel; `permutation`
    reorders the outputs (NCHW to NHWC after a reshape)."""
    kernel, u = ref[f"{name}.weight"].T, ref[f"{name}.u0"]
    bias = ref.get(f"{name}.bias")
    if permutation is not None:
        kernel, u = kernel[:, permutation], u[:, permutation]
        bias = bias[permutation]
    ours.kernel.assign(kernel)
    ours.sn_u.assign(u)
    if bias is not None:
        ours.bias.assign(bias)


def _copy_bn(ours, ref, name, affine=False):
    ours.moving_mean.assign(ref[f"{name}.stored_mean"])
    ours.moving_variance.assign(ref[f"{name}.stored_var"])
    if affine:
        ours.gamma.assign(ref[f"{name}.gain"])
        ours.beta.assign(ref[f"{name}.bias"])


def _nchw_to_nhwc_order(channels, side):
    """For each NHWC flat index of a [side, side, channels] tensor, the
    NCHW flat index of the same element."""
    c, h, w = np.meshgrid(
        np.arange(channels), np.arange(side), np.arange(side), indexing="ij"
    )
    nchw = c * side * side + h * side + w  # indexed [c, h, w]
    return np.transpose(nchw, (1, 2, 0)).reshape(-1)


def _pair(ref):
    g, d = models.biggan_pytorch((32, 32, 3), CLASSES, dim_z=DIM_Z, ch=CH)
    models.build(g, d)
    if ref is not None:
        _copy_generator(g, ref)
        _copy_discriminator(d, ref)
    return g, d


def _copy_generator(g, ref):
    g.embed.kernel.assign(ref["G.shared.weight"])
    _copy_linear(g.fc, ref, "G.linear", _nchw_to_nhwc_order(g.channels, 4))
    for i, block in enumerate(g.blocks):
        name = f"G.blocks.{i}.0"
        for bn in ("bn1", "bn2"):
            ours = getattr(block, bn)
            _copy_linear(ours.gamma, ref, f"{name}.{bn}.gain")
            _copy_linear(ours.beta, ref, f"{name}.{bn}.bias")
            _copy_bn(ours.bn, ref, f"{name}.{bn}")
        _copy_conv(block.conv1, ref, f"{name}.conv1")
        _copy_conv(block.conv2, ref, f"{name}.conv2")
        _copy_conv(block.shortcut, ref, f"{name}.conv_sc")
    _copy_bn(g.bn, ref, "G.output_layer.0", affine=True)
    _copy_conv(g.to_rgb, ref, "G.output_layer.2")


def _copy_discriminator(d, ref):
    for i, block in enumerate(d.blocks):
        name = f"D.blocks.{i}.0"
        _copy_conv(block.conv1, ref, f"{name}.conv1")
        _copy_conv(block.conv2, ref, f"{name}.conv2")
        has_sc = f"{name}.conv_sc.weight" in ref
        assert has_sc == (block.shortcut_kind == "conv"), name
        if has_sc:
            _copy_conv(block.shortcut, ref, f"{name}.conv_sc")
    _copy_linear(d.out, ref, "D.linear")
    d.embed.kernel.assign(ref["D.embed.weight"])
    d.embed.sn_u.assign(ref["D.embed.u0"])


def _inputs():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(BATCH, DIM_Z)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int32)  # as runner
    images = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)
    return z, labels, images


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_same_weights_same_images_and_logits(biggan_reference, mode):
    ref = biggan_reference
    g, d = _pair(ref)
    z, labels, images = _inputs()
    training = mode == "train"
    images_out = g(tf.constant(z), tf.constant(labels), training=training)
    logits = d(tf.constant(images), tf.constant(labels), training=training)
    np.testing.assert_allclose(images_out, ref[f"{mode}.images"], atol=1e-4)
    want = ref[f"{mode}.logits"]
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(logits, want, atol=1e-4 * scale)
    if training:  # one power iteration each, to the same u
        np.testing.assert_allclose(
            g.to_rgb.sn_u.numpy(), ref["after.G.output_layer.2.u0"], atol=1e-5
        )
        np.testing.assert_allclose(
            d.embed.sn_u.numpy(), ref["after.D.embed.u0"], atol=1e-5
        )


def test_the_copy_is_not_vacuous(biggan_reference):
    """Without the copied weights the outputs differ: the comparison above
    can fail."""
    g, _ = _pair(None)
    z, labels, _ = _inputs()
    got = g(tf.constant(z), tf.constant(labels)).numpy()
    assert np.abs(got - biggan_reference["eval.images"]).max() > 1e-2
