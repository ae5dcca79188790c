"""The strategy a run trains under (`tfgda.training.distribute`)."""

import pytest
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.training import distribute


def test_kinds_and_a_bad_kind():
    assert distribute.strategy("default") is tf.distribute.get_strategy()
    mirrored = distribute.strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    assert distribute.worker_role(mirrored) == (True, 0)
    with pytest.raises(UserError, match="is not one of"):
        distribute.strategy("gpu")


@pytest.mark.parametrize(
    "tpu, error, where",
    [
        ("", ValueError("Please provide a TPU Name to connect to."), "on this"),
        ("my-tpu", OSError("Name or service not known"), "named 'my-tpu'"),
    ],
)
def test_no_tpu_is_one_line_naming_the_settings(monkeypatch, tpu, error, where):
    # TensorFlow's resolver asks the cloud's metadata service for a TPU;
    # this machine must not send that traffic, so its failure is replayed.
    def resolver(tpu=None):
        raise error

    monkeypatch.setattr(
        tf.distribute.cluster_resolver, "TPUClusterResolver", resolver
    )
    with pytest.raises(UserError) as raised:
        distribute.strategy("tpu", tpu=tpu)
    message = str(raised.value)
    assert f"found no TPU {where}" in message
    assert "strategy.tpu = 'NAME'" in message and "strategy.kind" in message
