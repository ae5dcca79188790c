"""A run's (EMA) generator as a SavedModel: the library behind
`python -m tfgda.export`, whose docstring gives the signatures and the
files written."""

import json
import os
import shutil

from absl import logging
import tensorflow as tf

from tfgda import data as data_lib
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.models import standing
from tfgda.models.latents import sample_z

__all__ = ["EXPORT_INFO", "GeneratorModule", "export_generator"]

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


def export_generator(
    model_dir, export_dir, which="latest", overwrite=False, gin_bindings=()
):
    """Writes the SavedModel; returns the checkpoint path it came from."""
    if not export_dir:
        raise UserError("--export_dir is required.")
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise UserError(
            f"export_dir {export_dir!r} exists: choose another, "
            "or pass --overwrite to replace it."
        )
    if which == "all":
        raise UserError(
            "--checkpoint=all is not for export: name one step or 'latest'."
        )
    (path,) = rundir.select_checkpoints(model_dir, which)
    run_info = rundir.load_config(model_dir, gin_bindings)
    generator = rundir.restore_generator(model_dir, run_info, path)
    module = GeneratorModule(generator, run_info["num_classes"])
    tmp = f"{export_dir}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
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
    if os.path.exists(export_dir):  # overwrite: swap, then drop the old one
        old = f"{export_dir}.old-{os.getpid()}"
        os.rename(export_dir, old)
        os.rename(tmp, export_dir)
        shutil.rmtree(old)
    else:
        os.rename(tmp, export_dir)
    logging.info("Exported %s to %s.", path, export_dir)
    return path


def _write_export_info(export_dir, info):
    """What the export holds, beside it: assets.extra/tfgda_export.json."""
    folder = os.path.join(export_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, EXPORT_INFO), "w") as f:
        json.dump(info, f, indent=2)
