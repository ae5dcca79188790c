"""GAN losses against direct numpy computations."""

import numpy as np
import pytest

from tfgda import losses

REAL = np.array([2.0, 0.5, -1.5, 0.0], np.float32)
FAKE = np.array([-2.0, 0.3, 1.2, -0.9], np.float32)


def test_hinge():
    d, g = losses.hinge(REAL, FAKE)
    np.testing.assert_allclose(
        d, np.maximum(0, 1 - REAL) + np.maximum(0, 1 + FAKE), rtol=1e-6)
    np.testing.assert_allclose(g, -FAKE)


def test_non_saturating():
    d, g = losses.non_saturating(REAL, FAKE)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(
        d, -np.log(sigmoid(REAL)) - np.log(1 - sigmoid(FAKE)), rtol=1e-5)
    np.testing.assert_allclose(g, -np.log(sigmoid(FAKE)), rtol=1e-5)


@pytest.mark.parametrize("loss", [losses.hinge, losses.non_saturating])
def test_generator_step_needs_no_real_logits(loss):
    d, g = loss(None, FAKE)
    assert d is None and g.shape == FAKE.shape


def test_consistency():
    a, b = REAL, FAKE
    np.testing.assert_allclose(losses.consistency(a, b), (a - b) ** 2)


def _nt_xent_numpy(a, b, tau):
    z = np.concatenate([a, b])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(a)
    sim = z @ z.T / tau
    out = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        out.append(-sim[i, j] + np.log(np.exp(sim[i, others]).sum()))
    out = np.array(out)
    return (out[:n] + out[n:]) / 2


def test_nt_xent_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3)).astype(np.float32)
    b = a + 0.3 * rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(losses.nt_xent(a, b, 0.5),
                               _nt_xent_numpy(a, b, 0.5), rtol=1e-4)
    # Matching views are cheaper than unrelated ones.
    assert losses.nt_xent(a, a, 0.1).numpy().mean() < losses.nt_xent(
        a, rng.normal(size=(5, 3)).astype(np.float32), 0.1).numpy().mean()


@pytest.mark.parametrize("call, message", [
    (lambda: losses.bcr(lambda_real=-1.0), "bcr.lambda_real must be >= 0"),
    (lambda: losses.contrastive(weight=-0.1), "contrastive.weight must be"),
    (lambda: losses.contrastive(weight=0.1, temperature=0.0),
     "temperature must be > 0"),
    (lambda: losses.bcr(lambda_real=1.0, augment="nope"),
     "unknown augmentation"),
])
def test_bad_regularizer_settings(call, message):
    from tfgda.errors import UserError
    with pytest.raises(UserError, match=message):
        call()


def test_regularizers_off_by_default():
    assert losses.bcr() is None and losses.contrastive() is None
