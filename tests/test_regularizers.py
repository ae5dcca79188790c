"""D's regularizers: their maths against direct computations, their
settings, and zCR in the GAN's step."""

from conftest import built_gan
import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import models
from tfgda.errors import UserError
from tfgda.training import regularizers

REAL = np.array([2.0, 0.5, -1.5, 0.0], np.float32)
FAKE = np.array([-2.0, 0.3, 1.2, -0.9], np.float32)


def test_nt_xent_over_gathered_views_is_the_whole_batchs():
    """Global negatives: each slice of the batch, scored against every
    view with its offset, gives the whole batch's per-pair losses."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 4)).astype(np.float32)
    b = a + 0.5 * rng.normal(size=(6, 4)).astype(np.float32)
    whole = regularizers.nt_xent(a, b, 0.2).numpy()
    parts = [
        regularizers.nt_xent(a[i : i + 3], b[i : i + 3], 0.2, a, b, i).numpy()
        for i in (0, 3)
    ]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5)
    # Per-slice negatives are another loss.
    assert not np.allclose(regularizers.nt_xent(a[:3], b[:3], 0.2), whole[:3])


def test_consistency():
    a, b = REAL, FAKE
    np.testing.assert_allclose(regularizers.consistency(a, b), (a - b) ** 2)


def _simclr_numpy(a, b, tau):
    """SimCLR's add_contrastive_loss, per pair: loss_a + loss_b."""
    u = a / np.linalg.norm(a, axis=1, keepdims=True)
    v = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    mask = np.eye(n) * 1e9

    def cross_entropy(logits):
        logits = logits - logits.max(1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return -log_p[np.arange(n), np.arange(n)]  # positives: first block

    loss_a = cross_entropy(
        np.concatenate([u @ v.T / tau, u @ u.T / tau - mask], 1)
    )
    loss_b = cross_entropy(
        np.concatenate([v @ u.T / tau, v @ v.T / tau - mask], 1)
    )
    return loss_a + loss_b


def test_nt_xent_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3)).astype(np.float32)
    b = a + 0.3 * rng.normal(size=(5, 3)).astype(np.float32)
    # SimCLR's scale: the batch mean is loss_a + loss_b (summed).
    np.testing.assert_allclose(
        regularizers.nt_xent(a, b, 0.5), _simclr_numpy(a, b, 0.5), rtol=1e-4
    )
    # Matching views are cheaper than unrelated ones.
    unrelated = rng.normal(size=(5, 3)).astype(np.float32)
    assert (
        regularizers.nt_xent(a, a, 0.1).numpy().mean()
        < regularizers.nt_xent(a, unrelated, 0.1).numpy().mean()
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: regularizers.bcr(lambda_real=-1.0),
            "bcr.lambda_real must be >= 0",
        ),
        (
            lambda: regularizers.contrastive(weight=1.0, negatives="all"),
            "contrastive.negatives 'all' is not one of",
        ),
        (
            lambda: regularizers.bcr(lambda_real=1.0, inputs="raw"),
            "bcr.inputs 'raw' is not one of",
        ),
        (
            lambda: regularizers.contrastive(weight=-0.1),
            "contrastive.weight must be",
        ),
        (
            lambda: regularizers.contrastive(weight=0.1, temperature=0.0),
            "temperature must be > 0",
        ),
        (
            lambda: regularizers.bcr(lambda_real=1.0, augment="nope"),
            "unknown augmentation",
        ),
        (lambda: regularizers.zcr(lambda_dis=-1.0), "zcr.lambda_dis must be"),
        (
            lambda: regularizers.zcr(lambda_dis=1.0, sigma=0.0),
            "zcr.sigma must be > 0",
        ),
    ],
)
def test_bad_regularizer_settings(call, message):
    with pytest.raises(UserError, match=message):
        call()


def test_regularizers_off_by_default():
    assert regularizers.bcr() is None and regularizers.contrastive() is None
    assert regularizers.zcr() is None and regularizers.from_config() == []


def _gan(*regs, mode="none"):
    tf.keras.utils.set_random_seed(0)
    g, d = models.sndcgan((16, 16, 3), 0, dim_z=8, ch=4)
    policy = augment.augment(
        mode, None if mode == "none" else "translation", 0.3
    )
    gan = built_gan(
        g,
        d,
        4,
        augment=policy,
        regularizers=regs,
    )
    return gan


SEED = tf.constant([3, 1], tf.int64)


def _d(gan):
    real = tf.random.stateless_uniform([4, 16, 16, 3], [0, 1], -1, 1)
    z, labels = gan.latents(gan.phase_seed(0))
    return gan._d_grads(
        real, tf.zeros([4], tf.int32), z, labels, gan.replica_seed(SEED)
    )


def _g(gan):
    z, labels = gan.latents(gan.phase_seed(0))
    return gan._g_grads(z, labels, gan.replica_seed(SEED))


def _zcr_d_by_hand(gan, zcr):
    """lambda_dis mean((D(G(z)) - D(G(z + dz)))^2), computed directly."""
    z, labels = gan.latents(gan.phase_seed(0))
    seed = tf.random.experimental.stateless_fold_in(gan.replica_seed(SEED), 8)
    dz = zcr.sigma * tf.random.stateless_normal(tf.shape(z), seed)
    fake = gan.generator(z, labels, training=True)
    perturbed = gan.generator(z + dz, labels, training=True)
    d = gan.discriminator(
        tf.concat([fake, perturbed], 0), tf.zeros([8], tf.int32), training=True
    )
    a, b = tf.split(d, 2)
    return zcr.lambda_dis * float(tf.reduce_mean(tf.square(a - b)))


@pytest.mark.parametrize("mode", ["none", "real_and_fake"])
def test_zcr_d_term_follows_its_formula(mode):
    """On clean G(z) whether or not D's GAN loss sees augmented images."""
    zcr = regularizers.ZCR(5.0, 0.0, 1.0)  # a large dz: a clear difference
    # Each D call moves spectral norm's power iteration: compare two GANs
    # built alike, one D call each.
    expected = _zcr_d_by_hand(_gan(zcr, mode=mode), zcr)
    _, metrics = _d(_gan(zcr, mode=mode))
    assert float(metrics["zcr_loss"]) == pytest.approx(expected, rel=1e-3)
    assert expected > 1e-6


def test_zcr_d_term_vanishes_without_noise_and_grows_with_it():
    def term(sigma):
        return float(_d(_gan(regularizers.ZCR(5.0, 0.0, sigma)))[1]["zcr_loss"])

    assert term(0.0) == 0.0
    assert 0.0 < term(0.03) < term(0.5)


def test_zcr_rewards_g_for_moving_with_its_latent():
    gan = _gan(regularizers.zcr(lambda_gen=0.5))
    grads, metrics = _g(gan)
    plain_grads, plain = _g(_gan())
    g_term = float(metrics["zcr_g_loss"])
    assert g_term < 0.0  # -lambda_gen ||G(z) - G(z + dz)||^2
    assert float(metrics["g_loss"]) == pytest.approx(float(plain["g_loss"]))
    assert any(not np.allclose(a, b) for a, b in zip(grads, plain_grads))
    assert (
        "zcr_loss" not in _d(gan)[1] or float(_d(gan)[1]["zcr_loss"]) == 0.0
    )  # no D term at lambda_dis 0


def test_zcr_trains_in_a_run(tmp_path, tiny_zip):
    from conftest import tiny_bindings

    from tfgda import configs
    from tfgda.training import trainer

    configs.parse(
        [],
        tiny_bindings(
            tiny_zip, 2, "zcr.lambda_dis = 5.0", "zcr.lambda_gen = 0.5"
        ),
    )
    metrics = trainer.train(str(tmp_path / "run"))
    assert metrics["zcr_loss"] > 0.0 and metrics["zcr_g_loss"] < 0.0


class _Shift(regularizers.Regularizer):
    """A regularizer a user writes: D(x + noise) should match D(x)."""

    name = "shift"

    def __init__(self, weight):
        self.weight = weight

    def d_inputs(self, step):
        noise = tf.random.stateless_uniform(
            tf.shape(step.real), self.seed(step, "noise")
        )
        return {"moved": (step.real + noise, step.real_labels)}

    def d_loss(self, step, logits):
        return self.weight * step.mean(
            tf.square(logits["moved"] - logits["real"])
        )


def _parse(*bindings):
    from tfgda import configs  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    configs.parse([], list(bindings), finalize=False)


@gin.configurable("shift")
def _shift(weight=0.0):
    """_Shift's gin-configurable factory, as a user's module declares it."""
    return _Shift(weight) if weight else None


def test_a_new_regularizer_is_one_class_listed_by_reference():
    """The plug-in seam: a class and its factory, listed in the config; its
    named input's logits come back under its name, its term reaches D's
    loss, and its draws are seeded from its name. No edit elsewhere."""
    _parse("train.regularizers = [@shift()]", "shift.weight = 2.0")
    made = regularizers.from_config()
    assert [type(r) for r in made] == [_Shift]
    _, metrics = _d(_gan(*made))
    assert float(metrics["shift_loss"]) > 0.0
    assert regularizers.purpose("shift/noise") >= 1_000  # its own range


def test_a_listed_regularizer_switched_off_is_dropped():
    _parse("train.regularizers = [@shift(), @bcr()]", "bcr.lambda_real = 1.0")
    assert [r.name for r in regularizers.from_config()] == ["bcr"]


def test_unlisted_regularizers_are_the_built_in_ones_switched_on():
    """Configs written before train.regularizers existed keep working."""
    _parse("bcr.lambda_real = 10.0", "zcr.lambda_dis = 1.0")
    assert [r.name for r in regularizers.from_config()] == ["bcr", "zcr"]


@pytest.mark.parametrize(
    "bindings, message",
    [
        (
            ["train.regularizers = [@zcr()]", "bcr.lambda_real = 10.0"],
            r"bcr's weights are set but train.regularizers does not list it: "
            r"add @bcr\(\) to the list \(train.regularizers = "
            r"\[@zcr\(\), @bcr\(\)\]\)",
        ),
        (
            ["train.regularizers = [@bcr]", "bcr.lambda_real = 10.0"],
            r"not a regularizer: list references with their parentheses",
        ),
        (
            [
                "train.regularizers = [@bcr(), @bcr()]",
                "bcr.lambda_real = 10.0",
            ],
            "lists bcr more than once",
        ),
    ],
)
def test_a_wrong_regularizer_list_is_named(bindings, message):
    _parse(*bindings, "zcr.lambda_dis = 1.0")
    with pytest.raises(UserError, match=message):
        regularizers.from_config()


def test_a_regularizer_may_not_rename_the_gan_loss_logits():
    class Clash(_Shift):
        def d_inputs(self, step):
            return {"real": (step.real, step.real_labels)}

    with pytest.raises(ValueError, match="name its inputs otherwise"):
        _d(_gan(Clash(1.0)))


def test_the_built_in_draws_keep_their_numbers():
    """Runs from before the draws were named draw what they drew: the
    numbers 4-9 that bCR, the contrastive views and zCR had."""
    names = ["bcr/real", "bcr/fake", "contrastive/view_1"]
    names += ["contrastive/view_2", "zcr/d", "zcr/g"]
    assert [regularizers.purpose(n) for n in names] == list(range(4, 10))
