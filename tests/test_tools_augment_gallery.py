"""The augmentation gallery: layout, and the CLI's output and errors."""

import os
import subprocess
import sys

from conftest import REPO
import numpy as np
from PIL import Image
import tensorflow as tf

from tfgda.tools import augment_gallery


def test_gallery_rows_columns_and_original_first():
    images = tf.random.uniform([8, 16, 16, 3], -1, 1, seed=0)
    rows = augment_gallery.gallery(
        images, ["translation", "cutout"], [0.1, 0.5], num_images=2
    )
    assert len(rows) == 2 and all(len(r) == 3 for r in rows)
    assert rows[0][0].shape == (16, 32, 3)
    np.testing.assert_array_equal(rows[0][0], rows[1][0])  # the original
    # Stronger cutout blacks out more pixels.
    black = [(cell == 0).all(axis=-1).sum() for cell in rows[1][1:]]
    assert black[1] > black[0]


def _run(tmp_path, *args, **env_vars):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env_vars)
    return subprocess.run(
        [sys.executable, "-m", "tfgda.tools.augment_gallery", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_cli_writes_a_png(tmp_path, tiny_zip):
    out = tmp_path / "g.png"
    result = _run(
        tmp_path,
        f"--images={tiny_zip}",
        f"--out={out}",
        "--names=zoom_out,mixup",
        "--strengths=0.2,0.4",
        "--pool=8",
    )
    assert result.returncode == 0, result.stderr
    width, height = Image.open(out).size
    assert width > height  # 3 columns, 2 rows


def test_cli_rejects_unknown_names(tmp_path, tiny_zip):
    result = _run(
        tmp_path,
        f"--images={tiny_zip}",
        "--names=zoom",
        f"--out={tmp_path / 'g.png'}",
    )
    assert result.returncode == 2
    assert "error: unknown augmentation 'zoom'" in result.stderr
    assert not (tmp_path / "g.png").exists()


def test_cli_names_a_missing_output_folder(tmp_path, tiny_zip):
    out = tmp_path / "missing_dir" / "g.png"
    result = _run(tmp_path, f"--images={tiny_zip}", f"--out={out}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"its folder '{out.parent}' does not exist" in result.stderr


_MY_OPS = """
import tensorflow as tf
from tfgda import augment


@augment.register("invert_for_gallery", family="appearance", max_strength=1.0)
def invert(images, seed, strength):
    keep = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed)
    return tf.where(keep >= strength, images, -images)
"""


def test_cli_draws_an_augmentation_of_the_users_own(tmp_path, tiny_zip):
    (tmp_path / "my_ops.py").write_text(_MY_OPS)
    out = tmp_path / "own.png"
    result = _run(
        tmp_path,
        f"--images={tiny_zip}",
        f"--out={out}",
        "--modules=my_ops",
        "--names=invert_for_gallery,translation",
        "--strengths=1.0",
        "--pool=8",
        PYTHONPATH=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "2 augmentations x 1 strengths" in result.stdout
    assert Image.open(out).size[0] > 0
    sys.path.insert(0, str(tmp_path))
    try:
        augment_gallery.import_module("my_ops")
    finally:
        sys.path.remove(str(tmp_path))
    images = tf.random.uniform([4, 8, 8, 3], -1, 1, seed=0)
    (original, inverted), _ = augment_gallery.gallery(
        images, ["invert_for_gallery", "translation"], [1.0]
    )
    np.testing.assert_allclose(
        inverted.astype(int), 255 - original.astype(int), atol=1
    )


def test_cli_names_the_fix_for_a_module_that_is_not_found(tmp_path, tiny_zip):
    result = _run(
        tmp_path,
        f"--images={tiny_zip}",
        "--modules=my_missing_ops",
        f"--out={tmp_path / 'g.png'}",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No module named 'my_missing_ops'" in result.stderr
    assert "on PYTHONPATH" in result.stderr
