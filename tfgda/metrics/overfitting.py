"""The discriminator's overfitting, measured as StyleGAN2-ADA shows it.

Karras et al. ("Training Generative Adversarial Networks with Limited
Data", 2020, Fig. 1 and Sec. 3) follow D's raw outputs on the training
images, on held-out images of the same distribution and on generated ones:
when D overfits, its outputs on held-out reals fall away from those on the
training reals toward those on fakes. With fixed images, no augmentation
and D in inference mode:

  d_train, d_held_out, d_fake   the mean of D's logits on each set;
  r_t = E[sign(D(x_train))]    ADA's heuristic (its target 0.6);
  r_v = (d_train - d_held_out) / (d_train - d_fake)
                                0: held-out reals look like training reals;
                                1: like fakes (ADA's validation heuristic).

Fakes come from the raw generator (the one D is trained against) in
inference mode, from fixed latents; conditional models judge reals with
their labels and fakes with fixed uniform labels. Every number is a pure
function of the weights, so a run on several replicas gives the numbers of
a run on one.
"""

import hashlib
import time

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfgda import data as data_lib
from tfgda.errors import UserError
from tfgda.errors import positive_int
from tfgda.models.latents import sample_z
from tfgda.training import hooks

__all__ = [
    "Overfitting",
    "OverfittingProbe",
    "check_disjoint",
    "image_digests",
]


def image_digests(images):
    """The set of sha1 digests of each image's pixels (uint8 after
    rounding [-1, 1] floats), for finding the same image in two sets."""
    pixels = np.round((np.asarray(images) + 1.0) * 127.5).astype(np.uint8)
    return {hashlib.sha1(p.tobytes()).hexdigest() for p in pixels}


def check_disjoint(train_digests, held_out, source):
    """A UserError if any held-out image is also a training image."""
    shared = len(image_digests(held_out) & train_digests)
    if shared:
        raise UserError(
            f"{shared} of the {len(held_out)} held-out images from {source} "
            "are also training images: held-out images must be ones "
            "training never reads (another archive, or dataset.subset's "
            "complement)."
        )


class OverfittingProbe:
    """D's outputs on fixed training reals, held-out reals and fakes.

    Args:
      train, held_out: (images in [-1, 1], int labels) of each real set.
      num_classes: classes for conditional models (0: unconditional).
      seed: fixes the fakes' latents and labels.
      batch_size: images per forward pass.
    """

    def __init__(self, train, held_out, num_classes, seed, batch_size=250):
        self.train, self.held_out = train, held_out
        self.num_classes = num_classes
        self.seed = seed
        self.batch_size = batch_size
        self._judge = None

    def _outputs(self, discriminator, images, labels):
        if self._judge is None:
            self._judge = tf.function(
                lambda x, y: discriminator(x, y, training=False),
                autograph=False,
            )
        out = [
            self._judge(
                images[i : i + self.batch_size], labels[i : i + self.batch_size]
            )
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate([o.numpy() for o in out]).astype(np.float64)

    def fakes(self, generator):
        """As many generated images as there are training reals."""
        count = len(self.train[0])
        seed = tf.constant([self.seed, 2**21], tf.int64)
        z = sample_z(generator, count, seed)
        labels = tf.random.stateless_uniform(
            [count], seed + [0, 1], 0, max(self.num_classes, 1), tf.int32
        )
        images = [
            generator(
                z[i : i + self.batch_size],
                labels[i : i + self.batch_size],
                training=False,
            )
            for i in range(0, count, self.batch_size)
        ]
        return tf.concat(images, 0), labels

    def __call__(self, generator, discriminator):
        """{d_train, d_held_out, d_fake, r_t, r_v, count_*}."""
        d_train = self._outputs(discriminator, *self.train)
        d_held = self._outputs(discriminator, *self.held_out)
        d_fake = self._outputs(discriminator, *self.fakes(generator))
        m_train, m_held, m_fake = d_train.mean(), d_held.mean(), d_fake.mean()
        gap = m_train - m_fake
        return {
            "d_train": float(m_train),
            "d_held_out": float(m_held),
            "d_fake": float(m_fake),
            "r_t": float(np.sign(d_train).mean()),
            "r_v": float((m_train - m_held) / gap) if gap else float("nan"),
            "count_train": len(d_train),
            "count_held_out": len(d_held),
        }


@gin.configurable("overfitting")
class Overfitting(hooks.Hook):
    """The `overfitting` hook: an `OverfittingProbe` of the run's D, its
    mean outputs on fixed training reals, held-out reals and fakes, ADA's
    r_t and r_v; TensorBoard overfitting/<name>,
    model_dir/eval/overfitting/ckpt-<step>.json.

    Args:
      every: steps between measurements.
      num_images: images of each set (at most the set's size).
      holdout_path: an archive of held-out images of the training images'
        distribution. None: the images of the split outside
        `dataset.subset`, which training never reads.
    """

    def __init__(self, every=1000, num_images=1000, holdout_path=None):
        self.every = positive_int("overfitting.every", every)
        self.num_images = positive_int("overfitting.num_images", num_images)
        self.holdout_path = holdout_path

    def begin(self, run):
        super().begin(run)
        started = time.time()
        train = _fixed_images(self.num_images)
        if self.holdout_path:
            source = repr(self.holdout_path)
            held_out = _fixed_images(
                self.num_images,
                name="images",
                path=self.holdout_path,
                subset=None,
            )
        elif _bound("dataset.subset") is None:
            raise UserError(
                "the overfitting hook needs held-out images: bind "
                "dataset.subset (the rest of the split is held out) or "
                "overfitting.holdout_path (an archive training never reads)."
            )
        else:
            source = "the images outside dataset.subset"
            held_out = _fixed_images(self.num_images, held_out=True)
        digests = set()
        for batch in data_lib.dataset(
            256,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
            cache=False,
        )[0]:
            digests |= image_digests(batch["images"])
        check_disjoint(digests, held_out[0], source)
        self.probe = OverfittingProbe(
            train, held_out, run.data_info.num_classes, seed=run.seed
        )
        logging.info(
            "Overfitting probe: %d training and %d held-out images (%s), "
            "checked disjoint from all %d training images in %.1f s.",
            len(train[0]),
            len(held_out[0]),
            source,
            len(digests),
            time.time() - started,
        )

    def __call__(self, step, metrics):
        run = self.run
        result = self.probe(run.generator, run.discriminator)
        result["step"] = step
        run.write_result("eval/overfitting", step, result)
        with run.writer.as_default(step=step):
            for name in ("d_train", "d_held_out", "d_fake", "r_t", "r_v"):
                tf.summary.scalar(f"overfitting/{name}", result[name])
        logging.info(
            "step %d  overfitting: D on train %.3f, held-out %.3f, fakes "
            "%.3f; r_t %.3f, r_v %.3f",
            step,
            result["d_train"],
            result["d_held_out"],
            result["d_fake"],
            result["r_t"],
            result["r_v"],
        )


def _bound(name):
    try:
        return gin.query_parameter(name)
    except ValueError:
        return None


def _fixed_images(count, **dataset_args):
    """(images, labels): `count` images of the dataset (gin's bindings,
    then `dataset_args`) in an order fixed by seed 0: the same images for
    every train.seed."""
    ds, _ = data_lib.dataset(
        min(count, 250),
        seed=0,
        shuffle=True,
        repeat=False,
        drop_remainder=False,
        cache=False,
        **dataset_args,
    )
    images, labels = [], []
    for batch in ds:
        images.append(batch["images"])
        labels.append(batch["labels"])
        if sum(len(x) for x in images) >= count:
            break
    return tf.concat(images, 0)[:count], tf.concat(labels, 0)[:count]
