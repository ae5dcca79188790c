"""The evaluation CLI: a run evaluated end to end, and its user errors."""

import os
import subprocess
import sys

from conftest import REPO


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "tfgda.evaluate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_cli_evaluates_and_reports_mismatched_architectures(
    run_dir, tiny_zip, tmp_path, standin_inception
):
    common = [
        f"--model_dir={run_dir}",
        f"--inception={standin_inception}",
        f"--reference_path={tiny_zip}",
        "--protocol=fid8_test",
        "--batch_size=8",
        f"--cache_dir={tmp_path / 'cache'}",
    ]
    ok = _cli(*common)
    assert ok.returncode == 0, ok.stderr
    assert "FID" in ok.stderr
    assert os.path.exists(
        os.path.join(run_dir, "eval", "fid8_test", "ckpt-2.json")
    )
    bad = _cli(*common, "--gin_bindings=sndcgan.ch = 8")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "does not fit the model" in bad.stderr
    missing = _cli(
        f"--model_dir={run_dir}",
        "--checkpoint=5",
        f"--inception={standin_inception}",
    )
    assert missing.returncode == 2
    assert "checkpoint '5' is not in" in missing.stderr


def test_cli_user_errors_are_one_line(tmp_path, run_dir):
    not_inception = tmp_path / "not_inception"
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    class Identity(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4])])
        def __call__(self, x):
            return x

    tf.saved_model.save(Identity(), str(not_inception))
    for args, message in [
        ((), "--model_dir is required"),
        (
            (f"--model_dir={tmp_path}", "--batch_size=0"),
            "--batch_size must be a positive integer, got 0.",
        ),
        (
            (f"--model_dir={run_dir}", f"--inception={tmp_path / 'nope'}"),
            f"the Inception module directory '{tmp_path / 'nope'}' does "
            "not exist",
        ),
        (
            (f"--model_dir={run_dir}", f"--inception={not_inception}"),
            f"'{not_inception}' is not TF-GAN's Inception",
        ),
    ]:
        done = _cli(*args)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
        assert (
            done.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
        ), (args, done.stderr[-500:])
