"""Draws a sweep's results in the paper's layouts, beside the paper's values.

  python -m tfgda.report --root=SWEEP_DIR --out=REPORT_DIR

Reads ROOT/results.csv and ROOT/sweep.json (written by `tfgda.sweep`) and
writes to OUT:
  * bars.png when the sweep varies the augmentation: FID per augmentation
    (spatial ones in the top row, the others below, as in the paper's Figures
    2, 3 and 5), one bar per strength, one column of panels per value of any
    other swept name (e.g. with and without bCR), the paper's value for the
    same setting as a hatched bar beside ours, its baseline as a dashed line;
  * heatmap.png when it varies two numbers (e.g. lambda_aug x lambda_BCR, as
    in Fig. 14): FID per cell;
  * points.png otherwise: one bar per point;
  * samples.png: each point's last sample grid (first seed), side by side;
  * results.md: one row per point: its FID under each rule (the paper's
    top 15 % of runs, the top 15 % of checkpoints, each seed's last and best
    checkpoint), its IS, the paper's FID and IS for the same setting, ours
    minus the paper's, and where the paper's value comes from.

Every point is shown by the rule --select (default top15, the paper's: it
pools the runs of a point over seeds and reports those whose FID ranks in
the top 15 %, as mean and std).

The paper's values are in `tfgda/experiments/paper_values.csv`, each with its
figure or table: the values stated in its text and tables, and every bar of
Figs. 2, 3, 5 and 6 read off the charts so far (marked so, with its
uncertainty). A sweep scored with the
offline classifier (`tfgda.sweep --features=cifar10_classifier`) is shown
as FCD, with no paper value beside it: the paper reports Inception FIDs.
"""

from absl import app
from absl import flags

from tfgda import cli
from tfgda.errors import UserError
from tfgda.experiments import report as report_lib

__all__ = ["run"]

_ROOT = cli.flag("root")
_OUT = cli.flag("out", "Where to write the report (default ROOT/report).")
_SELECT = flags.DEFINE_enum(
    "select",
    report_lib.DEFAULT_SELECTION,
    list(report_lib.SELECTIONS),
    "Which figure of each point the bars show and the paper is compared "
    "with: top15 (the paper's rule: the top 15 % of runs pooled over "
    "seeds, each by its last checkpoint), top15_checkpoints (the top 15 % "
    "of every run's evaluated checkpoints), last (each seed's last "
    "checkpoint, averaged) or best (each seed's best checkpoint, averaged). "
    "The table lists all four.",
)


def _main():
    if not _ROOT.value:
        raise UserError(
            "--root is required: a directory written by tfgda.sweep."
        )
    for path in report_lib.write_report(_ROOT.value, _OUT.value, _SELECT.value):
        print(path)


def run():
    """The console entry point `tfgda-report`."""
    app.run(cli.main(_main))


if __name__ == "__main__":
    run()
