"""Augmentation speed beside DiffAugment's PyTorch ops and Keras' layers,
and its cost in a training step.

  python benchmarks/augment_speed.py [--repeats=50] [--rounds=5]
      [--train_iterations=10] [--biggan_iterations=2]

Every time is seconds per call, the best of --rounds rounds of --repeats
calls after a warm-up, for ours and the peers alike (the peer's PyTorch ops
run in a process of their own, diffaugment_reference_speed.py, with as many
threads as this machine has cores, once before ours and once after, the
best of the two kept). Ratios are peer time / our time: above
1, ours is faster. Prints:
  1. The per-call floors: a trivial compiled function (seed in, one
     multiply and a sum, scalar out); and, per batch and pass, the trivial
     op that reads a batch and returns one, x * 2, timed as the ops are
     (forward, and forward + backward): an op's floor, since every op
     reads and writes a batch.
  2. DiffAugment's policies on D's two inputs, as each trains with them:
     ours `AugmentPolicy.d_inputs` (the training step's: every op on both
     batches in one XLA call), DiffAugment's `DiffAugment(x, policy)` on
     the real and on the fake batch; forward, and forward + backward (the
     gradient to both batches). Target: 1.5x.
  3. Single ops on one batch: DiffAugment's three (and brightness, its
     color's first third) beside DiffAugment's, the paper's beside Keras 3's
     layer for the same operation where there is one, every op beside the
     floor of its batch and pass, timed just before it (column /floor).
     Target at batch 256: 1.5x the peer, or, where 1.5x the peer would be
     faster than that floor, within 20 % of it. An op whose output is a
     fresh Gaussian draw per pixel (instance_noise) is judged by its own
     floor, x plus that draw (`stateless_normal`, the kernel Keras'
     GaussianNoise calls too): no op with the same numbers can skip it.
  4. Seconds per SNDCGAN (batch 64) and BigGAN (batch 256, 2 D steps)
     training iteration without augmentation and with real_and_fake
     translation, interleaved, and the ratio; and the augmentation an
     iteration does timed alone, as a share of the plain iteration (the
     ratio's noise is a few per cent). Target: under 2 %.
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

_REPEATS = flags.DEFINE_integer("repeats", 50, "Timed calls per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Rounds; the best is kept.")
_TRAIN_ITERATIONS = flags.DEFINE_integer(
    "train_iterations", 10, "Timed SNDCGAN training iterations (0: skip)."
)
_BIGGAN_ITERATIONS = flags.DEFINE_integer(
    "biggan_iterations", 2, "Timed BigGAN iterations (0: skip)."
)
_BATCHES = (64, 256)
STRENGTH = 0.3
TARGET = 1.5
FLOOR_SLACK = 1.2

# Our op -> (DiffAugment's op timed as its peer, the label): the same
# definition, or (translation, cutout, brightness) the same kind.
_DIFFAUGMENT_KIN = {
    "color": ("color", "DiffAugment"),
    "diffaugment_translation": ("translation", "DiffAugment"),
    "diffaugment_cutout": ("cutout", "DiffAugment"),
    "translation": ("translation", "DiffAug kin"),
    "cutout": ("cutout", "DiffAug kin"),
    "brightness": ("brightness", "DiffAug kin"),
}
_POLICIES = ("color,translation,cutout", "translation,cutout")


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
        "instance_noise": lambda: layers.GaussianNoise(2 * STRENGTH),
        "crop_flip": lambda: keras.Sequential(
            [
                layers.RandomTranslation(0.125, 0.125, fill_mode="reflect"),
                layers.RandomFlip("horizontal"),
            ]
        ),
    }.get(name)


def seconds_per_call(fn, *args):
    """The best over --rounds of the mean time of --repeats calls."""
    for _ in range(3):
        out = fn(*args)
    tf.nest.map_structure(lambda t: t.numpy(), out)
    best = float("inf")
    for _ in range(_ROUNDS.value):
        start = time.perf_counter()
        for _ in range(_REPEATS.value):
            out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        best = min(best, (time.perf_counter() - start) / _REPEATS.value)
    return best


def _with_gradient(fn):
    """fn's outputs and the gradient of their sum to its inputs, compiled.
    The outputs are returned too, as training uses them (D reads them):
    otherwise TensorFlow would prune the forward pass of an op whose
    gradient does not read it (a shift of values), and time nothing."""

    @tf.function
    def step(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(*inputs)
            total = tf.add_n(
                [tf.reduce_sum(y) for y in tf.nest.flatten(outputs)]
            )
        return outputs, tape.gradient(
            total, inputs, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )

    return step


def _passes(fn):
    """(forward, forward + backward), each a compiled function."""
    return ((0, tf.function(fn)), (1, _with_gradient(fn)))


def _reference_times():
    """The peer's seconds per call, or None where PyTorch or its code is
    missing."""
    script = os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "diffaugment_reference_speed.py",
    )
    done = subprocess.run(
        [
            sys.executable,
            script,
            str(_REPEATS.value),
            str(_ROUNDS.value),
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


def _images(batch, seed=0):
    return tf.random.stateless_uniform([batch, 32, 32, 3], [seed, 1], -1, 1)


def _floors():
    """The per-call floors, printed: a trivial compiled function of a seed
    (scalar out), and, per batch and pass, the harness that times an op
    (`_passes`) around the trivial op `x * 2` (the least any op that reads
    a batch and returns one, and, backward, its gradient, can cost) and
    around `x` plus a Gaussian draw (see `_DRAW_FLOOR_OPS`). Returns
    {(kind, batch, backward): that floor's compiled function}; each op is
    judged by its floor timed again beside it (`_measure_ops`), since a
    shared machine's speed drifts over the minutes the ops take."""
    seed = tf.constant([0, 1], tf.int64)
    trivial = tf.function(lambda s: tf.reduce_sum(tf.cast(s, tf.float32) * 2.0))
    print(
        f"Per-call floor: {seconds_per_call(trivial, seed) * 1e3:.3f} ms "
        "(seed in, scalar out)"
    )
    functions = {}
    for kind, label, op in (
        (_PLAIN, "x * 2", lambda x: x * 2.0),
        (_DRAW, "x + N(0, 1) draw", _gaussian_draw),
    ):
        times = []
        for batch in _BATCHES:
            for backward, fn in _passes(op):
                functions[kind, batch, backward] = fn
                seconds = seconds_per_call(fn, _images(batch))
                times.append(
                    f"batch {batch} {'fwd+bwd' if backward else 'fwd'} "
                    f"{seconds * 1e3:.3f} ms"
                )
        times = ", ".join(times)
        print(f"Per-call floor, {label} in the ops' harness: {times}")
    return functions


_PLAIN, _DRAW = "plain", "draw"
# Ops judged by the floor of x plus a fresh Gaussian draw per pixel
# (`stateless_normal`, the kernel Keras' GaussianNoise calls too): no op
# with the same numbers can skip that draw.
_DRAW_FLOOR_OPS = ("instance_noise",)
_DRAW_SEED = tf.constant([0, 1], tf.int64)


def _gaussian_draw(x):
    """x + a standard normal draw per pixel. (The seed is captured, an input
    of the traced function as the ops' is: a seed made inside it would be a
    constant, and TensorFlow would fold the whole draw into one.)"""
    return x + tf.random.stateless_normal(tf.shape(x), _DRAW_SEED)


def _verdict(ratio, ours, floor):
    if ratio >= TARGET:
        return "ok"
    if ours <= FLOOR_SLACK * floor:
        return "ok (floor)"
    return "BELOW"


def _measure_policies(ours):
    """ours["d_inputs:<policy>|batch|backward"] = seconds per call."""
    seeds = (tf.constant([0, 1], tf.int64), tf.constant([0, 2], tf.int64))
    for policy in _POLICIES:
        pol = augment.augment("real_and_fake", policy)

        def d_inputs(real, fake, pol=pol):
            return pol.d_inputs(real, fake, *seeds)

        for batch in _BATCHES:
            real, fake = _images(batch, 1), _images(batch, 2)
            for backward, fn in _passes(d_inputs):
                key = f"d_inputs:{policy}|{batch}|{backward}"
                ours[key] = seconds_per_call(fn, real, fake)


def _measure_ops(ours, keras_times, floor_fns, floors):
    """ours["<op>|batch|backward"], and Keras' layer for the same op;
    floors[same key]: the op's floor (`_floors`), timed just before it."""
    seed = tf.constant([0, 1], tf.int64)
    for name in augment.names():
        op = augment.describe(name)
        strength = op.default_strength or min(STRENGTH, op.max_strength)
        pipeline = augment.get(name, strength)
        make = _keras_reference(name)
        keras_layer = make() if make else None
        for batch in _BATCHES:
            images = _images(batch)
            for backward, fn in _passes(lambda x, p=pipeline: p(x, seed)):
                key = f"{name}|{batch}|{backward}"
                kind = _DRAW if name in _DRAW_FLOOR_OPS else _PLAIN
                floors[key] = seconds_per_call(
                    floor_fns[kind, batch, backward], images
                )
                ours[key] = seconds_per_call(fn, images)
                if keras_layer is not None and name not in _DIFFAUGMENT_KIN:
                    _, layer_fn = _passes(
                        lambda x, layer=keras_layer: layer(x, training=True)
                    )[backward]
                    keras_times[key] = seconds_per_call(layer_fn, images)


def _print_tables(ours, keras_times, reference, floor):
    print(
        f"\n{'policy on D inputs':<28}{'batch':>6}{'pass':>9}"
        f"{'ours ms':>10}{'peer ms':>10}{'peer/ours':>11}"
    )
    for policy in _POLICIES:
        for batch in _BATCHES:
            for backward in (0, 1):
                key = f"d_inputs:{policy}|{batch}|{backward}"
                line = (
                    f"{policy:<28}{batch:>6}"
                    f"{'fwd+bwd' if backward else 'fwd':>9}"
                    f"{ours[key] * 1e3:>10.3f}"
                )
                if reference:
                    ratio = reference[key] / ours[key]
                    line += f"{reference[key] * 1e3:>10.3f}{ratio:>11.2f}"
                    line += "  " + ("ok" if ratio >= TARGET else "BELOW")
                print(line)
    print(
        f"\n{'op':<24}{'batch':>6}{'pass':>9}{'ours ms':>10}"
        f"{'/floor':>8}{'peer':>12}{'peer ms':>10}{'peer/ours':>11}"
    )
    for name in augment.names():
        for batch in _BATCHES:
            for backward in (0, 1):
                key = f"{name}|{batch}|{backward}"
                time_ours = ours[key]
                own_floor = floor[key]
                line = (
                    f"{name:<24}{batch:>6}"
                    f"{'fwd+bwd' if backward else 'fwd':>9}"
                    f"{time_ours * 1e3:>10.3f}"
                    f"{time_ours / own_floor:>8.1f}"
                )
                kin = _DIFFAUGMENT_KIN.get(name)
                peer, who = None, ""
                if reference and kin:
                    peer = reference[f"{kin[0]}|{batch}|{backward}"]
                    who = kin[1]
                elif key in keras_times:
                    peer, who = keras_times[key], "Keras"
                if peer is not None:
                    ratio = peer / time_ours
                    line += f"{who:>12}{peer * 1e3:>10.3f}{ratio:>11.2f}"
                    if batch == 256:
                        line += "  " + _verdict(ratio, time_ours, own_floor)
                print(line)


def _step_work(policy, batch, n_disc):
    """Seconds of the augmentation one training iteration does: in each of
    n_disc D steps the real and the fake batch, forward; in the G step the
    fake batch, forward and backward."""
    seed = tf.constant([0, 1], tf.int64)
    fold = tf.random.experimental.stateless_fold_in

    @tf.function
    def work(real, fake):
        outputs = []
        for i in range(n_disc):
            outputs += policy.d_inputs(
                real, fake, fold(seed, 2 * i), fold(seed, 2 * i + 1)
            )
        with tf.GradientTape() as tape:
            tape.watch(fake)
            total = tf.reduce_sum(policy.fake(fake, fold(seed, -1)))
        outputs.append(tape.gradient(total, fake))
        return outputs

    return seconds_per_call(work, _images(batch, 1), _images(batch, 2))


def _training_overhead():
    policy = augment.augment("real_and_fake", "translation", 0.4)
    runs = []
    if _TRAIN_ITERATIONS.value:
        runs.append(
            ("SNDCGAN, batch 64", models.sndcgan, 64, 1, 0, _TRAIN_ITERATIONS)
        )
    if _BIGGAN_ITERATIONS.value:
        runs.append(
            ("BigGAN, batch 256", models.biggan, 256, 2, 10, _BIGGAN_ITERATIONS)
        )
    print()
    for label, factory, batch, n_disc, classes, iterations in runs:
        n = iterations.value
        # Interleaved, the best of two of each: step times drift by a few
        # per cent on a shared CPU, more than the augmentation costs.
        times = {"plain": [], "augmented": []}
        for _ in range(2):
            for key, pol in (("plain", None), ("augmented", policy)):
                times[key].append(
                    time_config(
                        factory, {}, batch, n_disc, classes, False, n, pol
                    )
                )
        plain, augmented = min(times["plain"]), min(times["augmented"])
        work = _step_work(policy, batch, n_disc)
        print(
            f"{label} iteration: {plain:.3f} s plain, {augmented:.3f} s with "
            f"real_and_fake translation (ratio {augmented / plain:.3f}); "
            f"the augmentation it does, timed alone: {work * 1e3:.2f} ms, "
            f"{100 * work / plain:.2f} % of the plain iteration",
            flush=True,
        )


def main(argv):
    del argv
    reference = _reference_times()
    # Our timings below take minutes, during which a shared machine's speed
    # drifts: the peer is timed again after them and keeps its best, so
    # neither side is judged on its slower stretch alone.
    floor_fns = _floors()
    ours, keras_times, floor = {}, {}, {}
    _measure_policies(ours)
    _measure_ops(ours, keras_times, floor_fns, floor)
    again = _reference_times()
    if reference and again:
        reference = {k: min(v, again[k]) for k, v in reference.items()}
    _print_tables(ours, keras_times, reference, floor)
    _training_overhead()


if __name__ == "__main__":
    app.run(main)
