"""The training modes, and a GAN step through the augmentation."""

from conftest import built_gan
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import models
from tfgda.errors import UserError
from tfgda.training import regularizers

SEED = tf.constant([1, 2], tf.int64)


def test_modes_choose_the_inputs():
    x = tf.random.uniform([4, 8, 8, 3], -1, 1)
    for mode, real_changed, fake_changed in [
        ("none", False, False),
        ("real_only", True, False),
        ("real_and_fake", True, True),
    ]:
        policy = augment.augment(
            mode, None if mode == "none" else "translation", 0.5
        )
        assert (not np.array_equal(policy.real(x, SEED), x)) == real_changed
        assert (not np.array_equal(policy.fake(x, SEED), x)) == fake_changed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="real_fake", name="translation"), "is not one of"),
        (dict(mode="real_and_fake"), "no augment.name"),
        (dict(mode="none", schedule="adaptive"), "no augmentation to schedule"),
    ],
)
def test_bad_policies(kwargs, message):
    with pytest.raises(UserError, match=message):
        augment.augment(**kwargs)


def test_a_named_augmentation_under_mode_none_is_only_bcrs_t():
    policy = augment.augment("none", "translation", 0.5)
    x = tf.random.uniform([4, 8, 8, 3], -1, 1)
    assert not policy.active
    np.testing.assert_array_equal(policy.real(x, SEED), x)
    np.testing.assert_array_equal(policy.fake(x, SEED), x)
    augment.check_used(policy, [regularizers.bcr(lambda_real=10.0)])  # bCR's T
    with pytest.raises(UserError, match="no bCR uses it as T"):
        augment.check_used(policy, [])
    with pytest.raises(UserError, match="no bCR uses it as T"):
        augment.check_used(
            policy,
            [regularizers.bcr(lambda_real=10.0, augment="zoom_out(0.1)")],
        )
    with pytest.raises(UserError, match="bCR needs an augmentation T"):
        augment.check_used(
            augment.augment(), [regularizers.bcr(lambda_real=10.0)]
        )


def _g_grads(mode, spec):
    tf.keras.utils.set_random_seed(0)
    g, d = models.sndcgan((16, 16, 3), 0, dim_z=8, ch=4)
    policy = augment.augment(mode, spec)
    gan = built_gan(
        g,
        d,
        4,
        augment=policy,
    )
    z, labels = gan.latents(gan.phase_seed(0))
    grads, _ = gan._g_grads(z, labels, gan.replica_seed(SEED))
    return [x.numpy() for x in grads]


def test_generator_gradient_passes_through_the_augmentation():
    plain = _g_grads("none", None)
    # real_only leaves the G step alone; real_and_fake changes its gradient.
    for a, b in zip(plain, _g_grads("real_only", "translation(0.3)")):
        np.testing.assert_allclose(a, b, atol=1e-7)
    augmented = _g_grads("real_and_fake", "translation(0.3)")
    assert any(not np.allclose(a, b) for a, b in zip(plain, augmented))
    assert all(np.isfinite(g).all() for g in augmented)
    assert all(np.abs(g).max() > 0 for g in augmented[-2:])  # to_rgb
