"""TF-GAN's Inception-v3 as a feature model, from TF-Hub or a local copy.

The module (TF-Hub `tfgan/eval/inception/1`, the 2015-12-05 Inception graph)
takes float32 images [N, 299, 299, 3] in [-1, 1] and returns a dict with
`pool_3` (2048-d features, for FID and KID) and `logits` (for the Inception
Score). We resize images to 299x299 (bilinear) inside, as the protocol says
(`tfgda.metrics.protocols`: TF1's resize for `fid10k_test`).

The handle is TF-Hub's address by default. Without network access, download
the module once on a machine that has it:

  mkdir -p ~/inception && curl -L "$URL?tf-hub-format=compressed" \\
    | tar -xz -C ~/inception     # URL: INCEPTION_TFHUB below

and bind `inception.handle = '~/inception'` (or pass --inception=~/inception
to the evaluation CLI).
"""

import os

import gin
import tensorflow as tf

from tfgda.errors import UserError

__all__ = [
    "INCEPTION_TFHUB",
    "FeatureModel",
    "inception",
    "resize_images",
]

INCEPTION_TFHUB = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"


class FeatureModel:
    """A feature network with TF-GAN's Inception contract.

    `module(images)` returns a dict with 'pool_3' (features) and 'logits'.
    Calling the FeatureModel on images in [-1, 1] returns (features [N, D],
    logits [N, K]); images are resized to image_size x image_size unless
    the network takes one size only (`fixed_size`), which `check` enforces.

    name: 'inception' or another network ('cifar10_classifier'), which
    names the results (see `metric_names`); sha256: of its weights file.
    """

    def __init__(
        self,
        module,
        handle,
        image_size=299,
        resize="bilinear",
        *,
        name="inception",
        sha256=None,
        fixed_size=False,
    ):
        self.module = module
        self.handle = handle
        self.image_size = image_size
        self.resize = "none" if fixed_size else resize
        self.name = name
        self.sha256 = sha256
        self.fixed_size = fixed_size

    @property
    def metric_names(self):
        """(Frechet distance, KID, Inception Score or None) result keys:
        fid/kid/inception_score for Inception, fcd/kid_fcd for any other
        network, so the two are never compared by mistake."""
        if self.name == "inception":
            return "fid", "kid", "inception_score"
        return "fcd", "kid_fcd", None

    def with_resize(self, resize):
        """The same model, resizing with `resize` (see `resize_images`);
        itself for a network that takes one size only."""
        if self.fixed_size:
            return self
        return FeatureModel(
            self.module,
            self.handle,
            self.image_size,
            resize,
            name=self.name,
            sha256=self.sha256,
        )

    def check(self, images, what):
        """A UserError if a network of one size gets another."""
        shape = tuple(images.shape)
        if self.fixed_size and shape[1:3] != (self.image_size, self.image_size):
            raise UserError(
                f"the {self.name} features need {self.image_size}x"
                f"{self.image_size} images, but the {what} are "
                f"{'x'.join(map(str, shape[1:3]))}: use --features=inception"
                " for other sizes."
            )

    def __call__(self, images):
        if not self.fixed_size:
            images = resize_images(images, self.image_size, self.resize)
        outputs = self.module(tf.cast(images, tf.float32))
        flat = lambda t: tf.reshape(t, [tf.shape(t)[0], -1])  # noqa: E731
        return flat(outputs["pool_3"]), flat(outputs["logits"])


def resize_images(images, size, method="bilinear"):
    """Bilinear resize to size x size, float32.

    'bilinear': TF2's `tf.image.resize` (half-pixel centres);
    'tf1_bilinear': TF1's `tf.image.resize_bilinear` with its defaults
    (align_corners=False, half_pixel_centers=False), as compare_gan and
    TF-GAN resized under TF1 for the paper's FIDs.
    """
    images = tf.cast(images, tf.float32)
    if method == "tf1_bilinear":
        return tf.compat.v1.image.resize_bilinear(
            images, [size, size], align_corners=False, half_pixel_centers=False
        )
    return tf.image.resize(images, [size, size], method="bilinear")


@gin.configurable("inception")
def inception(handle=INCEPTION_TFHUB):
    """Loads the Inception module; a UserError explains how to provide it."""
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top

    handle = os.path.expanduser(handle)
    how = (
        "Download TF-GAN's Inception once (see docs/EVALUATION.md) and "
        "pass --inception=DIR (gin: inception.handle = 'DIR')."
    )
    if "://" not in handle and not os.path.isdir(handle):
        raise UserError(
            f"the Inception module directory {handle!r} does not exist. {how}"
        )
    try:
        module = hub.load(handle)
    except Exception as e:  # network errors, missing or broken directories
        raise UserError(
            f"the Inception module {handle!r} could not be loaded "
            f"({type(e).__name__}). {how}"
        ) from e
    model = FeatureModel(module, handle)
    _check_contract(model, how)
    return model


def _check_contract(model, how):
    """One small call: a model that does not return 'pool_3' and 'logits'
    for [N, 299, 299, 3] images is not TF-GAN's Inception."""
    try:
        features, logits = model(tf.zeros([1, 8, 8, 3]))
    except Exception as e:  # pylint: disable=broad-except
        raise UserError(
            f"{model.handle!r} is not TF-GAN's Inception: calling it on "
            "[1, 299, 299, 3] images in [-1, 1] fails "
            f"({type(e).__name__}; it must return a dict with 'pool_3' and "
            f"'logits'). {how}"
        ) from e
    if features.shape[0] != 1 or logits.shape[0] != 1:
        raise UserError(
            f"{model.handle!r} is not TF-GAN's Inception: its "
            "outputs do not have one row per image. " + how
        )
