"""How the augmentation strength moves during training.

`augment.schedule` names one; each gives a scale in [0, 1] that multiplies
the strength of every op of the pipeline (`Pipeline.apply(..., scale)`):
  * 'constant': lambda_aug throughout (the paper's setting, and its finding:
    no schedule beats a constant strength);
  * 'linear_decay', 'cosine_decay': the paper's strength annealing (its
    Fig. 13), from lambda_aug down to `decay.final` x lambda_aug over
    `decay.steps` steps (default: the run's `train.steps`);
  * 'adaptive': p x lambda_aug, with p in [0, 1] adjusted from the
    discriminator's overfitting signal r_t = E[sign(D(real))] as in
    StyleGAN2-ADA (Karras et al. 2020): every `adaptive.interval` steps, p
    moves up if r_t > `adaptive.target` and down otherwise, by
    images x interval / `adaptive.speed_images` (images: the real images D
    sees per step, batch x n_disc), clamped to [0, 1]. Under
    'adaptive', lambda_aug is the strength reached at p = 1.

A schedule's state (the adaptive p, the last r_t and the signs gathered so
far) lives in variables that the checkpoint holds, so a resumed run goes on
from the same p. Its `update` runs inside the compiled training step, in
cross-replica context, without branches (XLA- and TPU-friendly).
"""

import math

import gin
import tensorflow as tf

from tfgda.errors import UserError

__all__ = [
    "SCHEDULES",
    "Adaptive",
    "Constant",
    "Decay",
    "ada_adjust",
    "adaptive",
    "decay",
    "make_schedule",
]

SCHEDULES = ("constant", "linear_decay", "cosine_decay", "adaptive")


class Constant:
    """The fixed strength: no scale, no state."""

    name = "constant"
    observes_d = False  # whether `observe` wants D's real outputs

    def build(self, step, images_per_step):
        """Creates the state (under the strategy's scope). step: the run's
        step variable; images_per_step: real images D sees per step."""
        del step, images_per_step

    def scale(self):
        """The current scale of every op's strength (None: 1)."""
        return None

    def observe(self, sign_sum, count):
        """Takes the sum of sign(D(augmented real)) over `count` reals."""
        del sign_sum, count

    def update(self):
        """Moves the state after a step (cross-replica context)."""
        return None

    def variables(self):
        """What the checkpoint must hold, by name."""
        return {}

    def metrics(self):
        """Scalars for the progress line and TensorBoard."""
        return {}


class Decay(Constant):
    """From 1 down to `final` over `steps`: linear or half a cosine."""

    def __init__(self, kind, final, steps):
        if not 0.0 <= final <= 1.0:
            raise UserError(
                f"decay.final must be in [0, 1] (a fraction of "
                f"augment.strength), got {final}."
            )
        if not isinstance(steps, int) or steps <= 0:
            raise UserError(
                f"decay.steps must be a positive integer or "
                f"None (the run's steps), got {steps!r}."
            )
        self.name, self.final, self.steps = kind, final, steps
        self._step = None

    def build(self, step, images_per_step):
        del images_per_step
        self._step = step

    def scale(self):
        x = tf.minimum(tf.cast(self._step, tf.float32) / self.steps, 1.0)
        if self.name == "linear_decay":
            fall = 1.0 - x
        else:
            fall = 0.5 * (1.0 + tf.cos(math.pi * x))
        return self.final + (1.0 - self.final) * fall

    def metrics(self):
        return {"aug_scale": self.scale()}


class Adaptive(Constant):
    """StyleGAN2-ADA's controller of p, on the strength of any pipeline."""

    name = "adaptive"
    observes_d = True

    def __init__(
        self, target=0.6, interval=4, speed_images=500_000, initial=0.0
    ):
        if not 0.0 < target < 1.0:
            raise UserError(
                f"adaptive.target must be in (0, 1) (the "
                f"wanted E[sign(D(real))]; 0.6 in ADA), got "
                f"{target}."
            )
        for name, value in (
            ("interval", interval),
            ("speed_images", speed_images),
        ):
            if not isinstance(value, int) or value <= 0:
                raise UserError(
                    f"adaptive.{name} must be a positive "
                    f"integer, got {value!r}."
                )
        if not 0.0 <= initial <= 1.0:
            raise UserError(
                f"adaptive.initial must be in [0, 1], got {initial}."
            )
        self.target, self.interval = target, interval
        self.speed_images, self.initial = speed_images, initial
        self._vars = None

    def build(self, step, images_per_step):
        self._step = step
        self.adjust = images_per_step * self.interval / self.speed_images

        def var(name, value):
            return tf.Variable(
                value, trainable=False, name=name, dtype=tf.float32
            )

        self._vars = {
            "p": var("augment_p", self.initial),
            "rt": var("augment_rt", 0.0),
            "sign_sum": var("augment_sign_sum", 0.0),
            "count": var("augment_count", 0.0),
        }

    @property
    def p(self):
        return self._vars["p"]

    def scale(self):
        return self._vars["p"]

    def observe(self, sign_sum, count):
        self._vars["sign_sum"].assign_add(tf.cast(sign_sum, tf.float32))
        self._vars["count"].assign_add(tf.cast(count, tf.float32))

    def update(self):
        v = self._vars
        due = tf.equal(self._step % self.interval, 0) & (v["count"] > 0)
        rt = v["sign_sum"] / tf.maximum(v["count"], 1.0)
        p = ada_adjust(v["p"], rt, self.target, self.adjust)
        v["p"].assign(tf.where(due, p, v["p"]))
        v["rt"].assign(tf.where(due, rt, v["rt"]))
        v["sign_sum"].assign(tf.where(due, 0.0, v["sign_sum"]))
        v["count"].assign(tf.where(due, 0.0, v["count"]))

    def variables(self):
        return dict(self._vars)

    def metrics(self):
        return {
            "aug_p": self._vars["p"].read_value(),
            "aug_rt": self._vars["rt"].read_value(),
        }


def ada_adjust(p, rt, target, adjust):
    """StyleGAN2-ADA's rule: p moved up by `adjust` if r_t is above the
    target, down otherwise, clamped to [0, 1] (the trainer's controller and
    `tfgda.keras.AdaptiveAugment` both use it)."""
    return tf.clip_by_value(p + tf.sign(rt - target) * adjust, 0.0, 1.0)


@gin.configurable("decay", denylist=["kind", "total_steps"])
def decay(kind, total_steps, final=0.0, steps=None):
    """Strength annealing: `final` (a fraction of lambda_aug) reached at
    `steps` (None: the run's train.steps)."""
    if steps is None and total_steps is None:
        raise UserError(
            f"augment.schedule {kind!r} needs decay.steps "
            "(the step at which the decay ends)."
        )
    return Decay(kind, final, total_steps if steps is None else steps)


@gin.configurable("adaptive")
def adaptive(target=0.6, interval=4, speed_images=500_000, initial=0.0):
    """Adaptive strength. target: the wanted E[sign(D(real))] (ADA: 0.6);
    interval: steps between adjustments (ADA: 4); speed_images: images
    shown for p to cross [0, 1] (ADA: 500k); initial: p at the start."""
    return Adaptive(target, interval, speed_images, initial)


def make_schedule(name, total_steps=None):
    """The schedule named `name` (one of SCHEDULES), configured from gin;
    a decay ends at the run's total_steps unless decay.steps says."""
    if name == "constant":
        return Constant()
    if name in ("linear_decay", "cosine_decay"):
        return decay(name, total_steps)
    if name == "adaptive":
        return adaptive()
    raise UserError(f"augment.schedule {name!r} is not one of {SCHEDULES}.")
