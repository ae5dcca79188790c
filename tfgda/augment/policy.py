"""Which discriminator inputs are augmented: the paper's training modes.

`augment.mode`:
  * 'none': no augmentation;
  * 'real_only': only the real images fed to D (the common practice before
    the paper, which it shows to hurt: the augmentation leaks into G);
  * 'real_and_fake': every D input, real and generated, in the D step and
    the G step, with fresh randomness each call (the paper's method). The
    G step backpropagates through the augmentation into G.
`augment.name` is a spec (see `registry.get`), `augment.strength` its
lambda_aug (with mode 'none', a named augmentation is bCR's T only: the
paper's Algorithm 1), and `augment.schedule` how that strength moves
during training (see `schedule`: 'constant', 'linear_decay',
'cosine_decay', 'adaptive').
"""

import dataclasses

import gin
import tensorflow as tf

from tfgda.augment import registry
from tfgda.augment import schedule as schedule_lib
from tfgda.errors import UserError

__all__ = ["MODES", "AugmentPolicy", "check_used", "augment"]

MODES = ("none", "real_only", "real_and_fake")


@dataclasses.dataclass(frozen=True)
class AugmentPolicy:
    """An augmentation pipeline, the D inputs it applies to, and the
    schedule of its strength."""

    mode: str
    pipeline: registry.Pipeline
    schedule: schedule_lib.Constant = dataclasses.field(
        default_factory=schedule_lib.Constant
    )
    mix_real_fake: bool = False  # see `augment`

    def __call__(self, images, seed):
        """The pipeline at the schedule's current strength."""
        return self.pipeline(images, seed, self.schedule.scale())

    def real(self, images, seed):
        """Augments real images (in 'real_only' and 'real_and_fake')."""
        return self(images, seed) if self.mode != "none" else images

    def fake(self, images, seed):
        """Augments generated images (in 'real_and_fake' only)."""
        if self.mode != "real_and_fake":
            return images
        return self(images, seed)

    def d_inputs(self, real, fake, real_seed, fake_seed):
        """(real, fake) as D sees them: `real` then `fake` with their own
        seeds, the same as `real(...)` and `fake(...)`, both batches in one
        compiled call where the pipeline allows (`Pipeline.each`)."""
        if self.mode != "real_and_fake":
            return self.real(real, real_seed), fake
        return tuple(
            self.pipeline.each(
                [real, fake], [real_seed, fake_seed], self.schedule.scale()
            )
        )

    def joint(self, real, fake, seed):
        """D's inputs when reals and fakes are mixed with each other
        (mix_real_fake): the pipeline on the batch [real; fake], so a
        mixing op's partner may be of either kind. Returns (augmented
        real, augmented fake, realness), realness the real share of each
        image's target: 1 for reals, 0 for fakes, mixed by each mixing
        op's weight."""
        images, mixes = self.pipeline.apply(
            tf.concat([real, fake], 0), seed, self.schedule.scale()
        )
        n = tf.shape(real)[0]
        realness = tf.concat([tf.ones([n]), tf.zeros([tf.shape(fake)[0]])], 0)
        for mix in mixes:
            realness = (1.0 - mix.weight) * realness + mix.weight * tf.gather(
                realness, mix.partner
            )
        return images[:n], images[n:], realness

    @property
    def mixes_real_and_fake(self):
        """Whether D's step mixes reals with fakes (see `joint`)."""
        return self.mix_real_fake and self.mode == "real_and_fake"

    @property
    def active(self):
        return self.mode != "none"

    @classmethod
    def none(cls):
        return cls("none", registry.Pipeline([]))


@gin.configurable("augment", denylist=["total_steps"])
def augment(
    mode="none",
    name=None,
    strength=None,
    schedule="constant",
    total_steps=None,
    mix_real_fake=False,
):
    """Builds and checks the augmentation policy of a run.

    Args:
      mode: 'none', 'real_only' or 'real_and_fake'.
      name: an augmentation spec, e.g. 'translation', 'zoom_out(0.4)',
        'translation+brightness', or a list of names.
      strength: lambda_aug for the ops the spec gives no strength of (under
        'adaptive': the strength at p = 1).
      schedule: 'constant', 'linear_decay', 'cosine_decay' or 'adaptive'
        (see `tfgda.augment.schedule`).
      total_steps: the run's steps, where a decay ends by default.
      mix_real_fake: under 'real_and_fake', apply the pipeline in D's step
        to the batch of reals and fakes together, so CutMix and MixUp mix
        a real image with a generated one, and D's real/fake target is
        mixed by the same weight (`AugmentPolicy.joint`). False (the
        default): each image is mixed with another of its own kind (reals
        with reals, fakes with fakes), and targets stay 1 and 0. G's step
        sees only fakes, mixed with fakes, either way.
    """
    if mode not in MODES:
        raise UserError(f"augment.mode {mode!r} is not one of {MODES}.")
    if schedule not in schedule_lib.SCHEDULES:
        raise UserError(
            f"augment.schedule {schedule!r} is not one of "
            f"{schedule_lib.SCHEDULES}."
        )
    if mix_real_fake and mode != "real_and_fake":
        raise UserError(
            f"augment.mix_real_fake mixes real with generated "
            f"images in D's inputs, but augment.mode is "
            f"{mode!r}: use it with 'real_and_fake'."
        )
    if name in (None, "", "none"):
        if mode == "none":
            if schedule != "constant":
                raise UserError(
                    f"augment.schedule is {schedule!r} but "
                    "there is no augmentation to schedule: bind "
                    "augment.mode and augment.name."
                )
            return AugmentPolicy.none()
        raise UserError(
            f"augment.mode is {mode!r} but no augment.name is "
            "set: name one of " + ", ".join(registry.names()) + "."
        )
    try:
        pipeline = registry.get(name, strength)
    except registry.MissingStrengthError as e:
        if schedule == "constant":
            raise
        raise UserError(
            f"augment.schedule {schedule!r} scales the strength of "
            f"{e.op_name!r}, which has none: bind augment.strength (the "
            f"strength at scale 1, e.g. 0.5) or write '{e.op_name}(0.5)'."
        ) from e
    if schedule != "constant" and not any(s > 0 for _, s in pipeline.ops):
        raise UserError(
            f"augment.schedule {schedule!r} scales the "
            f"strength of {pipeline.spec}, which is 0: give it "
            "the strength reached at scale 1."
        )
    return AugmentPolicy(
        mode,
        pipeline,
        schedule_lib.make_schedule(schedule, total_steps),
        bool(mix_real_fake),
    )


def check_used(policy, regularizers):
    """Raises unless the augmentation named is used and bCR has its T.

    With augment.mode = 'none' a named augmentation serves only as bCR's T
    (the paper's Algorithm 1: D's GAN loss on clean images); named with
    neither, it would silently do nothing. regularizers: D's
    (`tfgda.training.regularizers`).
    """
    uses_it = any(r.uses_training_augmentation for r in regularizers)
    if not policy.active and policy.pipeline.ops and not uses_it:
        raise UserError(
            f"augment.name is {policy.pipeline.spec!r} but augment.mode is "
            "'none' and no bCR uses it as T: bind augment.mode = "
            "'real_and_fake' (or 'real_only'), or bcr.lambda_real and "
            "bcr.lambda_fake to use it as bCR's T."
        )
    if uses_it and not policy.pipeline.ops:
        raise UserError(
            "bCR needs an augmentation T: bind bcr.augment "
            "(e.g. 'translation(0.125)') or augment.name."
        )
