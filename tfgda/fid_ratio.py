"""How much each augmentation narrows real vs generated: the paper's Fig. 4.

  python -m tfgda.fid_ratio --model_dir=DIR [--checkpoint=latest]
      [--names=greenness,mixup,translation,instance_noise]
      [--strengths=0.1,0.2,0.3,0.4,0.5] [--protocol=fid10k_test]
      [--inception=DIR] [--reference_path=ZIP]
      [--features=inception|cifar10_classifier]

Prints FID(t(real), t(fake)) / FID(real, fake) for each augmentation t at
each strength, for one checkpoint's (EMA) generator against the protocol's
reference images, and writes DIR/eval/fid_ratio/ckpt-<step>.json with the
figure beside it (.png). By default the paper's Fig. 4: greenness, mixup
and translation at 0.1-0.5, instance noise at 0.02-0.1; --strengths sets
one grid for every name. See `tfgda.metrics.fid_ratio`.
"""

from absl import app
from absl import logging

from tfgda import cli
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.errors import positive_int
from tfgda.metrics import evaluation
from tfgda.metrics import fid_ratio

__all__ = ["main", "run"]

_MODEL_DIR = cli.flag("model_dir")
_CHECKPOINT = cli.flag("checkpoint")
_NAMES = cli.flag("names", "Augmentations (default: the paper's Fig. 4).")
_STRENGTHS = cli.flag(
    "strengths",
    "Strengths for every name (default: each of Fig. 4's own grid).",
)
_PROTOCOL = cli.flag("protocol")
_INCEPTION = cli.flag("inception")
_REFERENCE_PATH = cli.flag("reference_path")
_BATCH_SIZE = cli.flag("batch_size")
_FEATURES = cli.flag("features")
_FEATURE_WEIGHTS = cli.flag("feature_weights")
_SEED = cli.flag("seed")


def _grid():
    names = _NAMES.value or list(fid_ratio.FIG4)
    if _STRENGTHS.present:
        try:
            strengths = [float(s) for s in _STRENGTHS.value]
        except ValueError as e:
            raise UserError(
                f"--strengths must be numbers, e.g. --strengths=0.1,0.3: {e}."
            ) from e
        return {name: strengths for name in names}
    return {
        name: fid_ratio.FIG4.get(name, fid_ratio.FIG4["translation"])
        for name in names
    }


def main():
    """The program's body, on the parsed flags (tests call it in-process)."""
    run = rundir.Run(_MODEL_DIR.value)
    positive_int("--batch_size", _BATCH_SIZE.value)
    grid = _grid()
    feature_model = evaluation.load_features(
        _FEATURES.value, _INCEPTION.value, _FEATURE_WEIGHTS.value
    )
    result = fid_ratio.fid_ratio_run(
        run,
        grid,
        _CHECKPOINT.value,
        _PROTOCOL.value,
        feature_model,
        _REFERENCE_PATH.value,
        _BATCH_SIZE.value,
        _SEED.value,
    )
    metric = result["metric"].upper()
    logging.info(
        "step %d  %s(real, fake) %.3f over %d real and %d generated images",
        result["step"],
        metric,
        result["distance"],
        result["num_real"],
        result["num_generated"],
    )
    for name, rows in result["ratios"].items():
        logging.info(
            "%-15s %s",
            name,
            "  ".join(f"{r['strength']:g}: {r['ratio']:.3f}" for r in rows),
        )
    logging.info("written: %s", result["png"])


def run():
    """The console entry point `tfgda-fid-ratio`."""
    app.run(cli.main(main))


if __name__ == "__main__":
    run()
