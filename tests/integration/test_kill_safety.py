"""A run killed with SIGKILL at random moments resumes where its latest
complete checkpoint left it, and every checkpoint left behind restores."""

import os
import random
import re
import signal
import subprocess
import sys
import time

from conftest import REPO
from conftest import tiny_bindings
import pytest
import tensorflow as tf

from tfgda import rundir

STEPS = 600


def _start(model_dir, data, log, steps=STEPS):
    bindings = tiny_bindings(
        data,
        steps,
        "checkpoints.every = 5",
        "samples.every = 50",
        "progress.every = 5",
        "train.ema_decay = 0.9",
    )
    return _popen(model_dir, bindings, log)


def _popen(model_dir, bindings, log):
    """A trainer process of `bindings`, its log in the file `log`."""
    args = [sys.executable, "-m", "tfgda.train", f"--model_dir={model_dir}"]
    args += [f"--gin_bindings={b}" for b in bindings]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        text=True,
    )


def _wait_for_training(process, log, timeout=300):
    """Waits until the run logs its first steps (start-up time varies with
    the machine's load); False if it ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            return False
        with open(log) as f:
            if " steps/s " in f.read():
                return True
        time.sleep(0.1)
    raise AssertionError(f"no training step logged in {timeout} s")


def _check_every_checkpoint(model_dir):
    """The steps of the run's complete checkpoints, found from its files as
    the trainer finds them (a kill can land after a checkpoint's files are
    written and before the state file names it), each read in full."""
    steps = []
    for _, path in rundir.list_checkpoints(model_dir):
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)  # every value is readable
        step = int(path.rsplit("-", 1)[1])
        assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == step
        steps.append(step)
    return steps


def _wait_for_step(process, log, step, timeout=300):
    """Waits until the run logs a step >= `step`; False if it ended
    first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            return False
        with open(log) as f:
            logged = [
                int(n) for n in re.findall(rf"step (\d+)/{STEPS}", f.read())
            ]
        if logged and max(logged) >= step:
            return True
        time.sleep(0.02)
    raise AssertionError(f"step {step} not logged in {timeout} s")


def test_sigkill_at_random_moments_then_resume(tmp_path, tiny_zip):
    """Five kills: one during start-up (restore, tracing), four while it
    trains, each at a random step of the run (not a random time, so a
    fast machine cannot finish first), shortly after a random delay that
    lands anywhere in a step, a save or a sample grid."""
    model_dir = str(tmp_path / "run")
    rng = random.Random(0)
    targets = sorted(rng.sample(range(10, STEPS // 2, 5), 4))
    last = []
    for kills, target in enumerate([None, *targets]):
        log = tmp_path / f"attempt-{kills}.log"
        process = _start(model_dir, tiny_zip, log)
        if target is None:
            time.sleep(rng.uniform(1.0, 4.0))
        else:
            assert _wait_for_step(process, log, target), log.read_text()
            time.sleep(rng.uniform(0.0, 0.05))
        assert process.poll() is None, log.read_text()  # STEPS is far off
        process.send_signal(signal.SIGKILL)
        process.wait()
        steps = _check_every_checkpoint(model_dir)
        assert steps == sorted(steps)
        assert not last or not steps or steps[-1] >= last[-1]  # no going back
        last = steps
    assert last, "no checkpoint before the kills"
    log = tmp_path / "final.log"
    # The resumed run finishes a few checkpoints later (not at STEPS: the
    # hundreds of steps left would prove nothing more).
    process = _start(model_dir, tiny_zip, log, steps=last[-1] + 10)
    process.wait(timeout=600)
    err = log.read_text()
    assert process.returncode == 0, err
    assert f"at step {last[-1]}." in err  # resumed from the latest
    assert _check_every_checkpoint(model_dir)[-1] == last[-1] + 10


def test_a_kill_between_a_save_and_its_state_file_is_counted(
    tmp_path, tiny_zip
):
    """A SIGKILL after a checkpoint's files are complete but before the
    state file names it: the run resumes from it (its files decide), and
    the kill loop above must expect that step, not the state file's."""
    model_dir = tmp_path / "run"
    log = tmp_path / "first.log"
    process = _start(model_dir, tiny_zip, log, steps=10)
    assert process.wait(timeout=600) == 0, log.read_text()
    state = model_dir / "checkpoint"  # as if killed before naming ckpt-10
    state.write_text(
        state.read_text()
        .replace('"ckpt-10"', '"ckpt-5"')
        .replace('all_model_checkpoint_paths: "ckpt-5"\n', "", 1)
    )
    assert tf.train.get_checkpoint_state(
        str(model_dir)
    ).model_checkpoint_path.endswith("ckpt-5")
    assert _check_every_checkpoint(str(model_dir)) == [5, 10]
    log = tmp_path / "resumed.log"
    process = _start(model_dir, tiny_zip, log, steps=15)
    assert process.wait(timeout=600) == 0, log.read_text()
    assert "at step 10." in log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_save_a_checkpoint_and_exit_cleanly(
    tmp_path, tiny_zip, signum
):
    """Ctrl-C (SIGINT) or a scheduler's SIGTERM: the step reached is saved
    (checkpoints are otherwise 1000 steps apart here), the lock released,
    one line printed, and the conventional status 128 + signal."""
    model_dir = tmp_path / "run"
    log = tmp_path / "log"
    bindings = tiny_bindings(
        tiny_zip,
        100_000,
        "checkpoints.every = 1000",
        "samples.every = 1000",
        "progress.every = 1",
    )
    process = _popen(model_dir, bindings, log)
    try:
        assert _wait_for_training(process, log)
        process.send_signal(signum)
        status = process.wait(timeout=120)
    finally:
        process.kill()
    text = log.read_text()
    assert status == 128 + signum, text[-2000:]
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(
        f"error: stopped by {signal.Signals(signum).name} at step "
    ), last
    step = int(last.split(" at step ")[1].split(";")[0])
    assert last.endswith(f"ckpt-{step}."), last
    assert 0 < step < 1000
    steps = _check_every_checkpoint(str(model_dir))
    assert steps == [step]
    assert not (model_dir / ".tfgda.lock").exists()


def test_a_second_signal_stops_a_long_compiled_call_at_once(tmp_path, tiny_zip):
    """One compiled call of 100,000 steps (as a batch too large for memory,
    or a long first compile, would be): the first SIGINT waits for the call
    to end, the second ends the process within seconds, naming where the
    run resumes from."""
    model_dir = tmp_path / "run"
    log = tmp_path / "log"
    bindings = tiny_bindings(
        tiny_zip,
        100_000,
        "train.steps_per_call = 100000",
        "checkpoints.every = 100000",
        "samples.every = 100000",
        "progress.every = 100000",
    )
    process = _popen(model_dir, bindings, log)
    try:
        deadline = time.time() + 300
        while "Compiling the training step" not in log.read_text():
            assert process.poll() is None and time.time() < deadline
            time.sleep(0.1)
        time.sleep(20)  # traced: the call now runs inside TensorFlow
        process.send_signal(signal.SIGINT)
        time.sleep(3)
        assert process.poll() is None  # the first waits for the call
        process.send_signal(signal.SIGINT)
        sent = time.time()
        status = process.wait(timeout=60)
        took = time.time() - sent
    finally:
        process.kill()
    text = log.read_text()
    assert status == 130 and took < 30, (took, text[-2000:])
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1] == (
        "error: stopped at once by a second SIGINT; rerun the same command "
        "to resume from its start (no checkpoint yet)."
    )
