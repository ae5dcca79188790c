"""What a user sees on the console: tfgda's own lines by default,
TensorFlow's back with a verbosity of 1."""

import logging
import os
import re
import subprocess
import sys

from conftest import REPO
from conftest import tiny_bindings
import pytest

from tfgda import console

_LINE = re.compile(r"^\d\d:\d\d:\d\d ")  # tfgda's own format


def _run(args, env=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", console.ENV)
    } | (env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "argv, env, expected",
    [
        ([], {}, 0),
        (["--verbosity=1"], {}, 1),
        (["-v", "2"], {}, 2),
        (["--verbosity", "-1"], {}, -1),
        ([], {console.ENV: "1"}, 1),
        (["--verbosity=0"], {console.ENV: "1"}, 0),  # the flag wins
        (["--verbosity=x"], {}, 0),  # absl reports the bad value itself
    ],
)
def test_verbosity(argv, env, expected, monkeypatch):
    monkeypatch.delenv(console.ENV, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert console.verbosity(argv) == expected


def test_other_packages_info_lines_are_hidden():
    def record(path, level):
        return logging.LogRecord("absl", level, path, 1, "m", None, None)

    own = os.path.join(os.path.dirname(console.__file__), "trainer.py")
    assert console._own_or_warning(record(own, logging.INFO))
    assert not console._own_or_warning(
        record("/tf/functional_saver.py", logging.INFO)
    )
    assert console._own_or_warning(
        record("/tf/functional_saver.py", logging.WARNING)
    )


def test_tensorflow_start_up_lines_are_hidden_unless_asked_for():
    quiet = _run(["-m", "tfgda.evaluate", "--helpshort"])
    assert "--model_dir" in quiet.stdout
    assert quiet.stderr == ""
    loud = _run(["-m", "tfgda.evaluate", "--helpshort"], {console.ENV: "1"})
    assert "--model_dir" in loud.stdout and loud.stderr.strip()


def test_a_training_run_shows_only_its_own_lines(tmp_path, tiny_zip):
    bindings = [f"--gin_bindings={b}" for b in tiny_bindings(tiny_zip, 2)]
    run = _run(
        ["-m", "tfgda.train", f"--model_dir={tmp_path / 'run'}", *bindings]
    )
    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert all(_LINE.match(line) for line in lines), lines
    text = run.stderr
    for what in (
        "Indexing the images in",
        "Compiling the training step",
        "step 2/2",
        "Finished: step 2 of 2",
    ):
        assert what in text
    assert "Sharding callback" not in text  # TensorFlow's INFO line
