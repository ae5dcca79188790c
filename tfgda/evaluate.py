"""Evaluates the (EMA) generator of a run's checkpoints: FID, IS and KID.

  python -m tfgda.evaluate --model_dir=DIR [--checkpoint=latest|all|STEP]
      [--protocol=fid10k_test] [--inception=DIR] [--reference_path=ZIP]
      [--features=inception|cifar10_classifier]

Writes DIR/eval/<protocol>/ckpt-<step>.json per checkpoint and TensorBoard
scalars `eval/<protocol>/{fid,inception_score,kid}` under DIR/eval. The
model is rebuilt from DIR/operative_config.gin and DIR/run_info.json.
With --features=cifar10_classifier (offline: the classifier shipped with
tfgda, 32x32 images) the scores are `fcd` and `kid_fcd`, written to
DIR/eval/cifar10_classifier/<protocol>/.
"""

from absl import app

from tfgda import cli
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.metrics import evaluation

__all__ = [
    "BATCH_SIZE",
    "CACHE_DIR",
    "FEATURES",
    "FEATURE_WEIGHTS",
    "INCEPTION",
    "PROTOCOL",
    "REFERENCE_PATH",
    "main",
    "run",
]

MODEL_DIR = cli.flag("model_dir")
CHECKPOINT = cli.flag("checkpoint")
GIN_BINDINGS = cli.flag("gin_bindings")
PROTOCOL = cli.flag("protocol")
INCEPTION = cli.flag("inception")
REFERENCE_PATH = cli.flag("reference_path")
CACHE_DIR = cli.flag("cache_dir")
BATCH_SIZE = cli.flag("batch_size")
FEATURES = cli.flag("features")
FEATURE_WEIGHTS = cli.flag("feature_weights")


def main():
    """The program's body, on the parsed flags (tests call it in-process)."""
    if not MODEL_DIR.value:
        raise UserError(
            "--model_dir is required: the training run to evaluate."
        )
    if BATCH_SIZE.value <= 0:  # the flags first, then the filesystem
        raise UserError(
            f"--batch_size must be a positive integer, got {BATCH_SIZE.value}."
        )
    run = rundir.Run(MODEL_DIR.value)  # checked before any slow work
    feature_model = evaluation.load_features(
        FEATURES.value, INCEPTION.value, FEATURE_WEIGHTS.value
    )
    evaluation.evaluate_run(
        run,
        CHECKPOINT.value,
        PROTOCOL.value,
        feature_model,
        REFERENCE_PATH.value,
        CACHE_DIR.value,
        BATCH_SIZE.value,
        GIN_BINDINGS.value,
    )


def run():
    """The console entry point `tfgda-evaluate`."""
    app.run(cli.main(main))


if __name__ == "__main__":
    run()
