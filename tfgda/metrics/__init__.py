"""FID, Inception Score and KID on TF-GAN's evaluation functions.

  tfgda.metrics.fid_from_activations(a, b)
  tfgda.metrics.kid_from_activations(a, b)
  tfgda.metrics.inception_score_from_logits(logits)

and the whole pipeline (generation, Inception features, cached reference
statistics, protocols) in `tfgda.metrics.evaluation`; the offline feature
network (a CIFAR-10 classifier shipped with tfgda: FCD) in
`tfgda.metrics.classifier`.
"""

from tfgda.metrics.fid import fid_from_activations
from tfgda.metrics.fid import fid_from_statistics
from tfgda.metrics.inception import INCEPTION_TFHUB
from tfgda.metrics.inception import FeatureModel
from tfgda.metrics.inception_score import inception_score_from_logits
from tfgda.metrics.kid import kid_from_activations
from tfgda.metrics.protocols import Protocol
from tfgda.metrics.protocols import parse as parse_protocol

__all__ = [
    "INCEPTION_TFHUB",
    "FeatureModel",
    "Protocol",
    "fid_from_activations",
    "fid_from_statistics",
    "inception_score_from_logits",
    "kid_from_activations",
    "parse_protocol",
]
