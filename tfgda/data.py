"""Datasets as `tf.data` pipelines of {'images', 'labels'} batches.

Two sources:
  * a TensorFlow Datasets name (default `cifar10`), downloaded by TFDS;
  * an image archive: a zip file or a directory of images. An image's label is
    the index of its parent folder's name among the sorted folder names
    (`cat/0042.jpg` is class `cat`); an archive whose images sit at its top
    level has no labels (num_classes = 0).

Images come out as float32 NHWC in [-1, 1]; labels as int32. Training
pipelines shuffle with a seed, repeat, batch with drop_remainder and prefetch.

An archive's index (its file names) is read up front and a sample of its
images is checked; the images themselves are read and decoded in `tf.data` as
batches need them.

Batches go back out as image grids (`image_grid`, `write_png`): TensorBoard
samples, sample files and galleries.
"""

import collections
import concurrent.futures
import contextlib
import io
import math
import os
import time
import zipfile

from absl import logging
import gin
import numpy as np
from PIL import Image
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.errors import first_line
from tfgda.errors import resumes_from

__all__ = [
    "DatasetInfo",
    "IMAGE_EXTENSIONS",
    "ImageArchive",
    "MixedSizesError",
    "explain_error",
    "image_grid",
    "dataset",
    "to_uint8",
    "write_png",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

# source: the TFDS name, or the archive's absolute path.
DatasetInfo = collections.namedtuple(
    "DatasetInfo",
    ["name", "num_classes", "image_shape", "num_examples", "source"],
)


@gin.configurable(
    "dataset",
    denylist=[
        "batch_size",
        "seed",
        "shuffle",
        "repeat",
        "drop_remainder",
        "held_out",
    ],
)
def dataset(
    batch_size,
    seed=0,
    shuffle=True,
    repeat=True,
    drop_remainder=True,
    *,
    held_out=False,
    name=None,
    path=None,
    split="train",
    resize=None,
    data_dir=None,
    shuffle_buffer=10_000,
    cache=True,
    subset=None,
    subset_seed=0,
    check_images=500,
):
    """Builds the input pipeline; returns (tf.data.Dataset, DatasetInfo).

    Args:
      batch_size: the global batch size.
      seed: the shuffle seed.
      shuffle, repeat: True for training; False for one ordered pass.
      drop_remainder: drop a last, smaller batch (True for training).
      held_out: the images of the split that `subset` leaves out, instead
        of the subset (what training never reads; needs `subset`).
      name: a TFDS name (default 'cifar10'), or 'images' for an archive.
      path: a zip file or an image directory; setting it alone selects
        'images'.
      split: the TFDS split ('train', 'test', ...).
      resize: None, or an int or (height, width) to resize every image to.
      data_dir: TFDS data directory (TFDS' default when None).
      shuffle_buffer: number of examples in the shuffle buffer.
      cache: keep decoded uint8 images in memory after the first pass (right
        for CIFAR-sized data). Off, an archive is streamed: its file names
        are shuffled (all of them, each epoch) and each image is read and
        decoded when a batch needs it, so memory stays bounded by the
        prefetched batches whatever the archive's size.
      subset: None (every image), or a number of images to keep: for an
        archive a random choice fixed by `subset_seed` (the same images for
        every train.seed), for TFDS the split's first `subset` examples.
        For data-scarce experiments (e.g. 5000 = 10% of CIFAR-10).
      check_images: how many of an archive's images (a fixed random choice)
        are decoded before training starts, to find unreadable files and
        the image size early; None: all of them. An unreadable image met
        later stops the run with its name; its checkpoints are kept.
    """
    name = _resolve_name(name, path)
    size = _check_resize(resize)
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int) or subset < 1
    ):
        raise UserError(
            f"dataset.subset must be a positive number of "
            f"images, got {subset!r}: e.g. dataset.subset = "
            "5000."
        )
    if held_out and subset is None:
        raise UserError(
            "held-out images need dataset.subset (training then reads only "
            "those); for a run on a whole split, give another archive of "
            "the same distribution."
        )
    shuffled = False
    if name == "images":
        ds, info, load = _image_archive(
            path,
            size,
            subset,
            subset_seed,
            order_seed=seed if shuffle else None,
            check_images=check_images,
            held_out=held_out,
        )
        if shuffle and not cache:  # shuffle names, not decoded images
            ds = ds.shuffle(
                info.num_examples, seed=seed, reshuffle_each_iteration=True
            )
            shuffled = True
        ds = load(ds)
    else:
        if subset is not None:
            split = f"{split}[{subset}:]" if held_out else f"{split}[:{subset}]"
        ds, info = _tfds(name, split, data_dir, seed)
    if size is not None:
        ds = ds.map(
            lambda x, y: (_resize(x, size), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        info = info._replace(image_shape=(*size, 3))
    if cache:
        ds = ds.cache()
    if shuffle and not shuffled:
        ds = ds.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
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
    return (
        name.lower().endswith(IMAGE_EXTENSIONS)
        and "__MACOSX" not in parts
        and not parts[-1].startswith(".")
    )


def _check_resize(resize):
    """(height, width) of dataset.resize, or None; a UserError otherwise."""
    if resize is None:
        return None
    size = (resize, resize) if isinstance(resize, int) else resize
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0
            for s in size
        )
    ):
        raise UserError(
            f"dataset.resize must be a positive integer or "
            f"(height, width) of positive integers, got "
            f"{resize!r}: e.g. dataset.resize = 32."
        )
    return tuple(size)


def _resize(image, size):
    image = tf.image.resize(image, size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _resolve_name(name, path):
    if path is not None and name not in (None, "images"):
        raise UserError(
            f"dataset.path is set but dataset.name is {name!r}: set "
            "dataset.name = 'images' (or leave it unset) to read the archive, "
            "or drop dataset.path to use TFDS."
        )
    if name is None:
        return "images" if path is not None else "cifar10"
    if name == "images" and path is None:
        raise UserError(
            "dataset.name = 'images' needs dataset.path: a zip "
            "file or a directory of images."
        )
    return name


# ---------------------------------------------------------------- TFDS
def _tfds(name, split, data_dir, seed):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            logging.info(
                "Downloading and preparing the TFDS dataset %r in "
                "%s (once; later runs read it from there) ...",
                name,
                builder.data_dir,
            )
        builder.download_and_prepare()
    except ModuleNotFoundError as e:  # a dependency, not the network
        raise UserError(
            f"TFDS needs the Python module {e.name!r} to prepare {name!r}, "
            f"and it is not installed: pip install {e.name} (or reinstall "
            "tfgda, which declares it: pip install -e .)."
        ) from e
    except Exception as e:  # network, permissions, unknown name...
        raise UserError(
            f"TFDS dataset {name!r} could not be loaded ({type(e).__name__}: "
            f"{first_line(e)}). Without network "
            "access, use an image archive instead: "
            "--gin_bindings=\"dataset.path='/path/to/train.zip'\" (a zip or "
            "folder of images, one sub-folder per class)."
        ) from e
    features = builder.info.features
    if "image" not in features:
        raise UserError(f"TFDS dataset {name!r} has no 'image' feature.")
    num_classes = features["label"].num_classes if "label" in features else 0
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    ds = builder.as_dataset(
        split=split, shuffle_files=True, read_config=read_config
    )

    def unpack(example):
        label = example["label"] if num_classes else tf.constant(0, tf.int64)
        image = example["image"]
        image = (
            tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image
        )
        return image, label

    ds = ds.map(unpack, num_parallel_calls=tf.data.AUTOTUNE)
    shape = tuple(features["image"].shape[:2]) + (3,)
    num_examples = int(ds.cardinality())  # TFDS knows it; -2 if unknown
    return ds, DatasetInfo(name, num_classes, shape, num_examples, name)


# ------------------------------------------------------ image archives
_READ_ERROR = "tfgda could not read "  # marks the reader's own errors
_DECODE_ERRORS = (
    "DecodeImage",
    "jpeg::",
    "Invalid PNG",
    "Invalid GIF",
    "Invalid BMP",
    "Unknown image file format",
    "is not compatible with expected shape",
    "ReadFile",
)


class MixedSizesError(UserError):
    """An archive whose images differ in size; `problem` is the message
    without its fix, for callers whose fix is another."""

    def __init__(self, message, problem):
        super().__init__(message)
        self.problem = problem


def _folder_files(path):
    """Relative names of the files under a folder. A local folder is walked
    following symlinks, each real folder and file once (a link back up the
    tree would otherwise list every image again at each depth)."""
    if _is_remote(path):  # object stores have no links
        for root, _, files in tf.io.gfile.walk(path):
            rel = os.path.relpath(root, path) if root != path else ""
            yield from (os.path.join(rel, f) if rel else f for f in files)
        return
    seen = set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        rel = os.path.relpath(root, path) if root != path else ""
        for f in sorted(files):
            target = os.path.realpath(os.path.join(root, f))
            if target not in seen:
                seen.add(target)
                yield os.path.join(rel, f) if rel else f


def _is_remote(path):
    return "://" in path


class ImageArchive:
    """A zip file or a directory of images: its index (file names, labels)
    read up front, its images read one by one when the pipeline needs them.

    Directories are read with `tf.io.read_file` (local or any TensorFlow
    filesystem, e.g. gs://); zip members through Python's zipfile, shared by
    the pipeline's threads.
    """

    def __init__(self, path):
        path = os.path.expanduser(str(path))
        self.path = _absolute(path)
        try:
            exists = tf.io.gfile.exists(path)
        except tf.errors.OpError as e:  # e.g. a filesystem not available
            raise UserError(
                f"dataset.path {path!r} cannot be read ({first_line(e)})."
            ) from e
        if not exists:
            raise UserError(
                f"dataset.path {path!r} does not exist: give a "
                "zip file or a directory of images."
            )
        self.is_dir = tf.io.gfile.isdir(path)
        self._zip = None
        self._checked = {}  # name: its `_size` result
        if self.is_dir:
            names = list(_folder_files(path))
        else:
            self._zip = self._open_zip()
            names = self._zip.namelist()
        self.names = sorted(n for n in names if _is_image_name(n))
        if not self.names:
            raise UserError(
                f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {path!r}."
            )

    def _open_zip(self):
        try:
            file = (
                tf.io.gfile.GFile(self.path, "rb")
                if _is_remote(self.path)
                else open(self.path, "rb")
            )
        except (OSError, tf.errors.OpError) as e:
            raise UserError(
                f"dataset.path {self.path!r} cannot be read ({first_line(e)})."
            ) from e
        try:
            return zipfile.ZipFile(file)
        except zipfile.BadZipFile as e:
            file.close()
            raise UserError(
                f"dataset.path {self.path!r} is neither a zip "
                "file nor a directory."
            ) from e

    def read(self, name):
        """The bytes of one image file."""
        if self.is_dir:
            with tf.io.gfile.GFile(os.path.join(self.path, name), "rb") as f:
                return f.read()
        return self._zip.read(name)

    def load(self, ds, shape):
        """Maps a dataset of (file name, label) to (decoded uint8 image of
        `shape`, label), reading the files in parallel. An error reading a
        zip member names it; the others name their file or are found by
        `explain_error`."""
        if self.is_dir:
            ds = ds.map(
                lambda n, y: (
                    tf.io.read_file(tf.strings.join([self.path, "/", n])),
                    y,
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        else:  # one Python call per 32 members
            ds = ds.batch(32).map(
                lambda n, y: (self._read_zip_op(n), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            ds = ds.unbatch()
        return ds.map(
            lambda b, y: (_decode(b, shape), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def _read_zip_op(self, names):
        def read(names):
            out = np.empty(names.shape, object)
            for i, name in np.ndenumerate(names):
                name = name.decode()
                try:
                    out[i] = self._zip.read(name)
                except Exception as e:  # OSError, BadZipFile, zlib.error...
                    raise ValueError(
                        f"{_READ_ERROR}{name!r} in {self.path!r} "
                        f"({type(e).__name__}: {first_line(e)})"
                    ) from e
            return out

        data = tf.numpy_function(read, [names], tf.string, stateful=False)
        return tf.ensure_shape(data, names.shape)

    def check(self, names, mixed_ok):
        """Decodes `names` fully; returns their common (H, W, 3) shape (None
        if mixed and mixed_ok). Raises a UserError on an unreadable image,
        and on mixed sizes unless mixed_ok."""
        todo = [n for n in names if n not in self._checked]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            self._checked.update(zip(todo, pool.map(self._size, todo)))
        found = [self._checked[n] for n in names]
        sizes = collections.Counter()
        example = {}
        for n, (size, error) in zip(names, found):
            if error is not None:
                raise UserError(
                    f"{n!r} in {self.path!r} is not a readable image "
                    f"({error}); remove or replace it."
                )
            sizes[size] += 1
            example.setdefault(size, n)
        if len(sizes) > 1 and mixed_ok:
            return None
        if len(sizes) > 1:
            listed = ", ".join(
                f"{w}x{h} ({c} images, e.g. {example[(w, h)]!r})"
                for (w, h), c in sizes.most_common(3)
            )
            raise MixedSizesError(
                f"images in {self.path!r} have mixed sizes: {listed}. Bind "
                "dataset.resize = 32 (or another size) to resize them all.",
                f"images in {self.path!r} have mixed sizes: {listed}.",
            )
        ((w, h),) = sizes
        return (h, w, 3)

    def _size(self, name):
        """((width, height), None), or (None, the reason it is unreadable)."""
        try:
            with Image.open(io.BytesIO(self.read(name))) as image:
                image.load()  # a full decode: truncated files fail here
                return image.size, None
        except Exception as e:  # PIL and the readers raise several types
            return None, f"{type(e).__name__}: {first_line(e)}"

    def find_unreadable(self, shape=None):
        """The first image (in name order) that cannot be read, or whose size
        is not `shape`: (name, reason), or None if every image reads."""
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for n, (size, error) in zip(
                self.names, pool.map(self._size, self.names)
            ):
                if error is not None:
                    return n, error
                if shape is not None and (size[1], size[0]) != shape[:2]:
                    return n, (
                        f"{size[0]}x{size[1]}, the others {shape[1]}x{shape[0]}"
                    )
        return None


def _image_archive(
    path,
    size,
    subset=None,
    subset_seed=0,
    order_seed=None,
    check_images=500,
    held_out=False,
):
    """Indexes and checks a zip file or a directory of images (or `subset`
    of them, chosen at random with `subset_seed`, or with `held_out` the
    others); returns a dataset of
    (file name, label), its DatasetInfo, and `load`, which maps such a
    dataset to one of (decoded uint8 image, label).

    Images must share one size unless `size` (the resize target) is given;
    `check_images` of them (a seeded random choice; None: all) are decoded
    up front. With `order_seed` the names come in an order permuted by it
    (for training: archives are often stored class by class, and a shuffle
    buffer smaller than the archive would otherwise see one or two classes
    at a time); without it, in sorted name order.
    """
    started = time.time()
    archive, labels, num_classes, indexed = _index(path)  # the whole archive's
    names = archive.names
    if subset is not None:
        if subset > len(names):
            raise UserError(
                f"dataset.subset = {subset} but {path!r} has "
                f"{len(names)} images: choose at most "
                f"{len(names)}."
            )
        keep = sorted(
            np.random.default_rng(subset_seed).choice(
                len(names), subset, replace=False
            )
        )
        if held_out:
            keep = sorted(set(range(len(names))) - set(keep))
        if not keep:
            raise UserError(
                f"dataset.subset = {subset} keeps every image of {path!r}: "
                "none is held out."
            )
        names, labels = [names[i] for i in keep], [labels[i] for i in keep]
    if check_images is None or check_images >= len(names):
        sample = names
    else:
        sample = [
            names[i]
            for i in sorted(
                np.random.default_rng(0).choice(
                    len(names), check_images, replace=False
                )
            )
        ]
    shape = archive.check(sample, mixed_ok=size is not None)
    if order_seed is not None:
        order = np.random.default_rng(order_seed).permutation(len(names))
        names, labels = [names[i] for i in order], [labels[i] for i in order]
    logging.log(
        logging.INFO if indexed else logging.DEBUG,
        "Indexed %d images (%d classes) and checked %d of them in %.1f s.",
        len(names),
        num_classes,
        len(sample),
        time.time() - started,
    )
    ds = tf.data.Dataset.from_tensor_slices((names, labels))
    info = DatasetInfo("images", num_classes, shape, len(names), archive.path)
    return ds, info, lambda ds: archive.load(ds, shape)


# Archives indexed in the current `shared_indexes` scope: stamp, index.
_SHARED = None


@contextlib.contextmanager
def shared_indexes():
    """A scope (or a decorator) in which each image archive is listed, and
    each of its images checked, once: a training run's dataset, its hooks'
    fixed batches and its evaluations then share one index. An archive
    whose size or modification time changes is indexed again."""
    global _SHARED
    outer = _SHARED
    _SHARED = {} if outer is None else outer
    try:
        yield
    finally:
        _SHARED = outer


def _index(path):
    """(ImageArchive, labels, number of classes, whether it was indexed
    now rather than taken from the `shared_indexes` scope)."""
    key = _absolute(os.path.expanduser(str(path)))
    stamp = _stamp(key)
    if _SHARED is not None and key in _SHARED:
        if _SHARED[key][0] == stamp and stamp is not None:
            return (*_SHARED[key][1], False)
    logging.info("Indexing the images in %s ...", path)
    archive = ImageArchive(path)
    labels, num_classes = _labels(archive.path, archive.names)
    if _SHARED is not None:
        _SHARED[key] = (stamp, (archive, labels, num_classes))
    return archive, labels, num_classes, True


def _absolute(path):
    """A local path made absolute; a remote one (gs://...) as it is."""
    return path if _is_remote(path) else os.path.abspath(path)


def _stamp(path):
    """(size, modification time) of a zip file or folder; None if unknown."""
    try:
        stat = tf.io.gfile.stat(path)
    except tf.errors.OpError:
        return None
    return stat.length, stat.mtime_nsec


def explain_error(info, error, latest):
    """A UserError naming the image behind a data-reading `error` met while
    training on an archive (None if the error is not the data's). latest:
    the checkpoint a rerun resumes from."""
    if info.name != "images":
        return None
    text = getattr(error, "message", str(error))
    keep = (
        f"Fix or remove it and rerun: the run resumes from "
        f"{resumes_from(latest)}."
    )
    if _READ_ERROR in text:
        line = text[text.index(_READ_ERROR) :].splitlines()[0]
        return UserError(f"{line}. {keep}")
    if not any(marker in text for marker in _DECODE_ERRORS):
        return None
    logging.info(
        "An image could not be read; looking for it among the %d "
        "images of %s ...",
        info.num_examples,
        info.source,
    )
    try:
        bad = ImageArchive(info.source).find_unreadable(info.image_shape)
    except UserError as e:  # the archive itself is gone
        return UserError(f"{e} {keep}")
    if bad is None:
        return UserError(
            f"reading {info.source!r} failed ({first_line(error)}), but "
            "every image reads now: was the storage unavailable? Rerun: "
            f"the run resumes from {latest or 'its start'}."
        )
    name, reason = bad
    return UserError(
        f"{name!r} in {info.source!r} is not a readable image "
        f"({reason}). {keep}"
    )


def _labels(path, names):
    parents = [os.path.basename(os.path.dirname(n)) for n in names]
    if all(not p for p in parents):
        return [0] * len(names), 0
    if not all(parents):
        raise UserError(
            f"{path!r} has images both at its top level and in class "
            "folders: put every image in a class folder, or none."
        )
    classes = sorted(set(parents))
    index = {c: i for i, c in enumerate(classes)}
    return [index[p] for p in parents], len(classes)


def _decode(data, shape):
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return tf.ensure_shape(image, shape or (None, None, 3))


# --- Image grids: TensorBoard, sample files and galleries.


def image_grid(images, columns=None, pad=1):
    """Tiles a batch [N, H, W, C] in [-1, 1] into one uint8 image.

    Args:
      images: N images; missing cells of the last row are left white.
      columns: images per row (default: ceil(sqrt(N))).
      pad: white pixels between images.
    """
    images = np.asarray(to_uint8(tf.convert_to_tensor(images)))
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8
    )
    for i, image in enumerate(images):
        r, q = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid


def write_png(path, grid):
    """Writes a uint8 [H, W, C] array as a PNG file."""
    tf.io.write_file(path, tf.io.encode_png(grid))
