"""Does the generator reproduce an augmentation? The augmentation-leak check
behind `python -m tfgda.leak` and the `leak_check` training hook.

The paper's Figure 8: augmenting only the real images D sees makes G
reproduce the augmentation (bluish samples after real-only Blueness). This
measures it. A small classifier learns to tell t(x) from x on real images of
the run's training data (fresh t each batch); its accuracy on held-out real
images is reported. It then labels generated samples: the fraction it calls
"augmented" is compared with the same fraction on held-out real images (the
baseline, what a generator without the leak gets) and on t(held-out real
images) (the ceiling, a generator that reproduces t on every sample), each
with a 95% Wilson interval. The leak score, (generated - baseline) /
(ceiling - baseline), is 0 without a leak and 1 for a full one.

Callable from Python (`leak_check`, `LeakDetector`), from the command line
(`tfgda.leak`) and during training (the `leak_check` hook, `LeakCheck`:
TensorBoard scalars `leak/<spec>/{generated,baseline,ceiling,score}`), all
through one `LeakEvaluator`.
"""

import dataclasses
import math
import os

from absl import logging
import gin
import keras
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda import data as data_lib
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.errors import positive_int
from tfgda.metrics import evaluation
from tfgda.models import standing
from tfgda.training import hooks

__all__ = [
    "LeakDetector",
    "LeakReport",
    "LeakCheck",
    "LeakEvaluator",
    "MIN_IMAGES",
    "leak_check",
    "result_folder",
    "wilson_interval",
]

MIN_IMAGES = 64


def wilson_interval(successes, n, z=1.96):
    """The 95% Wilson score interval of a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = (
        z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    )
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass
class LeakReport:
    """The answer: fractions classified as augmented, with 95% intervals."""

    augmentation: str
    accuracy: float  # held-out accuracy of the classifier, t(x) vs x
    generated: float
    baseline: float  # held-out real images
    ceiling: float  # t(held-out real images)
    intervals: dict  # name -> (low, high)
    counts: dict  # name -> images classified
    step: int | None = None
    caveat: str = ""  # what the score can mean for this run, if not a leak

    @property
    def score(self):
        """(generated - baseline) / (ceiling - baseline): 0 no leak, 1 a
        full leak; NaN if the classifier cannot see the augmentation."""
        span = self.ceiling - self.baseline
        if span <= 0.05:
            return float("nan")
        return (self.generated - self.baseline) / span

    def as_dict(self):
        out = dataclasses.asdict(self)
        out["score"] = self.score
        return out

    def summary(self):
        def line(name, value):
            low, high = self.intervals[name]
            return (
                f"  {name:<10} {value:.3f}  [{low:.3f}, {high:.3f}]  "
                f"of {self.counts[name]} images"
            )

        verdict = (
            "the classifier cannot tell this augmentation from real "
            "images: no conclusion"
            if math.isnan(self.score)
            else f"leak score {self.score:.2f} (0: none, 1: every sample "
            "augmented)"
        )
        return "\n".join(
            [
                f"augmentation {self.augmentation}: classifier held-out "
                f"accuracy {self.accuracy:.3f}",
                "fraction classified as augmented (95% interval):",
                line("generated", self.generated),
                line("baseline", self.baseline) + "  (held-out real images)",
                line("ceiling", self.ceiling) + "  (augmented real images)",
                verdict,
            ]
            + ([f"note: {self.caveat}"] if self.caveat else [])
        )


def _classifier(channels, seed):
    """A small CNN from images in [-1, 1] to the logit of 'augmented'. It
    sees colour statistics (appearance shifts) and borders and textures
    (spatial resampling, reflections, boxes). Its initial weights come from
    `seed`, so a check is repeatable."""

    def init(i):
        return keras.initializers.GlorotUniform(seed=seed * 16 + i)

    convs = [
        keras.layers.Conv2D(
            filters,
            size,
            stride,
            padding="same",
            activation="relu",
            kernel_initializer=init(i),
        )
        for i, (filters, size, stride) in enumerate(
            [(32, 3, 1), (64, 4, 2), (128, 4, 2), (128, 4, 2)]
        )
    ]
    return keras.Sequential(
        [
            keras.layers.Input([None, None, channels]),
            *convs,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, kernel_initializer=init(len(convs))),
        ]
    )


class LeakDetector:
    """A classifier of t(x) against x, trained on real images.

    Args:
      augmentation: a spec with its strength (e.g. 'blueness(0.5)') or a
        Pipeline.
      real_images: float [N, H, W, C] in [-1, 1], N >= 64; a quarter is
        held out for the accuracy, the baseline and the ceiling.
      steps, batch_size: classifier training.
      seed: seeds the split, the classifier's initial weights, its training
        batches and every augmentation draw.
    """

    def __init__(
        self, augmentation, real_images, steps=600, batch_size=64, seed=0
    ):
        self.pipeline = augment_lib.get(augmentation)
        if not self.pipeline:
            raise UserError(
                "the leak check needs an augmentation: "
                "--augment='blueness(0.5)'."
            )
        if all(op.identity_at_zero and s == 0 for op, s in self.pipeline.ops):
            raise UserError(
                f"augmentation {self.pipeline.spec} at strength "
                "0 changes nothing: give it a strength, e.g. "
                "'blueness(0.5)'."
            )
        real_images = tf.convert_to_tensor(real_images, tf.float32)
        n = int(real_images.shape[0])
        if n < MIN_IMAGES:
            raise UserError(
                f"the leak check needs at least {MIN_IMAGES} "
                f"real images, got {n}."
            )
        self.pipeline.check_shape(real_images.shape)
        self.seed = seed
        order = tf.random.experimental.stateless_shuffle(tf.range(n), [seed, 1])
        held = max(n // 4, 1)
        self.held_out = tf.gather(real_images, order[:held])
        self.train_images = tf.gather(real_images, order[held:])
        self.model = _classifier(int(real_images.shape[-1]), seed)
        self._train(steps, batch_size)
        self.accuracy = self._accuracy()

    def _augmented(self, images, purpose, index=0):
        seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self.seed, purpose], tf.int64), index
        )
        return self.pipeline(images, seed)

    def _train(self, steps, batch_size):
        optimizer = keras.optimizers.Adam(1e-3)
        images = self.train_images
        n = int(images.shape[0])
        half = batch_size // 2

        @tf.function(autograph=False)
        def step(i):
            index = tf.random.stateless_uniform(
                [batch_size], [self.seed, 2 + i], 0, n, tf.int32
            )
            batch = tf.gather(images, index)
            x = tf.concat(
                [self._augmented(batch[:half], 10, i), batch[half:]], 0
            )
            y = tf.concat([tf.ones([half]), tf.zeros([batch_size - half])], 0)
            with tf.GradientTape() as tape:
                logits = tf.squeeze(self.model(x, training=True), -1)
                loss = tf.reduce_mean(
                    tf.nn.sigmoid_cross_entropy_with_logits(y, logits)
                )
            variables = self.model.trainable_variables
            optimizer.apply_gradients(
                zip(tape.gradient(loss, variables), variables)
            )
            return loss

        for i in range(steps):
            step(tf.constant(i, tf.int64))

    def predict(self, images, batch_size=256):
        """Whether each image is classified as augmented (bool array)."""
        images = tf.convert_to_tensor(images, tf.float32)
        out = [
            tf.squeeze(
                self.model(images[i : i + batch_size], training=False), -1
            )
            > 0
            for i in range(0, int(images.shape[0]), batch_size)
        ]
        return tf.concat(out, 0).numpy()

    def _accuracy(self):
        augmented = self.predict(self._augmented(self.held_out, 20))
        real = self.predict(self.held_out)
        return float(
            (augmented.sum() + (~real).sum()) / (augmented.size + real.size)
        )

    def check(self, generated, step=None):
        """The LeakReport of generated images ([N, H, W, C] in [-1, 1])."""
        fractions = {
            "generated": self.predict(generated),
            "baseline": self.predict(self.held_out),
            "ceiling": self.predict(self._augmented(self.held_out, 30)),
        }
        return LeakReport(
            augmentation=self.pipeline.spec,
            accuracy=self.accuracy,
            **{k: float(v.mean()) for k, v in fractions.items()},
            intervals={
                k: wilson_interval(int(v.sum()), v.size)
                for k, v in fractions.items()
            },
            counts={k: int(v.size) for k, v in fractions.items()},
            step=step,
        )


def _real_images(count, seed, **dataset):
    """Up to `count` real images of a dataset, shuffled, float [-1, 1]."""
    ds, _ = data_lib.dataset(
        min(count, 256),
        seed=seed,
        shuffle=True,
        repeat=False,
        drop_remainder=False,
        cache=False,
        **dataset,
    )
    images = []
    for batch in ds:
        images.append(batch["images"])
        if sum(int(b.shape[0]) for b in images) >= count:
            break
    return tf.concat(images, 0)[:count]


def generate(sampler, num_classes, count, seed, batch_size=256):
    """`count` samples of a generator as float32, drawn as evaluation draws
    them (z of its own distribution, uniform labels, fixed seeds)."""
    return tf.concat(
        [
            tf.cast(batch, tf.float32)
            for batch in evaluation.generated_batches(
                sampler, num_classes, count, batch_size, seed
            )
        ],
        0,
    )


def leak_check(
    model_dir,
    augmentation,
    checkpoint="latest",
    num_images=4096,
    steps=600,
    reference_path=None,
    seed=0,
):
    """Checks a run's (EMA) generator for `augmentation` (`python -m
    tfgda.leak`): a `LeakEvaluator` called on the restored checkpoint;
    returns the LeakReport, also written to
    model_dir/eval/leak/<spec>/ckpt-<step>.json.
    """
    run = rundir.opened(model_dir)  # a Run, or its directory
    model_dir = run.model_dir
    path = run.checkpoints(checkpoint)[-1]
    with run.config() as run_info:
        dataset, _ = evaluation.real_images_source(
            run_info, "train", reference_path
        )
        evaluator = LeakEvaluator(
            model_dir,
            augmentation,
            run_info["num_classes"],
            num_images=num_images,
            steps=steps,
            seed=seed,
            dataset=dataset,
        )
        sampler = run.generator(path)
        return evaluator(
            sampler, rundir.checkpoint_step(path), sample_seed=seed
        )


def training_caveat(pipeline):
    """What a score means when the run (its gin config loaded) never showed
    D real images with this augmentation: then nothing could leak it, and a
    score above 0 only says its samples differ from real images in a way
    the classifier reads as the augmentation. '' when it could leak."""
    try:
        mode = gin.query_parameter("augment.mode")
        name = gin.query_parameter("augment.name")
        strength = gin.query_parameter("augment.strength")
    except ValueError:  # unbound: the defaults, no augmentation
        mode, name, strength = "none", None, None
    if mode != "none" and name:
        trained = {op.name for op, _ in augment_lib.get(name, strength).ops}
        if trained & {op.name for op, _ in pipeline.ops}:
            return ""
    trained = (
        "without augmenting real images"
        if mode == "none"
        else f"with {name!r}, not this augmentation"
    )
    return (
        f"this run trained {trained} (augment.mode = {mode!r}), so "
        "nothing could leak it: a score above 0 means only that its "
        "samples differ from real images in a way the classifier reads "
        f"as {pipeline.spec} (a colour cast, or samples still far from "
        "real images), not a leak."
    )


def _safe(spec):
    """A spec as a file and tag name: 'blueness(0.5)' -> 'blueness_0.5'."""
    spec = spec.replace("(", "_").replace(")", "")
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in spec)


def result_folder(spec):
    """Where a run's leak-check results of augmentation `spec` go, under
    model_dir: eval/leak/<spec>/ckpt-<step>.json."""
    return os.path.join("eval", "leak", _safe(spec))


class LeakEvaluator:
    """The leak check of a run's sampler for one augmentation, kept as a
    result of the run (model_dir/eval/leak/<spec>/ckpt-<step>.json and,
    given a writer, TensorBoard leak/<spec>/{generated,baseline,ceiling,
    score}).

    The one leak check of a run: `leak_check` calls it on a restored
    checkpoint, the `leak_check` hook on the training sampler. The
    augmentation is checked when it is made; the classifier is trained
    once, on `num_images` real images of the run's training data (`dataset`:
    arguments of `data.dataset`, else gin's bindings), at the first call;
    each call labels fresh samples. Made with the run's gin config in
    force, so the report's caveat says when the run could not leak it.
    """

    def __init__(
        self,
        model_dir,
        augmentation,
        num_classes,
        num_images=2048,
        steps=600,
        seed=0,
        dataset=None,
    ):
        self.model_dir = model_dir
        self.pipeline = augment_lib.get(augmentation)  # checked now
        self.caveat = training_caveat(self.pipeline)
        self.num_classes = num_classes
        self.num_images = num_images
        self.steps = steps
        self.seed = seed
        self.dataset = dataset or {}
        self.detector = None

    def __call__(self, sampler, step, writer=None, sample_seed=None):
        """Labels `num_images` samples of `sampler` (drawn with
        `sample_seed`, else seed + step: fresh ones at every step); returns
        the LeakReport."""
        if self.detector is None:
            self.detector = LeakDetector(
                self.pipeline,
                _real_images(self.num_images, self.seed, **self.dataset),
                steps=self.steps,
                seed=self.seed,
            )
        if sample_seed is None:
            sample_seed = self.seed + step
        report = self.detector.check(
            generate(sampler, self.num_classes, self.num_images, sample_seed),
            step=step,
        )
        report = dataclasses.replace(report, caveat=self.caveat)
        result = report.as_dict()
        result["standing_stats_samples"] = standing.samples_used(sampler)
        rundir.write_result(
            self.model_dir, result_folder(report.augmentation), step, result
        )
        if writer is not None:
            with writer.as_default(step=step):
                for key in ("generated", "baseline", "ceiling", "score"):
                    value = getattr(report, key)
                    if not math.isnan(value):
                        tf.summary.scalar(
                            f"leak/{_safe(report.augmentation)}/{key}", value
                        )
        return report


@gin.configurable("leak_check")
class LeakCheck(hooks.Hook):
    """The `leak_check` hook: a `LeakEvaluator` of the training sampler for
    one augmentation with its strength, e.g. 'blueness(0.5)'; its
    classifier learns from `num_images` real images in `classifier_steps`
    steps, and each check labels `num_images` samples (as `python -m
    tfgda.leak`'s --leak_images and --classifier_steps)."""

    def __init__(
        self,
        every=5000,
        augmentation=None,
        num_images=2048,
        classifier_steps=600,
    ):
        self.every = positive_int("leak_check.every", every)
        self.num_images = positive_int("leak_check.num_images", num_images)
        if self.num_images < MIN_IMAGES:  # now, not at the first check
            raise UserError(
                f"leak_check.num_images is {num_images}: the leak check "
                f"needs at least {MIN_IMAGES} images."
            )
        self.classifier_steps = positive_int(
            "leak_check.classifier_steps", classifier_steps
        )
        if not augmentation:
            raise UserError(
                "leak_check needs leak_check.augmentation: the augmentation "
                "to look for, e.g. 'blueness(0.5)'."
            )
        self.augmentation = augmentation

    def begin(self, run):
        super().begin(run)
        self.evaluator = LeakEvaluator(
            run.model_dir,
            self.augmentation,
            run.run_info["num_classes"],
            num_images=self.num_images,
            steps=self.classifier_steps,
            seed=run.seed,
        )

    def __call__(self, step, metrics):
        run = self.run
        report = self.evaluator(run.sampler(), step, run.writer)
        logging.info(
            "step %d  leak of %s: %.3f of samples look "
            "augmented (real %.3f, augmented real %.3f)",
            step,
            report.augmentation,
            report.generated,
            report.baseline,
            report.ceiling,
        )
