"""Every Colab notebook runs top to bottom, offline, at smoke scale."""

import json
import os

from conftest import REPO
from conftest import write_images
from conftest import zip_folder
import nbformat
import papermill
import pytest

COLAB = os.path.join(REPO, "colab")
TINY = [
    "sndcgan.ch = 4",
    "sndcgan.dim_z = 8",
    "train.batch_size = 8",
    "samples.every = 2",
    "progress.every = 1",
    "dataset.shuffle_buffer = 64",
]


def _run(name, tmp_path, **parameters):
    out = tmp_path / name
    papermill.execute_notebook(
        os.path.join(COLAB, name),
        str(out),
        parameters=dict(INSTALL=False, **parameters),
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(str(out), as_version=4)


def _text(nb):
    chunks = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", ""))
            chunks.append(json.dumps(output.get("data", {})))
    return "\n".join(chunks)


@pytest.mark.parametrize("name", sorted(os.listdir(COLAB)))
def test_notebooks_are_committed_clean_with_a_badge_and_parameters(name):
    nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "colab.research.google.com" in nb.cells[0].source
    assert "GPU" in nb.cells[0].source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1


def test_quickstart(tmp_path, tiny_zip):
    nb = _run(
        "quickstart.ipynb",
        tmp_path,
        MODEL_DIR=str(tmp_path / "run"),
        STEPS=2,
        DATA_PATH=tiny_zip,
        EXTRA_BINDINGS=TINY,
        SHOW_TENSORBOARD=False,
    )
    assert "step_0000002.png" in _text(nb)
    assert (tmp_path / "run" / "ckpt-2.index").exists()


def test_augmentations(tmp_path):
    # 96 images: the leak check's classifier needs at least 64.
    folder = write_images(
        tmp_path / "images", {"a": 48, "b": 48}, size=(32, 32)
    )
    images = zip_folder(folder, tmp_path / "images.zip")
    nb = _run(
        "augmentations.ipynb",
        tmp_path,
        IMAGES=images,
        STEPS=2,
        ROOT=str(tmp_path / "leak"),
        EXTRA_BINDINGS=TINY,
        LEAK_IMAGES=96,
        CLASSIFIER_STEPS=10,
    )
    text = _text(nb)
    assert "real_only: generated - real mean" in text
    assert "real_and_fake: generated - real mean" in text
    assert "image/png" in text  # the gallery
    # The leak check of both runs, with its three fractions.
    assert "--- real_only" in text and "--- real_and_fake" in text
    assert text.count("classifier held-out accuracy") == 2
    assert text.count("(augmented real images)") == 2


def test_evaluate_and_export(tmp_path, tiny_zip, standin_inception):
    nb = _run(
        "evaluate_and_export.ipynb",
        tmp_path,
        MODEL_DIR=str(tmp_path / "run"),
        TRAIN_STEPS=2,
        DATA_PATH=tiny_zip,
        PROTOCOL="fid8_test",
        INCEPTION=standin_inception,
        REFERENCE_PATH=tiny_zip,
        EXPORT_DIR=str(tmp_path / "export"),
        EXTRA_BINDINGS=TINY,
    )
    assert "'fid':" in _text(nb) or '"fid"' in _text(nb)
    assert (tmp_path / "export" / "saved_model.pb").exists()


def test_bring_your_own_gan(tmp_path):
    folder = write_images(
        tmp_path / "images", {"a": 32, "b": 32}, size=(32, 32)
    )
    nb = _run(
        "bring_your_own_gan.ipynb",
        tmp_path,
        IMAGES=zip_folder(folder, tmp_path / "images.zip"),
        NUM_IMAGES=64,
        EPOCHS=2,
        BATCH_SIZE=16,
        WIDTH=4,
        ADA_SPEED_IMAGES=64,
    )
    text = _text(nb)
    # Three models trained by model.fit, each with its samples shown; the
    # adaptive run logs p and r_t each epoch, and they are plotted.
    assert text.count("Epoch 2/2") == 3
    assert "aug_p:" in text and "aug_rt:" in text
    assert "final p = " in text
    assert text.count("image/png") >= 4
