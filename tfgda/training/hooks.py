"""Periodic work of the training loop: one kind of thing, a hook.

A hook runs every `every` steps and at the last step; the loop stops a
compiled call at each of those steps, so none is skipped. Three hooks are
part of every run, each bound in gin under its own name:

  progress.every = 100        console lines and train/ scalars
  samples.every = 1000        sample grids (TensorBoard and PNG)
  checkpoints.every = 1000    checkpoints (also at the end and on Ctrl-C)
  checkpoints.keep = 3

and optional ones are listed in `train.hooks`, as big_vision builds its
evaluators from its config:

  train.hooks = [@evaluation(), @leak_check(), @overfitting()]
  evaluation.every = 5000
  evaluation.protocol = 'fid10k_test'
  leak_check.every = 5000
  leak_check.augmentation = 'blueness(0.5)'
  overfitting.every = 1000

A new kind of periodic work is a subclass of `Hook` registered with gin.
`begin` runs before the first step (check settings there: a mistake stops
the run before it writes anything); `__call__` at each of its steps. Hooks
run in order: progress, samples, checkpoints, then the listed ones, so a
failing evaluation never costs the checkpoint of its step. Only the chief
runs a hook unless it is `collective` (every worker must: checkpoints).
"""

import dataclasses
import time
from typing import Any

from absl import logging
import gin
import tensorflow as tf

from tfgda import data as data_lib
from tfgda import models
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.errors import positive_int
from tfgda.metrics import evaluation as evaluation_lib
from tfgda.metrics import leakage
from tfgda.metrics import overfitting
from tfgda.models import standing

__all__ = [
    "Checkpoints",
    "Evaluation",
    "Hook",
    "LeakCheck",
    "Overfitting",
    "Progress",
    "Run",
    "Samples",
    "clock",
    "format_metrics",
]

_GRID_SIZE = 64


@dataclasses.dataclass
class Run:
    """What hooks may use: the run being trained (set up by the trainer;
    `writer` and `saver` are set before the first step)."""

    model_dir: str
    gan: Any
    strategy: Any
    data_info: Any
    run_info: dict
    augment: Any
    seed: int
    batch_size: int
    steps: int
    chief: bool
    stats: Any  # models.standing_stats(): samples for the EMA G's batch norm
    checkpoint_items: Any = None  # {name: trackable}: what a checkpoint holds
    save_dir: str = ""
    writer: Any = None
    saver: Any = None


class Hook:
    """Periodic work: called every `every` steps and at the last one."""

    every = 0
    collective = False  # True: every worker calls it, not only the chief

    def begin(self, run):
        """Before the first step (settings are checked here)."""
        self.run = run

    def compiled(self, step):
        """After the first compiled call (tracing and compiling) ended at
        `step`."""

    def due(self, step):
        return step % self.every == 0 or step == self.run.steps

    def __call__(self, step, metrics):
        raise NotImplementedError


@gin.configurable("progress")
class Progress(Hook):
    """A console line (steps/s, ETA, the metrics) and train/ scalars."""

    collective = True  # every worker logs; only the chief writes scalars

    def __init__(self, every=100):
        self.every = positive_int("progress.every", every)

    def begin(self, run):
        super().begin(run)
        self.rate = 0.0
        self.compiled(int(run.gan.step.numpy()))

    def compiled(self, step):
        """Measures from now on: compiling is not in the rate or the ETA."""
        self._last_step, self._last_time = step, time.time()

    def __call__(self, step, metrics):
        steps = self.run.steps
        if step == self._last_step:  # no step ran since (the first call)
            logging.info("step %d/%d  %s", step, steps, format_metrics(metrics))
            return
        now = time.time()
        self.rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        logging.info(
            "step %d/%d  %.2f steps/s  ETA %s  %s",
            step,
            steps,
            self.rate,
            clock((steps - step) / self.rate),
            format_metrics(metrics),
        )
        with self.run.writer.as_default(step=step):
            for name, value in metrics.items():
                tf.summary.scalar(f"train/{name}", value)
            tf.summary.scalar("train/steps_per_sec", self.rate)


@gin.configurable("samples")
class Samples(Hook):
    """A grid of samples of fixed latents (TensorBoard `samples` and
    model_dir/samples/step_<step>.png) and, when D's inputs are augmented,
    what D sees: augmented reals beside augmented samples."""

    def __init__(self, every=1000):
        self.every = positive_int("samples.every", every)

    def begin(self, run):
        super().begin(run)
        self.z = models.sample_z(
            run.gan.generator, _GRID_SIZE, [run.seed, 2**20]
        )
        self.labels = tf.range(_GRID_SIZE) % max(run.data_info.num_classes, 1)
        self.reals = None
        if run.augment.active:  # a fixed batch of real images
            dataset, _ = data_lib.dataset(
                min(run.batch_size, _GRID_SIZE // 2),
                shuffle=False,
                repeat=False,
                cache=False,
            )
            self.reals = next(iter(dataset))["images"]

    def __call__(self, step, metrics):
        run = self.run
        run.gan.prepare_sampler(run.stats.grid_samples, run.stats.batch_size)
        samples = run.gan.sample(self.z, self.labels)
        grid = data_lib.image_grid(samples)
        with run.writer.as_default(step=step):
            tf.summary.image("samples", grid[None])
        data_lib.write_png(rundir.samples_path(run.model_dir, step), grid)
        if self.reals is not None:
            n = min(len(self.reals), _GRID_SIZE // 2)
            seed = tf.constant([run.seed, step], tf.int64)
            images = tf.concat(
                [
                    run.augment.real(self.reals[:n], seed),
                    run.augment.fake(samples[:n], seed + 1),
                ],
                0,
            )
            grid = data_lib.image_grid(images, columns=8)
            with run.writer.as_default(step=step):
                tf.summary.image("augmented_real_top_fake_bottom", grid[None])


@gin.configurable("checkpoints")
class Checkpoints(Hook):
    """Checkpoints of the run (`rundir.Saver`): every `every` steps, at the
    end, and when a signal stops the run; the newest `keep` are kept."""

    collective = True  # saving is collective on a multi-worker job

    def __init__(self, every=1000, keep=3):
        self.every = positive_int("checkpoints.every", every)
        self.keep = positive_int("checkpoints.keep", keep)

    def begin(self, run):
        super().begin(run)
        run.saver = rundir.Saver(
            tf.train.Checkpoint(**run.checkpoint_items), run.save_dir, self.keep
        )

    def __call__(self, step, metrics):
        self.run.saver.save(step)


@gin.configurable("evaluation")
class Evaluation(Hook):
    """FID, IS and KID of the sampler under `protocol` (results in
    model_dir/eval/, TensorBoard eval/<protocol>/...).

    Args:
      every: steps between evaluations.
      protocol: e.g. 'fid10k_test' or 'fid50k_train'.
      reference_path: an archive of the protocol's split, for runs on
        image archives.
      features: 'inception' (TF-GAN's; FID; needs `inception.handle`) or
        'cifar10_classifier' (the offline network shipped with tfgda, for
        32x32 runs on machines without Inception; FCD, not comparable with
        FID).
    """

    def __init__(
        self,
        every=5000,
        protocol="fid10k_test",
        reference_path=None,
        features="inception",
    ):
        self.every = positive_int("evaluation.every", every)
        self.protocol = protocol
        self.reference_path = reference_path
        self.features = features

    def begin(self, run):
        super().begin(run)
        self.evaluator = evaluation_lib.TrainingEvaluator(
            run.model_dir,
            run.run_info,
            self.protocol,
            self.reference_path,
            features=self.features,
        )

    def __call__(self, step, metrics):
        run = self.run
        run.gan.prepare_sampler(run.stats.num_samples, run.stats.batch_size)
        result = self.evaluator(run.gan.sampler, step, run.writer, run.strategy)
        logging.info(
            "step %d  %s  %s",
            step,
            result["protocol"],
            evaluation_lib.summary(result),
        )


@gin.configurable("leak_check")
class LeakCheck(Hook):
    """The augmentation-leak check of the sampler (`tfgda.leak`) for one
    augmentation with its strength, e.g. 'blueness(0.5)'; TensorBoard
    scalars leak/<spec>/{generated,baseline,ceiling,score}."""

    def __init__(self, every=5000, augmentation=None):
        self.every = positive_int("leak_check.every", every)
        if not augmentation:
            raise UserError(
                "leak_check needs leak_check.augmentation: the augmentation "
                "to look for, e.g. 'blueness(0.5)'."
            )
        self.augmentation = augmentation

    def begin(self, run):
        super().begin(run)
        self.detector = leakage.TrainingLeakDetector(
            self.augmentation, run.run_info["num_classes"], seed=run.seed
        )

    def __call__(self, step, metrics):
        run = self.run
        run.gan.prepare_sampler(run.stats.num_samples, run.stats.batch_size)
        report = self.detector(run.gan.sampler, step, run.writer)
        result = report.as_dict()
        result["standing_stats_samples"] = standing.samples_used(
            run.gan.sampler
        )
        rundir.write_result(
            run.model_dir,
            leakage.result_folder(report.augmentation),
            step,
            result,
        )
        logging.info(
            "step %d  leak of %s: %.3f of samples look "
            "augmented (real %.3f, augmented real %.3f)",
            step,
            report.augmentation,
            report.generated,
            report.baseline,
            report.ceiling,
        )


@gin.configurable("overfitting")
class Overfitting(Hook):
    """D's overfitting (`tfgda.metrics.overfitting`): D's mean outputs on
    fixed training reals, held-out reals and fakes, ADA's r_t and r_v;
    TensorBoard overfitting/<name>, model_dir/eval/overfitting/ckpt-<step>.json.

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
            digests |= overfitting.image_digests(batch["images"])
        overfitting.check_disjoint(digests, held_out[0], source)
        self.probe = overfitting.OverfittingProbe(
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
        result = self.probe(run.gan.generator, run.gan.discriminator)
        result["step"] = step
        rundir.write_result(run.model_dir, "eval/overfitting", step, result)
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


def format_metrics(metrics):
    return "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))


def clock(seconds):
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"
