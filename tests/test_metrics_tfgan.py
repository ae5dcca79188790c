"""The bridge reaches TF-GAN's own evaluation functions."""

import sys

from tfgda.metrics import tfgan


def test_tfgan_functions_are_reachable():
    cm = tfgan.classifier_metrics()
    assert "tensorflow_gan" in cm.__file__
    for name in (
        "frechet_classifier_distance_from_activations",
        "kernel_classifier_distance_from_activations",
        "classifier_score_from_logits",
        "trace_sqrt_product",
    ):
        assert callable(getattr(cm, name)), name


def test_bridge_leaves_no_stand_in_package():
    tfgan.classifier_metrics()
    module = sys.modules.get("tensorflow_gan")
    assert module is None or getattr(module, "__file__", None)
