"""Exports the (EMA) generator of a checkpoint as a SavedModel.

  python -m tfgda.export --model_dir=DIR --export_dir=OUT
      [--checkpoint=latest|STEP] [--overwrite]

Signatures:
  * serving_default: z float32 [N, dim_z] (and labels int32 [N] for
    class-conditional generators) -> {'images': uint8 [N, H, W, 3],
    'float_images': float32 in [-1, 1]};
  * sample: seed int64 [] and count int32 [] -> the same outputs, from
    z of the generator's distribution (U(-1, 1) or N(0, 1); see
    `tfgda.models.sample_z`) and uniform labels, drawn with that seed.
An EMA generator is exported with its own batch-norm statistics
(`standing_stats.num_samples` of its samples). OUT/assets.extra/
tfgda_export.json records the checkpoint, step, model, latent distribution
and that sample count.
Reload with `tf.saved_model.load(OUT)` or `tensorflow_hub.load(OUT)`;
`saved_model_cli show --dir OUT --all` lists the signatures. The export is
written to a temporary directory and renamed into place; an existing OUT is
kept unless --overwrite, and replaced only once the new export is complete.
"""

import json
import os
import shutil

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from tfgda import cli
from tfgda import data as data_lib
from tfgda import evaluator
from tfgda.checkpointing import VariableList
from tfgda.checkpointing import checkpoint_step
from tfgda.errors import UserError
from tfgda.models import standing
from tfgda.models.latents import sample_z

__all__ = ["EXPORT_INFO", "GeneratorModule", "export_generator", "run"]

EXPORT_INFO = "tfgda_export.json"

_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "Where to write.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace an existing export_dir."
)

# Shared flags this tool uses, listed by --help (not only --helpfull).
flags.declare_key_flag("model_dir")
flags.declare_key_flag("checkpoint")
flags.declare_key_flag("gin_bindings")


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
        self.weights = VariableList(generator)
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
    (path,) = evaluator.checkpoints_to_evaluate(model_dir, which)
    run_info = evaluator.load_run(model_dir, gin_bindings)
    generator = evaluator.build_sampler(model_dir, run_info, path)
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
            "step": checkpoint_step(path),
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


def _export():
    model_dir = cli.MODEL_DIR.value
    if not model_dir or not os.path.isdir(model_dir):
        raise UserError(f"--model_dir {model_dir!r} is not a directory.")
    export_generator(
        model_dir,
        _EXPORT_DIR.value,
        cli.CHECKPOINT.value,
        _OVERWRITE.value,
        cli.GIN_BINDINGS.value,
    )


def run():
    """The console entry point `tfgda-export`."""
    app.run(cli.main(_export))


if __name__ == "__main__":
    run()
