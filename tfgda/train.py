"""Trains a GAN from gin files.

  python -m tfgda.train --gin_file=quickstart.gin --model_dir=/tmp/run

Rerunning with the same --model_dir resumes from its latest checkpoint.
"""

from absl import app

from tfgda import cli
from tfgda import configs
from tfgda import rundir
from tfgda.training import trainer

__all__ = ["GIN_BINDINGS", "GIN_FILE", "MODEL_DIR", "main", "run", "train_cli"]

GIN_FILE = cli.flag("gin_file")
GIN_BINDINGS = cli.flag("gin_bindings")
MODEL_DIR = cli.flag("model_dir")


def _train(gin_files, gin_bindings, model_dir):
    rundir.check(model_dir)
    configs.parse(gin_files, gin_bindings)
    trainer.train(model_dir)


def train_cli(gin_files, gin_bindings, model_dir):
    """Parses the config and trains; returns the exit status.

    A UserError is printed as one line on stderr (status 2), before anything
    is written to model_dir when the problem is in the config or the data.
    """
    return cli.report(_train, gin_files, gin_bindings, model_dir)


def main():
    """The program's body, on the parsed flags (tests call it in-process)."""
    _train(GIN_FILE.value, GIN_BINDINGS.value, MODEL_DIR.value)


def run():
    """The console entry point `tfgda-train`."""
    app.run(cli.main(main))


if __name__ == "__main__":
    run()
