"""Inception Score against its definition."""

import numpy as np
import pytest

from tfgda import metrics


def test_inception_score_matches_its_definition():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(200, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    marginal = p.mean(0)
    expected = np.exp(np.mean((p * (np.log(p) - np.log(marginal))).sum(1)))
    assert metrics.inception_score_from_logits(logits) == pytest.approx(
        expected, rel=1e-4
    )


def test_confident_diverse_logits_score_the_class_count():
    logits = np.eye(10)[np.arange(100) % 10] * 50
    assert metrics.inception_score_from_logits(logits) == pytest.approx(
        10, rel=1e-3
    )
