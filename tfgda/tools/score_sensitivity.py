"""How far a score moves when real images are augmented: its sensitivity.

  python -m tfgda.tools.score_sensitivity --images=cifar10-jpeg/test.zip \\
      --features=cifar10_classifier

Scores `--count` images of an archive, augmented at each strength, against
`--count` other images of it (two disjoint random samples, each of every
class): a score that cannot
see an augmentation cannot tell a generator that leaks it from one that
does not. Prints, per augmentation, the Frechet distance at each strength
and its least-squares slope per unit of strength, and the distance between
the two unaugmented halves (the floor: a score's bias at this count); the
last line is the whole table as JSON.
"""

import json

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from tfgda import augment
from tfgda import cli
from tfgda import data
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import fid as fid_lib

__all__ = ["STUDY_AUGMENTATIONS", "sensitivity", "slope"]

# The augmentations docs/CPU_REPRODUCTION.md's study compares.
STUDY_AUGMENTATIONS = ("translation", "zoom_out", "cutout", "brightness")

_NAMES = cli.flag("names", "Augmentations to apply (default: the study's).")
_STRENGTHS = cli.flag("strengths", "Their strengths.")
_COUNT = flags.DEFINE_integer(
    "count", 2000, "Images in each half (scored and reference)."
)
_FEATURES = flags.DEFINE_string(
    "features",
    "cifar10_classifier",
    "The feature network: cifar10_classifier or inception.",
)
_IMAGES = cli.flag("images", "An image archive (e.g. CIFAR-10's test split).")
_INCEPTION = cli.flag("inception")


def _load_half(path, count, held_out):
    """`count` images of an archive as batches of 100, and their labels:
    the random subset of `count` (subset_seed 0), or with `held_out` a
    random sample of the others. The held-out images are read in a seeded
    shuffled order: archives are stored class by class, so their first
    `count` in name order would be two or three classes (CIFAR-10's test
    zip: 819 airplanes, 808 automobiles, 373 birds), far from the
    reference in any feature space."""
    dataset, _ = data.dataset(
        100,
        seed=0,
        shuffle=held_out,
        repeat=False,
        drop_remainder=False,
        cache=False,
        name="images",
        path=path,
        subset=count,
        held_out=held_out,
    )
    batches, labels, total = [], [], 0
    for batch in dataset:
        batches.append(batch["images"][: count - total])
        labels += batch["labels"].numpy()[: count - total].tolist()
        total += len(batches[-1])
        if total >= count:
            break
    return batches, labels


def _halves(path, count):
    """Two disjoint random sets of `count` images of an archive, as lists
    of batches of 100: the reference, and the images to augment."""
    return tuple(b for b, _ in _labelled_halves(path, count))


def _half_labels(path, count):
    """The class labels of the two halves `_halves` returns."""
    return tuple(labels for _, labels in _labelled_halves(path, count))


def _labelled_halves(path, count):
    reference, images = (
        _load_half(path, count, False),
        _load_half(path, count, True),
    )
    found = len(images[1])
    if found < count:
        raise UserError(
            f"{path!r} holds {count + found} images; --count {count} needs "
            f"{2 * count}: lower --count."
        )
    return reference, images


def _statistics(feature_model, batches):
    features, _ = evaluation.activations(feature_model, batches)
    return fid_lib.statistics(features)


def sensitivity(feature_model, path, names, strengths, count=2000, seed=0):
    """{'floor': the distance between two unaugmented halves, name: [the
    distance at each strength]}, each half `count` images of `path`."""
    with data.shared_indexes():
        reference, images = _halves(path, count)
    mu, sigma = _statistics(feature_model, reference)

    def distance(batches):
        return float(
            fid_lib.fid_from_statistics(
                *_statistics(feature_model, batches), mu, sigma
            )
        )

    table = {"floor": distance(images)}
    for row, name in enumerate(names):
        table[name] = []
        for strength in strengths:
            op = augment.get(name, strength)
            augmented = [
                op(x, tf.constant([seed * 1000 + row, i], tf.int64))
                for i, x in enumerate(images)
            ]
            table[name].append(distance(augmented))
            logging.info("%s %.2f: %.3f", name, strength, table[name][-1])
    return table


def slope(strengths, scores):
    """The least-squares slope of scores against strength."""
    return float(np.polyfit(np.asarray(strengths), np.asarray(scores), 1)[0])


def _main():
    if not _IMAGES.value:
        raise UserError("--images is required: an image archive.")
    try:
        strengths = [float(x) for x in _STRENGTHS.value]
    except ValueError as e:
        raise UserError(f"--strengths must be numbers: {e}") from e
    names = _NAMES.value or list(STUDY_AUGMENTATIONS)
    for name in names:
        augment.describe(name)  # unknown names fail before any work
    feature_model = evaluation.load_features(_FEATURES.value, _INCEPTION.value)
    table = sensitivity(
        feature_model, _IMAGES.value, names, strengths, _COUNT.value
    )
    print(f"floor (two unaugmented halves): {table['floor']:.2f}")
    for name in names:
        scores = " / ".join(f"{s:.1f}" for s in table[name])
        print(
            f"{name}: {scores} at {', '.join(map(str, strengths))}; slope "
            f"{slope(strengths, table[name]):.1f} per unit of strength"
        )
    table["strengths"] = strengths
    table["feature_model"] = feature_model.handle
    if feature_model.sha256:
        table["feature_weights_sha256"] = feature_model.sha256
    print(json.dumps(table))


def run():
    app.run(cli.main(_main))


if __name__ == "__main__":
    run()
