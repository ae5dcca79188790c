"""KID against a direct unbiased MMD computation."""

import numpy as np
import pytest

from tfgda import metrics


def _kid_numpy(a, b):
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3  # noqa: E731
    m, n = len(a), len(b)
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def test_kid_equals_unbiased_mmd():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 8)).astype(np.float32)
    b = (rng.normal(size=(300, 8)) + 0.3).astype(np.float32)
    assert metrics.kid_from_activations(a, b) == pytest.approx(
        _kid_numpy(a.astype(np.float64), b.astype(np.float64)), rel=1e-3
    )
    # Unbiased: two samples of one law give about 0, a shifted law does not.
    c = rng.normal(size=(300, 8)).astype(np.float32)
    d = rng.normal(size=(300, 8)).astype(np.float32)
    assert (
        abs(metrics.kid_from_activations(c, d))
        < metrics.kid_from_activations(a, b) / 10
    )
