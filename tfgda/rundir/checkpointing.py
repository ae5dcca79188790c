"""Checkpointable views of Keras objects, finding a run's checkpoints, and
kill-safe writes of a run's small files.

`tf.train.Checkpoint` does not follow Keras 3 layers kept in Python lists
(a model's `self.blocks = [...]`), so their variables, and non-trainable
state such as batch-norm statistics and spectral-norm vectors, would be
missed. `VariableList` holds every variable of a model or optimizer in its
own, deterministic order, so a checkpoint saves and restores all of them; a
model of another architecture fails to restore with a shape mismatch.

A run's checkpoints are found from its own files (`list_checkpoints`), never
from the paths inside TensorFlow's `checkpoint` state file: that file holds
absolute paths, which after a copy or a move of the run point into another
run (whose checkpoints the saver would then delete) or nowhere.
"""

import errno
import os
import re

from absl import logging
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.errors import first_line

__all__ = [
    "CORRUPT_PREFIX",
    "UNREADABLE_ERRORS",
    "DiskFullError",
    "Saver",
    "VariableList",
    "checkpoint_step",
    "clean_partial_writes",
    "is_disk_full",
    "list_checkpoints",
    "quarantine",
    "remove_checkpoint",
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
    """All `variables` of a built Keras model or optimizer."""

    def __init__(self, keras_object):
        super().__init__()
        self.values = [getattr(v, "value", v) for v in keras_object.variables]


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
    for inspection; returns the new prefix."""
    folder, base = os.path.split(path)
    target = os.path.join(folder, CORRUPT_PREFIX + base)
    for name in _files(path):
        tf.io.gfile.rename(name, target + name[len(path) :], overwrite=True)
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


def restore_latest(checkpoint, model_dir, quarantine_bad=True):
    """Restores the newest readable checkpoint of model_dir; returns its
    path, or None when there is none.

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
            checkpoint.restore(path).assert_existing_objects_matched()
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
