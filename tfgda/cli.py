"""What the command-line tools share: flags of one meaning, error output.

Each tool defines the flags it takes (`flag` for the shared ones), so no
tool accepts a flag that means nothing to it; tools imported together in
one process (tests, notebooks) share a flag's definition.

A `UserError` is printed as one line on stderr, without a traceback, and
the tool exits with its status (2; 75 when a multi-worker job lost a worker
and should be restarted).
"""

import sys

from absl import app
from absl import flags
from absl import logging

from tfgda import console
from tfgda.errors import UserError

__all__ = ["flag", "main", "report"]

# Flags that several tools take, with one meaning: {name: (kind, default,
# help)}. A tool defines the ones it takes with `flag(name)`; no tool
# accepts a flag it does not use.
_SHARED = {
    "model_dir": (
        "string",
        None,
        "The run's directory: checkpoints, summaries, configs.",
    ),
    "gin_file": (
        "multi_string",
        [],
        "Gin config file(s): a path, or a name under gin_configs/.",
    ),
    "gin_bindings": (
        "multi_string",
        [],
        'Gin bindings, e.g. "train.steps = 1000".',
    ),
    "checkpoint": (
        "string",
        "latest",
        "'latest', a step number, or 'all' (evaluation).",
    ),
    "root": (
        "string",
        None,
        "A sweep's directory: one folder per point, sweep.json, results.csv.",
    ),
    "out": ("string", None, "Where to write the output."),
    "images": (
        "string",
        None,
        "An image archive: a zip file or image folder (one sub-folder per "
        "class).",
    ),
    "seed": ("integer", 0, "The tool's random seed."),
    # Augmentation tools: tfgda.tools.augment_gallery, score_sensitivity.
    "names": ("list", None, "Augmentations (default: the tool's list)."),
    "strengths": (
        "list",
        ["0.1", "0.2", "0.3", "0.4", "0.5"],
        "Augmentation strengths.",
    ),
    # Evaluation: tfgda.evaluate, and tfgda.sweep for each point's.
    "protocol": (
        "string",
        "fid10k_test",
        "fid10k_test, fid50k_train, fid<N>[k]_<split>",
    ),
    "inception": (
        "string",
        None,
        "TF-GAN Inception module: a local directory or TF-Hub address "
        "(default: TF-Hub).",
    ),
    "reference_path": (
        "string",
        None,
        "An image archive of the protocol's split, for runs trained on an "
        "archive (e.g. cifar10-jpeg/test.zip).",
    ),
    "cache_dir": (
        "string",
        "~/.cache/tfgda",
        "Where reference statistics are cached.",
    ),
    "batch_size": ("integer", 100, "Images per batch."),
    "features": (
        "string",
        "inception",
        "The feature network: inception (FID, IS, KID) or "
        "cifar10_classifier (offline; FCD and KID_FCD, not comparable with "
        "FIDs).",
    ),
    "feature_weights": (
        "string",
        None,
        "With --features=cifar10_classifier: a weights file of "
        "tfgda.tools.train_feature_net (default: the shipped one).",
    ),
}

EVALUATION_FLAGS = (
    "protocol",
    "inception",
    "reference_path",
    "cache_dir",
    "batch_size",
    "features",
    "feature_weights",
)


def flag(name, help_text=None):
    """The shared flag `name` for the calling tool: defined once per
    process (tools imported together, as tests do, share it) and listed by
    the tool's --help. `help_text` says what it means to this tool."""
    if name not in flags.FLAGS:
        kind, default, text = _SHARED[name]
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text or text)
    module = sys._getframe(1).f_globals["__name__"]  # noqa: SLF001
    if module == "__main__":  # as absl names the main module
        module = sys.argv[0]
    flags.FLAGS.register_key_flag_for_module(module, flags.FLAGS[name])
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])


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
