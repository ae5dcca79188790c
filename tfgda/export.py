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
--overwrite replaces only a previous export of tfgda's: an OUT that is or
holds a run (a checkpoint, the lock, run_info.json) or a sweep, or holds
anything a SavedModel of ours does not, is refused and left as it is.
"""

from absl import app
from absl import flags

from tfgda import cli
from tfgda import rundir
from tfgda.rundir import export as export_lib

__all__ = ["main", "run"]

_MODEL_DIR = cli.flag("model_dir")
_CHECKPOINT = cli.flag("checkpoint")
_GIN_BINDINGS = cli.flag("gin_bindings")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "Where to write.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace an existing export_dir."
)


def main():
    """The program's body, on the parsed flags (tests call it in-process)."""
    export_lib.export_generator(
        rundir.Run(_MODEL_DIR.value),
        _EXPORT_DIR.value,
        _CHECKPOINT.value,
        _OVERWRITE.value,
        _GIN_BINDINGS.value,
    )


def run():
    """The console entry point `tfgda-export`."""
    app.run(cli.main(main))


if __name__ == "__main__":
    run()
