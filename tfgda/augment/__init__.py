"""Differentiable image augmentations for GAN training.

  pipeline = tfgda.augment.get("translation", 0.4)   # or "zoom_out(0.4)"
  augmented = pipeline(images, seed)                 # seed: [2] int tensor

Families: spatial (zoom_in, zoom_out, translation, translation_x,
translation_y, cutout, crop_flip), appearance (brightness, redness, greenness,
blueness, instance_noise), mixing (cutmix, mixup), and DiffAugment's ops
(color, diffaugment_translation, diffaugment_cutout), and SimCLR's views
(simclr) for the contrastive loss. A new augmentation is
one `@register`ed function in the module of its family; a user's own is one
`@tfgda.augment.register(name, family=...)` function in any module the run
imports (a gin file's `import my_module`; docs/AUGMENTATIONS.md).
"""

from tfgda.augment import appearance  # noqa: F401  (registers)
from tfgda.augment import diffaugment  # noqa: F401  (registers)
from tfgda.augment import mixing  # noqa: F401  (registers)
from tfgda.augment import simclr  # noqa: F401  (registers)
from tfgda.augment import spatial  # noqa: F401  (registers)
from tfgda.augment.policy import MODES
from tfgda.augment.policy import AugmentPolicy
from tfgda.augment.policy import augment
from tfgda.augment.policy import check_used
from tfgda.augment.registry import MixInfo
from tfgda.augment.registry import Pipeline
from tfgda.augment.registry import describe
from tfgda.augment.registry import get
from tfgda.augment.registry import names
from tfgda.augment.registry import register
from tfgda.augment.schedule import SCHEDULES

__all__ = [
    "MODES",
    "SCHEDULES",
    "AugmentPolicy",
    "MixInfo",
    "Pipeline",
    "check_used",
    "describe",
    "get",
    "augment",
    "names",
    "register",
]
