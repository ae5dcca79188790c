"""FID against a plain scipy Frechet distance."""

import numpy as np
import pytest
from scipy import linalg

from tfgda import metrics
from tfgda.metrics import fid


def _frechet_scipy(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 16))
    b = rng.normal(size=(400, 16)) * 1.3 + 0.4
    return a, b


def test_fid_of_a_set_with_itself_is_zero(sets):
    assert abs(metrics.fid_from_activations(sets[0], sets[0])) < 1e-3


def test_fid_equals_scipy(sets):
    a, b = sets
    assert metrics.fid_from_activations(a, b) == pytest.approx(
        _frechet_scipy(a, b), rel=1e-4
    )


def test_fid_from_statistics_equals_from_activations(sets):
    a, b = sets
    assert metrics.fid_from_statistics(
        *fid.statistics(a), *fid.statistics(b)
    ) == pytest.approx(metrics.fid_from_activations(a, b), rel=1e-6)
