"""GAN losses against direct numpy computations."""

import numpy as np
import pytest
import tensorflow as tf

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


def test_nt_xent_over_gathered_views_is_the_whole_batchs():
    """Global negatives: each slice of the batch, scored against every
    view with its offset, gives the whole batch's per-pair losses."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 4)).astype(np.float32)
    b = a + 0.5 * rng.normal(size=(6, 4)).astype(np.float32)
    whole = losses.nt_xent(a, b, 0.2).numpy()
    parts = [losses.nt_xent(a[i:i + 3], b[i:i + 3], 0.2, a, b, i).numpy()
             for i in (0, 3)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5)
    # Per-slice negatives are another loss.
    assert not np.allclose(losses.nt_xent(a[:3], b[:3], 0.2), whole[:3])


@pytest.mark.parametrize("loss", [losses.hinge, losses.non_saturating])
def test_mixed_targets_interpolate_the_real_and_fake_terms(loss):
    logits = tf.constant([-2.0, -0.5, 0.0, 0.7, 3.0])
    real_term, _ = loss(logits, None)
    both, _ = loss(logits, logits)
    fake_term = both - real_term
    for r in (0.0, 0.25, 1.0):
        np.testing.assert_allclose(
            losses.mixed_target_d_loss(loss, logits, tf.fill([5], r)),
            r * real_term + (1 - r) * fake_term, rtol=1e-6)
    # r = 1 is the real term, r = 0 the fake term, as the loss defines.
    d, _ = loss(logits, -logits)
    np.testing.assert_allclose(
        losses.mixed_target_d_loss(loss, logits, tf.ones([5])) +
        losses.mixed_target_d_loss(loss, -logits, tf.zeros([5])), d,
        rtol=1e-6)


def test_consistency():
    a, b = REAL, FAKE
    np.testing.assert_allclose(losses.consistency(a, b), (a - b) ** 2)


def _simclr_numpy(a, b, tau):
    """SimCLR's add_contrastive_loss, per pair: loss_a + loss_b."""
    u = a / np.linalg.norm(a, axis=1, keepdims=True)
    v = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    mask = np.eye(n) * 1e9

    def cross_entropy(logits):
        logits = logits - logits.max(1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return -log_p[np.arange(n), np.arange(n)]  # positives: first block
    loss_a = cross_entropy(np.concatenate([u @ v.T / tau,
                                           u @ u.T / tau - mask], 1))
    loss_b = cross_entropy(np.concatenate([v @ u.T / tau,
                                           v @ v.T / tau - mask], 1))
    return loss_a + loss_b


def test_nt_xent_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3)).astype(np.float32)
    b = a + 0.3 * rng.normal(size=(5, 3)).astype(np.float32)
    # SimCLR's scale: the batch mean is loss_a + loss_b (summed).
    np.testing.assert_allclose(losses.nt_xent(a, b, 0.5),
                               _simclr_numpy(a, b, 0.5), rtol=1e-4)
    # Matching views are cheaper than unrelated ones.
    assert losses.nt_xent(a, a, 0.1).numpy().mean() < losses.nt_xent(
        a, rng.normal(size=(5, 3)).astype(np.float32), 0.1).numpy().mean()


@pytest.mark.parametrize("call, message", [
    (lambda: losses.bcr(lambda_real=-1.0), "bcr.lambda_real must be >= 0"),
    (lambda: losses.contrastive(weight=1.0, negatives="all"),
     "contrastive.negatives 'all' is not one of"),
    (lambda: losses.bcr(lambda_real=1.0, inputs="raw"),
     "bcr.inputs 'raw' is not one of"),
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
