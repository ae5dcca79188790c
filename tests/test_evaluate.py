"""The evaluation CLI: a run evaluated end to end, and its user errors."""

import os
import subprocess
import sys

from conftest import REPO


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tfgda.evaluate", *args],
                          capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)


def test_cli_evaluates_and_reports_mismatched_architectures(
        run_dir, tiny_zip, tmp_path, standin_inception):
    common = [f"--model_dir={run_dir}", f"--inception={standin_inception}",
              f"--reference_path={tiny_zip}", "--protocol=fid8_test",
              "--batch_size=8", f"--cache_dir={tmp_path / 'cache'}"]
    ok = _cli(*common)
    assert ok.returncode == 0, ok.stderr
    assert "FID" in ok.stderr
    assert os.path.exists(os.path.join(run_dir, "eval", "fid8_test",
                                       "ckpt-2.json"))
    bad = _cli(*common, "--gin_bindings=sndcgan.ch = 8")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "does not fit the model" in bad.stderr
    missing = _cli(f"--model_dir={run_dir}", "--checkpoint=5",
                   f"--inception={standin_inception}")
    assert missing.returncode == 2
    assert "checkpoint '5' is not in" in missing.stderr


