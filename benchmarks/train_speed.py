"""Seconds per training iteration and discriminator images/s.

  python benchmarks/train_speed.py [--iterations=5] [--xla=both]
      [--precisions=float32,mixed_bfloat16]

One iteration is n_disc discriminator steps and one generator step. Each
configuration runs under the default strategy on random data of the real
shapes; the first (compiling) iteration is excluded from the timing.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgda import models  # noqa: E402
from tfgda.training import gan as gan_lib  # noqa: E402
from tfgda.training import losses  # noqa: E402
from tfgda.training import optim  # noqa: E402
from tfgda.training import trainer  # noqa: E402

_ITERATIONS = flags.DEFINE_integer("iterations", 5, "Timed iterations.")
_MODELS = flags.DEFINE_list(
    "models", None, "Substrings of the model labels to run (default: all)."
)
_XLA = flags.DEFINE_enum(
    "xla", "both", ["off", "on", "both"], "Run with XLA off, on, or both."
)
_PRECISIONS = flags.DEFINE_list(
    "precisions",
    ["float32"],
    "Keras dtype policies to time, side by side "
    "(float32, mixed_bfloat16, mixed_float16).",
)

# (label, model factory, kwargs, batch, n_disc, classes)
CONFIGS = [
    ("SNDCGAN", models.sndcgan, {}, 64, 1, 0),
    ("BigGAN (compare_gan, ch 96)", models.biggan, {}, 256, 2, 10),
    ("BigGAN (PyTorch widths)", models.biggan_pytorch, {}, 50, 4, 10),
]


def time_config(
    factory,
    kwargs,
    batch,
    n_disc,
    classes,
    xla,
    iterations,
    augment=None,
    precision="float32",
):
    """Returns seconds per iteration."""
    keras.utils.set_random_seed(0)
    with trainer.dtype_policy(precision):
        generator, discriminator = factory((32, 32, 3), classes, **kwargs)
        gan = gan_lib.GAN(
            generator=generator,
            discriminator=discriminator,
            g_optimizer=trainer.loss_scaled(optim.adam(), precision),
            d_optimizer=trainer.loss_scaled(optim.adam(), precision),
            loss=losses.hinge,
            global_batch=batch,
            num_classes=classes,
            n_disc=n_disc,
            augment=augment,
            jit_compile=xla,
        )
        gan.build()
    strategy = tf.distribute.get_strategy()
    data = tf.data.Dataset.from_tensors(
        {
            "images": tf.random.uniform([batch, 32, 32, 3], -1, 1),
            "labels": tf.zeros([batch], tf.int32),
        }
    ).repeat()
    iterator = iter(data)
    step = tf.function(lambda: gan.train_step(strategy, iterator))
    float(step()["g_loss"])  # compile
    start = time.perf_counter()
    for _ in range(iterations):
        metrics = step()
    float(metrics["g_loss"])
    return (time.perf_counter() - start) / iterations


def main(argv):
    del argv
    xla_modes = {"off": [False], "on": [True], "both": [False, True]}
    print(
        f"{'model':<28}{'batch':>6}{'n_disc':>7}{'xla':>5}"
        f"{'precision':>16}{'s/iter':>9}{'D img/s':>9}{'vs first':>9}"
    )
    for label, factory, kwargs, batch, n_disc, classes in CONFIGS:
        if _MODELS.value and not any(m in label for m in _MODELS.value):
            continue
        first = None
        for xla in xla_modes[_XLA.value]:
            for precision in _PRECISIONS.value:
                seconds = time_config(
                    factory,
                    kwargs,
                    batch,
                    n_disc,
                    classes,
                    xla,
                    _ITERATIONS.value,
                    precision=precision,
                )
                first = first or seconds
                # Each D step sees batch real and batch fake images.
                images = 2 * batch * n_disc / seconds
                print(
                    f"{label:<28}{batch:>6}{n_disc:>7}"
                    f"{'on' if xla else 'off':>5}{precision:>16}"
                    f"{seconds:>9.3f}{images:>9.1f}{seconds / first:>9.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    app.run(main)
