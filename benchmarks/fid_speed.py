"""Feature-extraction throughput and the cost of the Frechet distance.

  python benchmarks/fid_speed.py [--batches=3]

Times Inception-v3 of the real architecture and input size (299x299, Keras'
InceptionV3 with random weights: the cost does not depend on the weights) on
batches of 100 CIFAR-sized images resized inside, as tfgda's FeatureModel
does; then TF-GAN's Frechet distance on two sets of 10k 2048-d activations.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgda.metrics import evaluation  # noqa: E402
from tfgda.metrics import fid  # noqa: E402
from tfgda.metrics.inception import FeatureModel  # noqa: E402

_BATCHES = flags.DEFINE_integer("batches", 3, "Timed batches of 100.")


class _KerasInception(tf.Module):
    """Keras' InceptionV3 (random weights) with TF-GAN's output dict."""

    def __init__(self):
        super().__init__()
        self.net = keras.applications.InceptionV3(
            weights=None, include_top=True
        )
        self.pool = keras.Model(
            self.net.input, self.net.get_layer("avg_pool").output
        )

    def __call__(self, images):
        pool = self.pool(images)
        return {"pool_3": pool, "logits": self.net.layers[-1](pool)}


def main(argv):
    del argv
    model = FeatureModel(_KerasInception(), "keras-inception-v3-random")
    images = tf.random.uniform([100, 32, 32, 3], -1, 1)
    evaluation.activations(model, [images])  # compile
    start = time.perf_counter()
    features, _ = evaluation.activations(model, [images] * _BATCHES.value)
    seconds = time.perf_counter() - start
    print(
        f"Inception-v3 features, batch 100: {len(features) / seconds:.1f} "
        f"images/s ({seconds / _BATCHES.value:.2f} s per batch)"
    )
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10_000, 2048))
    b = rng.normal(size=(10_000, 2048)) + 0.1
    start = time.perf_counter()
    stats_a, stats_b = fid.statistics(a), fid.statistics(b)
    middle = time.perf_counter()
    value = fid.fid_from_statistics(*stats_a, *stats_b)
    end = time.perf_counter()
    print(
        f"statistics of 2 x 10k x 2048 activations: {middle - start:.2f} s;"
        f" Frechet distance (TF-GAN's matrix square root): "
        f"{end - middle:.2f} s (FID {value:.2f})"
    )


if __name__ == "__main__":
    app.run(main)
