"""tfgda.keras: the augmentations, ADA and bCR as Keras 3 building blocks
for a user's own GAN."""

from conftest import run_python
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda.errors import UserError
import tfgda.keras as tk
from tfgda.training import regularizers

X = tf.random.stateless_uniform([6, 16, 16, 3], [1, 2], -1.0, 1.0)


def test_training_augments_with_the_registrys_op_and_inference_is_identity():
    layer = tk.Augment("translation+cutout", strength=0.3, seed=7)
    np.testing.assert_array_equal(layer(X), X)
    np.testing.assert_array_equal(layer(X, training=False), X)
    # The first draw is the registry's pipeline at the seed generator's
    # first seed: the layer is the same op, not a second implementation.
    first_seed = tf.cast(keras.random.SeedGenerator(7).next(), tf.int64)
    expected = augment.get("translation+cutout", 0.3)(X, first_seed)
    np.testing.assert_allclose(layer(X, training=True), expected, atol=1e-6)
    # A fresh draw each call; the same seed gives the same draws.
    again = tk.Augment("translation+cutout", strength=0.3, seed=7)
    a1, a2 = again(X, training=True), again(X, training=True)
    np.testing.assert_allclose(a1, expected, atol=1e-6)
    assert not np.allclose(a1, a2)


def test_diffaugment_policy_and_gradients_reach_the_generator():
    layer = tk.Augment("color,translation,cutout", seed=0)
    generator = keras.Sequential([keras.layers.Dense(16 * 16 * 3)])
    generator.build((None, 4))
    z = tf.random.stateless_normal([6, 4], [0, 1])
    with tf.GradientTape() as tape:
        fake = tf.reshape(tf.tanh(generator(z)), [6, 16, 16, 3])
        loss = tf.reduce_mean(tf.square(layer(fake, training=True)))
    grads = tape.gradient(loss, generator.trainable_variables)
    assert all(g is not None for g in grads)
    assert float(tf.reduce_sum(tf.abs(grads[0]))) > 0


def test_bad_input_is_one_clear_error_at_construction_or_first_call():
    for spec in (None, "", "none"):
        with pytest.raises(UserError, match="needs an augmentation spec"):
            tk.Augment(spec)
    with pytest.raises(UserError, match="Did you mean 'translation'"):
        tk.Augment("translatoin", strength=0.2)
    with pytest.raises(UserError, match="out of range"):
        tk.Augment("translation", strength=7.0)
    with pytest.raises(UserError, match="pass strength=0.2"):
        tk.Augment("translation")
    layer = tk.Augment("translation(0.2)")
    with pytest.raises(UserError, match=r"\[N, H, W, C\]"):
        layer(tf.zeros([16, 16, 3]), training=True)
    with pytest.raises(UserError, match="float images"):
        layer(tf.zeros([2, 16, 16, 3], tf.uint8), training=True)
    with pytest.raises(UserError, match="adaptive.target must be in"):
        tk.AdaptiveAugment("translation(0.2)", target=1.5)
    ada = tk.AdaptiveAugment("translation(0.2)")
    with pytest.raises(UserError, match="one per image"):
        ada.update(tf.zeros([4, 8, 8, 1]))


def test_the_adaptive_controller_moves_p_as_adas_rule():
    ada = tk.AdaptiveAugment(
        "translation(0.5)", interval=2, speed_images=100, initial=0.5
    )
    ada.update(tf.ones([10]))  # not due yet: p unchanged
    assert float(ada.p) == 0.5
    ada.update(tf.ones([10, 1]))  # r_t = 1 > 0.6: up by 20 / 100
    assert float(ada.p) == pytest.approx(0.7)
    assert float(ada.metrics_dict()["aug_rt"]) == 1.0
    for _ in range(2):
        ada.update(-tf.ones([10]))  # r_t = -1: down by 0.2
    assert float(ada.p) == pytest.approx(0.5)
    for _ in range(20):
        ada.update(-tf.ones([10]))
    assert float(ada.p) == 0.0  # clamped
    # p scales the strength: at p = 0 the layer is the identity.
    np.testing.assert_allclose(ada(X, training=True), X)


def test_a_saved_model_keeps_the_layer_its_p_and_its_seed_state(tmp_path):
    ada = tk.AdaptiveAugment("translation(0.5)", interval=1, seed=3)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, ada(inputs))
    ada.update(tf.ones([50_000]))  # p = 0.1
    ada(X, training=True)  # one draw consumed
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    twin = loaded.layers[1]
    assert isinstance(twin, tk.AdaptiveAugment)
    assert twin.get_config()["spec"] == "translation(0.5)"
    assert float(twin.p) == pytest.approx(0.1)
    assert int(twin.updates) == 1
    # The next draw is the same in both: the seed state was saved too.
    np.testing.assert_allclose(
        twin(X, training=True), ada(X, training=True), atol=1e-6
    )


_DISTRIBUTED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tfgda.keras as tk

X = tf.random.stateless_uniform([6, 16, 16, 3], [1, 2], -1.0, 1.0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    ada = tk.AdaptiveAugment(
        "translation(0.5)", interval=1, speed_images=100, seed=0
    )


@tf.function
def step(images, logits):
    def replica(images, logits):
        out = ada(images, training=True)
        ada.update(logits)
        return out

    return strategy.run(replica, (images, logits))


images = strategy.experimental_distribute_values_from_function(
    lambda ctx: X[ctx.replica_id_in_sync_group * 3 :][:3]
)
# Replica 0: 3 positive logits; replica 1: 1 positive of 3.
logits = strategy.experimental_distribute_values_from_function(
    lambda ctx: tf.ones([3])
    if ctx.replica_id_in_sync_group == 0
    else -tf.ones([3]) * tf.constant([1.0, 1.0, -1.0])
)
step(images, logits)
print("after1", float(ada.rt.numpy()), float(ada.p.numpy()))
ones = strategy.experimental_distribute_values_from_function(
    lambda ctx: tf.ones([3])
)
step(images, ones)
print("after2", float(ada.rt.numpy()), float(ada.p.numpy()))
"""


def test_inside_a_tf_function_and_a_distribution_strategy():
    """Two replicas: the signs of both are summed, so r_t is the whole
    batch's. (In a process of its own: the all-reduce's collective keys
    would clash with another strategy's in this one.)"""
    stdout = run_python(_DISTRIBUTED)
    lines = dict(
        (line.split()[0], [float(v) for v in line.split()[1:]])
        for line in stdout.splitlines()
    )
    # 3 + 1 of 6 positive: r_t = 2/6 < 0.6, p stays at 0 (clamped) ...
    assert lines["after1"] == pytest.approx([2 / 6, 0.0])
    # ... then all 6 positive: r_t = 1, p up by 6 / 100.
    assert lines["after2"] == pytest.approx([1.0, 0.06])


class ToyD(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, strides=2)
        self.flat = keras.layers.Flatten()
        self.dense = keras.layers.Dense(1)

    def features(self, x):
        return self.flat(tf.nn.leaky_relu(self.conv(x)))

    def call(self, x, training=None):
        return self.dense(self.features(x))


def test_bcr_loss_is_algorithm_1s_term():
    d = ToyD()
    real, fake = X[:3], X[3:]
    identity = tk.Augment("translation(0.0)")
    assert float(tk.bcr_loss(d, real, fake, identity)) == pytest.approx(0.0)
    seed = 5
    loss = tk.bcr_loss(
        d, real, fake, tk.Augment("zoom_out(0.4)", seed=seed), 10.0, 2.0
    )
    # The same with the registry's op at the layer's two draws.
    seeds = keras.random.SeedGenerator(seed)
    zoom = augment.get("zoom_out(0.4)")
    expected = 0.0
    for weight, images in ((10.0, real), (2.0, fake)):
        t = zoom(images, tf.cast(seeds.next(), tf.int64))
        expected += weight * float(
            tf.reduce_mean(regularizers.consistency(d(images), d(t)))
        )
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # D's clean logits passed in: the same term, one forward pass fewer.
    again = tk.bcr_loss(
        d,
        real,
        fake,
        tk.Augment("zoom_out(0.4)", seed=seed),
        10.0,
        2.0,
        real_logits=d(real),
        fake_logits=d(fake),
    )
    assert float(again) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(UserError, match="lambda_real"):
        tk.bcr_loss(d, real, fake, identity, lambda_real=-1.0)
    with pytest.raises(UserError, match="Augment layer"):
        tk.bcr_loss(d, real, fake, "translation")


def test_contrastive_loss_is_nt_xent_of_two_views_and_trains_the_head():
    d = ToyD()
    head = keras.Sequential([keras.layers.Dense(8)])
    views = tk.Augment("simclr", seed=2)

    def embed(images):
        return head(d.features(images))

    with tf.GradientTape() as tape:
        loss = tk.contrastive_loss(embed, X, views)
    grads = tape.gradient(loss, head.trainable_variables)
    assert all(g is not None for g in grads)
    seeds = keras.random.SeedGenerator(2)
    simclr = augment.get("simclr")
    a = embed(simclr(X, tf.cast(seeds.next(), tf.int64)))
    b = embed(simclr(X, tf.cast(seeds.next(), tf.int64)))
    expected = tf.reduce_mean(regularizers.nt_xent(a, b, 0.1))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(UserError, match="temperature"):
        tk.contrastive_loss(embed, X, views, temperature=0.0)


class ToyGAN(keras.Model):
    """A keras-io-style GAN: a custom train_step under model.fit."""

    def __init__(self, augmenter=None, bcr=None):
        super().__init__()
        self.generator = keras.Sequential(
            [
                keras.layers.Dense(8 * 8 * 8),
                keras.layers.Reshape((8, 8, 8)),
                keras.layers.Conv2DTranspose(
                    3, 4, 2, "same", activation="tanh"
                ),
            ]
        )
        self.generator.build((None, 4))
        self.discriminator = ToyD()
        self.augmenter, self.bcr = augmenter, bcr

    def compile(self):
        super().compile()
        self.g_opt = keras.optimizers.Adam(1e-3)
        self.d_opt = keras.optimizers.Adam(1e-3)

    def _aug(self, x):
        return self.augmenter(x, training=True) if self.augmenter else x

    def train_step(self, real):
        z = keras.random.normal((tf.shape(real)[0], 4))
        fake = self.generator(z)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self._aug(real))
            fake_logits = self.discriminator(self._aug(fake))
            d_loss = tf.reduce_mean(
                tf.nn.softplus(-real_logits)
            ) + tf.reduce_mean(tf.nn.softplus(fake_logits))
            if self.bcr:
                d_loss += tk.bcr_loss(self.discriminator, real, fake, self.bcr)
        d_vars = self.discriminator.trainable_variables
        self.d_opt.apply(tape.gradient(d_loss, d_vars), d_vars)
        logs = {"d_loss": d_loss}
        if isinstance(self.augmenter, tk.AdaptiveAugment):
            self.augmenter.update(real_logits)
            logs.update(self.augmenter.metrics_dict())
        with tf.GradientTape() as tape:
            g_logits = self.discriminator(self._aug(self.generator(z)))
            g_loss = tf.reduce_mean(tf.nn.softplus(-g_logits))
        g_vars = self.generator.trainable_variables
        self.g_opt.apply(tape.gradient(g_loss, g_vars), g_vars)
        logs["g_loss"] = g_loss
        return logs


@pytest.mark.parametrize(
    "augmenter, bcr",
    [
        (lambda: tk.Augment("translation+cutout", strength=0.2), None),
        (
            lambda: tk.AdaptiveAugment(
                "color,translation,cutout", interval=1, speed_images=64
            ),
            None,
        ),
        (None, lambda: tk.Augment("translation(0.25)")),
    ],
    ids=["augment", "adaptive", "bcr"],
)
def test_model_fit_trains_a_toy_gan_two_epochs(augmenter, bcr):
    gan = ToyGAN(augmenter and augmenter(), bcr and bcr())
    gan.compile()
    images = tf.random.stateless_uniform([32, 16, 16, 3], [3, 4], -1, 1)
    before = [w.numpy() for w in gan.generator.weights]
    assert before
    history = gan.fit(
        tf.data.Dataset.from_tensor_slices(images).batch(8),
        epochs=2,
        verbose=0,
    )
    assert len(history.history["d_loss"]) == 2
    assert all(np.isfinite(history.history["g_loss"]))
    after = gan.generator.weights
    assert any(not np.allclose(b, a) for b, a in zip(before, after))
    if isinstance(gan.augmenter, tk.AdaptiveAugment):
        # 8 updates of 8 images each: p moved by 8/64 a step, within [0, 1]
        assert 0.0 <= float(gan.augmenter.p) <= 1.0
        assert int(gan.augmenter.updates) == 8
        assert "aug_p" in history.history
