"""Where an export may be written: never over a run, a sweep, or a folder
that is not a previous export (`rundir.export.check_export_dir`)."""

import os

import pytest

from tfgda.errors import UserError
from tfgda.rundir import export


def _tree(root):
    """{relative path: bytes} of every file under root."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def _run(folder):
    """A directory laid out as a training run."""
    os.makedirs(folder)
    for name in (
        "ckpt-300.index",
        "ckpt-300.data-00000-of-00001",
        "run_info.json",
        "operative_config.gin",
    ):
        with open(os.path.join(folder, name), "w") as f:
            f.write(name)
    return str(folder)


def _previous_export(folder):
    os.makedirs(os.path.join(folder, "assets.extra"))
    os.makedirs(os.path.join(folder, "variables"))
    for name in ("saved_model.pb", f"assets.extra/{export.EXPORT_INFO}"):
        with open(os.path.join(folder, name), "w") as f:
            f.write("{}")
    return str(folder)


def test_a_run_its_parent_and_a_sweep_are_refused_and_kept(tmp_path):
    runs = tmp_path / "runs"
    run = _run(runs / "a")
    _run(runs / "b")
    sweep = tmp_path / "sweep"
    _run(sweep / "point-0")
    (sweep / "sweep.json").write_text("{}")
    before = _tree(tmp_path)
    for target, match in (
        (run, "holds the run"),  # --export_dir=RUN --overwrite
        (str(runs), "holds the run"),  # --export_dir=RUN/.. --overwrite
        (str(sweep), "holds a training run or sweep"),
        (str(runs / "b"), "holds a training run or sweep"),
    ):
        with pytest.raises(UserError, match=match):
            export.check_export_dir(target, True, run)
    assert _tree(tmp_path) == before


def test_any_marker_of_a_run_makes_a_folder_untouchable(tmp_path):
    for marker in (
        ".tfgda.lock",
        "run_info.json",
        "operative_config.gin",
        "sweep.json",
        "ckpt-5.index",
        "corrupt-ckpt-5.index",
        "corrupt-ckpt-5-2.index",
    ):
        folder = tmp_path / marker.strip(".") / "deep" / "er"
        folder.mkdir(parents=True)
        (folder / marker).write_text("x")
        with pytest.raises(UserError, match="nothing was changed"):
            export.check_export_dir(
                str(tmp_path / marker.strip(".")), True, "/elsewhere/run"
            )
        assert (folder / marker).read_text() == "x"


def test_a_folder_that_is_not_an_export_of_ours_is_refused(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years")
    with pytest.raises(UserError, match=r"not an export .*thesis\.tex"):
        export.check_export_dir(str(mine), True, "/elsewhere/run")
    # A SavedModel someone else wrote: no record of ours.
    other = tmp_path / "other"
    (other / "variables").mkdir(parents=True)
    (other / "saved_model.pb").write_text("x")
    with pytest.raises(UserError, match="no assets.extra/tfgda_export"):
        export.check_export_dir(str(other), True, "/elsewhere/run")
    assert (mine / "thesis.tex").read_text() == "years"


def test_a_previous_export_may_be_replaced_only_with_overwrite(tmp_path):
    previous = _previous_export(tmp_path / "exported")
    with pytest.raises(UserError, match="pass --overwrite"):
        export.check_export_dir(previous, False, "/elsewhere/run")
    export.check_export_dir(previous, True, "/elsewhere/run")
    # An export inside the run's own directory is fine when new.
    run = _run(tmp_path / "run")
    export.check_export_dir(os.path.join(run, "export"), False, run)


def test_unwritable_places_are_named(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UserError, match="lies under the file"):
        export.check_export_dir(str(a_file / "out"), False, "/elsewhere")
    with pytest.raises(UserError, match="is a file, not a directory"):
        export.check_export_dir(str(a_file), True, "/elsewhere")
    with pytest.raises(UserError, match="--export_dir is required"):
        export.check_export_dir("", False, "/elsewhere")
