"""A run's checkpoints survive copies, moves, lost or garbled state files
and corrupt files: each case trains in-process on a tiny model."""

import logging
import os
import shutil
import subprocess
import sys

from conftest import REPO
from conftest import tiny_bindings
import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgda import configs
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.rundir import checkpointing
from tfgda.training import trainer


def _train(model_dir, data, steps, *extra):
    gin.clear_config()
    configs.parse(
        [],
        tiny_bindings(
            data,
            steps,
            "checkpoints.every = 1",
            "checkpoints.keep = 2",
            *extra,
        ),
    )
    return trainer.train(str(model_dir))


def _steps(model_dir):
    return [step for step, _ in checkpointing.list_checkpoints(str(model_dir))]


def _files(model_dir):
    return {
        name: os.path.getmtime(os.path.join(model_dir, name))
        for name in os.listdir(model_dir)
        if name.startswith("ckpt-")
    }


def _resumed_step(caplog):
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("Resumed from")
    ]
    return int(lines[-1].rsplit("step ", 1)[1].rstrip(".")) if lines else 0


def test_training_a_copy_leaves_the_original_alone(tmp_path, tiny_zip, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    original = tmp_path / "a"
    _train(original, tiny_zip, 3)
    before = _files(original)
    assert _steps(original) == [2, 3]
    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    _train(copy.absolute(), tiny_zip, 6)
    assert _resumed_step(caplog) == 3  # from its own copy of ckpt-3
    # One summary line first, one last.
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("Training sndcgan (G ")
        and "resuming at step 3; writing to " in m
        for m in messages
    )
    assert messages[-1].startswith("Finished: step 6 of 6 in ")
    assert messages[-1].endswith(
        f"; latest checkpoint {copy.absolute()}/ckpt-6."
    )
    assert _files(original) == before  # not one file touched
    assert _steps(copy) == [5, 6]
    # The state file names the copy's own checkpoints, relatively.
    assert tf.train.latest_checkpoint(str(copy)) == str(copy / "ckpt-6")
    with open(copy / "checkpoint") as f:
        assert str(tmp_path) not in f.read()


@pytest.mark.parametrize("damage", ["delete", "garble", "move"])
def test_a_lost_or_stale_state_file_resumes_from_the_files(
    tmp_path, tiny_zip, caplog, damage
):
    caplog.set_level(logging.INFO, logger="absl")
    run = tmp_path / "run"
    _train(run, tiny_zip, 3)
    state = run / "checkpoint"
    if damage == "delete":
        state.unlink()
    elif damage == "garble":
        state.write_text("\x00garbage{{{")
    else:  # a state file with absolute paths, then the run moved
        state.write_text(
            f'model_checkpoint_path: "{run}/ckpt-3"\n'
            f'all_model_checkpoint_paths: "{run}/ckpt-3"\n'
        )
        moved = tmp_path / "moved"
        run.rename(moved)
        run = moved
    _train(run, tiny_zip, 5)
    assert _resumed_step(caplog) == 3
    assert _steps(run) == [4, 5]
    if damage != "move":
        assert any(
            "found from its files" in r.getMessage() for r in caplog.records
        )


@pytest.mark.parametrize(
    "damage", ["truncate_data", "zero_data", "truncate_index"]
)
def test_a_corrupt_latest_checkpoint_falls_back_and_is_kept(
    tmp_path, tiny_zip, caplog, damage
):
    caplog.set_level(logging.INFO, logger="absl")
    run = tmp_path / "run"
    _train(run, tiny_zip, 3)
    kind = "data-00000-of-00001" if "data" in damage else "index"
    path = run / f"ckpt-3.{kind}"
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if damage.startswith("truncate"):
            f.truncate(size // 3)
        else:
            f.write(b"\0" * size)
    # Evaluation and export name the problem and the other checkpoints.
    opened = rundir.Run(str(run))
    with (
        opened.config(),
        pytest.raises(
            UserError,
            match=r"unreadable \(corrupt or "
            r"truncated.*steps \[2\]",
        ),
    ):
        opened.generator(str(run / "ckpt-3"))
    _train(run, tiny_zip, 4)
    assert _resumed_step(caplog) == 2
    warned = [
        r.getMessage()
        for r in caplog.records
        if "is unreadable" in r.getMessage()
    ]
    assert warned and "ckpt-3" in warned[0]
    # Kept for inspection under another name; training went on past it.
    assert (run / f"corrupt-ckpt-3.{kind}").stat().st_size in (size, size // 3)
    assert _steps(run) == [3, 4]


def test_a_fallback_resume_reads_the_data_order_of_the_step_it_restores(
    tmp_path, tiny_zip
):
    # One rule for both: after the newest checkpoint proves unreadable, the
    # run restores the one before and reads the data order of that step, as
    # a run that never wrote the newest one does.
    run, clean = tmp_path / "run", tmp_path / "clean"
    _train(run, tiny_zip, 3)
    shutil.copytree(run, clean)
    for path in clean.glob("ckpt-3.*"):
        path.unlink()
    with open(run / "ckpt-3.index", "r+b") as f:
        f.write(b"\0" * 64)
    _train(run, tiny_zip, 4)
    _train(clean, tiny_zip, 4)
    ours = tf.train.load_checkpoint(str(run / "ckpt-4"))
    theirs = tf.train.load_checkpoint(str(clean / "ckpt-4"))
    names = [n for n in ours.get_variable_to_shape_map() if "generator" in n]
    assert names
    for name in names:
        np.testing.assert_array_equal(
            ours.get_tensor(name), theirs.get_tensor(name), err_msg=name
        )


def test_a_second_corrupt_checkpoint_of_a_step_keeps_the_first(
    tmp_path, tiny_zip
):
    run = tmp_path / "run"
    _train(run, tiny_zip, 3)
    kept = []
    for fill in (b"\1", b"\2"):  # ckpt-3 is unreadable, set aside, retrained
        with open(run / "ckpt-3.index", "r+b") as f:
            f.write(fill * 64)
        kept.append((run / "ckpt-3.index").read_bytes())
        _train(run, tiny_zip, 3 if fill == b"\1" else 4)
    assert (run / "corrupt-ckpt-3.index").read_bytes() == kept[0]
    assert (run / "corrupt-ckpt-3-2.index").read_bytes() == kept[1]
    assert _steps(run) == [3, 4]


def test_a_run_whose_every_checkpoint_is_unreadable_is_refused(
    tmp_path, tiny_zip
):
    run = tmp_path / "run"
    _train(run, tiny_zip, 2)
    for _, path in checkpointing.list_checkpoints(str(run)):
        with open(f"{path}.index", "r+b") as f:
            f.truncate(10)
    with pytest.raises(UserError, match="every checkpoint in .* is unreadable"):
        _train(run, tiny_zip, 3)
    assert sorted(
        n for n in os.listdir(run) if "ckpt" in n and n.endswith(".index")
    ) == ["corrupt-ckpt-1.index", "corrupt-ckpt-2.index"]


def test_partial_writes_are_cleaned_on_the_next_start(tmp_path, tiny_zip):
    run = tmp_path / "run"
    _train(run, tiny_zip, 2)
    (run / "ckpt-3_temp").mkdir()
    (
        run / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001"
    ).write_bytes(b"half")
    _train(run, tiny_zip, 3)
    assert not (run / "ckpt-3_temp").exists()
    assert _steps(run) == [2, 3]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: room for three tiny checkpoints (0.5 MB each)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_run_resumes(
    tmp_path, tiny_zip, small_disk
):
    model_dir = small_disk / "run"
    bindings = tiny_bindings(
        tiny_zip,
        50,
        "checkpoints.every = 1",
        "checkpoints.keep = 50",
        "samples.every = 1000",
    )
    args = [sys.executable, "-m", "tfgda.train", f"--model_dir={model_dir}"]
    args += [f"--gin_bindings={b}" for b in bindings]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no space left on the disk of"), last
    good = checkpointing.list_checkpoints(str(model_dir))
    assert good and last.endswith(
        f"the last good checkpoint is {good[-1][1]}. Free space and rerun "
        "the same command to resume from it."
    ), last
    assert not [n for n in os.listdir(model_dir) if "_temp" in n]
    # Free space (drop the oldest checkpoints): the same command resumes.
    for _, path in good[:-1]:
        checkpointing.remove_checkpoint(path)
    again = subprocess.run(
        args[:-1] + [f"--gin_bindings=train.steps = {good[-1][0] + 1}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Resumed from {good[-1][1]}" in again.stderr
