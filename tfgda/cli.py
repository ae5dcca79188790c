"""What the command-line tools share: common flags and user-error output.

Flags are defined once here, so the tools can be imported together (as the
tests and notebooks do). A `UserError` is printed as one line on stderr,
without a traceback, and the tool exits with its status (2; 75 when a
multi-worker job lost a worker and should be restarted).
"""

import sys

from absl import app
from absl import flags
from absl import logging

from tfgda import console
from tfgda.errors import UserError

__all__ = [
    "CHECKPOINT",
    "GIN_BINDINGS",
    "IMAGES",
    "MODEL_DIR",
    "OUT",
    "ROOT",
    "SEED",
    "main",
    "report",
]

MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "The run's directory: checkpoints, summaries, configs."
)
GIN_BINDINGS = flags.DEFINE_multi_string(
    "gin_bindings", [], 'Gin bindings, e.g. "train.steps = 1000".'
)
ROOT = flags.DEFINE_string(
    "root",
    None,
    "A sweep's directory: one folder per point, sweep.json, results.csv.",
)
OUT = flags.DEFINE_string(
    "out",
    None,
    "Where to write the output: a file (augment_gallery, "
    "default gallery.png) or a directory (report, default ROOT/report).",
)
IMAGES = flags.DEFINE_string(
    "images",
    None,
    "An image archive: a zip file or image folder (one "
    "sub-folder per class; augment_gallery, train_feature_net).",
)
SEED = flags.DEFINE_integer(
    "seed",
    0,
    "The tool's random seed (augment_gallery: the random "
    "parameters; train_feature_net: the weights and batches).",
)
CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "latest", "'latest', a step number, or 'all' (evaluation)."
)


def report(fn, *args, **kwargs):
    """Calls fn; returns 0, or the error's exit status after printing a
    UserError as one line."""
    try:
        fn(*args, **kwargs)
    except UserError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return e.exit_status
    return 0


def main(body):
    """An absl main that runs `body()` and exits with `report`'s status."""

    def _main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.INFO)
        console.setup_logging(
            flags.FLAGS.verbosity
            if flags.FLAGS["verbosity"].present
            else console.verbosity([])
        )
        sys.exit(report(body))

    return _main
