"""tfgda.fid_ratio, the paper's Fig. 4 for a run, as a user runs it."""

import json
import os
import subprocess
import sys

from conftest import REPO


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "tfgda.fid_ratio", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_a_run_gets_its_ratios_table_and_figure(
    run_dir, tiny_zip, standin_inception
):
    common = [
        f"--model_dir={run_dir}",
        f"--inception={standin_inception}",
        f"--reference_path={tiny_zip}",
        "--protocol=fid8_test",
        "--batch_size=8",
    ]
    ok = _cli(*common, "--names=translation,instance_noise")
    assert ok.returncode == 0, ok.stderr
    folder = os.path.join(run_dir, "eval", "fid_ratio")
    with open(os.path.join(folder, "ckpt-2.json")) as f:
        result = json.load(f)
    # Each name at its own Fig. 4 grid; one printed line per name.
    assert [r["strength"] for r in result["ratios"]["translation"]] == [
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
    ]
    assert [r["strength"] for r in result["ratios"]["instance_noise"]] == [
        0.02,
        0.04,
        0.06,
        0.08,
        0.1,
    ]
    assert result["num_real"] == result["num_generated"] == 8
    assert result["step"] == 2 and result["metric"] == "fid"
    assert os.path.getsize(os.path.join(folder, "ckpt-2.png")) > 1000
    assert "translation     0.1: " in ok.stderr
    # --strengths gives every name one grid.
    one = _cli(*common, "--names=mixup", "--strengths=0.2,0.4")
    assert one.returncode == 0, one.stderr
    with open(os.path.join(folder, "ckpt-2.json")) as f:
        assert [r["strength"] for r in json.load(f)["ratios"]["mixup"]] == [
            0.2,
            0.4,
        ]


def test_bad_input_is_one_line(run_dir, standin_inception, tmp_path):
    bad_name = _cli(
        f"--model_dir={run_dir}",
        f"--inception={standin_inception}",
        "--names=translatoin",
    )
    assert bad_name.returncode == 2 and "Traceback" not in bad_name.stderr
    assert "translatoin" in bad_name.stderr
    empty = _cli(f"--model_dir={tmp_path}", f"--inception={standin_inception}")
    assert empty.returncode == 2 and "holds no training run" in empty.stderr
    bad_strength = _cli(
        f"--model_dir={run_dir}",
        f"--inception={standin_inception}",
        "--strengths=0.1,lots",
    )
    assert bad_strength.returncode == 2
    assert "--strengths must be numbers" in bad_strength.stderr
