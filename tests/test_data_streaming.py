"""Image archives are streamed: the index up front, a sample checked, the
images read and decoded in tf.data when a batch needs them; an image or an
archive that turns unreadable later stops a run with its name and keeps its
checkpoints."""

import os
import shutil
import uuid
import zipfile

from conftest import tiny_bindings
from conftest import write_images
from conftest import zip_folder
import gin
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from tfgda import data
from tfgda import train as train_cli_lib
from tfgda.errors import UserError
from tfgda.rundir.checkpointing import list_checkpoints


def _truncate(filename):
    with open(filename, "rb") as f:
        content = f.read()
    with open(filename, "r+b") as f:  # in place: the same file, shorter
        f.truncate(len(content) // 2)


def _unchecked_image(folder, check_images):
    """An image of `folder` that a check of `check_images` does not read:
    truncated, dataset must still succeed."""
    names = sorted(
        os.path.relpath(os.path.join(r, f), folder)
        for r, _, files in os.walk(folder)
        for f in files
    )
    for name in names:
        path = os.path.join(folder, name)
        keep = path + ".keep"
        shutil.copy(path, keep)
        _truncate(path)
        try:
            data.dataset(2, path=folder, check_images=check_images)
        except UserError:  # in the sample: put it back, try the next
            os.replace(keep, path)
            continue
        return name, keep
    raise AssertionError("every image was in the sample")


def test_images_are_read_when_a_batch_needs_them(tmp_path):
    folder = write_images(tmp_path / "f", {"": 4}, size=(4, 4))
    ds, info = data.dataset(
        4, path=folder, shuffle=False, repeat=False, cache=False
    )
    assert info.num_examples == 4
    # Changed after dataset: a pipeline that read the files up front
    # would still give the old pixels.
    for name in os.listdir(folder):
        Image.fromarray(np.full((4, 4, 3), 255, np.uint8)).save(
            os.path.join(folder, name)
        )
    images = next(iter(ds))["images"].numpy()
    np.testing.assert_array_equal(images, np.ones_like(images))


def test_streamed_epochs_are_shuffled_by_name_and_see_every_image(tmp_path):
    folder = write_images(tmp_path / "f", {"a": 6, "b": 6}, size=(4, 4))
    ds, _ = data.dataset(12, path=folder, seed=1, cache=False)
    it = iter(ds)
    epochs = [next(it)["images"].numpy().reshape(12, -1) for _ in range(3)]
    ordered, _ = data.dataset(12, path=folder, shuffle=False, repeat=False)
    every = next(iter(ordered))["images"].numpy().reshape(12, -1)

    def key(rows):
        return sorted(map(bytes, rows))

    for epoch in epochs:  # each epoch is a permutation of the archive
        assert key(epoch) == key(every)
    assert not np.array_equal(epochs[0], epochs[1])


def test_only_a_sample_is_decoded_up_front(tmp_path):
    folder = write_images(tmp_path / "f", {"": 20}, size=(4, 4))
    name, _ = _unchecked_image(folder, check_images=3)
    with pytest.raises(UserError, match=name):  # a full check finds it
        data.dataset(2, path=folder, check_images=None)


def test_a_truncated_image_met_later_is_named(tmp_path):
    folder = write_images(tmp_path / "f", {"": 12}, size=(4, 4))
    name, _ = _unchecked_image(folder, check_images=2)
    ds, info = data.dataset(
        12, path=folder, check_images=2, shuffle=False, repeat=False
    )
    with pytest.raises(tf.errors.OpError) as caught:
        next(iter(ds))
    explained = data.explain_error(info, caught.value, "/run/ckpt-7")
    assert isinstance(explained, UserError)
    assert name in str(explained) and "/run/ckpt-7" in str(explained)
    assert "\n" not in str(explained)


def test_an_image_of_another_size_met_later_is_named(tmp_path):
    folder = write_images(tmp_path / "f", {"": 12}, size=(4, 4))
    odd = sorted(os.listdir(folder))[5]
    Image.fromarray(np.zeros((6, 4, 3), np.uint8)).save(
        os.path.join(folder, odd)
    )
    ds, info = data.dataset(
        12, path=folder, check_images=1, shuffle=False, repeat=False
    )
    if info.image_shape != (4, 4, 3):
        pytest.fail("the sample read the odd image; choose another")
    with pytest.raises(tf.errors.OpError) as caught:
        next(iter(ds))
    explained = data.explain_error(info, caught.value, None)
    assert odd in str(explained) and "4x6" in str(explained)


def test_a_zip_that_turns_unreadable_mid_run_is_named(tmp_path):
    # Images large enough that the archive does not fit a read buffer.
    folder = write_images(tmp_path / "f", {"": 12}, size=(32, 32))
    archive = zip_folder(folder, tmp_path / "a.zip")
    ds, info = data.dataset(
        12, path=archive, shuffle=False, repeat=False, cache=False
    )
    with open(archive, "r+b") as f:  # the same file, its members gone
        f.truncate(100)
    with pytest.raises(tf.errors.OpError) as caught:
        next(iter(ds))
    explained = data.explain_error(info, caught.value, "/run/ckpt-3")
    assert "could not read '000.png'" in str(explained)
    assert archive in str(explained) and "/run/ckpt-3" in str(explained)


def test_other_errors_are_not_the_data(tmp_path):
    folder = write_images(tmp_path / "f", {"": 2}, size=(4, 4))
    _, info = data.dataset(2, path=folder)
    error = tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")
    assert data.explain_error(info, error, None) is None


def test_archives_on_a_tensorflow_filesystem(tmp_path):
    folder = write_images(tmp_path / "f", {"a": 2, "b": 2}, size=(4, 4))
    archive = zip_folder(folder, tmp_path / "a.zip")
    root = f"ram://data-{uuid.uuid4().hex}"
    for rel in ("a/000.png", "a/001.png", "b/000.png", "b/001.png"):
        tf.io.gfile.makedirs(os.path.dirname(f"{root}/dir/{rel}"))
        tf.io.gfile.copy(os.path.join(folder, rel), f"{root}/dir/{rel}")
    tf.io.gfile.copy(archive, f"{root}/a.zip")
    local, _ = data.dataset(4, path=folder, shuffle=False, repeat=False)
    expected = next(iter(local))["images"].numpy()
    for path in (f"{root}/dir", f"{root}/a.zip"):
        ds, info = data.dataset(4, path=path, shuffle=False, repeat=False)
        assert info.num_classes == 2 and info.source == path
        np.testing.assert_array_equal(next(iter(ds))["images"], expected)


def test_a_zip_member_that_is_not_an_image_is_named_up_front(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x/broken.png", b"not a png")
    with pytest.raises(UserError, match="'x/broken.png'.*not a readable"):
        data.dataset(1, path=str(archive))


def test_training_stops_at_a_bad_image_and_keeps_its_checkpoints(
    tmp_path, capsys
):
    folder = write_images(tmp_path / "f", {"a": 8, "b": 8}, size=(32, 32))
    model_dir = str(tmp_path / "run")

    def run(steps):
        gin.clear_config()
        return train_cli_lib.train_cli(
            [],
            tiny_bindings(
                folder,
                steps,
                "checkpoints.every = 2",
                "dataset.check_images = 2",
                "dataset.cache = False",
            ),
            model_dir,
        )

    assert run(2) == 0
    name, keep = _unchecked_image(folder, check_images=2)
    capsys.readouterr()
    assert run(6) == 2  # every image is read within an epoch of 16
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0], err
    assert err[0].endswith(f"the run resumes from {model_dir}/ckpt-2.")
    assert [s for s, _ in list_checkpoints(model_dir)][-1] >= 2
    os.replace(keep, os.path.join(folder, name))  # fixed: it resumes
    assert run(6) == 0
    assert [s for s, _ in list_checkpoints(model_dir)][-1] == 6
