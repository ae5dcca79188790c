"""What the command-line tools share: flags that coexist, and one-line
errors with their exit statuses."""

import importlib
import pkgutil

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
        ("tfgda.report", {"root", "out"}),
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
