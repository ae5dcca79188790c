"""Optimizer factories, bound in gin per network by scope.

The trainer calls `g_optimizer()` inside the gin scope `generator` and
`d_optimizer()` inside `discriminator`, so one network's settings are bound as
`generator/adam.learning_rate = 1e-4` and both at once as
`adam.learning_rate = 1e-4`.
"""

import gin
import keras

__all__ = ["adam"]


@gin.configurable
def adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-8):
    """Adam with compare_gan's SNDCGAN defaults (lr 2e-4, betas 0.5/0.999)."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
    )
