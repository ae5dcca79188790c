"""D's overfitting (`tfgda.metrics.overfitting`): the probe sees a D that
memorised its training images, and only then."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.metrics import overfitting
from tfgda.models import sndcgan


def _noise(n, seed):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, (n, 32, 32, 3)), tf.float32)


def _memorising_d(train, steps):
    """A small SNDCGAN D trained with the hinge loss to score 8 fixed noise
    images above fresh noise of the same law: only memory tells them apart."""
    generator, discriminator = sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
    generator(tf.zeros([1, 8]))
    labels = tf.zeros([len(train)], tf.int32)
    optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5)

    @tf.function
    def step(fresh):
        with tf.GradientTape() as tape:
            real = discriminator(train, labels, training=True)
            fake = discriminator(fresh, labels, training=True)
            loss = tf.reduce_mean(tf.nn.relu(1 - real)) + tf.reduce_mean(
                tf.nn.relu(1 + fake)
            )
        variables = discriminator.trainable_variables
        optimizer.apply_gradients(
            zip(tape.gradient(loss, variables), variables)
        )

    discriminator(train, labels)
    for i in range(steps):
        step(_noise(len(train), 1000 + i))
    return generator, discriminator


@pytest.mark.parametrize("steps", [0, 300])
def test_held_out_mean_falls_below_the_training_mean_as_d_memorises(steps):
    train = _noise(8, 0)
    held_out = _noise(8, 1)
    generator, discriminator = _memorising_d(train, steps)
    labels = tf.zeros([8], tf.int32)
    probe = overfitting.OverfittingProbe(
        (train, labels), (held_out, labels), 0, seed=0
    )
    result = probe(generator, discriminator)
    assert result["count_train"] == result["count_held_out"] == 8
    gap = result["d_train"] - result["d_held_out"]
    if steps:  # memorised: held-out reals judged like the fresh noise
        assert result["d_train"] > 1.0 and gap > 1.0
        assert result["r_t"] == 1.0
    else:  # untrained: the two real sets look alike
        assert abs(gap) < 0.05
    # r_v as defined, from the three means
    expected = gap / (result["d_train"] - result["d_fake"])
    assert result["r_v"] == pytest.approx(expected)
    # D in inference mode: measuring twice gives the same numbers
    assert probe(generator, discriminator) == result


def test_digests_find_the_same_image_and_only_it():
    images = _noise(4, 0)
    digests = overfitting.image_digests(images)
    assert len(digests) == 4
    overfitting.check_disjoint(digests, _noise(4, 1), "elsewhere")
    with pytest.raises(UserError, match="1 of the 4 held-out images"):
        overfitting.check_disjoint(
            digests, tf.concat([_noise(3, 1), images[2:3]], 0), "elsewhere"
        )
