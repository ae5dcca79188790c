"""GAN losses and the discriminator's regularizers (CR, bCR, contrastive).

A GAN loss is a function `loss(real_logits, fake_logits) -> (d_loss, g_loss)`
returning per-example losses (vectors of shape [batch]); `real_logits` may be
None in the generator's step, where d_loss is then None. The trainer averages
per-example losses over the global batch, so results do not depend on the
number of replicas. Select one in gin by reference: `train.loss = @hinge`.
"""

import dataclasses

import gin
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda.errors import UserError

__all__ = ["BCR", "Contrastive", "bcr", "consistency", "contrastive",
           "hinge", "non_saturating", "nt_xent"]


@gin.configurable
def hinge(real_logits, fake_logits):
    """The hinge loss (Lim & Ye 2017; the paper's loss).

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];  L_G = -E[D(G(z))].
    """
    g_loss = -fake_logits
    if real_logits is None:
        return None, g_loss
    d_loss = tf.nn.relu(1.0 - real_logits) + tf.nn.relu(1.0 + fake_logits)
    return d_loss, g_loss


@gin.configurable
def non_saturating(real_logits, fake_logits):
    """The non-saturating loss (Goodfellow et al. 2014).

    L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))];
    L_G = E[softplus(-D(G(z)))]  (= -log sigmoid D(G(z))).
    """
    g_loss = tf.nn.softplus(-fake_logits)
    if real_logits is None:
        return None, g_loss
    d_loss = tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)
    return d_loss, g_loss


# ------------------------------------------------------------ regularizers
def consistency(logits, augmented_logits):
    """Consistency regularization per example (Zhang et al. 2020; bCR in
    Zhao et al. 2020): ||D(x) - D(T(x))||^2 on D's outputs."""
    return tf.square(logits - augmented_logits)


def nt_xent(a, b, temperature=0.1):
    """NT-Xent (SimCLR) per pair: a[i] and b[i] are two views of image i.

    With z = l2-normalized [a; b] (2N vectors) and sim(u, v) = u.v / tau,
    l(i, j) = -log(exp(sim(z_i, z_j)) / sum_{k != i} exp(sim(z_i, z_k))),
    and the loss of pair i is (l(i, i+N) + l(i+N, i)) / 2. Negatives are the
    other 2N - 2 views of the (per-replica) batch.
    """
    n = tf.shape(a)[0]
    z = tf.math.l2_normalize(tf.concat([a, b], 0), axis=1)
    sim = tf.matmul(z, z, transpose_b=True) / temperature
    sim -= tf.eye(2 * n, dtype=sim.dtype) * 1e9  # no self-similarity
    positives = tf.concat([tf.range(n, 2 * n), tf.range(n)], 0)
    per_view = tf.nn.sparse_softmax_cross_entropy_with_logits(positives, sim)
    return (per_view[:n] + per_view[n:]) / 2


@dataclasses.dataclass(frozen=True)
class BCR:
    """Balanced consistency regularization settings (see `bcr`)."""
    lambda_real: float
    lambda_fake: float
    augment: object  # an augment.Pipeline, or None for the training one


@gin.configurable("bcr")
def bcr(lambda_real=0.0, lambda_fake=0.0, augment=None, strength=None):
    """Balanced consistency regularization (Zhao et al. 2020, ICR):

    L_D += lambda_real ||D(x) - D(T(x))||^2 + lambda_fake ||D(G(z)) -
    D(T(G(z)))||^2, on the images D's GAN loss sees, with a fresh T each
    step. lambda_fake = 0 is CR (Zhang et al. 2020); the paper uses 10 for
    both. Returns None when both lambdas are 0.

    Args:
      lambda_real, lambda_fake: the weights (>= 0).
      augment: the spec of T; None uses the training augmentation
        (augment.name).
      strength: T's strength where the spec gives none.
    """
    _check_non_negative(bcr=dict(lambda_real=lambda_real,
                                 lambda_fake=lambda_fake))
    if not lambda_real and not lambda_fake:
        return None
    pipeline = None if augment is None else augment_lib.get(augment, strength)
    return BCR(float(lambda_real), float(lambda_fake), pipeline)


@dataclasses.dataclass(frozen=True)
class Contrastive:
    """Contrastive loss settings (see `contrastive`)."""
    weight: float
    temperature: float
    projection_dim: int
    views: object  # an augment.Pipeline


@gin.configurable("contrastive")
def contrastive(weight=0.0, temperature=0.1, projection_dim=128,
                views="simclr", strength=None):
    """The contrastive loss on D (Zhao et al. 2020, "Cntr"):

    L_D += weight (NT-Xent(f(h(t1(x))), f(h(t2(x)))) + the same for G(z)),
    with h D's penultimate features, f a projection head (dense + ReLU,
    dense to `projection_dim`) trained with D, t1, t2 two SimCLR views.
    The paper's best: weight 0.1 with bCR 5. tau and the head follow
    SimCLR's defaults (0.1, 128). Returns None when weight is 0.
    """
    _check_non_negative(contrastive=dict(weight=weight))
    if temperature <= 0:
        raise UserError(f"contrastive.temperature must be > 0, got "
                        f"{temperature}.")
    if not weight:
        return None
    return Contrastive(float(weight), float(temperature), int(projection_dim),
                       augment_lib.get(views, strength))


def _check_non_negative(**groups):
    for group, values in groups.items():
        for name, value in values.items():
            if value < 0:
                raise UserError(f"{group}.{name} must be >= 0, got {value}.")
