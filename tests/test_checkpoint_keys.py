"""Checkpoint keys by where a variable sits: stable across the order layers
are made in and Keras' name counters; older checkpoints still restore."""

import re

from conftest import built_gan
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgda import models
from tfgda import rundir
from tfgda.rundir import checkpointing


class _Pair(keras.layers.Layer):
    """Two dense layers of the same shape, made in the order given."""

    def __init__(self, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if reverse:
            self.second = keras.layers.Dense(4)
            self.first = keras.layers.Dense(4)
        else:
            self.first = keras.layers.Dense(4)
            self.second = keras.layers.Dense(4)
        self.blocks = [keras.layers.Dense(4), keras.layers.Dense(4)]

    def call(self, x):
        x = self.second(self.first(x))
        for block in self.blocks:
            x = block(x)
        return x


def _built(layer):
    layer(tf.zeros([1, 4]))
    for i, v in enumerate(layer.weights):
        v.assign(tf.fill(v.shape, float(i + 1)) + tf.random.normal(v.shape))
    return layer


def _write(path, **items):
    checkpoint = tf.train.Checkpoint(**items)
    _ = checkpoint.save_counter  # as the trainer's saver writes it
    return checkpoint.write(path)


def _values(keyed):
    return {k: np.array(v.numpy()) for k, v in keyed.by_key.items()}


def test_keys_are_attribute_paths_without_keras_counters():
    first, _ = models.sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
    second, _ = models.sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
    for g in (first, second):
        g(tf.zeros([1, 8]))
    paths = [v.path for v in second.weights]
    assert any(re.search(r"_\d+/", p) for p in paths)  # Keras' counters
    keys = set(checkpointing.variable_keys(first))
    assert keys == set(checkpointing.variable_keys(second))
    assert {"dense/kernel", "bns/0/gamma", "deconvs/2/kernel"} <= keys
    assert not any(re.search(r"_\d+(/|$)", k) for k in keys)


def test_a_checkpoint_restores_into_layers_made_in_another_order(tmp_path):
    saved = _built(_Pair())
    path = _write(
        str(tmp_path / "ckpt-1"), layer=rundir.Variables.of_model(saved)
    )
    loaded = _built(_Pair(reverse=True))
    # Keras' order differs: by position, first and second would swap.
    assert saved.weights[0].path == saved.first.kernel.path
    assert loaded.weights[0].path == loaded.second.kernel.path
    rundir.restore(
        {"layer": rundir.Variables.of_model(loaded)}, path
    ).assert_existing_objects_matched()
    np.testing.assert_equal(
        _values(rundir.Variables.of_model(loaded)),
        _values(rundir.Variables.of_model(saved)),
    )
    x = tf.random.normal([3, 4])
    np.testing.assert_allclose(loaded(x), saved(x))


def test_a_checkpoint_of_the_older_layout_still_restores(tmp_path):
    saved = _built(_Pair())
    path = _write(
        str(tmp_path / "ckpt-1"), layer=checkpointing.VariableList(saved)
    )
    loaded = _built(_Pair())
    rundir.restore(
        {"layer": rundir.Variables.of_model(loaded)}, path
    ).assert_existing_objects_matched()
    x = tf.random.normal([3, 4])
    np.testing.assert_allclose(loaded(x), saved(x))


def test_a_model_of_another_structure_fails_to_restore(tmp_path):
    saved = _built(_Pair())
    path = _write(
        str(tmp_path / "ckpt-1"), layer=rundir.Variables.of_model(saved)
    )

    class Longer(_Pair):
        def __init__(self):
            super().__init__()
            self.blocks = [*self.blocks, keras.layers.Dense(4)]

    loaded = _built(Longer())
    with pytest.raises(AssertionError):
        rundir.restore(
            {"layer": rundir.Variables.of_model(loaded)}, path
        ).assert_existing_objects_matched()


def test_optimizer_slots_are_keyed_by_their_variable():
    g, d = models.sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
    gan = built_gan(g, d, 8)
    items = rundir.checkpoint_items(gan.trackables())
    g_keys = set(items["g_optimizer"].by_key)
    assert {"iteration", "dense/kernel/momentum", "dense/kernel/velocity"} <= (
        g_keys
    )
    model_keys = set(items["generator"].by_key)
    trainable = {
        k for k, v in checkpointing.variable_keys(g).items() if v.trainable
    }
    assert {k.rsplit("/", 1)[0] for k in g_keys if "/" in k} == trainable
    assert trainable <= model_keys


def test_sublayers_out_of_sight_are_refused():
    class Hidden(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self._parts = [keras.layers.Dense(2), keras.layers.Dense(2)]

        def call(self, x):
            return self._parts[1](self._parts[0](x))

    layer = Hidden()
    layer(tf.zeros([1, 2]))
    with pytest.raises(ValueError, match="would be checkpointed as 'kernel'"):
        checkpointing.variable_keys(layer)


def test_a_gan_resumes_from_a_checkpoint_of_the_older_layout(tmp_path):
    # What the trainer wrote before keys: every object as a VariableList.
    def gan():
        g, d = models.sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
        ema, _ = models.sndcgan((32, 32, 3), 0, ch=4, dim_z=8)
        return built_gan(g, d, 8, ema_generator=ema, ema_decay=0.5)

    old = gan()
    for v in old.generator.weights + old.discriminator.weights:
        v.assign(tf.random.normal(v.shape))
    old.step.assign(7)
    items = rundir.checkpoint_items(old.trackables())
    for name in ("g_optimizer", "d_optimizer"):
        for v in items[name].by_key.values():
            v.assign(tf.cast(tf.random.uniform(v.shape, 1, 9), v.dtype))
    legacy = {
        name: item.legacy if isinstance(item, rundir.Variables) else item
        for name, item in items.items()
    }
    _write(str(tmp_path / "ckpt-7"), **legacy)
    new = gan()
    restored = rundir.restore_latest(
        rundir.checkpoint_items(new.trackables()), str(tmp_path)
    )
    assert restored.endswith("ckpt-7") and int(new.step.numpy()) == 7
    for name in ("generator", "discriminator", "g_optimizer", "d_optimizer"):
        np.testing.assert_equal(
            _values(rundir.checkpoint_items(new.trackables())[name]),
            _values(items[name]),
        )
