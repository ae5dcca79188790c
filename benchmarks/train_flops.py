"""Floating-point operations per training iteration, and what they imply
for a run of the paper's length on an accelerator.

  python benchmarks/train_flops.py [--tflops=30,100] [--utilization=0.35]

Counts the forward FLOPs of G and D (TensorFlow's profiler on the traced
graphs, batch 1), and multiplies by the passes of one iteration: per D step
G forward on the batch, D forward and backward on reals and fakes; per G
step G and D forward and backward (backward taken as 2x forward). Hours for
the paper's steps follow from an accelerator's dense throughput (TFLOP/s)
at the given utilization: an estimate, not a measurement; regularizers
(bCR: D on 2x more images; Cntr: D on 4x more) are extra.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgda import models  # noqa: E402

_TFLOPS = flags.DEFINE_list(
    "tflops",
    ["15.7", "156", "420"],
    "Accelerator dense throughputs, "
    "TFLOP/s (V100 FP32: 15.7; A100 TF32: 156; TPU v3-8 bfloat16: 420).",
)
_UTILIZATION = flags.DEFINE_float(
    "utilization", 0.35, "Fraction of peak throughput sustained."
)

# (label, factory, batch, n_disc, classes, paper steps)
CONFIGS = [
    ("SNDCGAN", models.sndcgan, 64, 1, 0, 200_000),
    ("BigGAN (compare_gan, ch 96)", models.biggan, 256, 2, 10, 100_000),
]


def forward_flops(model, *specs):
    fn = tf.function(lambda *args: model(*args, training=True))
    graph = fn.get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def main(argv):
    del argv
    print(
        f"{'model':<30}{'G fwd GFLOP':>12}{'D fwd GFLOP':>12}"
        f"{'TFLOP/iter':>12}  hours for the paper's steps at "
        f"{_UTILIZATION.value:.0%} of "
        + ", ".join(f"{t} TFLOP/s" for t in _TFLOPS.value)
    )
    for label, factory, batch, n_disc, classes, steps in CONFIGS:
        g, d = factory((32, 32, 3), classes)
        labels = tf.TensorSpec([1], tf.int32)
        g_flops = forward_flops(g, tf.TensorSpec([1, g.dim_z]), labels)
        d_flops = forward_flops(d, tf.TensorSpec([1, 32, 32, 3]), labels)
        d_step = batch * (g_flops + 3 * 2 * d_flops)
        g_step = batch * 3 * (g_flops + d_flops)
        per_iter = n_disc * d_step + g_step
        hours = [
            steps * per_iter / (float(t) * 1e12 * _UTILIZATION.value) / 3600
            for t in _TFLOPS.value
        ]
        print(
            f"{label:<30}{g_flops / 1e9:>12.3f}{d_flops / 1e9:>12.3f}"
            f"{per_iter / 1e12:>12.3f}  "
            + ", ".join(f"{h:.1f} h" for h in hours)
        )


if __name__ == "__main__":
    app.run(main)
