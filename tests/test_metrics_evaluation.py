"""Choosing the feature network (`tfgda.metrics.evaluation.load_features`)."""

import pytest

from tfgda.errors import UserError
from tfgda.metrics import evaluation


def test_a_misspelled_feature_network_gets_a_suggestion():
    with pytest.raises(UserError) as raised:
        evaluation.load_features("cifar10_clasifier")
    message = str(raised.value)
    assert "unknown --features 'cifar10_clasifier'" in message
    assert "Did you mean 'cifar10_classifier'?" in message
    with pytest.raises(UserError, match="use one of inception") as raised:
        evaluation.load_features("vgg")
    assert "Did you mean" not in str(raised.value)
