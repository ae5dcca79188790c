"""Which discriminator inputs are augmented: the paper's training modes.

`augment.mode`:
  * 'none': no augmentation;
  * 'real_only': only the real images fed to D (the common practice before
    the paper, which it shows to hurt: the augmentation leaks into G);
  * 'real_and_fake': every D input, real and generated, in the D step and
    the G step, with fresh randomness each call (the paper's method). The
    G step backpropagates through the augmentation into G.
`augment.name` is a spec (see `registry.get`), `augment.strength` its
lambda_aug.
"""

import dataclasses

import gin

from tfgda.augment import registry
from tfgda.errors import UserError

__all__ = ["MODES", "AugmentPolicy", "make_policy"]

MODES = ("none", "real_only", "real_and_fake")


@dataclasses.dataclass(frozen=True)
class AugmentPolicy:
    """An augmentation pipeline and the D inputs it applies to."""
    mode: str
    pipeline: registry.Pipeline

    def real(self, images, seed):
        """Augments real images (in 'real_only' and 'real_and_fake')."""
        return self.pipeline(images, seed) if self.mode != "none" else images

    def fake(self, images, seed):
        """Augments generated images (in 'real_and_fake' only)."""
        if self.mode != "real_and_fake":
            return images
        return self.pipeline(images, seed)

    @property
    def active(self):
        return self.mode != "none"

    @classmethod
    def none(cls):
        return cls("none", registry.Pipeline([]))


@gin.configurable("augment")
def make_policy(mode="none", name=None, strength=None):
    """Builds and checks the augmentation policy of a run.

    Args:
      mode: 'none', 'real_only' or 'real_and_fake'.
      name: an augmentation spec, e.g. 'translation', 'zoom_out(0.4)',
        'translation+brightness', or a list of names.
      strength: lambda_aug for the ops the spec gives no strength of.
    """
    if mode not in MODES:
        raise UserError(f"augment.mode {mode!r} is not one of {MODES}.")
    if mode == "none":
        if name not in (None, "", "none"):
            raise UserError(f"augment.name is {name!r} but augment.mode is "
                            "'none': bind augment.mode = 'real_and_fake' "
                            "(or 'real_only').")
        return AugmentPolicy.none()
    if name in (None, "", "none"):
        raise UserError(f"augment.mode is {mode!r} but no augment.name is "
                        "set: name one of " + ", ".join(registry.names())
                        + ".")
    return AugmentPolicy(mode, registry.get(name, strength))
