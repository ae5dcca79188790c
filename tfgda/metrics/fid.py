"""Frechet Inception Distance, on TF-GAN's implementation.

FID = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2)) between
the Gaussians fitted to two sets of Inception pool_3 activations (Heusel et
al. 2017). Lower is better.
"""

import numpy as np
import tensorflow as tf

from tfgda.metrics import tfgan

__all__ = ["fid_from_activations", "fid_from_statistics", "statistics"]


def _float64(x):
    return tf.convert_to_tensor(np.asarray(x, np.float64))


def fid_from_activations(activations1, activations2):
    """FID of two [N, D] activation sets (TF-GAN's function), as a float."""
    cm = tfgan.classifier_metrics()
    return float(
        cm.frechet_classifier_distance_from_activations(
            _float64(activations1), _float64(activations2)
        )
    )


def statistics(activations):
    """(mu, sigma) of [N, D] activations: the mean and the unbiased
    covariance, as TF-GAN computes them."""
    a = np.asarray(activations, np.float64)
    return a.mean(axis=0), np.cov(a, rowvar=False)


def fid_from_statistics(mu1, sigma1, mu2, sigma2):
    """FID from cached (mu, sigma), with TF-GAN's matrix square root term."""
    cm = tfgan.classifier_metrics()
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    trace_sqrt = cm.trace_sqrt_product(_float64(sigma1), _float64(sigma2))
    return float(
        np.sum((mu1 - mu2) ** 2)
        + np.trace(sigma1)
        + np.trace(sigma2)
        - 2.0 * float(trace_sqrt)
    )
