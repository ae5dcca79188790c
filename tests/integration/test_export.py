"""SavedModel export: signatures, a fresh-process reload, bad input."""

import json
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
from tfgda.rundir import export
from tfgda.training import trainer

_RELOAD = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
z = tf.constant(np.load(sys.argv[2]))
out = model.signatures["serving_default"](z=z)
np.save(sys.argv[3], out["float_images"].numpy())
"""


def _in_process_images(model_dir, z, labels=None):
    run = rundir.Run(model_dir)
    (path,) = run.checkpoints("latest")
    with run.config():
        sampler = run.generator(path)
    labels = tf.zeros([len(z)], tf.int32) if labels is None else labels
    return sampler(tf.constant(z), labels, training=False).numpy()


def test_reload_in_a_fresh_process_matches_the_ema_generator(run_dir, tmp_path):
    out = tmp_path / "exported"
    export.export_generator(run_dir, str(out))
    z = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _RELOAD,
            str(out),
            str(tmp_path / "z.npy"),
            str(tmp_path / "images.npy"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    reloaded = np.load(tmp_path / "images.npy")
    np.testing.assert_allclose(
        reloaded, _in_process_images(run_dir, z), atol=1e-5
    )


def test_signatures_shapes_dtypes_and_tools(run_dir, tmp_path):
    out = str(tmp_path / "exported")
    export.export_generator(run_dir, out)
    model = tf.saved_model.load(out)
    serve = model.signatures["serving_default"]
    images = serve(z=tf.zeros([3, 8]))["images"]
    assert images.shape == (3, 32, 32, 3) and images.dtype == tf.uint8
    sample = model.signatures["sample"]
    a = sample(seed=tf.constant(7, tf.int64), count=tf.constant(4))
    b = sample(seed=tf.constant(7, tf.int64), count=tf.constant(4))
    assert a["images"].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(a["images"], b["images"])
    import tensorflow_hub as hub

    assert "sample" in hub.load(out).signatures
    shown = subprocess.run(
        ["saved_model_cli", "show", "--dir", out, "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "serving_default" in shown.stdout and "sample" in shown.stdout
    # The EMA generator went out with its own BN statistics, and says so.
    with open(os.path.join(out, "assets.extra", export.EXPORT_INFO)) as f:
        info = json.load(f)
    assert info["ema"] and info["standing_stats_samples"] == 64
    assert info["step"] == 2 and info["z_distribution"] == "uniform"


def test_conditional_export_honours_labels(tmp_path, tiny_zip):
    model_dir = str(tmp_path / "run")
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            1,
            "train.model = @biggan",
            "biggan.ch = 4",
            "biggan.dim_z = 8",
        ),
    )
    trainer.train(model_dir)
    out = str(tmp_path / "exported")
    export.export_generator(model_dir, out)
    serve = tf.saved_model.load(out).signatures["serving_default"]
    z = tf.random.normal([2, 8], seed=1)
    a = serve(z=z, labels=tf.constant([0, 0]))["float_images"]
    b = serve(z=z, labels=tf.constant([2, 2]))["float_images"]
    assert not np.allclose(a, b)
    np.testing.assert_allclose(
        a,
        _in_process_images(model_dir, z.numpy(), tf.constant([0, 0])),
        atol=1e-5,
    )


def test_overwrite_replaces_only_a_previous_export(run_dir, tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        export.export_generator(run_dir, str(out))
    with pytest.raises(UserError, match="not an export written by"):
        export.export_generator(run_dir, str(out), overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"
    new = tmp_path / "new"
    export.export_generator(run_dir, str(new))
    first = (new / "saved_model.pb").stat().st_mtime_ns
    export.export_generator(run_dir, str(new), overwrite=True)
    assert (new / "saved_model.pb").stat().st_mtime_ns != first
    assert tf.saved_model.load(str(new)).signatures["sample"] is not None
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f or ".old-" in f]


def test_no_run_no_checkpoint_and_another_architecture(run_dir, tmp_path):
    with pytest.raises(UserError, match="holds no training run"):
        export.export_generator(str(tmp_path), str(tmp_path / "x"))
    bare = tmp_path / "bare"  # a run's files without its checkpoints
    bare.mkdir()
    shutil.copy(os.path.join(run_dir, rundir.RUN_INFO), bare)
    with pytest.raises(UserError, match="no checkpoint"):
        export.export_generator(str(bare), str(tmp_path / "x"))
    with pytest.raises(UserError, match="does not fit the model"):
        export.export_generator(
            run_dir, str(tmp_path / "x"), gin_bindings=["sndcgan.ch = 8"]
        )
    assert not (tmp_path / "x").exists()


def test_cli_exports_and_refuses_an_existing_directory(run_dir, tmp_path):
    out = tmp_path / "cli_export"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [
        sys.executable,
        "-m",
        "tfgda.export",
        f"--model_dir={run_dir}",
        f"--export_dir={out}",
    ]
    first = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert (out / "saved_model.pb").exists()
    again = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "exists: choose another, or pass --overwrite" in again.stderr
    # --overwrite onto the run itself, or onto the folder that holds it:
    # refused in one line, every file of the run kept.
    before = sorted(os.listdir(run_dir))
    for target in (run_dir, os.path.dirname(run_dir)):
        onto = args[:-1] + [f"--export_dir={target}", "--overwrite"]
        refused = subprocess.run(
            onto, capture_output=True, text=True, cwd=REPO, env=env, timeout=300
        )
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "holds the run" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert sorted(os.listdir(run_dir)) == before


def test_exporting_a_run_keeps_the_callers_gin_config(run_dir, tmp_path):
    # A notebook binds its own config, exports a run (its config loaded to
    # rebuild the generator), then trains: its bindings must be there.
    configs.parse([], ["train.steps = 7", "sndcgan.ch = 3"])
    export.export_generator(run_dir, str(tmp_path / "out"))
    assert (tmp_path / "out" / "saved_model.pb").exists()
    assert gin.query_parameter("train.steps") == 7
    assert gin.query_parameter("sndcgan.ch") == 3
