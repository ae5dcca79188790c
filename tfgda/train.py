"""Trains a GAN from gin files.

  python -m tfgda.train --gin_file=quickstart.gin --model_dir=/tmp/run

Rerunning with the same --model_dir resumes from its latest checkpoint.
"""

from absl import app
from absl import flags

from tfgda import cli
from tfgda import configs
from tfgda import trainer

__all__ = ["GIN_FILE", "run", "train_cli"]

GIN_FILE = flags.DEFINE_multi_string(
    "gin_file", [], "Gin config file(s): a path, or a name under gin_configs/."
)

# Shared flags this tool uses, listed by --help (not only --helpfull).
flags.declare_key_flag("model_dir")
flags.declare_key_flag("gin_bindings")


def _train(gin_files, gin_bindings, model_dir):
    trainer.check_model_dir(model_dir)
    configs.parse(gin_files, gin_bindings)
    trainer.train(model_dir)


def train_cli(gin_files, gin_bindings, model_dir):
    """Parses the config and trains; returns the exit status.

    A UserError is printed as one line on stderr (status 2), before anything
    is written to model_dir when the problem is in the config or the data.
    """
    return cli.report(_train, gin_files, gin_bindings, model_dir)


def run():
    """The console entry point `tfgda-train`."""
    app.run(
        cli.main(
            lambda: _train(
                GIN_FILE.value, cli.GIN_BINDINGS.value, cli.MODEL_DIR.value
            )
        )
    )


if __name__ == "__main__":
    run()
