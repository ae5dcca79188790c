"""Checkpointable views of Keras objects, finding a run's checkpoints, and
kill-safe writes of a run's small files.

`tf.train.Checkpoint` does not follow Keras 3 layers kept in Python lists
(a model's `self.blocks = [...]`), so their variables, and non-trainable
state such as batch-norm statistics and spectral-norm vectors, would be
missed. `Variables` holds every variable of a model or optimizer keyed by
where it sits (its layer's attribute path and its name: 'blocks/0/conv1/
kernel'; an optimizer slot by its variable's key), so a checkpoint saves and
restores all of them whatever order the layers were made in; a model of
another structure fails to restore, naming what does not match.
Checkpoints written before keys (each object a `VariableList`, in Keras'
order) are still read (`restore`).

A run's checkpoints are found from its own files (`list_checkpoints`), never
from the paths inside TensorFlow's `checkpoint` state file: that file holds
absolute paths, which after a copy or a move of the run point into another
run (whose checkpoints the saver would then delete) or nowhere.
"""

import errno
import os
import re

from absl import logging
import keras
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.errors import first_line

__all__ = [
    "CORRUPT_PREFIX",
    "UNREADABLE_ERRORS",
    "DiskFullError",
    "Saver",
    "VariableList",
    "Variables",
    "checkpoint_step",
    "clean_partial_writes",
    "is_disk_full",
    "list_checkpoints",
    "quarantine",
    "remove_checkpoint",
    "restore",
    "restore_latest",
    "write_atomically",
]

_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_SHARD = re.compile(r"\.data-\d+-of-(\d+)$")
# A checkpoint that cannot be read is renamed with this prefix, kept for
# inspection and out of every listing.
CORRUPT_PREFIX = "corrupt-"
# What restoring a truncated, zeroed or garbled checkpoint raises (a
# checkpoint of another architecture raises ValueError or AssertionError).
UNREADABLE_ERRORS = (tf.errors.OpError, IndexError)


class VariableList(tf.Module):
    """All `variables` of a built Keras model or optimizer, in Keras' order:
    the layout of checkpoints written before `Variables` (still read), and
    of exported SavedModels."""

    def __init__(self, keras_object):
        super().__init__()
        self.values = [getattr(v, "value", v) for v in keras_object.variables]


class Variables(tf.Module):
    """Every variable of a built Keras model or layer, keyed by where it
    sits: the attribute path of its layer and its own name (e.g.
    'blocks/0/conv1/kernel'); of an optimizer, its step count by name and
    each slot by its variable's key ('blocks/0/conv1/kernel/momentum').

    Keys depend neither on the order in which layers are made nor on Keras'
    per-process name counters (dense_1, ...), so a checkpoint restores into
    a model whose layers are created in another order, and a model whose
    structure differs fails with the keys that differ. `legacy` is the same
    variables in the layout of older checkpoints (`VariableList`).
    """

    def __init__(self, keyed, legacy):
        super().__init__()
        self.by_key = {k: getattr(v, "value", v) for k, v in keyed.items()}
        self._legacy = _Hidden(legacy)

    @property
    def legacy(self):
        return self._legacy.value

    @classmethod
    def of_model(cls, model):
        return cls(variable_keys(model), VariableList(model))

    @classmethod
    def of_optimizer(cls, optimizer, *models):
        """An optimizer that trains the variables of `models` (their slots
        are keyed by those variables' keys)."""
        return cls(optimizer_keys(optimizer, *models), VariableList(optimizer))


class _Hidden:
    """Holds a value out of sight of checkpoint tracking."""

    def __init__(self, value):
        self.value = value


def _sublayers(layer):
    """[(attribute path, sublayer)] of a layer: its public attributes that
    are layers or lists of layers (a Sequential's `layers`)."""
    if isinstance(layer, keras.Sequential):
        return [(f"layers/{i}", sub) for i, sub in enumerate(layer.layers)]
    found = []
    for name, value in sorted(vars(layer).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, keras.layers.Layer):
            found.append((name, value))
        elif (
            isinstance(value, (list, tuple))
            and value
            and all(isinstance(v, keras.layers.Layer) for v in value)
        ):
            found += [(f"{name}/{i}", v) for i, v in enumerate(value)]
    return found


def variable_keys(layer):
    """{key: variable} of every variable of a built layer or model."""
    keyed, walked, covered = {}, set(), set()  # ids of layers, variables

    def walk(obj, prefix):
        inner = set()
        for name, sub in _sublayers(obj):
            if id(sub) in walked:
                continue  # a layer used twice: keyed where first met
            walked.add(id(sub))
            walk(sub, f"{prefix}{name}/")
            inner.update(id(v) for v in sub.weights)
        for v in obj.weights:
            if id(v) in inner or id(v) in covered:
                continue
            key = prefix + v.name
            if key in keyed:
                raise ValueError(
                    f"two variables of {type(layer).__name__} would be "
                    f"checkpointed as {key!r}: keep each sublayer in a "
                    "public attribute (or a list of them) of its own."
                )
            keyed[key] = v
            covered.add(id(v))

    walk(layer, "")
    missing = [v.path for v in layer.weights if id(v) not in covered]
    if missing:
        raise ValueError(f"variables without a key: {missing}")
    return keyed


def optimizer_keys(optimizer, *models):
    """{key: variable} of a built optimizer: its own variables (iteration,
    learning rate) by name, each slot as '<its variable's key>/<slot>'."""
    references = {}
    for model in models:
        for key, v in variable_keys(model).items():
            references[v.path.replace("/", "_")] = key
    keyed = {}
    for v in optimizer.variables:
        match = max(
            (p for p in references if v.name.startswith(p + "_")),
            key=len,
            default=None,
        )
        key = (
            f"{references[match]}/{v.name[len(match) + 1 :]}"
            if match
            else v.name
        )
        if key in keyed:
            raise ValueError(
                f"two variables of the optimizer would be checkpointed as "
                f"{key!r}."
            )
        keyed[key] = v
    return keyed


def checkpoint_step(path):
    """The step of a checkpoint path named '.../ckpt-<step>'."""
    return int(path.rsplit("-", 1)[1])


def list_checkpoints(directory):
    """[(step, path)] of the complete checkpoints in `directory`, oldest
    first: an index file and every data shard it is written with, found by
    file name (the `checkpoint` state file is not consulted)."""
    if not tf.io.gfile.isdir(directory):
        return []
    names = set(tf.io.gfile.listdir(directory))
    found = []
    for name in names:
        match = _INDEX.match(name)
        if not match:
            continue
        prefix = name[: -len(".index")]
        shards = [n for n in names if n.startswith(f"{prefix}.data-")]
        counts = {
            int(_SHARD.search(n).group(1)) for n in shards if _SHARD.search(n)
        }
        if len(counts) != 1 or len(shards) != counts.pop():
            continue  # a write that did not finish
        found.append((int(match.group(1)), os.path.join(directory, prefix)))
    return sorted(found)


def _files(path):
    return tf.io.gfile.glob(f"{path}.index") + tf.io.gfile.glob(
        f"{path}.data-*"
    )


def remove_checkpoint(path):
    """Deletes the files of the checkpoint `path` (and nothing else)."""
    for name in _files(path):
        tf.io.gfile.remove(name)


def quarantine(path):
    """Renames an unreadable checkpoint's files to corrupt-ckpt-N.*, kept
    for inspection (corrupt-ckpt-N-2.*, -3, ... when an earlier unreadable
    checkpoint of step N was set aside already); returns the new prefix."""
    folder, base = os.path.split(path)
    target = os.path.join(folder, CORRUPT_PREFIX + base)
    copy = 1
    while tf.io.gfile.glob(f"{target}.*"):
        copy += 1
        target = os.path.join(folder, f"{CORRUPT_PREFIX}{base}-{copy}")
    for name in _files(path):
        tf.io.gfile.rename(name, target + name[len(path) :], overwrite=False)
    return target


def write_atomically(path, text):
    """A temporary file, then a rename: a kill never leaves half a file
    (configs, run info, evaluation results, a sweep's records). Through
    tf.io.gfile, so run directories may be on object stores (gs://), where
    the rename is a copy."""
    with tf.io.gfile.GFile(f"{path}.tmp", "w") as f:
        f.write(text)
    tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)


def clean_partial_writes(directory):
    """Removes what a killed or failed save leaves (TensorFlow's
    ckpt-N_temp folders); returns their names."""
    if not tf.io.gfile.isdir(directory):
        return []
    left = [
        n.rstrip("/")
        for n in tf.io.gfile.listdir(directory)
        if re.match(r"^ckpt-\d+_temp", n)
    ]
    for name in left:
        path = os.path.join(directory, name)
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    return left


def restore(items, path):
    """Restores `items` ({name: trackable}, as for tf.train.Checkpoint) from
    the checkpoint `path`, in whichever layout it was written: by key
    (`Variables`), or in Keras' order (`VariableList`, older checkpoints).
    Returns the load status."""
    # The reader itself: tf.train.list_variables takes a ram:// prefix for
    # a directory.
    names = tf.compat.v1.train.NewCheckpointReader(
        path
    ).get_variable_to_shape_map()
    keyed = any("/by_key/" in name for name in names)
    if not keyed:
        items = {
            name: item.legacy if isinstance(item, Variables) else item
            for name, item in items.items()
        }
    return tf.train.Checkpoint(**items).restore(path)


def restore_latest(items, model_dir, quarantine_bad=True):
    """Restores `items` ({name: trackable}) from the newest readable
    checkpoint of model_dir; returns its path, or None when there is none.

    A checkpoint that cannot be read (truncated, zeroed, garbled) is
    reported with a warning, renamed corrupt-ckpt-N.* (with
    `quarantine_bad`) and the next older one is tried. A checkpoint of
    another architecture stops with a UserError; so does a model_dir whose
    every checkpoint is unreadable (they are kept).
    """
    found = list_checkpoints(model_dir)
    _check_state_file(model_dir, found)
    bad = []
    for _, path in reversed(found):
        try:
            restore(items, path).assert_existing_objects_matched()
        except UNREADABLE_ERRORS as e:
            kept = quarantine(path) if quarantine_bad else path
            bad.append(kept)
            logging.warning(
                "Checkpoint %s is unreadable (%s: %s); kept as "
                "%s for inspection; trying the one before.",
                path,
                type(e).__name__,
                first_line(e)[:200],
                kept,
            )
            continue
        except (AssertionError, ValueError) as e:
            raise UserError(
                f"the checkpoint {path!r} does not fit this model "
                f"({type(e).__name__}: it was written with another "
                "architecture or config): resume with the run's own "
                f"{model_dir}/operative_config.gin, or use a new "
                "--model_dir."
            ) from e
        if bad:
            logging.warning(
                "Resumed from %s, the newest readable "
                "checkpoint; unreadable: %s.",
                path,
                ", ".join(bad),
            )
        logging.info("Resumed from %s at step %d.", path, checkpoint_step(path))
        return path
    if bad:
        raise UserError(
            f"every checkpoint in {model_dir!r} is unreadable (kept as "
            f"{', '.join(os.path.basename(b) for b in bad)}): nothing to "
            "resume from. Move them away to start over, or use a new "
            "--model_dir."
        )
    return None


def _check_state_file(model_dir, found):
    """Says when TensorFlow's state file is missing, garbled or points
    elsewhere (a copied or moved run): the files decide, not it."""
    if not found:
        return
    state_path = os.path.join(model_dir, "checkpoint")
    try:
        state = tf.train.get_checkpoint_state(model_dir)
    except Exception:  # pylint: disable=broad-except
        state = None  # garbled: TensorFlow raises a parse error
    named = state.model_checkpoint_path if state else ""
    if os.path.normpath(named) == os.path.normpath(found[-1][1]):
        return
    problem = (
        "is missing"
        if not tf.io.gfile.exists(state_path)
        else "is unreadable"
        if not named
        else f"names {named!r}, not this directory's newest checkpoint"
    )
    logging.warning(
        "%s %s; the run's checkpoints are found from its "
        "files: the newest is %s.",
        state_path,
        problem,
        found[-1][1],
    )


class DiskFullError(UserError):
    """A save that found no space left: the last good checkpoint stays."""


class Saver:
    """Checkpoints of one directory that a kill, a copy or a full disk
    cannot cost.

    Each save writes the checkpoint's files, then records the kept ones in
    the directory's state file (atomically, with paths relative to the
    directory, so a copied or moved run stays whole), and only then deletes
    the checkpoints no longer kept: always files of this directory, found
    by name. A save that runs out of space removes its partial files and
    raises a DiskFullError naming the last good checkpoint.
    """

    def __init__(self, checkpoint, directory, keep):
        # Create save_counter now, so write() saves it and restore() finds it.
        _ = checkpoint.save_counter
        self.checkpoint = checkpoint
        self.directory = directory
        self.keep = keep
        self._latest = None

    def latest(self):
        """The newest complete checkpoint of the directory, or None."""
        if self._latest is None:
            found = list_checkpoints(self.directory)
            self._latest = found[-1][1] if found else None
        return self._latest

    def save(self, step):
        prefix = os.path.join(self.directory, f"ckpt-{step}")
        try:
            self.checkpoint.write(prefix)
        except (tf.errors.OpError, OSError) as e:
            if not is_disk_full(e):
                raise
            remove_checkpoint(prefix)
            raise self.disk_full(step) from e
        found = [path for _, path in list_checkpoints(self.directory)]
        kept = found[-self.keep :]
        self._write_state([os.path.basename(p) for p in kept])
        for old in found[: -self.keep]:
            remove_checkpoint(old)
        self._latest = prefix

    def disk_full(self, step=None):
        """Removes partial saves and returns the DiskFullError naming the
        directory's last good checkpoint, for any write of the run that
        found no space (the save of `step`, if it was one)."""
        clean_partial_writes(self.directory)
        during = f" while saving step {step}" if step is not None else ""
        return DiskFullError(
            f"no space left on the disk of {self.directory!r}{during}; the "
            f"last good checkpoint is {self.latest() or 'none'}. Free space "
            "and rerun the same command to resume from it."
        )

    def _write_state(self, names):
        """TensorFlow's `checkpoint` state file (its text format, read by
        tf.train.latest_checkpoint), with relative names, atomically."""
        lines = [f'model_checkpoint_path: "{names[-1]}"'] + [
            f'all_model_checkpoint_paths: "{name}"' for name in names
        ]
        path = os.path.join(self.directory, "checkpoint")
        with tf.io.gfile.GFile(f"{path}.tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)


def is_disk_full(error):
    """Whether an error is a write that found no space left."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(error).lower()
    return "no space left" in text or "disk full" in text
