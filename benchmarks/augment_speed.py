"""Augmentation throughput, beside Keras' own layers, and its cost in a step.

  python benchmarks/augment_speed.py [--repeats=20] [--train_iterations=5]

Prints, for each registered augmentation at batch 64 and 256, images/s of
the compiled op (forward only) and, where Keras 3 ships a layer for the same
operation, that layer's images/s and the ratio ours / Keras. Then DiffAugment's
ops (color, translation, cutout and the three together) beside DiffAugment's
own PyTorch code (../shared/reference/diffaugment, timed in a process of its
own with as many threads as this machine has cores), forward and forward +
backward (the gradient to the images, as in a G step). Last, the seconds
per SNDCGAN training iteration (batch 64) without augmentation and with
'real_and_fake' translation, and their ratio, in the same run.
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from train_speed import time_config  # noqa: E402  (benchmarks/)

from tfgda import augment  # noqa: E402
from tfgda import models  # noqa: E402

_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per op.")
_TRAIN_ITERATIONS = flags.DEFINE_integer(
    "train_iterations", 5, "Timed training iterations."
)
_BATCHES = (64, 256)
STRENGTH = 0.3


def _keras_reference(name):
    """Keras 3's layer for the same operation, where there is one."""
    layers = keras.layers
    return {
        "translation": lambda: layers.RandomTranslation(
            STRENGTH, STRENGTH, fill_mode="reflect"
        ),
        "translation_x": lambda: layers.RandomTranslation(
            0.0, STRENGTH, fill_mode="reflect"
        ),
        "translation_y": lambda: layers.RandomTranslation(
            STRENGTH, 0.0, fill_mode="reflect"
        ),
        "zoom_in": lambda: layers.RandomZoom(
            (-STRENGTH, 0.0), fill_mode="reflect"
        ),
        "zoom_out": lambda: layers.RandomZoom(
            (0.0, STRENGTH), fill_mode="reflect"
        ),
        "brightness": lambda: layers.RandomBrightness(
            STRENGTH, value_range=(-1, 1)
        ),
        "cutmix": layers.CutMix,
        "mixup": layers.MixUp,
        "cutout": lambda: layers.RandomErasing(factor=1.0, scale=(0.09, 0.09)),
        "crop_flip": lambda: keras.Sequential(
            [
                layers.RandomTranslation(0.125, 0.125, fill_mode="reflect"),
                layers.RandomFlip("horizontal"),
            ]
        ),
    }.get(name)


def _images_per_second(fn, images, repeats):
    fn(images).numpy()  # compile
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(images)
    out.numpy()
    return repeats * images.shape[0] / (time.perf_counter() - start)


def _ours(name):
    op = augment.describe(name)
    strength = op.default_strength or min(STRENGTH, op.max_strength)
    pipeline = augment.get(name, strength)
    seed = tf.constant([0, 1], tf.int64)
    return tf.function(lambda x: pipeline(x, seed))


def _theirs(name):
    make = _keras_reference(name)
    if make is None:
        return None
    layer = make()
    return tf.function(lambda x: layer(x, training=True))


_DIFFAUGMENT = {
    "color": "color",
    "translation": "diffaugment_translation",
    "cutout": "diffaugment_cutout",
    "color,translation,cutout": "color,translation,cutout",
}


def _ours_grad(fn):
    """Forward and the gradient to the images, compiled."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x)

    return step


def _reference_rates(repeats):
    """The reference's images/s, or None where PyTorch or the code is
    missing."""
    script = os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "diffaugment_reference_speed.py",
    )
    done = subprocess.run(
        [
            sys.executable,
            script,
            str(repeats),
            str(os.cpu_count()),
            *map(str, _BATCHES),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(
            f"(DiffAugment's PyTorch ops not timed: "
            f"{done.stderr.strip().splitlines()[-1:]})"
        )
        return None
    return json.loads(done.stdout)


def _diffaugment_table(repeats):
    rates = _reference_rates(repeats)
    print(
        f"\n{'DiffAugment policy':<26}{'batch':>6}{'pass':>10}"
        f"{'ours img/s':>12}{'torch img/s':>13}{'ours/torch':>12}"
    )
    for policy, spec in _DIFFAUGMENT.items():
        pipeline = augment.get(spec)
        seed = tf.constant([0, 1], tf.int64)
        forward = tf.function(lambda x, p=pipeline, s=seed: p(x, s))
        for batch in _BATCHES:
            images = tf.random.uniform([batch, 32, 32, 3], -1, 1)
            for backward, fn in ((0, forward), (1, _ours_grad(forward))):
                a = _images_per_second(fn, images, repeats)
                line = (
                    f"{policy:<26}{batch:>6}"
                    f"{'fwd+bwd' if backward else 'fwd':>10}{a:>12.0f}"
                )
                if rates:
                    b = rates[f"{policy}|{batch}|{backward}"]
                    line += f"{b:>13.0f}{a / b:>12.2f}"
                print(line, flush=True)


def main(argv):
    del argv
    print(
        f"{'augmentation':<26}{'batch':>6}{'ours img/s':>12}"
        f"{'keras img/s':>13}{'ours/keras':>12}"
    )
    for name in augment.names():
        ours, theirs = _ours(name), _theirs(name)
        for batch in _BATCHES:
            images = tf.random.uniform([batch, 32, 32, 3], -1, 1)
            a = _images_per_second(ours, images, _REPEATS.value)
            line = f"{name:<26}{batch:>6}{a:>12.0f}"
            if theirs is not None:
                b = _images_per_second(theirs, images, _REPEATS.value)
                line += f"{b:>13.0f}{a / b:>12.2f}"
            print(line, flush=True)
    _diffaugment_table(_REPEATS.value)
    n = _TRAIN_ITERATIONS.value
    plain = time_config(models.sndcgan, {}, 64, 1, 0, False, n)
    policy = augment.augment("real_and_fake", "translation", 0.4)
    augmented = time_config(models.sndcgan, {}, 64, 1, 0, False, n, policy)
    print(
        f"\nSNDCGAN step, batch 64: {plain:.3f} s plain, {augmented:.3f} s "
        f"with real_and_fake translation: ratio {augmented / plain:.3f}"
    )


if __name__ == "__main__":
    app.run(main)
