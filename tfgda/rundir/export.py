"""A run's (EMA) generator as a SavedModel: the library behind
`python -m tfgda.export`, whose docstring gives the signatures and the
files written."""

import json
import os
import shutil
import tempfile

from absl import logging
import tensorflow as tf

from tfgda import data as data_lib
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.models import standing
from tfgda.models.latents import sample_z

__all__ = [
    "EXPORT_INFO",
    "GeneratorModule",
    "check_export_dir",
    "export_generator",
]

EXPORT_INFO = "tfgda_export.json"


class _Untracked:
    """Keeps the Keras model out of the SavedModel's object graph (Keras
    would add its own one-input serving function, wrong for conditional
    generators); its variables are saved through VariableList."""

    def __init__(self, model):
        self.model = model


class GeneratorModule(tf.Module):
    """A generator with the exported signatures."""

    def __init__(self, generator, num_classes):
        super().__init__()
        self._generator = _Untracked(generator)
        self.weights = rundir.VariableList(generator)
        self.dim_z = generator.dim_z
        self.num_classes = num_classes if generator.conditional else 0

    def _outputs(self, z, labels):
        images = self._generator.model(z, labels, training=False)
        return {"images": data_lib.to_uint8(images), "float_images": images}

    def serving_fn(self):
        z_spec = tf.TensorSpec([None, self.dim_z], tf.float32, name="z")
        if self.num_classes:
            label_spec = tf.TensorSpec([None], tf.int32, name="labels")
            return tf.function(
                self._outputs, input_signature=[z_spec, label_spec]
            )
        return tf.function(
            lambda z: self._outputs(z, tf.zeros([tf.shape(z)[0]], tf.int32)),
            input_signature=[z_spec],
        )

    def sample_fn(self):
        def sample(seed, count):
            seed = tf.stack([seed, tf.constant(0, tf.int64)])
            z = sample_z(self._generator.model, count, seed)
            labels = tf.random.stateless_uniform(
                [count], seed + [0, 1], 0, max(self.num_classes, 1), tf.int32
            )
            return self._outputs(z, labels)

        return tf.function(
            sample,
            input_signature=[
                tf.TensorSpec([], tf.int64, name="seed"),
                tf.TensorSpec([], tf.int32, name="count"),
            ],
        )


# What a SavedModel of ours holds at its top level: --overwrite replaces a
# directory of these names only (with the tfgda_export.json record).
_EXPORT_ENTRIES = {
    "saved_model.pb",
    "fingerprint.pb",
    "variables",
    "assets",
    "assets.extra",
}


def check_export_dir(export_dir, overwrite, model_dir):
    """Raises a UserError unless writing `export_dir` can cost nothing: a
    new directory, or with `overwrite` a previous export of ours (never a
    run, a sweep, a folder holding either, or any other directory)."""
    if not export_dir:
        raise UserError("--export_dir is required.")
    rundir.check_writable(export_dir, "--export_dir")
    inside = os.path.relpath(os.path.abspath(model_dir), export_dir)
    if not inside.startswith(os.pardir):
        raise UserError(
            f"export_dir {export_dir!r} holds the run {model_dir!r} itself: "
            "choose an --export_dir outside it (e.g. beside the run)."
        )
    if not os.path.exists(export_dir):
        return
    if not overwrite:
        raise UserError(
            f"export_dir {export_dir!r} exists: choose another, "
            "or pass --overwrite to replace it."
        )
    run_file = rundir.find_run_files(export_dir)
    if run_file:
        raise UserError(
            f"export_dir {export_dir!r} holds a training run or sweep "
            f"({run_file}): --overwrite replaces only a previous export, "
            "so nothing was changed; choose another --export_dir."
        )
    others = sorted(set(os.listdir(export_dir)) - _EXPORT_ENTRIES)
    record = os.path.join(export_dir, "assets.extra", EXPORT_INFO)
    if others or not os.path.isfile(record):
        what = (
            f"it holds {', '.join(others[:3])}"
            if others
            else (f"it has no assets.extra/{EXPORT_INFO}")
        )
        raise UserError(
            f"export_dir {export_dir!r} is not an export written by "
            f"tfgda.export ({what}): --overwrite replaces only those, so "
            "nothing was changed; choose another --export_dir, or move it "
            "away yourself."
        )


def export_generator(
    model_dir, export_dir, which="latest", overwrite=False, gin_bindings=()
):
    """Writes the SavedModel; returns the checkpoint path it came from.

    The export is written to a new temporary directory beside export_dir
    and renamed into place once complete; an existing export (with
    `overwrite`, and only one of ours: `check_export_dir`) is moved aside
    first and deleted last.
    """
    run = rundir.opened(model_dir)  # a Run, or its directory
    model_dir = run.model_dir
    export_dir = os.path.abspath(export_dir) if export_dir else export_dir
    check_export_dir(export_dir, overwrite, model_dir)
    if which == "all":
        raise UserError(
            "--checkpoint=all is not for export: name one step or 'latest'."
        )
    (path,) = run.checkpoints(which)
    with run.config(gin_bindings) as run_info:  # then the caller's again
        _write_export(run.generator(path), run_info, path, export_dir)
    logging.info("Exported %s to %s.", path, export_dir)
    return path


def _write_export(generator, run_info, path, export_dir):
    """The SavedModel of `generator` in a new directory beside export_dir,
    renamed into place once complete (an old export swapped out first)."""
    module = GeneratorModule(generator, run_info["num_classes"])
    parent, base = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    try:
        tf.saved_model.save(
            module,
            tmp,
            signatures={
                "serving_default": module.serving_fn(),
                "sample": module.sample_fn(),
            },
        )
        _write_export_info(
            tmp,
            {
                "checkpoint": path,
                "step": rundir.checkpoint_step(path),
                "model": run_info["model"],
                "ema": bool(run_info.get("ema")),
                "z_distribution": generator.z_distribution,
                "standing_stats_samples": standing.samples_used(generator),
            },
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # ours alone: mkdtemp made it
        raise
    if os.path.exists(export_dir):  # overwrite: swap, then drop the old one
        old = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
        os.rename(export_dir, os.path.join(old, base))
        os.rename(tmp, export_dir)
        shutil.rmtree(old)
    else:
        os.rename(tmp, export_dir)


def _write_export_info(export_dir, info):
    """What the export holds, beside it: assets.extra/tfgda_export.json."""
    folder = os.path.join(export_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, EXPORT_INFO), "w") as f:
        json.dump(info, f, indent=2)
