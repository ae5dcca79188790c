"""The training run: set-up, resume, the loop, checkpoints and summaries.

`train(model_dir)` reads top to bottom: check the inputs, build the strategy,
data, models and optimizers, restore the latest checkpoint, then loop over
compiled training calls, logging, writing summaries and checkpointing. The
step's maths lives in `tfgda.gan`.
"""

import collections
import contextlib
import json
import math
import os
import re
import signal
import threading
import time

from absl import logging
import gin
import keras
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda import checkpointing
from tfgda import data as data_lib
from tfgda import distribute
from tfgda import evaluator as evaluator_lib
from tfgda import gan as gan_lib
from tfgda import leakage
from tfgda import losses
from tfgda import models
from tfgda import optim
from tfgda import regularizers as regularizers_lib
from tfgda import runlock
from tfgda import visualize
from tfgda.checkpointing import write_atomically
from tfgda.errors import Interrupted
from tfgda.errors import Terminated
from tfgda.errors import UserError
from tfgda.errors import WorkerLostError
from tfgda.errors import did_you_mean
from tfgda.errors import first_line

__all__ = [
    "PRECISIONS",
    "DivergenceError",
    "check_model_dir",
    "dtype_policy",
    "loss_scaled",
    "train",
]

_GRID_SIZE = 64


@gin.configurable("train", denylist=["model_dir"])
def train(
    model_dir,
    *,
    steps=gin.REQUIRED,
    batch_size=64,
    seed=0,
    model=models.sndcgan,
    loss=losses.hinge,
    n_disc=1,
    g_optimizer=optim.adam,
    d_optimizer=optim.adam,
    checkpoint_every=1000,
    keep_checkpoints=3,
    log_every=100,
    image_every=1000,
    steps_per_call=1,
    jit_compile=False,
    ema_decay=0.0,
    ema_start=0,
    eval_every=0,
    eval_protocol="fid10k_test",
    eval_reference_path=None,
    eval_features="inception",
    precision="float32",
    leak_every=0,
    leak_augment=None,
):
    """Trains a GAN in `model_dir`, resuming from its latest checkpoint.

    Args:
      model_dir: holds checkpoints, operative_config.gin, TensorBoard events
        and sample grids; a rerun with the same directory resumes.
      steps: total generator steps (the paper: 200k SNDCGAN, 100k BigGAN).
      batch_size: the global batch, split over replicas.
      seed: seeds the data order, the latents and every augmentation.
      model: a factory from `tfgda.models` returning (G, D).
      loss: a GAN loss from `tfgda.losses`.
      n_disc: discriminator steps per generator step.
      g_optimizer, d_optimizer: optimizer factories, called in the gin scopes
        'generator' and 'discriminator'.
      checkpoint_every: steps between checkpoints (one is also written at
        the end).
      keep_checkpoints: how many recent checkpoints to keep.
      log_every: steps between console lines and scalar summaries.
      image_every: steps between sample grids (TensorBoard and PNG).
      steps_per_call: training steps per compiled call (raise it on TPUs to
        cut host round trips); logging and checkpoint steps are met exactly.
      jit_compile: compile each step's maths with XLA (faster on GPUs and
        TPUs; slower on CPUs).
      ema_decay: decay of the exponential moving average of G's weights
        that samples, evaluation and export use; 0 turns it off.
      ema_start: steps before the average starts (it copies G until then).
      eval_every: steps between evaluations (FID, IS, KID of the sampler
        under `eval_protocol`; 0: never). Needs the Inception module
        (`inception.handle`); results go to model_dir/eval/.
      eval_protocol: e.g. 'fid10k_test' or 'fid50k_train'.
      eval_reference_path: an archive of the protocol's split, for runs on
        image archives.
      eval_features: 'inception' (TF-GAN's; FID) or 'cifar10_classifier'
        (the offline network shipped with tfgda, for 32x32 runs on
        machines without Inception; FCD, not comparable with FID).
      precision: 'float32', or a Keras mixed-precision policy:
        'mixed_float16' (GPUs; with dynamic loss scaling) or
        'mixed_bfloat16' (TPUs, recent CPUs and GPUs). Weights, the spectral
        norm, losses and regularizers stay float32, so checkpoints move
        between policies.
      leak_every: steps between augmentation-leak checks of the sampler
        (`tfgda.leak`; 0: never), for the augmentation `leak_augment` (a
        spec with its strength, e.g. 'blueness(0.5)'); TensorBoard scalars
        leak/<spec>/{generated,baseline,ceiling,score}.

    Returns:
      The metrics of the last step, as Python floats.
    """
    # --- Check the inputs before touching model_dir.
    _check_positive(
        steps=steps,
        batch_size=batch_size,
        n_disc=n_disc,
        eval_every=eval_every or 1,
        leak_every=leak_every or 1,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        image_every=image_every,
        steps_per_call=steps_per_call,
        keep_checkpoints=keep_checkpoints,
    )
    _check_precision(precision)
    check_model_dir(model_dir)
    strategy = distribute.make_strategy()
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(
            f"train.batch_size {batch_size} does not divide over "
            f"{replicas} replicas: use a multiple of {replicas}."
        )
    keras.utils.set_random_seed(seed)  # initial weights; tf.data's seeds
    found = checkpointing.list_checkpoints(model_dir)  # the chief's
    start = found[-1][0] if found else 0
    augment = augment_lib.make_policy(total_steps=steps)
    dataset, info = data_lib.make_dataset(
        batch_size, seed=_data_seed(seed, start)
    )
    augment.pipeline.check_shape([None, *info.image_shape])
    regularizers = regularizers_lib.from_config()
    stats = models.standing_stats()  # of the EMA G, before it is sampled
    augment_lib.check_used(augment, regularizers)
    if not 0.0 <= ema_decay < 1.0:
        raise UserError(f"train.ema_decay must be in [0, 1), got {ema_decay}.")

    # --- Build the GAN under the strategy (layers keep the policy they are
    # built under).
    with strategy.scope(), dtype_policy(precision):
        generator, discriminator = model(info.image_shape, info.num_classes)
        if discriminator.conditional and not info.num_classes:
            raise UserError(
                f"the model is class-conditional but dataset {info.name!r} "
                "has no labels: use a dataset with class folders or an "
                "unconditional model."
            )
        with gin.config_scope("generator"):
            g_opt = loss_scaled(g_optimizer(), precision)
        with gin.config_scope("discriminator"):
            d_opt = loss_scaled(d_optimizer(), precision)
        ema = (
            model(info.image_shape, info.num_classes)[0] if ema_decay else None
        )
        gan = gan_lib.GAN(
            generator=generator,
            discriminator=discriminator,
            g_optimizer=g_opt,
            d_optimizer=d_opt,
            loss=loss,
            global_batch=batch_size,
            num_classes=info.num_classes,
            n_disc=n_disc,
            seed=seed,
            augment=augment,
            regularizers=regularizers,
            ema_generator=ema,
            ema_decay=ema_decay,
            ema_start=ema_start,
            jit_compile=jit_compile,
        )
        gan.build()
    run_info = _run_info(model, info, gan)
    checks = _sampler_checks(
        model_dir,
        run_info,
        seed,
        eval_every,
        eval_protocol,
        eval_reference_path,
        eval_features,
        leak_every,
        leak_augment,
    )
    checkpoint = tf.train.Checkpoint(**gan.checkpoint_items())
    chief, task_id = distribute.worker_role(strategy)
    # Every worker saves (saving is collective); others into their own
    # folder under model_dir, so only the chief's checkpoints are the run's.
    save_dir = (
        model_dir
        if chief
        else os.path.join(model_dir, "workers", f"worker-{task_id}")
    )
    saver = checkpointing.Saver(checkpoint, save_dir, keep_checkpoints)

    tf.io.gfile.makedirs(save_dir)
    with runlock.hold(save_dir), _InterruptGuard() as interrupt:
        # --- Resume, from the newest readable checkpoint of the run's own
        # files (a copied run resumes from its copies).
        for left in checkpointing.clean_partial_writes(save_dir):
            logging.warning(
                "Removed %s, left by a save that did not finish.",
                os.path.join(save_dir, left),
            )
        resumed = checkpointing.restore_latest(
            checkpoint, model_dir, quarantine_bad=chief
        )
        logging.info(
            _summary(model, gan, info, steps, batch_size, resumed, model_dir)
        )
        begun = time.time()
        if chief:
            write_atomically(
                os.path.join(model_dir, "run_info.json"),
                json.dumps(run_info, indent=2),
            )
            _write_operative_config(model_dir)
        try:
            metrics = _loop(
                gan,
                strategy,
                dataset,
                saver,
                model_dir=model_dir,
                chief=chief,
                steps=steps,
                steps_per_call=steps_per_call,
                log_every=log_every,
                checkpoint_every=checkpoint_every,
                image_every=image_every,
                checks=checks,
                augment=augment,
                seed=seed,
                stats=stats,
                batch_size=batch_size,
                data_info=info,
                interrupt=interrupt,
            )
        except (tf.errors.OpError, OSError) as e:  # samples, summaries
            if not checkpointing.is_disk_full(e):
                raise
            raise saver.disk_full() from e
    logging.info(
        "Finished: step %d of %d in %s; latest checkpoint %s.",
        int(gan.step.numpy()),
        steps,
        _clock(time.time() - begun),
        saver.latest(),
    )
    return metrics


def _summary(model, gan, info, steps, batch_size, resumed, model_dir):
    """The run in one line, before its first step."""
    h, w, c = info.image_shape
    images = (
        f"{info.num_examples} images" if info.num_examples > 0 else "images"
    )
    start = (
        f"resuming at step {checkpointing.checkpoint_step(resumed)}"
        if resumed
        else "from scratch"
    )
    g_count = models.count_params(gan.generator)
    d_count = models.count_params(gan.discriminator)
    return (
        f"Training {model.__name__} (G {g_count:,}, D {d_count:,} "
        "parameters) on "
        f"{info.name} ({images}, {info.num_classes} classes, {h}x{w}x{c})"
        f": {steps} steps of batch {batch_size}, {start}; writing to "
        f"{model_dir}."
    )


def _loop(
    gan,
    strategy,
    dataset,
    saver,
    *,
    model_dir,
    chief,
    steps,
    steps_per_call,
    log_every,
    checkpoint_every,
    image_every,
    checks,
    augment,
    seed,
    stats,
    batch_size,
    data_info,
    interrupt,
):
    """The training loop: compiled calls, then logs, samples, checkpoints
    and the sampler checks at their steps (files from the chief only),
    until the last step or an interrupt (`_InterruptGuard`). Returns the
    last metrics."""
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    train_call = _compile_train_call(gan, strategy)
    writer = (
        tf.summary.create_file_writer(model_dir)
        if chief
        else tf.summary.create_noop_writer()
    )
    grid_z, grid_labels = _grid_latents(gan, data_info.num_classes, seed)
    grid_reals = _grid_reals(batch_size) if augment.active else None
    step = int(gan.step.numpy())
    metrics, timer, first_call = {}, _Progress(step, steps), True
    while step < steps:
        n = _steps_until_event(
            step,
            steps,
            steps_per_call,
            log_every,
            checkpoint_every,
            image_every,
            *(check.every for check in checks),
        )
        started = time.time()
        if first_call:
            logging.info(
                "Compiling the training step (the first call "
                "traces and compiles it) ..."
            )
        metrics = _run_call(
            train_call, iterator, n, strategy, step, saver.latest(), data_info
        )
        step += n
        _check_finite(metrics, step, saver.latest())
        if first_call:  # tracing and compiling: not in the rate or the ETA
            logging.info(
                "First compiled call (tracing, compiling, %d step%s): %.1f s.",
                n,
                "s"[: n > 1],
                time.time() - started,
            )
            timer.restart(step)
            if chief:  # now every configurable has been called
                _write_operative_config(model_dir)
            first_call = False
        if step % log_every == 0 or step == steps:
            rate = timer.update(step)
            if rate is None:
                logging.info("step %d/%d  %s", step, steps, _format(metrics))
            else:
                logging.info(
                    "step %d/%d  %.2f steps/s  ETA %s  %s",
                    step,
                    steps,
                    rate,
                    timer.eta(step),
                    _format(metrics),
                )
                _write_scalars(writer, step, metrics, rate)
        if chief and (step % image_every == 0 or step == steps):
            gan.prepare_sampler(stats.grid_samples, stats.batch_size)
            samples = gan.sample(grid_z, grid_labels)
            _write_samples(writer, model_dir, step, samples)
            if augment.active:
                _write_augmented(
                    writer, step, augment, grid_reals, samples, seed
                )
        if step % checkpoint_every == 0 or step == steps:
            saver.save(step)
        due = [
            check
            for check in checks
            if chief and (step % check.every == 0 or step == steps)
        ]
        if due:
            gan.prepare_sampler(stats.num_samples, stats.batch_size)
        for check in due:
            check.run(gan.sampler, step, writer, strategy)
        if interrupt.signum:
            _stop_at_interrupt(interrupt.signum, step, saver, strategy)
    writer.flush()
    return metrics


class _InterruptGuard:
    """SIGINT (Ctrl-C) and SIGTERM (schedulers) stop the loop after its
    current compiled call, not inside it: the loop then saves a checkpoint
    and exits. A second signal stops at once, as the default would."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        del frame
        if self.signum is not None:  # the second one: stop now
            signal.signal(signum, signal.SIG_DFL)
            raise KeyboardInterrupt
        self.signum = signum
        logging.warning(
            "%s received: stopping after this step with a "
            "checkpoint (again to stop at once).",
            signal.Signals(signum).name,
        )

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self._SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _stop_at_interrupt(signum, step, saver, strategy):
    """Saves the step (saving is collective: on a multi-worker job only if
    every worker would, so not there) and raises Interrupted."""
    name = signal.Signals(signum).name
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        where = f"its latest checkpoint, {saver.latest() or 'none'}"
    else:
        latest = saver.latest()
        if not latest or checkpointing.checkpoint_step(latest) != step:
            saver.save(step)
        where = saver.latest()
    error = Terminated if signum == signal.SIGTERM else Interrupted
    raise error(
        f"stopped by {name} at step {step}; rerun the same command "
        f"to resume from {where}."
    )


# What a collective op raises when a peer worker stops answering.
_LOST_PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.CancelledError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
)


def _run_call(train_call, iterator, n, strategy, step, latest, data_info):
    """One compiled call of n steps; its metrics as Python floats. An image
    that cannot be read stops the run with its name (data_lib.explain_error);
    the latest checkpoint stays the run's."""
    try:
        return {
            k: float(v) for k, v in train_call(iterator, tf.constant(n)).items()
        }
    except (
        tf.errors.InvalidArgumentError,
        tf.errors.NotFoundError,
        tf.errors.UnknownError,
        tf.errors.DataLossError,
    ) as e:
        explained = data_lib.explain_error(data_info, e, latest)
        if explained is None:
            raise
        raise explained from e
    except _LOST_PEER_ERRORS as e:
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise
        tasks = _lost_tasks(str(e))
        lost = ", ".join(tasks) or "see the other workers' logs"
        raise WorkerLostError(
            f"a worker of the cluster was lost after step {step} "
            f"({type(e).__name__}; unhealthy: {lost}). Restart every worker "
            "with its command: the job resumes from "
            f"{latest or 'its start (no checkpoint yet)'}."
        ) from e


def _lost_tasks(text):
    """The tasks a lost-peer error names: those the coordination service
    found unhealthy (no heartbeats), else the remote peer whose socket
    closed."""
    task = r"/job:\w+/replica:\d+/task:\d+"
    if "unhealthy" in text:
        return sorted(set(re.findall(task, text[text.find("unhealthy") :])))
    return sorted(set(re.findall(rf"remote target ({task})", text)))


def _check_finite(metrics, step, latest):
    """Stops a diverged run; its last good checkpoint stays the latest."""
    if all(math.isfinite(v) for v in metrics.values()):
        return
    raise DivergenceError(
        f"training diverged at step {step}: {_format(metrics)}. The last "
        f"good checkpoint, {latest or 'none'}, is kept; "
        "lower the learning rates or the regularizer weights and resume."
    )


class DivergenceError(UserError):
    """A non-finite loss: the run stops before saving anything from it."""


def check_model_dir(model_dir):
    """Raises a UserError if model_dir cannot hold a run."""
    if not model_dir:
        raise UserError(
            "--model_dir is required: the directory for "
            "checkpoints and summaries."
        )
    if "://" in model_dir:  # gs://, ram://...: TensorFlow's filesystems
        try:
            tf.io.gfile.exists(model_dir)
        except (tf.errors.OpError, ValueError) as e:
            raise UserError(
                f"model_dir {model_dir!r}: TensorFlow cannot use this "
                f"filesystem here ({type(e).__name__}: "
                f"{first_line(e)}). For gs:// "
                "install tensorflow with GCS support and authenticate, or "
                "use a local --model_dir."
            ) from e
        return
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise UserError(
            f"model_dir {model_dir!r} is a file, not a "
            "directory: choose another --model_dir."
        )
    parent = (
        model_dir
        if os.path.isdir(model_dir)
        else os.path.dirname(os.path.abspath(model_dir))
    )
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(
            f"model_dir {model_dir!r} lies under the file "
            f"{parent!r}: choose another --model_dir."
        )
    if not os.access(parent, os.W_OK):
        raise UserError(
            f"model_dir {model_dir!r} is not writable (no write "
            f"permission on {parent!r}): choose another "
            "--model_dir."
        )


# A periodic check of the sampler (evaluation, leak check), run by the chief
# every `every` steps and at the end: run(sampler, step, writer, strategy).
_Check = collections.namedtuple("_Check", ["every", "run"])


def _sampler_checks(
    model_dir,
    run_info,
    seed,
    eval_every,
    eval_protocol,
    eval_reference_path,
    eval_features,
    leak_every,
    leak_augment,
):
    """The sampler checks the config asks for, each set up (and its inputs
    checked) now, before training starts."""
    checks = []
    if eval_every:
        evaluator = evaluator_lib.TrainingEvaluator(
            model_dir,
            run_info,
            eval_protocol,
            eval_reference_path,
            features=eval_features,
        )

        def evaluate(sampler, step, writer, strategy):
            result = evaluator(sampler, step, writer, strategy)
            logging.info(
                "step %d  %s  %s",
                step,
                result["protocol"],
                evaluator_lib.summary(result),
            )

        checks.append(_Check(eval_every, evaluate))
    if leak_every:
        if not leak_augment:
            raise UserError(
                "train.leak_every needs train.leak_augment: the "
                "augmentation to look for, e.g. "
                "'blueness(0.5)'."
            )
        detector = leakage.TrainingLeakDetector(
            leak_augment, run_info["num_classes"], seed=seed
        )

        def check_leak(sampler, step, writer, strategy):
            del strategy
            report = detector(sampler, step, writer)
            logging.info(
                "step %d  leak of %s: %.3f of samples look "
                "augmented (real %.3f, augmented real %.3f)",
                step,
                report.augmentation,
                report.generated,
                report.baseline,
                report.ceiling,
            )

        checks.append(_Check(leak_every, check_leak))
    return checks


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def _check_precision(precision):
    if precision not in PRECISIONS:
        raise UserError(
            f"train.precision {precision!r} is not one of "
            f"{PRECISIONS}.{did_you_mean(precision, PRECISIONS)}"
        )


@contextlib.contextmanager
def dtype_policy(precision):
    """Keras' global dtype policy set to `precision`, then restored."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def loss_scaled(optimizer, precision):
    """float16 gradients underflow without loss scaling; bfloat16's do not."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise UserError(
                f"train.{name} must be a positive integer, got {value!r}."
            )


def _data_seed(seed, start_step):
    """A resumed run reads a fresh, still deterministic, data order."""
    return (seed * 1_000_003 + start_step) % (2**31 - 1)


def _compile_train_call(gan, strategy):
    @tf.function
    def train_call(iterator, num_steps):
        metrics = gan.train_step(strategy, iterator)
        for _ in tf.range(num_steps - 1):
            metrics = gan.train_step(strategy, iterator)
        return metrics

    return train_call


def _steps_until_event(step, steps, steps_per_call, *intervals):
    """Steps to run before the next log, image, checkpoint or the end."""
    n = min(steps_per_call, steps - step)
    for every in intervals:
        n = min(n, every - step % every)
    return n


def _grid_latents(gan, num_classes, seed):
    """Fixed latents (and labels) so successive grids are comparable."""
    z = models.sample_z(gan.generator, _GRID_SIZE, [seed, 2**20])
    labels = tf.range(_GRID_SIZE) % max(num_classes, 1)
    return z, labels


def _grid_reals(batch_size):
    """A fixed batch of real images for the augmented-inputs grid."""
    dataset, _ = data_lib.make_dataset(
        min(batch_size, _GRID_SIZE // 2),
        shuffle=False,
        repeat=False,
        cache=False,
    )
    return next(iter(dataset))["images"]


def _write_augmented(writer, step, augment, reals, fakes, seed):
    """What D sees: augmented reals (top) beside augmented fakes (bottom)."""
    n = min(len(reals), _GRID_SIZE // 2)
    aug_seed = tf.constant([seed, step], tf.int64)
    images = tf.concat(
        [
            augment.real(reals[:n], aug_seed),
            augment.fake(fakes[:n], aug_seed + 1),
        ],
        0,
    )
    grid = visualize.image_grid(images, columns=8)
    with writer.as_default(step=step):
        tf.summary.image("augmented_real_top_fake_bottom", grid[None])


def _run_info(model, info, gan):
    """What evaluation and export need to rebuild the generator."""
    return {
        "model": model.__name__,
        "dataset": info.name,
        "source": info.source,
        "image_shape": list(info.image_shape),
        "num_classes": info.num_classes,
        "dim_z": gan.generator.dim_z,
        "ema": gan.ema_generator is not None,
    }


def _write_operative_config(model_dir):
    write_atomically(
        os.path.join(model_dir, "operative_config.gin"),
        gin.operative_config_str(),
    )


def _write_scalars(writer, step, metrics, rate):
    with writer.as_default(step=step):
        for name, value in metrics.items():
            tf.summary.scalar(f"train/{name}", value)
        tf.summary.scalar("train/steps_per_sec", rate)


def _write_samples(writer, model_dir, step, images):
    grid = visualize.image_grid(images)
    with writer.as_default(step=step):
        tf.summary.image("samples", grid[None])
    tf.io.gfile.makedirs(os.path.join(model_dir, "samples"))
    visualize.write_png(
        os.path.join(model_dir, "samples", f"step_{step:07d}.png"), grid
    )


def _format(metrics):
    return "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))


class _Progress:
    """Steps per second since the last report, and the ETA."""

    def __init__(self, start_step, total):
        self.total = total
        self.rate = 0.0
        self.restart(start_step)

    def restart(self, step):
        """Measures from now on (after the first call's compilation)."""
        self._last_step, self._last_time = step, time.time()

    def update(self, step):
        """The rate since the last report; None if no step ran since."""
        if step == self._last_step:
            return None
        now = time.time()
        self.rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        return self.rate

    def eta(self, step):
        if not self.rate:
            return "?"
        return _clock((self.total - step) / self.rate)


def _clock(seconds):
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"
