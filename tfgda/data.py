"""Datasets as `tf.data` pipelines of {'images', 'labels'} batches.

Two sources:
  * a TensorFlow Datasets name (default `cifar10`), downloaded by TFDS;
  * an image archive: a zip file or a directory of images. An image's label is
    the index of its parent folder's name among the sorted folder names
    (`cat/0042.jpg` is class `cat`); an archive whose images sit at its top
    level has no labels (num_classes = 0).

Images come out as float32 NHWC in [-1, 1]; labels as int32. Training
pipelines shuffle with a seed, repeat, batch with drop_remainder and prefetch.
"""

import collections
import io
import os
import zipfile

import gin
import numpy as np
from PIL import Image
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.errors import first_line

__all__ = ["DatasetInfo", "IMAGE_EXTENSIONS", "make_dataset", "to_uint8"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# source: the TFDS name, or the archive's absolute path.
DatasetInfo = collections.namedtuple(
    "DatasetInfo",
    ["name", "num_classes", "image_shape", "num_examples", "source"])


@gin.configurable("dataset", denylist=["batch_size", "seed", "shuffle",
                                       "repeat", "drop_remainder"])
def make_dataset(batch_size, seed=0, shuffle=True, repeat=True,
                 drop_remainder=True, *,
                 name=None, path=None, split="train", resize=None,
                 data_dir=None, shuffle_buffer=10_000, cache=True,
                 subset=None, subset_seed=0):
    """Builds the input pipeline; returns (tf.data.Dataset, DatasetInfo).

    Args:
      batch_size: the global batch size.
      seed: the shuffle seed.
      shuffle, repeat: True for training; False for one ordered pass.
      drop_remainder: drop a last, smaller batch (True for training).
      name: a TFDS name (default 'cifar10'), or 'images' for an archive.
      path: a zip file or an image directory; setting it alone selects
        'images'.
      split: the TFDS split ('train', 'test', ...).
      resize: None, or an int or (height, width) to resize every image to.
      data_dir: TFDS data directory (TFDS' default when None).
      shuffle_buffer: number of examples in the shuffle buffer.
      cache: keep decoded uint8 images in memory after the first pass (right
        for CIFAR-sized data; turn off for large datasets).
      subset: None (every image), or a number of images to keep: for an
        archive a random choice fixed by `subset_seed` (the same images for
        every train.seed), for TFDS the split's first `subset` examples.
        For data-scarce experiments (e.g. 5000 = 10% of CIFAR-10).
    """
    name = _resolve_name(name, path)
    size = _check_resize(resize)
    if subset is not None and (isinstance(subset, bool) or
                               not isinstance(subset, int) or subset < 1):
        raise UserError(f"dataset.subset must be a positive number of "
                        f"images, got {subset!r}: e.g. dataset.subset = "
                        "5000.")
    if name == "images":
        ds, info = _image_archive(path, size, subset, subset_seed,
                                  order_seed=seed if shuffle else None)
    else:
        if subset is not None:
            split = f"{split}[:{subset}]"
        ds, info = _tfds(name, split, data_dir, seed)
    if size is not None:
        ds = ds.map(lambda x, y: (_resize(x, size), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
        info = info._replace(image_shape=(*size, 3))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed,
                        reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE), info


def to_uint8(images):
    """Maps float images in [-1, 1] to uint8 in [0, 255]."""
    images = tf.clip_by_value((images + 1.0) * 127.5 + 0.5, 0.0, 255.0)
    return tf.cast(images, tf.uint8)


def _to_float(images, labels):
    images = tf.cast(images, tf.float32) / 127.5 - 1.0
    return {"images": images, "labels": tf.cast(labels, tf.int32)}


def _is_image_name(name):
    """An image file, not the metadata macOS adds to archives (__MACOSX/
    folders, ._* AppleDouble files) nor a hidden file."""
    parts = name.replace(os.sep, "/").split("/")
    return (name.lower().endswith(IMAGE_EXTENSIONS) and
            "__MACOSX" not in parts and not parts[-1].startswith("."))


def _check_resize(resize):
    """(height, width) of dataset.resize, or None; a UserError otherwise."""
    if resize is None:
        return None
    size = (resize, resize) if isinstance(resize, int) else resize
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0
            for s in size)):
        raise UserError(f"dataset.resize must be a positive integer or "
                        f"(height, width) of positive integers, got "
                        f"{resize!r}: e.g. dataset.resize = 32.")
    return tuple(size)


def _resize(image, size):
    image = tf.image.resize(image, size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _resolve_name(name, path):
    if path is not None and name not in (None, "images"):
        raise UserError(
            f"dataset.path is set but dataset.name is {name!r}: set "
            "dataset.name = 'images' (or leave it unset) to read the archive, "
            "or drop dataset.path to use TFDS.")
    if name is None:
        return "images" if path is not None else "cifar10"
    if name == "images" and path is None:
        raise UserError("dataset.name = 'images' needs dataset.path: a zip "
                        "file or a directory of images.")
    return name


# ---------------------------------------------------------------- TFDS
def _tfds(name, split, data_dir, seed):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
    except ModuleNotFoundError as e:  # a dependency, not the network
        raise UserError(
            f"TFDS needs the Python module {e.name!r} to prepare {name!r}, "
            f"and it is not installed: pip install {e.name} (or reinstall "
            "tfgda, which declares it: pip install -e .).") from e
    except Exception as e:  # network, permissions, unknown name...
        raise UserError(
            f"TFDS dataset {name!r} could not be loaded ({type(e).__name__}: "
            f"{first_line(e)}). Without network "
            "access, use an image archive instead: "
            "--gin_bindings=\"dataset.path='/path/to/train.zip'\" (a zip or "
            "folder of images, one sub-folder per class).") from e
    features = builder.info.features
    if "image" not in features:
        raise UserError(f"TFDS dataset {name!r} has no 'image' feature.")
    num_classes = features["label"].num_classes if "label" in features else 0
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    ds = builder.as_dataset(split=split, shuffle_files=True,
                            read_config=read_config)

    def unpack(example):
        label = example["label"] if num_classes else tf.constant(0, tf.int64)
        image = example["image"]
        image = tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 \
            else image
        return image, label

    ds = ds.map(unpack, num_parallel_calls=tf.data.AUTOTUNE)
    shape = tuple(features["image"].shape[:2]) + (3,)
    num_examples = int(ds.cardinality())  # TFDS knows it; -2 if unknown
    return ds, DatasetInfo(name, num_classes, shape, num_examples, name)


# ------------------------------------------------------ image archives
def _image_archive(path, size, subset=None, subset_seed=0, order_seed=None):
    """Indexes, checks and reads a zip file or a directory of images (or
    `subset` of them, chosen at random with `subset_seed`).

    Images must share one size unless `size` (the resize target) is given.
    With `order_seed` the images come in an order permuted by it (for
    training: archives are often stored class by class, and a shuffle
    buffer smaller than the archive would otherwise see one or two classes
    at a time); without it, in sorted name order.
    """
    path = os.path.expanduser(str(path))
    if not os.path.exists(path):
        raise UserError(f"dataset.path {path!r} does not exist: give a zip "
                        "file or a directory of images.")
    if os.path.isdir(path):
        names = sorted(
            n for n in (os.path.relpath(os.path.join(root, f), path)
                        for root, _, files in os.walk(path) for f in files)
            if _is_image_name(n))
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist()
                           if _is_image_name(n))
    else:
        raise UserError(f"dataset.path {path!r} is neither a zip file nor a "
                        "directory.")
    if not names:
        raise UserError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {path!r}.")
    labels, num_classes = _labels(path, names)  # classes of the whole archive
    if subset is not None:
        if subset > len(names):
            raise UserError(f"dataset.subset = {subset} but {path!r} has "
                            f"{len(names)} images: choose at most "
                            f"{len(names)}.")
        keep = sorted(np.random.default_rng(subset_seed).choice(
            len(names), subset, replace=False))
        names, labels = [names[i] for i in keep], [labels[i] for i in keep]
    if order_seed is not None:
        order = np.random.default_rng(order_seed).permutation(len(names))
        names, labels = [names[i] for i in order], [labels[i] for i in order]
    if os.path.isdir(path):
        contents = [_read_file(os.path.join(path, n)) for n in names]
    else:
        with zipfile.ZipFile(path) as archive:
            contents = [archive.read(n) for n in names]
    shape = _check_images(path, names, contents, mixed_ok=size is not None)
    ds = tf.data.Dataset.from_tensor_slices((contents, labels))
    ds = ds.map(lambda b, y: (_decode(b, shape), y),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds, DatasetInfo("images", num_classes, shape, len(names),
                           os.path.abspath(path))


def _read_file(filename):
    with open(filename, "rb") as f:
        return f.read()


def _check_images(path, names, contents, mixed_ok):
    """Returns the common (H, W, 3) shape (None if mixed and mixed_ok).

    Raises on an unreadable image, and on mixed sizes unless mixed_ok.
    """
    sizes = collections.Counter()
    example = {}
    for n, data in zip(names, contents):
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a full decode: truncated files fail here
                size = image.size
        except Exception as e:  # PIL raises several types
            raise UserError(
                f"{n!r} in {path!r} is not a readable image ({e}); remove "
                "or replace it.") from e
        sizes[size] += 1
        example.setdefault(size, n)
    if len(sizes) > 1 and mixed_ok:
        return None
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} ({c} images, e.g. {example[(w, h)]!r})"
                           for (w, h), c in sizes.most_common(3))
        raise UserError(
            f"images in {path!r} have mixed sizes: {listed}. Bind "
            "dataset.resize = 32 (or another size) to resize them all.")
    (w, h), = sizes
    return (h, w, 3)


def _labels(path, names):
    parents = [os.path.basename(os.path.dirname(n)) for n in names]
    if all(not p for p in parents):
        return [0] * len(names), 0
    if not all(parents):
        raise UserError(
            f"{path!r} has images both at its top level and in class "
            "folders: put every image in a class folder, or none.")
    classes = sorted(set(parents))
    index = {c: i for i, c in enumerate(classes)}
    return [index[p] for p in parents], len(classes)


def _decode(data, shape):
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return tf.ensure_shape(image, shape or (None, None, 3))
