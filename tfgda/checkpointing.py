"""Checkpointable views of Keras objects, checkpoint names, and kill-safe
writes of a run's small files.

`tf.train.Checkpoint` does not follow Keras 3 layers kept in Python lists
(a model's `self.blocks = [...]`), so their variables, and non-trainable
state such as batch-norm statistics and spectral-norm vectors, would be
missed. `VariableList` holds every variable of a model or optimizer in its
own, deterministic order, so a checkpoint saves and restores all of them; a
model of another architecture fails to restore with a shape mismatch.
"""

import os

import tensorflow as tf

__all__ = ["VariableList", "checkpoint_step", "write_atomically"]


class VariableList(tf.Module):
    """All `variables` of a built Keras model or optimizer."""

    def __init__(self, keras_object):
        super().__init__()
        self.values = [getattr(v, "value", v) for v in keras_object.variables]


def checkpoint_step(path):
    """The step of a checkpoint path named '.../ckpt-<step>'."""
    return int(path.rsplit("-", 1)[1])


def write_atomically(path, text):
    """A temporary file, then a rename: a kill never leaves half a file
    (configs, run info, evaluation results, a sweep's records)."""
    with open(f"{path}.tmp", "w", newline="") as f:
        f.write(text)
    os.replace(f"{path}.tmp", path)
