"""Does the generator reproduce an augmentation? (The paper's Figure 8.)

  python -m tfgda.leak --model_dir=DIR --augment='blueness(0.5)'
      [--checkpoint=latest] [--leak_images=4096] [--classifier_steps=600]
      [--leak_reference_path=ZIP]

Trains a small classifier of t(x) against x on the run's real images and
prints the fraction of generated samples it calls augmented, beside the
same fraction for real images (the baseline) and for augmented real images
(the ceiling), with 95% intervals and the leak score; writes
DIR/eval/leak/<spec>/ckpt-<step>.json. See `tfgda.metrics.leakage` and
docs/ADAPTIVE_AND_LEAKS.md.
"""

from absl import app
from absl import flags
from absl import logging

from tfgda import augment as augment_lib
from tfgda import cli
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.errors import positive_int
from tfgda.metrics import leakage

__all__ = ["main", "run"]

_AUGMENT = flags.DEFINE_string(
    "augment",
    None,
    "The augmentation to look for, with its strength: 'blueness(0.5)'.",
)
_NUM_IMAGES = flags.DEFINE_integer(
    "leak_images",
    4096,
    "Real images to train and test the classifier on "
    "(3/4 train, 1/4 held out), and generated images to label.",
)
_STEPS = flags.DEFINE_integer(
    "classifier_steps", 600, "Classifier training steps (batch 64)."
)
_LEAK_REFERENCE = flags.DEFINE_string(
    "leak_reference_path",
    None,
    "Real images (zip or folder) instead of the run's own training data.",
)

_MODEL_DIR = cli.flag("model_dir")
_CHECKPOINT = cli.flag("checkpoint")


def main():
    """The program's body, on the parsed flags (tests call it in-process)."""
    run = rundir.Run(_MODEL_DIR.value)
    if not _AUGMENT.value:
        raise UserError(
            "--augment is required: the augmentation to look "
            "for, e.g. --augment='blueness(0.5)'."
        )
    augment_lib.get(_AUGMENT.value)  # a bad spec fails before any work
    positive_int("--classifier_steps", _STEPS.value)
    if positive_int("--leak_images", _NUM_IMAGES.value) < leakage.MIN_IMAGES:
        raise UserError(
            f"--leak_images must be at least {leakage.MIN_IMAGES} (3/4 of "
            "them train the classifier, 1/4 test it), got "
            f"{_NUM_IMAGES.value}; the default is 4096."
        )
    report = leakage.leak_check(
        run,
        _AUGMENT.value,
        _CHECKPOINT.value,
        _NUM_IMAGES.value,
        _STEPS.value,
        _LEAK_REFERENCE.value,
    )
    logging.info(
        "leak check of step %s written under %s/eval/leak",
        report.step,
        run.model_dir,
    )
    print(report.summary())


def run():
    """The console entry point `tfgda-leak`."""
    app.run(cli.main(main))


if __name__ == "__main__":
    run()
