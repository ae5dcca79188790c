"""tfgda's DiffAugment ops against DiffAugment's PyTorch ops: for the same
random draws (recorded from the reference), the same images."""

import numpy as np

from tfgda.augment import diffaugment

BATCH = 6


def _images():
    """The images reference_runner.py augments (drawn after its z and
    labels)."""
    rng = np.random.default_rng(1)
    rng.normal(size=(BATCH, 128))
    rng.integers(0, 10, BATCH)
    return rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)


def test_color_equals_the_reference(diffaugment_reference):
    ref = diffaugment_reference
    brightness, saturation, contrast = (
        ref[f"color.rand.{i}"] for i in range(3)
    )
    out = diffaugment.color_with(
        _images(),
        np.transpose(brightness - 0.5, (0, 2, 3, 1)),
        np.transpose(saturation * 2, (0, 2, 3, 1)),
        np.transpose(contrast + 0.5, (0, 2, 3, 1)),
    )
    np.testing.assert_allclose(out, ref["color.out"], atol=1e-5)


def test_translation_equals_the_reference(diffaugment_reference):
    ref = diffaugment_reference
    rows = ref["translation.randint.0"].reshape(-1)
    cols = ref["translation.randint.1"].reshape(-1)
    assert np.abs(rows).max() <= 4 and len(set(rows)) > 1  # 32 / 8
    out = diffaugment.translation_by(_images(), rows, cols)
    np.testing.assert_allclose(out, ref["translation.out"], atol=1e-6)


def test_cutout_equals_the_reference(diffaugment_reference):
    ref = diffaugment_reference
    offset_y = ref["cutout.randint.0"].reshape(-1)
    offset_x = ref["cutout.randint.1"].reshape(-1)
    out = diffaugment.cutout_at(_images(), offset_y, offset_x, 0.5)
    np.testing.assert_allclose(out, ref["cutout.out"], atol=1e-6)


def test_cutout_offsets_follow_the_reference_law():
    """Offsets in [0, size] for an even side (33 values at 32 x 32 with
    side 16), as DiffAugment draws them, and every square clipped."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    images = tf.ones([4000, 32, 32, 1])
    out = diffaugment.diffaugment_cutout(images, tf.constant([3, 4]), 0.5)
    zeroed_rows = tf.reduce_any(out[..., 0] == 0, axis=2).numpy()
    first = zeroed_rows.argmax(axis=1)
    counts = zeroed_rows.sum(axis=1)
    assert counts.min() == 8 and counts.max() == 16
    assert first.max() == 24 and (counts[first == 24] == 8).any()
    assert first.min() == 0 and (counts[first == 0] == 8).any()
