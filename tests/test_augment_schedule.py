"""Strength schedules: annealing, and the adaptive (ADA-style) controller,
alone and inside GAN steps with a discriminator that overfits or not."""

from conftest import built_gan
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import models
from tfgda import rundir
from tfgda.augment import schedule as schedule_lib
from tfgda.errors import UserError


def _scales(schedule, steps):
    step = tf.Variable(0, dtype=tf.int64)
    schedule.build(step, 64)
    out = []
    for s in steps:
        step.assign(s)
        out.append(float(schedule.scale()))
    return out


def test_linear_and_cosine_decay():
    linear = schedule_lib.Decay("linear_decay", 0.0, 100)
    np.testing.assert_allclose(
        _scales(linear, [0, 25, 50, 100, 200]), [1, 0.75, 0.5, 0, 0], atol=1e-6
    )
    cosine = schedule_lib.Decay("cosine_decay", 0.2, 100)
    np.testing.assert_allclose(
        _scales(cosine, [0, 50, 100]), [1, 0.6, 0.2], atol=1e-6
    )


def test_decay_ends_at_the_runs_steps_unless_told():
    policy = augment.augment(
        "real_and_fake", "translation", 0.4, "linear_decay", total_steps=10
    )
    assert policy.schedule.steps == 10


def _adaptive(signs, steps, **kwargs):
    """Runs the controller as the GAN does: observe each step's reals, then
    update; returns p after each step."""
    control = schedule_lib.Adaptive(**kwargs)
    step = tf.Variable(0, dtype=tf.int64)
    control.build(step, 100)
    ps = []
    for _ in range(steps):
        control.observe(tf.constant(signs * 100.0), tf.constant(100.0))
        step.assign_add(1)
        control.update()
        ps.append(float(control.p))
    return ps


def test_adaptive_rises_when_d_overfits_falls_otherwise_stays_in_range():
    # interval 2, 100 images per step, 1000 images from 0 to 1: +0.2 per
    # adjustment, made every second step.
    rising = _adaptive(1.0, 12, interval=2, speed_images=1000)
    np.testing.assert_allclose(
        rising[:6], [0, 0.2, 0.2, 0.4, 0.4, 0.6], atol=1e-6
    )
    assert rising[-1] == 1.0 and max(rising) == 1.0
    falling = _adaptive(-1.0, 12, interval=2, speed_images=1000, initial=0.5)
    np.testing.assert_allclose(
        falling[:6], [0.5, 0.3, 0.3, 0.1, 0.1, 0], atol=1e-6
    )
    assert min(falling) == 0.0
    # r_t exactly at the target moves nothing (sign 0).
    assert (
        _adaptive(0.6, 4, interval=2, speed_images=1000, initial=0.5)
        == [0.5] * 4
    )


def _gan(schedule_name="adaptive", d_bias=None, **policy):
    tf.keras.utils.set_random_seed(0)
    g, d = models.sndcgan((16, 16, 3), 0, dim_z=8, ch=4)
    policy = augment.augment(
        "real_and_fake", "translation", 0.5, schedule_name, **policy
    )
    gan = built_gan(
        g,
        d,
        8,
        augment=policy,
    )
    if d_bias is not None:  # a stubbed D: the same sign on every input
        # (spectral norm bounds the kernel's part; the bias outweighs it)
        d.out.bias.assign(tf.fill(d.out.bias.shape, d_bias))
    return gan


def _train(gan, steps):
    strategy = tf.distribute.get_strategy()
    reals = tf.data.Dataset.from_tensors(
        {
            "images": tf.random.uniform([8, 16, 16, 3], -1, 1),
            "labels": tf.zeros([8], tf.int32),
        }
    ).repeat()
    iterator = iter(reals)
    step = tf.function(lambda: gan.train_step(strategy, iterator))
    return [{k: float(v) for k, v in step().items()} for _ in range(steps)]


@pytest.fixture
def fast_adaptive():
    import gin

    gin.bind_parameter("adaptive.interval", 1)
    gin.bind_parameter("adaptive.speed_images", 40)  # +0.2 per step


@pytest.mark.usefixtures("fast_adaptive")
def test_in_gan_steps_p_follows_the_discriminators_real_outputs():
    overfit = _train(_gan(d_bias=100.0), 3)  # D(real) > 0 everywhere
    assert [m["aug_rt"] for m in overfit] == [1.0] * 3
    np.testing.assert_allclose(
        [m["aug_p"] for m in overfit], [0.2, 0.4, 0.6], atol=1e-6
    )
    healthy = _train(_gan(d_bias=-100.0), 3)  # D(real) < 0 everywhere
    assert [m["aug_p"] for m in healthy] == [0.0] * 3
    assert "real_sign_sum" not in overfit[0]


@pytest.mark.usefixtures("fast_adaptive")
def test_p_and_its_counters_resume_from_a_checkpoint(tmp_path):
    gan = _gan(d_bias=100.0)
    _train(gan, 2)
    checkpoint = tf.train.Checkpoint(
        **rundir.checkpoint_items(gan.trackables())
    )
    _ = checkpoint.save_counter  # as the trainer writes them
    path = checkpoint.write(str(tmp_path / "ckpt"))
    restored = _gan(d_bias=-100.0)
    assert float(restored.augment.schedule.p) == 0.0
    tf.train.Checkpoint(
        **rundir.checkpoint_items(restored.trackables())
    ).restore(path).assert_existing_objects_matched()
    for name, v in gan.augment.schedule.variables().items():
        assert float(restored.augment.schedule.variables()[name]) == float(v), (
            name
        )
    assert float(restored.augment.schedule.p) == pytest.approx(0.4)
    assert int(restored.step) == 2


def test_the_scale_reaches_the_augmented_images():
    gan = _gan()  # p starts at 0: no augmentation at all yet
    x = tf.random.uniform([4, 16, 16, 3], -1, 1)
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_allclose(gan.augment.real(x, seed), x, atol=1e-5)
    gan.augment.schedule.p.assign(1.0)
    np.testing.assert_allclose(
        gan.augment.real(x, seed),
        augment.get("translation", 0.5)(x, seed),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(
                mode="real_and_fake",
                name="translation",
                strength=0.4,
                schedule="ada",
            ),
            "is not one of",
        ),
        (dict(mode="none", schedule="adaptive"), "no augmentation to schedule"),
        (
            dict(mode="real_and_fake", name="translation", schedule="adaptive"),
            "scales the strength of 'translation', which has none",
        ),
        (
            dict(
                mode="real_and_fake",
                name="translation",
                strength=0.0,
                schedule="adaptive",
            ),
            "which is 0",
        ),
    ],
)
def test_bad_schedules(kwargs, message):
    with pytest.raises(UserError, match=message):
        augment.augment(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target=1.0), r"adaptive.target must be in \(0, 1\)"),
        (dict(target=0.0), r"adaptive.target must be in \(0, 1\)"),
        (dict(interval=0), "adaptive.interval must be a positive integer"),
        (dict(initial=1.5), r"adaptive.initial must be in \[0, 1\]"),
    ],
)
def test_bad_adaptive_settings(kwargs, message):
    with pytest.raises(UserError, match=message):
        schedule_lib.Adaptive(**kwargs)


def test_bad_decay_settings():
    with pytest.raises(UserError, match=r"decay.final must be in \[0, 1\]"):
        schedule_lib.Decay("linear_decay", 2.0, 10)
    with pytest.raises(UserError, match="needs decay.steps"):
        augment.augment("real_and_fake", "translation", 0.4, "linear_decay")
