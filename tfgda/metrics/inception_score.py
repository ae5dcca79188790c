"""Inception Score, on TF-GAN's implementation.

IS = exp(E_x KL(p(y|x) || p(y))) from the classifier's logits (Salimans et
al. 2016), computed over all logits at once (no splits), as compare_gan
reports it. Higher is better.
"""

import numpy as np
import tensorflow as tf

from tfgda.metrics import tfgan

__all__ = ["inception_score_from_logits"]


def inception_score_from_logits(logits):
    """The Inception Score of [N, classes] logits, as a float."""
    cm = tfgan.classifier_metrics()
    logits = tf.convert_to_tensor(np.asarray(logits, np.float32))
    return float(cm.classifier_score_from_logits(logits))
