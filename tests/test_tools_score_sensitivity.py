"""The score-sensitivity tool: its two halves of an archive are disjoint
random samples of it (not the archive's class-sorted first images)."""

import collections

from conftest import write_images
from conftest import zip_folder
import numpy as np

from tfgda.tools import score_sensitivity


def test_both_halves_are_random_samples_of_every_class(tmp_path):
    # An archive stored class by class, as CIFAR-10's JPEG zips are: the
    # first 60 names in sorted order are all of class "a".
    folder = write_images(
        tmp_path / "images",
        {"a": 60, "b": 60, "c": 60, "d": 60},
        size=(8, 8),
    )
    path = zip_folder(folder, tmp_path / "sorted.zip")
    reference, images = score_sensitivity._halves(path, 60)
    for half in (reference, images):
        pixels = np.concatenate([np.asarray(b) for b in half])
        assert len(pixels) == 60
    labels = score_sensitivity._half_labels(path, 60)
    for half_labels in labels:
        counts = collections.Counter(half_labels)
        assert set(counts) == {0, 1, 2, 3}, counts
        assert min(counts.values()) >= 5, counts
    # Disjoint: no image in both halves.
    ref = {np.asarray(x).tobytes() for b in reference for x in b}
    assert not ref & {np.asarray(x).tobytes() for b in images for x in b}
