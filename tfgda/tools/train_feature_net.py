"""Trains the offline feature network (`tfgda.metrics.classifier`).

  python -m tfgda.tools.train_feature_net --images=train.zip \\
      --test_images=test.zip --out=cifar10_classifier.npz

A CIFAR-10 classifier (random horizontal flips; with
`--train_augment=flip,translation` also 4-pixel reflected translations, the
recipe of the shipped weights, which still see translations as well as a
flips-only network: docs/EVALUATION.md), label smoothing 0.1,
SGD with Nesterov momentum 0.9,
weight decay 5e-4, learning rate warmed up linearly to --lr over the first
epoch then cosine to 0, batch 256). Each epoch prints its loss, training
accuracy and time; an interrupted run resumes at its last finished epoch
(the state is kept in OUT.training/ until the weights are written). At the
end it prints the test accuracy and writes the weights (float16) and their
SHA-256.
The shipped weights came from the command above with
--train_augment=flip,translation (the default before flips alone).
"""

import json
import math
import shutil
import time

from absl import app
from absl import flags
from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfgda import cli
from tfgda import data
from tfgda.errors import UserError
from tfgda.metrics import classifier

__all__ = ["accuracy", "train"]

_TEST_IMAGES = flags.DEFINE_string(
    "test_images", None, "Test images, for the accuracy printed at the end."
)
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Passes over the images.")
_BATCH_SIZE = flags.DEFINE_integer("train_batch_size", 256, "Batch size.")
_LR = flags.DEFINE_float("lr", 0.2, "Peak learning rate.")
_WIDTH = flags.DEFINE_integer("width", classifier.WIDTH, "Network width.")
_AUGMENT = flags.DEFINE_list(
    "train_augment",
    ["flip"],
    "The training images' augmentations: flip, translation (4-pixel "
    "reflected shifts; a network trained with them barely sees a "
    "translation, so it cannot score one).",
)

_IMAGES = cli.flag("images", "Training images, one sub-folder per class.")
_SEED = cli.flag("seed", "The seed of the weights and batches.")
_OUT = cli.flag("out", "The weights file (.npz) to write.")


AUGMENTATIONS = ("flip", "translation")


def _augment(names, seed):
    """The training images' augmentation: horizontal flips and/or 4-pixel
    reflected translations, in that order."""
    unknown = sorted(set(names) - set(AUGMENTATIONS))
    if unknown:
        raise UserError(
            f"--train_augment {','.join(unknown)} is not one of "
            f"{', '.join(AUGMENTATIONS)}: e.g. --train_augment=flip."
        )
    layers = []
    if "flip" in names:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if "translation" in names:
        layers.append(
            keras.layers.RandomTranslation(
                0.125, 0.125, fill_mode="reflect", seed=seed + 1
            )
        )

    def augment(x):
        for layer in layers:
            x = layer(x, training=True)
        return x

    return augment


def train(
    images,
    out,
    epochs=10,
    batch_size=256,
    lr=0.2,
    width=24,
    seed=0,
    steps_per_epoch=None,
    augment=("flip",),
):
    """Trains the network on an image archive; writes `out` (npz); returns
    the Keras model (images -> features, logits). augment: any of
    AUGMENTATIONS ('flip' alone by default: a score must see the spatial
    augmentations a study compares, so the network is not trained to be
    invariant to them)."""
    keras.utils.set_random_seed(seed)
    dataset, info = data.dataset(
        batch_size, seed=seed, name="images", path=images
    )
    _check_size(info, images)
    steps = steps_per_epoch or info.num_examples // batch_size
    model = classifier.network(width, max(info.num_classes, 2))
    augment = _augment(augment, seed)
    inputs = keras.Input((32, 32, 3))
    train_model = keras.Model(inputs, model(augment(inputs))[1])
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(steps * (epochs - 1), 1),
        warmup_target=lr,
        warmup_steps=steps,
    )
    optimizer = keras.optimizers.SGD(
        schedule, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    optimizer.exclude_from_weight_decay(var_names=["bn", "bias"])
    train_model.compile(
        optimizer,
        keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=0.1
        ),
        metrics=["accuracy"],
    )
    pairs = dataset.map(
        lambda b: (
            b["images"],
            tf.one_hot(b["labels"], max(info.num_classes, 2)),
        )
    )
    work = f"{out}.training"
    _check_work_dir(work)
    logging.info(
        "Training the feature network: %d images, %d classes, %d "
        "epochs of %d steps (state in %s).",
        info.num_examples,
        info.num_classes,
        epochs,
        steps,
        work,
    )
    train_model.fit(
        pairs,
        epochs=epochs,
        steps_per_epoch=steps,
        verbose=2,
        callbacks=[keras.callbacks.BackupAndRestore(work), _EpochLog(epochs)],
    )
    digest = classifier.save_weights(model, out)
    shutil.rmtree(work, ignore_errors=True)
    logging.info("Wrote %s (sha256 %s).", out, digest)
    return model


# What keras.callbacks.BackupAndRestore keeps in its folder.
_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")


def _check_work_dir(work):
    """The state folder is removed when the weights are written: refuse
    one that holds anything but a previous run's state."""
    if not tf.io.gfile.exists(work):
        return
    if not tf.io.gfile.isdir(work):
        raise UserError(
            f"{work!r} is a file; this program keeps its state there: move "
            "it away, or choose another --out."
        )
    other = sorted(set(tf.io.gfile.listdir(work)) - set(_BACKUP_FILES))
    if other:
        raise UserError(
            f"{work!r} holds {other[0]!r}, not this program's state (which "
            "it deletes when done): move it away, or choose another --out."
        )


class _EpochLog(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs
        self.start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        logging.info(
            "epoch %d/%d  loss %.3f  train accuracy %.3f  %.0f s",
            epoch + 1,
            self.epochs,
            logs.get("loss", math.nan),
            logs.get("accuracy", math.nan),
            time.time() - self.start,
        )


def accuracy(model, images, batch_size=500):
    """Top-1 accuracy of the model's logits on an image archive."""
    dataset, info = data.dataset(
        batch_size,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
        cache=False,
        name="images",
        path=images,
    )
    _check_size(info, images)
    predict = tf.function(lambda x: model(x, training=False)[1])
    right = total = 0
    for batch in dataset:
        logits = predict(batch["images"])
        right += int(np.sum(np.argmax(logits, -1) == batch["labels"]))
        total += int(batch["labels"].shape[0])
    return right / total


def _check_size(info, images):
    if info.image_shape != (classifier.IMAGE_SIZE, classifier.IMAGE_SIZE, 3):
        raise UserError(
            f"{images!r} holds {info.image_shape[0]}x{info.image_shape[1]} "
            f"images; the feature network takes {classifier.IMAGE_SIZE}x"
            f"{classifier.IMAGE_SIZE}."
        )


def _main():
    if not _IMAGES.value or not _OUT.value:
        raise UserError(
            "--images (a CIFAR-10 training archive) and --out "
            "(the weights file to write, .npz) are required."
        )
    out = _OUT.value
    if not out.endswith(".npz"):
        raise UserError(f"--out {out!r} must end in .npz.")
    start = time.time()
    model = train(
        _IMAGES.value,
        out,
        _EPOCHS.value,
        _BATCH_SIZE.value,
        _LR.value,
        _WIDTH.value,
        _SEED.value,
        augment=_AUGMENT.value,
    )
    summary = {
        "weights": out,
        "sha256": classifier.sha256(out),
        "epochs": _EPOCHS.value,
        "augment": _AUGMENT.value,
        "seconds": round(time.time() - start),
    }
    if _TEST_IMAGES.value:
        summary["test_accuracy"] = accuracy(model, _TEST_IMAGES.value)
    print(json.dumps(summary))


def run():
    app.run(cli.main(_main))


if __name__ == "__main__":
    run()
