"""The step's maths: bCR, the contrastive loss, EMA, and their state."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import gan as gan_lib
from tfgda import losses
from tfgda import models
from tfgda import optim

SEED = tf.constant([3, 1], tf.int64)


def _gan(bcr=None, contrastive=None, ema=False, seed=0, **kwargs):
    tf.keras.utils.set_random_seed(seed)
    g, d = models.biggan((32, 32, 3), 10, dim_z=8, ch=4)
    ema_g = models.biggan((32, 32, 3), 10, dim_z=8, ch=4)[0] if ema \
        else None
    gan = gan_lib.GAN(g, d, optim.adam(), optim.adam(), losses.hinge, 4,
                      num_classes=10, bcr=bcr, contrastive=contrastive,
                      ema_generator=ema_g, **kwargs)
    gan.build()
    return gan


def _d_metrics(gan):
    real = tf.random.stateless_uniform([4, 32, 32, 3], [0, 1], -1, 1)
    labels = tf.constant([0, 1, 2, 3])
    z, fake_labels = gan.latents(gan.phase_seed(0))
    _, metrics = gan._d_grads(real, labels, z, fake_labels,
                              gan.replica_seeds(SEED))
    return metrics


def test_bcr_is_exactly_zero_when_the_augmentation_is_the_identity():
    gan = _gan(bcr=losses.BCR(10.0, 10.0, augment.get("translation", 0.0)))
    assert float(_d_metrics(gan)["bcr_loss"]) == 0.0
    gan = _gan(bcr=losses.BCR(10.0, 10.0, augment.get("translation", 0.3)))
    assert float(_d_metrics(gan)["bcr_loss"]) > 0.0


def test_bcr_weights_its_terms():
    t = augment.get("translation", 0.3)
    real_only = float(_d_metrics(_gan(bcr=losses.BCR(1.0, 0.0, t)))[
        "bcr_loss"])
    fake_only = float(_d_metrics(_gan(bcr=losses.BCR(0.0, 1.0, t)))[
        "bcr_loss"])
    both = float(_d_metrics(_gan(bcr=losses.BCR(2.0, 3.0, t)))["bcr_loss"])
    assert both == pytest.approx(2 * real_only + 3 * fake_only, rel=1e-4)


def test_contrastive_loss_trains_the_head_with_d():
    c = losses.contrastive(weight=0.1)
    gan = _gan(contrastive=c)
    metrics = _d_metrics(gan)
    # The metric is 0.1 (mean real term + mean fake term); for an untrained
    # D each NT-Xent term is positive and of the order of log(2N - 1).
    per_term = float(metrics["contrastive_loss"]) / 0.1 / 2
    assert 0.0 < per_term < 2 * np.log(7), per_term
    head = gan.projection_head.trainable_variables
    assert all(any(v is w for w in gan.d_variables) for v in head)


def test_ema_update_follows_its_formula():
    gan = _gan(ema=True, ema_decay=0.9)
    g_vars = gan.generator.trainable_variables
    e_vars = gan.ema_generator.trainable_variables
    for v in g_vars:
        v.assign(v + 1.0)
    before = [e.numpy() for e in e_vars]
    gan.update_ema()
    for e, b, v in zip(e_vars, before, g_vars):
        np.testing.assert_allclose(e.numpy(), 0.9 * b + 0.1 * v.numpy(),
                                   rtol=1e-5, atol=1e-6)
    # Non-trainable state (BN statistics, spectral-norm vectors) is copied.
    for e, v in zip(gan.ema_generator.non_trainable_variables,
                    gan.generator.non_trainable_variables):
        np.testing.assert_array_equal(e.numpy(), v.numpy())


def test_ema_copies_before_ema_start():
    gan = _gan(ema=True, ema_decay=0.9, ema_start=5)
    for v in gan.generator.trainable_variables:
        v.assign(v + 1.0)
    gan.update_ema()
    for e, v in zip(gan.ema_generator.trainable_variables,
                    gan.generator.trainable_variables):
        np.testing.assert_array_equal(e.numpy(), v.numpy())


def test_sampler_is_the_ema_generator():
    gan = _gan(ema=True)
    assert gan.sampler is gan.ema_generator
    plain = _gan()
    assert plain.sampler is plain.generator


def _all_variables(gan):
    return {name: [v.numpy() for v in item.values]
            for name, item in gan.checkpoint_items().items() if name != "step"}


def test_checkpoint_round_trip_restores_every_variable(tmp_path):
    # Train a few steps so optimizer slots, BN statistics, spectral-norm
    # vectors, the EMA and the head all hold non-initial values.
    c = losses.contrastive(weight=0.1)
    gan = _gan(contrastive=c, ema=True, ema_decay=0.5)
    data = tf.data.Dataset.from_tensors({
        "images": tf.random.uniform([4, 32, 32, 3], -1, 1, seed=1),
        "labels": tf.constant([0, 1, 2, 3])}).repeat()
    iterator = iter(data)
    strategy = tf.distribute.get_strategy()
    for _ in range(2):
        gan.train_step(strategy, iterator)
    path = tf.train.Checkpoint(**gan.checkpoint_items()).save(
        str(tmp_path / "ckpt"))
    fresh = _gan(contrastive=c, ema=True, ema_decay=0.5, seed=1)
    tf.train.Checkpoint(**fresh.checkpoint_items()).restore(
        path).assert_consumed()
    assert int(fresh.step.numpy()) == 2
    saved, restored = _all_variables(gan), _all_variables(fresh)
    assert set(saved) == {"generator", "discriminator", "g_optimizer",
                          "d_optimizer", "projection_head", "generator_ema"}
    for name in saved:
        assert len(saved[name]) == len(restored[name]), name
        for a, b in zip(saved[name], restored[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    # Non-trainable state is among them.
    assert len(gan.generator.non_trainable_variables) > 0
    assert len(saved["generator"]) == len(gan.generator.variables)
