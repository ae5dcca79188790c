"""The input pipelines: image archives, TFDS, and their bad inputs."""

import os

from conftest import write_images
from conftest import zip_folder
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfgda import data
from tfgda.errors import UserError


def _first(ds):
    return next(iter(ds))


def test_shared_cifar_zip(cifar_zip):
    ds, info = data.dataset(16, path=cifar_zip)
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert info.num_examples == 10_000
    batch = _first(ds)
    images = batch["images"].numpy()
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.float32
    assert -1.0 <= images.min() < -0.5 and 0.5 < images.max() <= 1.0
    assert batch["labels"].dtype == tf.int32
    assert set(batch["labels"].numpy()) <= set(range(10))


def test_folder_labels_follow_sorted_class_names(tmp_path):
    folder = write_images(tmp_path, {"zebra": 2, "ant": 3}, size=(4, 4))
    ds, info = data.dataset(5, shuffle=False, repeat=False, path=folder)
    assert info.num_classes == 2 and info.num_examples == 5
    labels = _first(ds)["labels"].numpy()
    # Sorted file names: ant/* first (label 0), then zebra/* (label 1).
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1])


def test_pixels_are_scaled_to_minus_one_one(tmp_path):
    folder = tmp_path / "px"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(np.array([[[0, 255, 128]]], np.uint8)).save(
        folder / "a.png"
    )
    ds, _ = data.dataset(1, shuffle=False, repeat=False, path=str(folder))
    np.testing.assert_allclose(
        _first(ds)["images"].numpy().ravel(),
        [-1.0, 1.0, 128 / 127.5 - 1],
        atol=1e-6,
    )


def test_flat_archive_is_unlabelled(tmp_path):
    folder = write_images(tmp_path, {"": 4})
    _, info = data.dataset(2, path=folder)
    assert info.num_classes == 0


def test_zip_and_folder_give_the_same_images(tmp_path):
    folder = write_images(tmp_path / "f", {"a": 3, "b": 3})
    archive = zip_folder(folder, tmp_path / "f.zip")
    a, _ = data.dataset(6, shuffle=False, repeat=False, path=folder)
    b, _ = data.dataset(6, shuffle=False, repeat=False, path=archive)
    np.testing.assert_array_equal(_first(a)["images"], _first(b)["images"])


def test_same_seed_same_order_other_seed_other_order(tiny_zip):
    def labels(seed):
        ds, _ = data.dataset(48, seed=seed, path=tiny_zip)
        return _first(ds)["images"].numpy()

    np.testing.assert_array_equal(labels(1), labels(1))
    assert not np.array_equal(labels(1), labels(2))


def test_resize_makes_mixed_sizes_usable(tmp_path):
    write_images(tmp_path, {"a": 2}, size=(8, 8))
    write_images(tmp_path, {"b": 2}, size=(12, 10), seed=1)
    ds, info = data.dataset(4, path=str(tmp_path), resize=16)
    assert info.image_shape == (16, 16, 3)
    assert _first(ds)["images"].shape == (4, 16, 16, 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "missing.zip"), "does not exist"),
        (lambda p: str(p), "no images"),
        (
            lambda p: (
                write_images(p, {"a": 2}, (8, 8))
                and write_images(p, {"b": 1}, (9, 9))
            ),
            "mixed sizes",
        ),
        (lambda p: write_images(p, {"": 1, "a": 1}), "both at its top level"),
        (
            lambda p: (p / "bad.png").write_bytes(b"not an image") and str(p),
            "not a readable image",
        ),
        (
            lambda p: (p / "x.txt").write_text("hi") and str(p / "x.txt"),
            "neither a zip file nor a directory",
        ),
    ],
)
def test_bad_archives_name_the_problem(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        data.dataset(2, path=make(tmp_path))


def test_name_and_path_conflict():
    with pytest.raises(UserError, match="dataset.name = 'images'"):
        data.dataset(2, name="cifar10", path="x.zip")


def test_tfds_cifar10_pipeline(tmp_path):
    # The real TFDS code path, with TFDS' own generated stand-in records.
    with tfds.testing.mock_data(num_examples=20, data_dir=str(tmp_path)):
        ds, info = data.dataset(4, name="cifar10")
        batch = _first(ds)
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert batch["images"].shape == (4, 32, 32, 3)
    assert float(tf.reduce_max(tf.abs(batch["images"]))) <= 1.0


def test_tfds_download_failure_names_the_archive_alternative(monkeypatch):
    def fail(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    with pytest.raises(UserError, match="dataset.path="):
        data.dataset(2, name="cifar10")


def test_truncated_image_is_found_before_training(tmp_path):
    folder = write_images(tmp_path, {"a": 2}, size=(16, 16))
    path = tmp_path / "a" / "001.png"
    path.write_bytes(path.read_bytes()[:60])  # cut mid-stream
    with pytest.raises(UserError, match="'a/001.png'.*not a readable image"):
        data.dataset(2, path=folder)


def test_a_zip_made_on_macos_trains_on_its_images_only(tmp_path):
    """macOS adds __MACOSX/ folders and ._* AppleDouble files (not images,
    though named like them); they are skipped."""
    import zipfile  # pylint: disable=g-import-not-at-top

    folder = write_images(tmp_path / "images", {"a": 2, "b": 2})
    path = zip_folder(folder, tmp_path / "mac.zip")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/a/._0.png", b"\x00\x05\x16\x07junk")
        archive.writestr("a/._1.png", b"\x00\x05\x16\x07junk")
        archive.writestr(".DS_Store", b"junk")
    ds, info = data.dataset(4, path=path, shuffle=False, repeat=False)
    assert info.num_examples == 4 and info.num_classes == 2
    assert _first(ds)["images"].shape == (4, 8, 8, 3)


@pytest.mark.parametrize("resize", [0, -3, (32,), "32", (32, 0), True])
def test_bad_resize_is_one_line(tmp_path, resize):
    folder = write_images(tmp_path / "images", {"a": 2})
    with pytest.raises(
        UserError, match="dataset.resize must be a positive integer"
    ):
        data.dataset(2, path=folder, resize=resize)


def test_training_batches_of_a_class_sorted_archive_mix_every_class(tmp_path):
    # An archive stored class by class (as CIFAR-10's JPEG copy is), larger
    # than the shuffle buffer: a buffer over the stored order would give
    # batches of one or two classes at a time.
    folder = write_images(
        tmp_path / "images", {c: 40 for c in "abcdefgh"}, size=(4, 4)
    )
    dataset, _ = data.dataset(
        16, seed=3, name="images", path=folder, shuffle_buffer=32
    )
    classes = [len(set(b["labels"].numpy().tolist())) for b in dataset.take(20)]
    assert min(classes) >= 4, classes  # 16 draws from 8 classes
    ordered, _ = data.dataset(
        16, shuffle=False, repeat=False, name="images", path=folder
    )
    labels = np.concatenate([b["labels"].numpy() for b in ordered])
    assert (np.diff(labels) >= 0).all()  # evaluation keeps the order


def test_subset_is_the_same_images_for_every_training_seed(tiny_zip):
    def names(seed, subset_seed=0):
        dataset, info = data.dataset(
            48,
            seed=seed,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
            name="images",
            path=tiny_zip,
            subset=20,
            subset_seed=subset_seed,
        )
        images = next(iter(dataset))["images"].numpy()
        return info, {img.tobytes() for img in images}

    info, a = names(0)
    _, b = names(1)
    _, c = names(0, subset_seed=1)
    assert info.num_examples == 20 and len(a) == 20
    assert info.num_classes == 3  # the archive's classes, not the subset's
    assert a == b and a != c
    for subset, message in [
        (49, "dataset.subset = 49 but"),
        (0, "dataset.subset must be a positive"),
        (2.5, "dataset.subset must be a positive"),
    ]:
        with pytest.raises(UserError, match=message):
            data.dataset(8, name="images", path=tiny_zip, subset=subset)


def test_held_out_images_are_the_split_outside_the_subset(tiny_zip):
    def images(**kwargs):
        dataset, info = data.dataset(
            48,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
            name="images",
            path=tiny_zip,
            **kwargs,
        )
        batch = next(iter(dataset))["images"].numpy()
        return info, {img.tobytes() for img in batch}

    _, everything = images()
    _, subset = images(subset=20)
    info, held_out = images(subset=20, held_out=True)
    assert info.num_examples == 28 and len(held_out) == 28
    assert not subset & held_out and subset | held_out == everything
    _, other = images(subset=20, subset_seed=1, held_out=True)
    assert other != held_out
    with pytest.raises(UserError, match="held-out images need dataset.subset"):
        images(held_out=True)
    with pytest.raises(UserError, match="none is held out"):
        images(subset=48, held_out=True)


def test_a_symlink_loop_in_a_folder_lists_each_image_once(tmp_path):
    folder = write_images(tmp_path / "images", {"a": 3, "b": 2}, size=(8, 8))
    os.symlink("..", os.path.join(folder, "a", "loop"))  # a/loop -> images/
    os.symlink(
        os.path.join(folder, "a", "000.png"),
        os.path.join(folder, "b", "same.png"),
    )
    archive = data.ImageArchive(folder)
    assert archive.names == [
        "a/000.png",
        "a/001.png",
        "a/002.png",
        "b/000.png",
        "b/001.png",
    ]


def test_a_shared_scope_indexes_and_checks_each_archive_once(
    tmp_path, monkeypatch
):
    folder = write_images(tmp_path / "images", {"a": 6, "b": 6}, size=(8, 8))
    path = zip_folder(folder, tmp_path / "images.zip")
    listed, decoded = [], []
    real_init, real_size = data.ImageArchive.__init__, data.ImageArchive._size
    monkeypatch.setattr(
        data.ImageArchive,
        "__init__",
        lambda self, p: listed.append(p) or real_init(self, p),
    )
    monkeypatch.setattr(
        data.ImageArchive,
        "_size",
        lambda self, n: decoded.append(n) or real_size(self, n),
    )
    with data.shared_indexes():
        _, info = data.dataset(4, path=path, check_images=None)
        _, part = data.dataset(4, path=path, subset=5, check_images=None)
        _, rest = data.dataset(
            4, path=path, subset=5, held_out=True, check_images=None
        )
    assert (info.num_examples, part.num_examples, rest.num_examples) == (
        12,
        5,
        7,
    )
    assert len(listed) == 1 and sorted(decoded) == sorted(set(decoded))
    assert len(decoded) == 12
    data.dataset(4, path=path)  # outside the scope: indexed anew
    assert len(listed) == 2


def test_an_archive_changed_inside_the_scope_is_indexed_again(tmp_path):
    folder = write_images(tmp_path / "images", {"a": 6}, size=(8, 8))
    path = zip_folder(folder, tmp_path / "images.zip")
    with data.shared_indexes():
        assert data.dataset(4, path=path)[1].num_examples == 6
        write_images(tmp_path / "more", {"a": 9}, size=(8, 8))
        os.replace(zip_folder(tmp_path / "more", tmp_path / "m.zip"), path)
        assert data.dataset(4, path=path)[1].num_examples == 9
