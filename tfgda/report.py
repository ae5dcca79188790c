"""Draws a sweep's results in the paper's layouts, beside the paper's values.

  python -m tfgda.report --root=SWEEP_DIR --out=REPORT_DIR

Reads ROOT/results.csv and ROOT/sweep.json (written by `tfgda.sweep`) and
writes to OUT:
  * bars.png when the sweep varies the augmentation: FID per augmentation
    (spatial ones in the top row, the others below, as in the paper's Figures
    2, 3 and 5), one bar per strength, one column of panels per value of any
    other swept name (e.g. with and without bCR), the paper's baseline as a
    dashed line;
  * heatmap.png when it varies two numbers (e.g. lambda_aug x lambda_BCR, as
    in Fig. 14): FID per cell;
  * points.png otherwise: one bar per point;
  * samples.png: each point's last sample grid (first seed), side by side;
  * results.md: one row per point (its FID averaged over seeds, with the
    spread), the paper's value for the same setting and where it comes from.

The paper's values are in `tfgda/experiments/paper_values.csv`, each with its
figure or table; only values stated in the paper's text are there (per-bar
values of its charts are not published as numbers). A sweep scored with the
offline classifier (`tfgda.sweep --features=cifar10_classifier`) is shown
as FCD, with no paper value beside it: the paper reports Inception FIDs.
"""

from absl import app

from tfgda import cli
from tfgda.errors import UserError
from tfgda.experiments import report as report_lib

__all__ = ["run"]

_ROOT = cli.flag("root")
_OUT = cli.flag("out", "Where to write the report (default ROOT/report).")


def _main():
    if not _ROOT.value:
        raise UserError(
            "--root is required: a directory written by tfgda.sweep."
        )
    for path in report_lib.write_report(_ROOT.value, _OUT.value):
        print(path)


def run():
    """The console entry point `tfgda-report`."""
    app.run(cli.main(_main))


if __name__ == "__main__":
    run()
