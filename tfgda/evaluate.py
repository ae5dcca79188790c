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

import os

from absl import app
from absl import flags

from tfgda import cli
from tfgda import evaluator
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
    "run",
]

PROTOCOL = flags.DEFINE_string(
    "protocol", "fid10k_test", "fid10k_test, fid50k_train, fid<N>[k]_<split>"
)
INCEPTION = flags.DEFINE_string(
    "inception",
    None,
    "TF-GAN Inception module: a local directory "
    "or TF-Hub address (default: TF-Hub).",
)
REFERENCE_PATH = flags.DEFINE_string(
    "reference_path",
    None,
    "An image archive of the protocol's split, for "
    "runs trained on an archive (e.g. cifar10-jpeg/test.zip).",
)
CACHE_DIR = flags.DEFINE_string(
    "cache_dir", "~/.cache/tfgda", "Where reference statistics are cached."
)
BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Images per batch.")
FEATURES = flags.DEFINE_string(
    "features",
    "inception",
    "The feature network: inception (FID, IS, KID) "
    "or cifar10_classifier (offline; FCD and KID_FCD, not comparable with "
    "FIDs).",
)
FEATURE_WEIGHTS = flags.DEFINE_string(
    "feature_weights",
    None,
    "With --features=cifar10_classifier: a weights "
    "file of tfgda.tools.train_feature_net (default: the shipped one).",
)

# Shared flags this tool uses, listed by --help (not only --helpfull).
flags.declare_key_flag("model_dir")
flags.declare_key_flag("checkpoint")
flags.declare_key_flag("gin_bindings")


def _evaluate():
    model_dir = cli.MODEL_DIR.value
    if not model_dir:
        raise UserError(
            "--model_dir is required: the training run to evaluate."
        )
    if not os.path.isdir(model_dir):
        raise UserError(f"--model_dir {model_dir!r} is not a directory.")
    if BATCH_SIZE.value <= 0:
        raise UserError(
            f"--batch_size must be a positive integer, got {BATCH_SIZE.value}."
        )
    feature_model = evaluation.load_features(
        FEATURES.value, INCEPTION.value, FEATURE_WEIGHTS.value
    )
    evaluator.evaluate_run(
        model_dir,
        cli.CHECKPOINT.value,
        PROTOCOL.value,
        feature_model,
        REFERENCE_PATH.value,
        CACHE_DIR.value,
        BATCH_SIZE.value,
        cli.GIN_BINDINGS.value,
    )


def run():
    """The console entry point `tfgda-evaluate`."""
    app.run(cli.main(_evaluate))


if __name__ == "__main__":
    run()
