"""Kernel Inception Distance, on TF-GAN's implementation.

KID is the unbiased estimate of the squared MMD between two activation sets
with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al.
2018), averaged over blocks of at most `max_block_size` samples.
"""

import numpy as np
import tensorflow as tf

from tfgda.metrics import tfgan

__all__ = ["kid_from_activations"]


def kid_from_activations(activations1, activations2, max_block_size=1024):
    """KID of two [N, D] activation sets (TF-GAN's function), as a float."""
    cm = tfgan.classifier_metrics()
    # float64: the estimate is a small difference of large kernel sums.
    a = tf.convert_to_tensor(np.asarray(activations1, np.float64))
    b = tf.convert_to_tensor(np.asarray(activations2, np.float64))
    return float(
        cm.kernel_classifier_distance_from_activations(
            a, b, max_block_size=max_block_size
        )
    )
