"""The step's maths: bCR, the contrastive loss, EMA, and their state."""

import functools

from conftest import built_gan
from conftest import run_python
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import models
from tfgda import rundir
from tfgda.models import standing
from tfgda.training import regularizers

SEED = tf.constant([3, 1], tf.int64)


def _gan(*regularizers, ema=False, seed=0, model=models.sndcgan, **kwargs):
    """A tiny GAN: SNDCGAN, which runs eagerly in a fraction of BigGAN's
    time, for the losses' plumbing; BigGAN (class-conditional batch norm,
    attention) where a test is about every kind of variable and state."""
    tf.keras.utils.set_random_seed(seed)
    g, d = model((32, 32, 3), 10, dim_z=8, ch=4)
    ema_g = model((32, 32, 3), 10, dim_z=8, ch=4)[0] if ema else None
    gan = built_gan(
        g,
        d,
        4,
        num_classes=10,
        regularizers=regularizers,
        ema_generator=ema_g,
        **kwargs,
    )
    return gan


def _d_metrics(gan):
    real = tf.random.stateless_uniform([4, 32, 32, 3], [0, 1], -1, 1)
    labels = tf.constant([0, 1, 2, 3])
    z, fake_labels = gan.latents(gan.phase_seed(0))
    _, metrics = gan._d_grads(
        real, labels, z, fake_labels, gan.replica_seed(SEED)
    )
    return metrics


def test_bcr_is_exactly_zero_when_the_augmentation_is_the_identity():
    gan = _gan(regularizers.BCR(10.0, 10.0, augment.get("translation", 0.0)))
    assert float(_d_metrics(gan)["bcr_loss"]) == 0.0
    gan = _gan(regularizers.BCR(10.0, 10.0, augment.get("translation", 0.3)))
    assert float(_d_metrics(gan)["bcr_loss"]) > 0.0


@functools.cache
def _plain_d_metrics():
    return {k: float(v) for k, v in _d_metrics(_gan()).items()}


@pytest.mark.parametrize("name", augment.names())
def test_every_augmentation_changes_what_d_sees(name):
    # D's outputs on the batch move when its inputs are augmented: reals
    # under 'real_only', reals and fakes under 'real_and_fake'.
    op = augment.describe(name)
    strength = op.default_strength or min(0.3, op.max_strength)
    plain = _plain_d_metrics()
    for mode in ("real_only", "real_and_fake"):
        policy = augment.augment(mode, name, strength)
        metrics = _d_metrics(_gan(augment=policy))
        assert float(metrics["d_real"]) != plain["d_real"], mode
        fake_moved = float(metrics["d_fake"]) != plain["d_fake"]
        assert fake_moved == (mode == "real_and_fake"), mode


def _bcr_loss(inputs, mode, t_strength=0.3):
    bcr = regularizers.BCR(
        10.0, 10.0, augment.get("translation", t_strength), inputs
    )
    policy = augment.augment(mode, None if mode == "none" else "zoom_out(0.5)")
    return float(_d_metrics(_gan(bcr, augment=policy))["bcr_loss"])


def test_clean_bcr_compares_d_on_the_unaugmented_batch():
    """The paper's Algorithm 1: ||D(x) - D(T(x))||^2 on clean x, whatever
    augmentation D's GAN loss sees."""
    # Zero for an identity T even when D's loss sees zoomed-out images.
    assert _bcr_loss("clean", "real_and_fake", t_strength=0.0) == 0.0
    # The same term with or without training augmentation.
    clean_none = _bcr_loss("clean", "none")
    assert clean_none > 0.0
    assert _bcr_loss("clean", "real_and_fake") == pytest.approx(
        clean_none, rel=1e-5
    )
    # The stacked form compares D(t(x)) with D(T(t(x))): another term.
    stacked = _bcr_loss("augmented", "real_and_fake")
    assert stacked != pytest.approx(clean_none, rel=1e-3)
    # Without training augmentation both forms are the same.
    assert _bcr_loss("augmented", "none") == pytest.approx(clean_none, rel=1e-5)


def test_d_step_mixes_reals_with_fakes_and_their_targets():
    spec = "cutmix(0.5)"
    mixed = _d_metrics(
        _gan(augment=augment.augment("real_and_fake", spec, mix_real_fake=True))
    )
    apart = _d_metrics(_gan(augment=augment.augment("real_and_fake", spec)))
    assert np.isfinite(float(mixed["d_loss"]))
    assert float(mixed["d_loss"]) != pytest.approx(float(apart["d_loss"]))


def test_bcr_weights_its_terms():
    t = augment.get("translation", 0.3)
    real_only = float(
        _d_metrics(_gan(regularizers.BCR(1.0, 0.0, t)))["bcr_loss"]
    )
    fake_only = float(
        _d_metrics(_gan(regularizers.BCR(0.0, 1.0, t)))["bcr_loss"]
    )
    both = float(_d_metrics(_gan(regularizers.BCR(2.0, 3.0, t)))["bcr_loss"])
    assert both == pytest.approx(2 * real_only + 3 * fake_only, rel=1e-4)


def test_contrastive_loss_trains_the_head_with_d():
    c = regularizers.contrastive(weight=0.1)
    gan = _gan(c)
    metrics = _d_metrics(gan)
    # The metric is 0.1 (mean real term + mean fake term); for an untrained
    # D each NT-Xent term sums two directions (SimCLR's loss_a + loss_b),
    # each positive and of the order of log(2N - 1).
    per_term = float(metrics["contrastive_loss"]) / 0.1 / 2
    assert np.log(7) < per_term < 4 * np.log(7), per_term
    head = c.head.trainable_variables
    assert all(any(v is w for w in gan.d_variables) for v in head)


def test_cntr_follows_algorithm_2():
    """The paper's Algorithm 2: D's hinge loss on clean images (the same
    as without Cntr), and four independent transforms t1..t4: two views of
    each real and two of each fake, every view drawn on its own."""
    c = regularizers.contrastive(weight=0.1, strength=0.5)
    views = c.views
    seen = []

    def recording(images, seed):
        seen.append((images, seed))
        return views(images, seed)

    c.views = recording
    with_cntr = _d_metrics(_gan(c))
    without = _d_metrics(_gan())
    assert float(with_cntr["d_loss"]) == pytest.approx(
        float(without["d_loss"]), rel=1e-6
    )
    (batch_1, seed_1), (batch_2, seed_2) = seen  # t1, t3 | t2, t4
    np.testing.assert_array_equal(batch_1, batch_2)  # clean reals + fakes
    assert batch_1.shape[0] == 8  # 4 reals then 4 fakes
    assert not np.array_equal(seed_1, seed_2)
    # A real and a fake view of one call are drawn independently: given
    # the same image twice in one call, the two views differ.
    twin = tf.concat([batch_1[:4], batch_1[:4]], 0)
    a, b = tf.split(views(twin, seed_1), 2)
    assert not np.allclose(a, b)
    first, second = views(batch_1, seed_1), views(batch_1, seed_2)
    assert not np.allclose(first, second)  # t1 != t2, t3 != t4
    assert c.views is recording and views.ops[0][1] == 0.5  # crop strength


_GLOBAL_NEGATIVES = """
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfgda.training import gan as gan_lib
from tfgda.training import regularizers

rng = np.random.default_rng(0)
x1 = rng.normal(size=(8, 5)).astype(np.float32)
x2 = x1 + 0.3 * rng.normal(size=(8, 5)).astype(np.float32)
w0 = rng.normal(size=(5, 3)).astype(np.float32)
contrastive = regularizers.contrastive(weight=1.0, negatives="global")


def loss_and_grad(w):
    ctx = tf.distribute.get_replica_context()
    local = 8 // ctx.num_replicas_in_sync
    start = ctx.replica_id_in_sync_group * local
    with tf.GradientTape() as tape:
        a = tf.matmul(tf.slice(x1, [start, 0], [local, -1]), w)
        b = tf.matmul(tf.slice(x2, [start, 0], [local, -1]), w)
        loss = tf.reduce_sum(contrastive.nt_xent(a, b)) / 8
    return loss, tape.gradient(loss, w)


one_loss, one_grad = loss_and_grad(tf.Variable(w0))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    w2 = tf.Variable(w0)


@tf.function
def run():
    loss, grad = strategy.run(loss_and_grad, (w2,))
    total = tf.distribute.ReduceOp.SUM
    return (strategy.reduce(total, loss, None),
            strategy.reduce(total, grad, None))


two_loss, two_grad = run()
np.testing.assert_allclose(two_loss, one_loss, rtol=1e-5)
np.testing.assert_allclose(two_grad, one_grad, rtol=1e-4, atol=1e-6)
print("loss", float(one_loss), float(two_loss))
"""


def test_global_negatives_match_one_device_in_loss_and_gradient():
    """contrastive.negatives = 'global' on two replicas: the loss and the
    gradient of the whole batch on one device. (In a process of its own:
    the all-gather's collective keys would clash with the next strategy's
    in this one.)"""
    stdout = run_python(_GLOBAL_NEGATIVES)
    assert stdout.startswith("loss ")


def test_the_ema_sampler_gets_its_own_batch_norm_statistics():
    gan = _gan(ema=True, ema_decay=0.9, model=models.biggan)
    for v in gan.generator.trainable_variables:
        v.assign(v + 0.1)
    gan.update_ema()  # the EMA G now carries the raw G's statistics
    raw = [v.numpy() for v in gan.generator.non_trainable_variables]
    gan.prepare_sampler(32, batch_size=16)
    assert standing.samples_used(gan.sampler) == 32
    moved = [
        not np.allclose(e.numpy(), r)
        for e, r in zip(gan.ema_generator.non_trainable_variables, raw)
    ]
    assert any(moved)
    for v, r in zip(gan.generator.non_trainable_variables, raw):
        np.testing.assert_array_equal(v.numpy(), r)  # G keeps its own


def test_ema_update_follows_its_formula():
    gan = _gan(ema=True, ema_decay=0.9, model=models.biggan)
    g_vars = gan.generator.trainable_variables
    e_vars = gan.ema_generator.trainable_variables
    for v in g_vars:
        v.assign(v + 1.0)
    before = [e.numpy() for e in e_vars]
    gan.update_ema()
    for e, b, v in zip(e_vars, before, g_vars):
        np.testing.assert_allclose(
            e.numpy(), 0.9 * b + 0.1 * v.numpy(), rtol=1e-5, atol=1e-6
        )
    # Non-trainable state (BN statistics, spectral-norm vectors) is copied.
    for e, v in zip(
        gan.ema_generator.non_trainable_variables,
        gan.generator.non_trainable_variables,
    ):
        np.testing.assert_array_equal(e.numpy(), v.numpy())


def test_ema_copies_before_ema_start():
    gan = _gan(ema=True, ema_decay=0.9, ema_start=5, model=models.biggan)
    for v in gan.generator.trainable_variables:
        v.assign(v + 1.0)
    gan.update_ema()
    for e, v in zip(
        gan.ema_generator.trainable_variables, gan.generator.trainable_variables
    ):
        np.testing.assert_array_equal(e.numpy(), v.numpy())


def test_sampler_is_the_ema_generator():
    gan = _gan(ema=True)
    assert gan.sampler is gan.ema_generator
    plain = _gan()
    assert plain.sampler is plain.generator


def _all_variables(gan):
    return {
        name: {key: v.numpy() for key, v in item.by_key.items()}
        for name, item in rundir.checkpoint_items(gan.trackables()).items()
        if name != "step"
    }


def test_checkpoint_round_trip_restores_every_variable(tmp_path):
    # Train a few steps so optimizer slots, BN statistics, spectral-norm
    # vectors, the EMA and the head all hold non-initial values.
    gan = _gan(
        regularizers.contrastive(weight=0.1),
        ema=True,
        ema_decay=0.5,
        model=models.biggan,
    )
    data = tf.data.Dataset.from_tensors(
        {
            "images": tf.random.uniform([4, 32, 32, 3], -1, 1, seed=1),
            "labels": tf.constant([0, 1, 2, 3]),
        }
    ).repeat()
    iterator = iter(data)
    strategy = tf.distribute.get_strategy()
    for _ in range(2):
        gan.train_step(strategy, iterator)
    path = tf.train.Checkpoint(
        **rundir.checkpoint_items(gan.trackables())
    ).save(str(tmp_path / "ckpt"))
    fresh = _gan(
        regularizers.contrastive(weight=0.1),
        ema=True,
        ema_decay=0.5,
        seed=1,
        model=models.biggan,
    )
    tf.train.Checkpoint(**rundir.checkpoint_items(fresh.trackables())).restore(
        path
    ).assert_consumed()
    assert int(fresh.step.numpy()) == 2
    saved, restored = _all_variables(gan), _all_variables(fresh)
    assert set(saved) == {
        "generator",
        "discriminator",
        "g_optimizer",
        "d_optimizer",
        "projection_head",
        "generator_ema",
    }
    for name in saved:
        assert set(saved[name]) == set(restored[name]), name
        for key, value in saved[name].items():
            np.testing.assert_array_equal(
                value, restored[name][key], err_msg=f"{name}/{key}"
            )
    # Non-trainable state is among them.
    assert len(gan.generator.non_trainable_variables) > 0
    assert len(saved["generator"]) == len(gan.generator.variables)
