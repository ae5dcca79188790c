"""Runs every point of a grid of training runs, and gathers their results.

  python -m tfgda.sweep --gin_file=paper/fig3_sndcgan_real_and_fake.gin \\
      --root=DIR [--dry_run]
  python -m tfgda.sweep --gin_file=sndcgan_cifar10.gin \\
      --sweep="augment.strength=[0.1, 0.2]" --sweep="train.seed=[0, 1]" \\
      --root=DIR

The grid is the config's `sweep.grid` with every `--sweep=NAME=[v1, ...]`
added (or replacing the config's values of NAME); NAME is a
`configurable.param` or a macro the config defines. Each point is a run in
ROOT/<point>/: trained with `tfgda.train`, then its last checkpoint
evaluated with `tfgda.evaluate` under `--protocol`, one point after another.
A point whose evaluation of its final step exists is skipped, so a rerun of
the same command resumes the sweep (and a killed run resumes from its
checkpoint). With --checkpoints=all every checkpoint still on disk is
evaluated. Each evaluated checkpoint of a finished point becomes one row of
ROOT/results.csv (its bindings, settings, protocol, step, whether it is the
final step, seed and metrics), rewritten after every point. With
--archive=DIR each finished point's small results are copied to
DIR/<point>/ (and results.csv to DIR): a point found there is finished, so
a sweep whose runs are lost (another machine) trains only what is missing. With
--dry_run, every point is checked and one shell command per point is
printed (for a cluster or a TPU pod), and nothing runs.

Everything is checked before the first run: each point's bindings parse,
each name is bindable, each value list is well formed, and ROOT holds no
other sweep's results (ROOT/sweep.json records the sweep).
"""

import sys

from absl import app
from absl import flags

from tfgda import cli
from tfgda.errors import UserError
from tfgda.experiments import sweep as sweep_lib

__all__ = ["run"]

_GIN_FILE = cli.flag("gin_file")
_GIN_BINDINGS = cli.flag("gin_bindings")
_ROOT = cli.flag("root")
_SWEEP = flags.DEFINE_multi_string(
    "sweep",
    [],
    "NAME=[v1, v2, ...]: a binding and its values (Python "
    "literals, strings quoted); repeat for a grid.",
)
_DRY_RUN = flags.DEFINE_bool(
    "dry_run",
    False,
    "Check the grid and print one command per point; run nothing.",
)
_CHECKPOINTS = flags.DEFINE_enum(
    "checkpoints",
    "last",
    ["last", "all"],
    "Which checkpoints of each "
    "point to evaluate: its last, or every one still on disk "
    "(checkpoints.keep; the evaluation hook evaluates during training).",
)
_ARCHIVE = flags.DEFINE_string(
    "archive",
    None,
    "A folder that keeps each finished point's small results (evaluation "
    "JSONs, configs, log, wall time, last sample grid; no checkpoint), "
    "e.g. inside a git repository: a point found there counts as finished "
    "and is not trained again, even on a machine without ROOT's runs.",
)
# Each point's evaluation takes these, as tfgda.evaluate does.
_EVAL = {name: cli.flag(name) for name in cli.EVALUATION_FLAGS}


def _eval_flags():
    """The evaluation flags given to this command, passed on to each
    point's evaluation."""
    return [
        f"--{name}={holder.value}"
        for name, holder in _EVAL.items()
        if holder.value is not None
    ]


def _main():
    sweep = sweep_lib.expand(_GIN_FILE.value, _GIN_BINDINGS.value, _SWEEP.value)
    root = _ROOT.value
    evaluation = {name: holder.value for name, holder in _EVAL.items()}
    # A dry run checks what the sweep would: its commands must not fail at
    # evaluation on the machines they are sent to.
    sweep_lib.check_evaluation(
        sweep,
        evaluation["protocol"],
        evaluation["reference_path"],
        evaluation["inception"],
        evaluation["features"],
        evaluation["feature_weights"],
    )
    if not _DRY_RUN.value:
        print(
            f"sweep of {len(sweep.points)} points into {root}", file=sys.stderr
        )
    failed = sweep_lib.run_sweep(
        sweep,
        root,
        evaluation["protocol"],
        _eval_flags(),
        _DRY_RUN.value,
        checkpoints=_CHECKPOINTS.value,
        features=evaluation["features"],
        archive=_ARCHIVE.value,
    )
    if failed:
        raise UserError(
            f"{len(failed)} of {len(sweep.points)} points "
            f"failed ({', '.join(p.name for p in failed)}): see "
            "their sweep.log; rerun the same command to retry "
            "them (finished points are skipped)."
        )


def run():
    """The console entry point `tfgda-sweep`."""
    app.run(cli.main(_main))


if __name__ == "__main__":
    run()
