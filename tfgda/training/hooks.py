"""Periodic work of the training loop: one kind of thing, a hook.

A hook runs every `every` steps and at the last step; the loop stops a
compiled call at each of those steps, so none is skipped. Three hooks are
part of every run, each bound in gin under its own name:

  progress.every = 100        console lines and train/ scalars
  samples.every = 1000        sample grids (TensorBoard and PNG)
  checkpoints.every = 1000    checkpoints (also at the end and on Ctrl-C)
  checkpoints.keep = 3

and optional ones are listed in `train.hooks`, as big_vision builds its
evaluators from its config; each lives beside its metric, a small adapter
of the evaluator that `python -m tfgda.evaluate` and `tfgda.leak` call on
checkpoints (`tfgda.metrics.evaluation.Evaluation`, `.leakage.LeakCheck`,
`.overfitting.Overfitting`):

  train.hooks = [@evaluation(), @leak_check(), @overfitting()]
  evaluation.every = 5000
  evaluation.protocol = 'fid10k_test'
  leak_check.every = 5000
  leak_check.augmentation = 'blueness(0.5)'
  overfitting.every = 1000

A new kind of periodic work is a subclass of `Hook` registered with gin
(and its module listed in `tfgda.configurables`).
`begin` runs before the first step (check settings there: a mistake stops
the run before it writes anything); `__call__` at each of its steps. Hooks
run in order: progress, samples, checkpoints, then the listed ones, so a
failing evaluation never costs the checkpoint of its step. Only the chief
runs a hook unless it is `collective` (every worker must: checkpoints).
"""

import time

from absl import logging
import gin
import tensorflow as tf

from tfgda import data as data_lib
from tfgda import models
from tfgda.errors import positive_int

__all__ = [
    "Checkpoints",
    "Hook",
    "Progress",
    "Run",
    "Samples",
    "clock",
    "format_metrics",
]

_GRID_SIZE = 64


class Run:
    """What a hook sees of the run being trained: read-only.

    The trainer owns the run (`tfgda.rundir.Run`: its lock, checkpoints,
    writer) and the GAN; a hook reads settings and the current step,
    samples through `sampler` (which prepares its own statistics), writes
    through `writer`, `write_result` and `samples_path`, and saves through
    `save`. Nothing here can be reassigned.
    """

    __slots__ = ("_dir", "_gan", "_settings")
    # The trainer's settings a hook reads: the run's length, seed and
    # global batch, this worker's role, the strategy, the dataset's
    # `data_lib.Info`, the augmentation policy, the standing statistics'
    # settings (`models.standing_stats()`).
    SETTINGS = (
        "steps",
        "seed",
        "batch_size",
        "chief",
        "strategy",
        "data_info",
        "augment",
        "stats",
    )

    def __init__(self, rundir_run, gan, **settings):
        if set(settings) != set(self.SETTINGS):
            raise TypeError(
                f"Run takes the settings {self.SETTINGS}, got "
                f"{sorted(settings)}"
            )
        object.__setattr__(self, "_dir", rundir_run)
        object.__setattr__(self, "_gan", gan)
        object.__setattr__(self, "_settings", dict(settings))

    def __setattr__(self, name, value):
        raise AttributeError(f"a hook's view of the run is read-only ({name})")

    def __getattr__(self, name):
        try:  # SETTINGS
            return self._settings[name]
        except KeyError:
            raise AttributeError(
                f"a hook's view of the run has no {name!r}"
            ) from None

    @property
    def model_dir(self):
        return self._dir.model_dir

    @property
    def run_info(self):
        return dict(self._dir.run_info)

    @property
    def step(self):
        """The step the run has reached."""
        return int(self._gan.step.numpy())

    @property
    def generator(self):
        """G (trained; `sampler` gives what samples are drawn from)."""
        return self._gan.generator

    @property
    def discriminator(self):
        return self._gan.discriminator

    @property
    def writer(self):
        """The run's TensorBoard writer (a no-op on workers but the
        chief)."""
        return self._dir.writer

    def sampler(self, num_samples=None):
        """The sampler (the EMA G, else G) in inference mode, its batch-norm
        statistics prepared for the current weights (`num_samples`, else
        standing_stats.num_samples)."""
        self._gan.prepare_sampler(
            num_samples or self.stats.num_samples, self.stats.batch_size
        )
        return self._gan.sampler

    def sample(self, z, labels, num_samples=None):
        """Images of the prepared sampler for latents z, as float32."""
        self.sampler(num_samples)
        return self._gan.sample(z, labels)

    def save(self, step):
        """A checkpoint of `step` (collective on a multi-worker job)."""
        self._dir.save(step)

    def write_result(self, folder, step, result):
        """model_dir/<folder>/ckpt-<step>.json, atomically."""
        return self._dir.write_result(folder, step, result)

    def samples_path(self, step):
        return self._dir.samples_path(step)


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
        self.compiled(run.step)

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
        self.z = models.sample_z(run.generator, _GRID_SIZE, [run.seed, 2**20])
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
        samples = run.sample(self.z, self.labels, run.stats.grid_samples)
        grid = data_lib.image_grid(samples)
        with run.writer.as_default(step=step):
            tf.summary.image("samples", grid[None])
        data_lib.write_png(run.samples_path(step), grid)
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
    """Checkpoints of the run (the trainer's `rundir.Run`): every `every`
    steps, at the end, and when a signal stops the run; the newest `keep`
    are kept."""

    collective = True  # saving is collective on a multi-worker job

    def __init__(self, every=1000, keep=3):
        self.every = positive_int("checkpoints.every", every)
        self.keep = positive_int("checkpoints.keep", keep)

    def __call__(self, step, metrics):
        self.run.save(step)


def format_metrics(metrics):
    return "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))


def clock(seconds):
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"
