"""Trains a GAN from gin files.

  python -m tfgda.train --gin_file=quickstart.gin --model_dir=/tmp/run

Rerunning with the same --model_dir resumes from its latest checkpoint.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from tfgda import configs
from tfgda import trainer
from tfgda.errors import UserError

__all__ = ["main", "run", "train_cli"]

_GIN_FILE = flags.DEFINE_multi_string(
    "gin_file", [], "Gin config file(s): a path, or a name under gin_configs/.")
_GIN_BINDINGS = flags.DEFINE_multi_string(
    "gin_bindings", [], "Gin bindings, e.g. \"train.steps = 1000\".")
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Directory for checkpoints, summaries and configs.")


def train_cli(gin_files, gin_bindings, model_dir):
    """Parses the config and trains; returns the exit status.

    A UserError is printed as one line on stderr (status 2), before anything
    is written to model_dir when the problem is in the config or the data.
    """
    try:
        trainer.check_model_dir(model_dir)
        configs.parse(gin_files, gin_bindings)
        trainer.train(model_dir)
    except UserError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.INFO)
    sys.exit(train_cli(_GIN_FILE.value, _GIN_BINDINGS.value,
                       _MODEL_DIR.value))


def run():
    """The console entry point `tfgda-train`."""
    app.run(main)


if __name__ == "__main__":
    run()
