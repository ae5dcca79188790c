"""GAN losses and the discriminator's regularizers (CR, bCR, contrastive).

A GAN loss is a function `loss(real_logits, fake_logits) -> (d_loss, g_loss)`
returning per-example losses (vectors of shape [batch]); `real_logits` may be
None in the generator's step, where d_loss is then None, and `fake_logits`
None for D's real term alone (see `mixed_target_d_loss`). The trainer averages
per-example losses over the global batch, so results do not depend on the
number of replicas. Select one in gin by reference: `train.loss = @hinge`.
"""

import dataclasses

import gin
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda.errors import UserError

__all__ = ["BCR", "BCR_INPUTS", "NEGATIVES", "Contrastive", "bcr",
           "consistency", "contrastive", "hinge", "mixed_target_d_loss",
           "non_saturating", "nt_xent"]


@gin.configurable
def hinge(real_logits, fake_logits):
    """The hinge loss (Lim & Ye 2017; the paper's loss).

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))];  L_G = -E[D(G(z))].
    """
    g_loss = None if fake_logits is None else -fake_logits
    if real_logits is None:
        return None, g_loss
    d_loss = tf.nn.relu(1.0 - real_logits)
    if fake_logits is not None:
        d_loss += tf.nn.relu(1.0 + fake_logits)
    return d_loss, g_loss


@gin.configurable
def non_saturating(real_logits, fake_logits):
    """The non-saturating loss (Goodfellow et al. 2014).

    L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))];
    L_G = E[softplus(-D(G(z)))]  (= -log sigmoid D(G(z))).
    """
    g_loss = None if fake_logits is None else tf.nn.softplus(-fake_logits)
    if real_logits is None:
        return None, g_loss
    d_loss = tf.nn.softplus(-real_logits)
    if fake_logits is not None:
        d_loss += tf.nn.softplus(fake_logits)
    return d_loss, g_loss


def mixed_target_d_loss(loss, logits, realness):
    """D's loss on images whose real/fake target is mixed (CutMix or MixUp
    of real with generated images): realness r in [0, 1] per image, and
    L = r L_real(D(x)) + (1 - r) L_fake(D(x)), per image. With r in {0, 1}
    it is the loss' own real or fake term."""
    as_real, _ = loss(logits, None)
    both, _ = loss(logits, logits)
    return realness * as_real + (1.0 - realness) * (both - as_real)


# ------------------------------------------------------------ regularizers
def consistency(logits, augmented_logits):
    """Consistency regularization per example (Zhang et al. 2020; bCR in
    Zhao et al. 2020): ||D(x) - D(T(x))||^2 on D's outputs."""
    return tf.square(logits - augmented_logits)


def nt_xent(a, b, temperature=0.1, all_a=None, all_b=None, offset=0):
    """NT-Xent (SimCLR) per pair: a[i] and b[i] are two views of image i.

    As SimCLR's `add_contrastive_loss`: with u = l2-normalized a, v = the
    same of b, and sim(x, y) = x.y / tau, view a[i] is classified among
    [v_1..v_M, u_1..u_M without u_i] (its positive v_i), and b[i] among
    [u_1..u_M, v_1..v_M without v_i]; the loss of pair i is the sum of
    the two cross-entropies, so the batch mean is SimCLR's loss_a + loss_b
    (the two directions summed, not averaged).

    Args:
      a, b: [N, D] projections of the two views of this replica's batch.
      temperature: tau (SimCLR's default 0.1).
      all_a, all_b: [M, D] the candidates (negatives and positives): by
        default a and b themselves (negatives from the per-replica batch);
        the views gathered over every replica for global negatives, as
        SimCLR does on TPUs.
      offset: where this replica's rows sit in all_a and all_b.
    """
    a = tf.math.l2_normalize(a, axis=1)
    b = tf.math.l2_normalize(b, axis=1)
    all_a = a if all_a is None else tf.math.l2_normalize(all_a, axis=1)
    all_b = b if all_b is None else tf.math.l2_normalize(all_b, axis=1)
    own = offset + tf.range(tf.shape(a)[0])
    self_mask = tf.one_hot(own, tf.shape(all_a)[0], dtype=a.dtype) * 1e9

    def direction(x, positives, same):
        logits = tf.concat([
            tf.matmul(x, positives, transpose_b=True) / temperature,
            tf.matmul(x, same, transpose_b=True) / temperature - self_mask,
        ], 1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(own, logits)
    return direction(a, all_b, all_a) + direction(b, all_a, all_b)


BCR_INPUTS = ("clean", "augmented")


@dataclasses.dataclass(frozen=True)
class BCR:
    """Balanced consistency regularization settings (see `bcr`)."""
    lambda_real: float
    lambda_fake: float
    augment: object  # an augment.Pipeline, or None for the training one
    inputs: str = "clean"  # one of BCR_INPUTS


@gin.configurable("bcr")
def bcr(lambda_real=0.0, lambda_fake=0.0, augment=None, strength=None,
        inputs="clean"):
    """Balanced consistency regularization (Zhao et al. 2020, ICR):

    L_D += lambda_real ||D(x) - D(T(x))||^2 + lambda_fake ||D(G(z)) -
    D(T(G(z)))||^2, with a fresh T each step. lambda_fake = 0 is CR (Zhang
    et al. 2020); the paper uses 10 for both. Returns None when both lambdas
    are 0.

    `inputs` says what x is:
      * 'clean' (the paper's Algorithm 1, and the default): x and G(z) are
        the un-augmented images, whatever augmentation D's GAN loss sees;
        the paper's bCR runs train the GAN loss on clean images
        (augment.mode = 'none') with T only inside this term.
      * 'augmented': x is the image D's GAN loss sees, t(x) under
        real+fake augmentation, so T is stacked on t (StyleGAN2-ADA's
        form; not the paper's).

    Args:
      lambda_real, lambda_fake: the weights (>= 0).
      augment: the spec of T; None uses the training augmentation
        (augment.name at augment.strength, with its schedule).
      strength: T's strength where the spec gives none.
      inputs: 'clean' or 'augmented' (above).
    """
    _check_non_negative(bcr=dict(lambda_real=lambda_real,
                                 lambda_fake=lambda_fake))
    if inputs not in BCR_INPUTS:
        raise UserError(f"bcr.inputs {inputs!r} is not one of "
                        f"{BCR_INPUTS}: 'clean' is the paper's "
                        "Algorithm 1.")
    if not lambda_real and not lambda_fake:
        return None
    pipeline = None if augment is None else augment_lib.get(augment, strength)
    return BCR(float(lambda_real), float(lambda_fake), pipeline, inputs)


@dataclasses.dataclass(frozen=True)
class Contrastive:
    """Contrastive loss settings (see `contrastive`)."""
    weight: float
    temperature: float
    projection_dim: int
    views: object  # an augment.Pipeline
    negatives: str = "replica"  # one of NEGATIVES


NEGATIVES = ("replica", "global")


@gin.configurable("contrastive")
def contrastive(weight=0.0, temperature=0.1, projection_dim=128,
                views="simclr", strength=None, negatives="replica"):
    """The contrastive loss on D (Zhao et al. 2020, "Cntr"):

    L_D += weight (NT-Xent(f(h(t1(x))), f(h(t2(x)))) + the same for G(z)),
    with h D's penultimate features, f a projection head (dense + ReLU,
    dense to `projection_dim`) trained with D, t1, t2 two SimCLR views.
    The paper's best: weight 0.1 with bCR 5. tau and the head follow
    SimCLR's defaults (0.1, 128); NT-Xent sums its two directions as
    SimCLR's code does. `negatives`: 'replica' (each replica's own batch)
    or 'global' (the views of every replica, as SimCLR on TPUs; the loss
    then does not depend on how the batch is split). Returns None when
    weight is 0.
    """
    _check_non_negative(contrastive=dict(weight=weight))
    if temperature <= 0:
        raise UserError(f"contrastive.temperature must be > 0, got "
                        f"{temperature}.")
    if negatives not in NEGATIVES:
        raise UserError(f"contrastive.negatives {negatives!r} is not one "
                        f"of {NEGATIVES}.")
    if not weight:
        return None
    return Contrastive(float(weight), float(temperature), int(projection_dim),
                       augment_lib.get(views, strength), negatives)


def _check_non_negative(**groups):
    for group, values in groups.items():
        for name, value in values.items():
            if value < 0:
                raise UserError(f"{group}.{name} must be >= 0, got {value}.")
