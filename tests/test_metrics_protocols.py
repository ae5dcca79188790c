"""Protocol names, and each protocol's resize to Inception's input."""

import numpy as np
import pytest

from tfgda import metrics
from tfgda.errors import UserError
from tfgda.metrics import inception
from tfgda.metrics import protocols


def test_paper_protocols():
    p = metrics.parse_protocol("fid10k_test")
    assert (p.num_generated, p.split, p.num_reference, p.repeats) == (
        10_000,
        "test",
        10_000,
        3,
    )
    p = metrics.parse_protocol("fid50k_train")
    assert (p.num_generated, p.split, p.repeats) == (50_000, "train", 1)
    assert metrics.parse_protocol("fid200_test").num_generated == 200


@pytest.mark.parametrize("name", ["fid10k", "is10k_test", "fid1_test", ""])
def test_bad_protocols(name):
    with pytest.raises(UserError, match="protocol"):
        metrics.parse_protocol(name)


def _tf1_bilinear_numpy(images, size):
    """TF1's resize_bilinear (align_corners=False, half_pixel_centers=
    False): source coordinate = destination x in / out, no offset."""
    n, h, w, c = images.shape

    def axis(src, out):
        x = np.arange(out) * (src / out)
        lo = np.floor(x).astype(int)
        return lo, np.minimum(lo + 1, src - 1), x - lo

    y0, y1, fy = axis(h, size)
    x0, x1, fx = axis(w, size)
    top = (
        images[:, y0][:, :, x0] * (1 - fx)[None, None, :, None]
        + images[:, y0][:, :, x1] * fx[None, None, :, None]
    )
    bottom = (
        images[:, y1][:, :, x0] * (1 - fx)[None, None, :, None]
        + images[:, y1][:, :, x1] * fx[None, None, :, None]
    )
    return (
        top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]
    )


def test_fid10k_test_resizes_as_tf1_did():
    assert protocols.parse("fid10k_test").resize == "tf1_bilinear"
    assert protocols.parse("fid50k_train").resize == "bilinear"
    assert protocols.parse("fid1k_test").resize == "bilinear"
    images = (
        np.random.default_rng(0)
        .uniform(-1, 1, [2, 32, 32, 3])
        .astype(np.float32)
    )
    tf1 = inception.resize_images(images, 299, "tf1_bilinear").numpy()
    np.testing.assert_allclose(tf1, _tf1_bilinear_numpy(images, 299), atol=1e-5)
    tf2 = inception.resize_images(images, 299, "bilinear").numpy()
    assert np.abs(tf1 - tf2).mean() > 0.1  # another preprocessing
