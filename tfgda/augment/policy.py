"""Which discriminator inputs are augmented: the paper's training modes.

`augment.mode`:
  * 'none': no augmentation;
  * 'real_only': only the real images fed to D (the common practice before
    the paper, which it shows to hurt: the augmentation leaks into G);
  * 'real_and_fake': every D input, real and generated, in the D step and
    the G step, with fresh randomness each call (the paper's method). The
    G step backpropagates through the augmentation into G.
`augment.name` is a spec (see `registry.get`), `augment.strength` its
lambda_aug, and `augment.schedule` how that strength moves during training
(see `schedule`: 'constant', 'linear_decay', 'cosine_decay', 'adaptive').
"""

import dataclasses

import gin

from tfgda.augment import registry
from tfgda.augment import schedule as schedule_lib
from tfgda.errors import UserError

__all__ = ["MODES", "AugmentPolicy", "make_policy"]

MODES = ("none", "real_only", "real_and_fake")


@dataclasses.dataclass(frozen=True)
class AugmentPolicy:
    """An augmentation pipeline, the D inputs it applies to, and the
    schedule of its strength."""
    mode: str
    pipeline: registry.Pipeline
    schedule: schedule_lib.Constant = dataclasses.field(
        default_factory=schedule_lib.Constant)

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

    @property
    def active(self):
        return self.mode != "none"

    @classmethod
    def none(cls):
        return cls("none", registry.Pipeline([]))


@gin.configurable("augment", denylist=["total_steps"])
def make_policy(mode="none", name=None, strength=None, schedule="constant",
                total_steps=None):
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
    """
    if mode not in MODES:
        raise UserError(f"augment.mode {mode!r} is not one of {MODES}.")
    if schedule not in schedule_lib.SCHEDULES:
        raise UserError(f"augment.schedule {schedule!r} is not one of "
                        f"{schedule_lib.SCHEDULES}.")
    if mode == "none":
        if name not in (None, "", "none"):
            raise UserError(f"augment.name is {name!r} but augment.mode is "
                            "'none': bind augment.mode = 'real_and_fake' "
                            "(or 'real_only').")
        if schedule != "constant":
            raise UserError(f"augment.schedule is {schedule!r} but there "
                            "is no augmentation to schedule: bind "
                            "augment.mode and augment.name.")
        return AugmentPolicy.none()
    if name in (None, "", "none"):
        raise UserError(f"augment.mode is {mode!r} but no augment.name is "
                        "set: name one of " + ", ".join(registry.names())
                        + ".")
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
        raise UserError(f"augment.schedule {schedule!r} scales the "
                        f"strength of {pipeline.spec}, which is 0: give it "
                        "the strength reached at scale 1.")
    return AugmentPolicy(mode, pipeline,
                         schedule_lib.make_schedule(schedule, total_steps))
