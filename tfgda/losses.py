"""GAN losses and the discriminator's regularizers.

A GAN loss is a function `loss(real_logits, fake_logits) -> (d_loss, g_loss)`
returning per-example losses (vectors of shape [batch]); `real_logits` may be
None in the generator's step, where d_loss is then None. The trainer averages
per-example losses over the global batch, so results do not depend on the
number of replicas. Select one in gin by reference: `train.loss = @hinge`.
"""

import gin
import tensorflow as tf

__all__ = ["hinge", "non_saturating"]


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
