"""An offline feature network: a small CIFAR-10 classifier shipped with tfgda.

TF-GAN's Inception cannot be downloaded everywhere (a cluster without
network, a CI machine), and without it no run can be scored. This network
is the fallback: a ResNet-9-style CIFAR-10 classifier (width 24, about
0.93M parameters) trained by `python -m tfgda.tools.train_feature_net`,
whose weights ship with the package (`weights/cifar10_classifier.npz`,
float16, under 2 MB). `--features=cifar10_classifier` scores a generator
by the Frechet distance and KID of this network's penultimate features
(192-d, after global max pooling): results are named `fcd` and `kid_fcd`,
never `fid`, and are not comparable with Inception FIDs or with scores
from another feature network. Every result names the network and the
SHA-256 of its weights file.

The network takes 32x32 images in [-1, 1] as they are (no resize): a
generator or reference archive of another size is refused.

Architecture (each conv 3x3, no bias, then batch norm and ReLU):
  conv w; conv 2w, max-pool; residual(2 convs 2w);
  conv 4w, max-pool; conv 8w, max-pool; residual(2 convs 8w);
  global max pool (the features); dense to 10, times 0.125 (the logits).
"""

import hashlib
import os
import zipfile

import keras
import numpy as np

from tfgda.errors import UserError
from tfgda.metrics.inception import FeatureModel

__all__ = [
    "IMAGE_SIZE",
    "NAME",
    "WEIGHTS_PATH",
    "load_feature_model",
    "load_weights",
    "network",
    "save_weights",
    "sha256",
]

NAME = "cifar10_classifier"
IMAGE_SIZE = 32
WIDTH = 24
WEIGHTS_PATH = os.path.join(os.path.dirname(__file__), "weights", f"{NAME}.npz")


def network(width=WIDTH, num_classes=10):
    """The classifier as a Keras model: images -> (features, logits)."""
    layers = keras.layers

    def conv_bn_relu(x, filters, name):
        x = layers.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"{name}_conv"
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    def residual(x, filters, name):
        y = conv_bn_relu(x, filters, f"{name}a")
        y = conv_bn_relu(y, filters, f"{name}b")
        return layers.Add(name=f"{name}_add")([x, y])

    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = conv_bn_relu(images, width, "stem")
    x = layers.MaxPooling2D(name="pool1")(conv_bn_relu(x, 2 * width, "c1"))
    x = residual(x, 2 * width, "res1")
    x = layers.MaxPooling2D(name="pool2")(conv_bn_relu(x, 4 * width, "c2"))
    x = layers.MaxPooling2D(name="pool3")(conv_bn_relu(x, 8 * width, "c3"))
    x = residual(x, 8 * width, "res2")
    features = layers.GlobalMaxPooling2D(name="features")(x)
    logits = layers.Dense(num_classes, name="logits")(features)
    logits = layers.Rescaling(0.125, name="logit_scale")(logits)
    return keras.Model(images, [features, logits], name=NAME)


def save_weights(model, path):
    """Writes every weight (trainable and batch-norm statistics) as float16
    to an npz file, atomically; returns the file's SHA-256."""
    arrays = {
        f"{i:03d}:{w.path}": np.asarray(w.numpy(), np.float16)
        for i, w in enumerate(model.weights)
    }
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return sha256(path)


def load_weights(model, path=WEIGHTS_PATH):
    """Sets the model's weights from `save_weights`' file; a UserError if
    the file is missing, unreadable or made for another network."""
    how = (
        "reinstall tfgda, or retrain the file with python -m "
        "tfgda.tools.train_feature_net."
    )
    if not os.path.exists(path):
        raise UserError(f"the {NAME} weights file {path!r} is missing: {how}")
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(
            f"the {NAME} weights file {path!r} is corrupt "
            f"({type(e).__name__}): {how}"
        ) from e
    names = sorted(arrays)
    shapes = [arrays[n].shape for n in names]
    if shapes != [tuple(w.shape) for w in model.weights]:
        raise UserError(
            f"the weights file {path!r} does not fit the "
            f"{NAME} network ({len(shapes)} arrays for "
            f"{len(model.weights)} weights): {how}"
        )
    for name, weight in zip(names, model.weights):
        weight.assign(arrays[name].astype(np.float32))
    return model


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_feature_model(path=WEIGHTS_PATH):
    """The network with the weights of `path` as a FeatureModel (features
    and logits of 32x32 images in [-1, 1])."""
    path = os.path.expanduser(path)
    model = load_weights(network(), path)
    digest = sha256(path)

    def module(images):
        features, logits = model(images, training=False)
        return {"pool_3": features, "logits": logits}

    return FeatureModel(
        module,
        f"{NAME}@{digest[:12]}",
        IMAGE_SIZE,
        name=NAME,
        sha256=digest,
        fixed_size=True,
    )
