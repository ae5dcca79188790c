"""What the command-line tools share: flags that coexist, each tool's own
flags, and one-line errors with their exit statuses."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import tfgda
from tfgda import cli
from tfgda.errors import UserError
from tfgda.errors import WorkerLostError


def test_every_tool_imports_beside_every_other():
    # Flags are process-wide: two tools defining one name would make any
    # process importing both (the tests, a notebook) fail at import.
    tools = [
        m.name
        for m in pkgutil.walk_packages(tfgda.__path__, "tfgda.")
        if m.name.split(".")[-1]
        in (
            "train",
            "evaluate",
            "export",
            "sweep",
            "report",
            "leak",
            "augment_gallery",
        )
    ]
    assert len(tools) >= 6
    for name in tools:
        importlib.import_module(name)


@pytest.mark.parametrize(
    "error, status", [(UserError("bad"), 2), (WorkerLostError("lost"), 75)]
)
def test_user_errors_are_one_line_with_their_status(error, status, capsys):
    def fail():
        raise error

    assert cli.report(fail) == status
    assert capsys.readouterr().err == f"error: {error}\n"


def test_success_is_status_zero():
    assert cli.report(lambda: None) == 0


@pytest.mark.parametrize(
    "tool, needed",
    [
        ("tfgda.train", {"model_dir", "gin_file", "gin_bindings"}),
        (
            "tfgda.evaluate",
            {
                "model_dir",
                "checkpoint",
                "gin_bindings",
                "protocol",
                "inception",
                "reference_path",
            },
        ),
        ("tfgda.export", {"model_dir", "checkpoint", "export_dir"}),
        ("tfgda.leak", {"model_dir", "checkpoint", "augment"}),
        (
            "tfgda.sweep",
            {
                "root",
                "gin_file",
                "gin_bindings",
                "protocol",
                "inception",
                "reference_path",
            },
        ),
        ("tfgda.report", {"root", "out", "select"}),
        ("tfgda.tools.augment_gallery", {"images", "out"}),
    ],
)
def test_help_lists_the_flags_a_user_needs(tool, needed):
    """--help shows a module's key flags: its own and the shared ones it
    declares, not only under --helpfull."""
    from absl import flags  # pylint: disable=g-import-not-at-top

    module = importlib.import_module(tool)
    listed = {f.name for f in flags.FLAGS.get_key_flags_for_module(module)}
    assert needed <= listed, needed - listed


# The flags each tool takes, and no others: a flag of another tool is an
# error ("Unknown command line flag"), not silently ignored.
_EVALUATION = set(cli.EVALUATION_FLAGS)  # evaluate's, passed on by sweep
_TOOL_FLAGS = {
    "tfgda.train": {"model_dir", "gin_file", "gin_bindings"},
    "tfgda.evaluate": {"model_dir", "checkpoint", "gin_bindings"} | _EVALUATION,
    "tfgda.export": {
        "model_dir",
        "checkpoint",
        "gin_bindings",
        "export_dir",
        "overwrite",
    },
    "tfgda.leak": {
        "model_dir",
        "checkpoint",
        "augment",
        "leak_images",
        "classifier_steps",
        "leak_reference_path",
    },
    "tfgda.sweep": {
        "root",
        "gin_file",
        "gin_bindings",
        "sweep",
        "dry_run",
        "checkpoints",
        "archive",
    }
    | _EVALUATION,
    "tfgda.report": {"root", "out", "select"},
    "tfgda.fid_ratio": {
        "model_dir",
        "checkpoint",
        "names",
        "strengths",
        "protocol",
        "inception",
        "reference_path",
        "batch_size",
        "features",
        "feature_weights",
        "seed",
    },
    "tfgda.tools.augment_gallery": {
        "images",
        "out",
        "seed",
        "names",
        "strengths",
        "num_images",
        "pool",
        "modules",
    },
    "tfgda.tools.score_sensitivity": {
        "images",
        "inception",
        "names",
        "strengths",
        "count",
        "features",
    },
    "tfgda.tools.train_feature_net": {
        "images",
        "out",
        "seed",
        "test_images",
        "epochs",
        "train_batch_size",
        "lr",
        "width",
        "train_augment",
    },
}

_LIST_FLAGS = """
import importlib, sys
from absl import flags
importlib.import_module(sys.argv[1])
print(" ".join(sorted(
    f.name
    for module, defined in flags.FLAGS.flags_by_module_dict().items()
    if module.startswith("tfgda")
    for f in defined
)))
"""


def test_each_tool_takes_its_own_flags_and_no_others():
    # Each tool in a process of its own, as a user runs it.
    procs = {
        tool: subprocess.Popen(
            [sys.executable, "-c", _LIST_FLAGS, tool],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for tool in _TOOL_FLAGS
    }
    for tool, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, tool
        assert set(out.split()) == _TOOL_FLAGS[tool], tool


def test_a_flag_of_another_tool_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "tfgda.export", "--root=/tmp/sweep"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Unknown command line flag 'root'" in done.stderr
