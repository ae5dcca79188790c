"""Evaluation protocols: how many samples against which reference set.

A protocol name reads `fid<N>[k]_<split>`: N (thousand, with k) generated
images against the first N images of the dataset's `<split>`:
  * `fid10k_test`: 10k generated vs the 10k CIFAR-10 test images, averaged
    over 3 generated sets (compare_gan's protocol, and the paper's);
  * `fid50k_train`: 50k vs the 50k training images (StyleGAN2-ADA's).
Other sizes (e.g. `fid1k_test`, `fid500_train`) are for quick checks; their
FIDs are biased upward relative to the 10k/50k protocols and are not
comparable with them. Every result names its protocol.

Images are resized to Inception's 299x299 bilinearly. `fid10k_test` resizes
as compare_gan did, with TF1's `tf.image.resize_bilinear` (no half-pixel
centres: source pixel = destination pixel x in/out), the paper's numbers'
preprocessing; the other protocols use TF2's `tf.image.resize` (half-pixel
centres), as current TF-GAN does. The two differ by about 0.28 on average
in [-1, 1] units for 32 -> 299, enough to move an FID. Every result names
the resize it used.
"""

import dataclasses
import re

from tfgda.errors import UserError

__all__ = ["RESIZES", "Protocol", "parse"]

_NAME = re.compile(r"^fid(\d+)(k?)_(train|test)$")
_REPEATS = {"fid10k_test": 3}
_TF1_RESIZE = ("fid10k_test",)  # compare_gan's protocol, under TF1
RESIZES = ("tf1_bilinear", "bilinear")


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    num_generated: int
    split: str
    num_reference: int
    repeats: int
    resize: str = "bilinear"  # one of RESIZES


def parse(name):
    """Returns the Protocol of a name like 'fid10k_test' (a Protocol as
    it is)."""
    if isinstance(name, Protocol):
        return name
    match = _NAME.match(name or "")
    if not match:
        raise UserError(
            f"unknown protocol {name!r}: use 'fid10k_test' (the "
            "paper's), 'fid50k_train' (StyleGAN2-ADA's), or "
            "fid<N>[k]_<train|test>."
        )
    count = int(match.group(1)) * (1000 if match.group(2) else 1)
    if count < 2:
        raise UserError(f"protocol {name!r} needs at least 2 images.")
    return Protocol(
        name,
        count,
        match.group(3),
        count,
        _REPEATS.get(name, 1),
        "tf1_bilinear" if name in _TF1_RESIZE else "bilinear",
    )
