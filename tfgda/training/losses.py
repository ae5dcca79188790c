"""GAN losses (D's regularizers, bCR and others: training.regularizers).

A GAN loss is a function `loss(real_logits, fake_logits) -> (d_loss, g_loss)`
returning per-example losses (vectors of shape [batch]); `real_logits` may be
None in the generator's step, where d_loss is then None, and `fake_logits`
None for D's real term alone (see `mixed_target_d_loss`). The trainer averages
per-example losses over the global batch, so results do not depend on the
number of replicas. Select one in gin by reference: `train.loss = @hinge`.
"""

import gin
import tensorflow as tf

__all__ = ["hinge", "mixed_target_d_loss", "non_saturating"]


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
