"""The training run: set-up, resume, and the loop.

`train(model_dir)` reads top to bottom: check the inputs, build the strategy,
data, models and optimizers, begin the hooks, restore the latest checkpoint,
then loop over compiled training calls, each followed by the hooks due at
its last step (progress lines, sample grids, checkpoints, evaluation...:
`tfgda.training.hooks`). The step's maths lives in `tfgda.training.gan`; the
run directory's files in `tfgda.rundir`.
"""

import contextlib
import ctypes
import ctypes.util
import math
import os
import re
import signal
import sys
import threading
import time

from absl import logging
import gin
import keras
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda import data as data_lib
from tfgda import models
from tfgda import rundir
from tfgda.errors import Interrupted
from tfgda.errors import Terminated
from tfgda.errors import UserError
from tfgda.errors import WorkerLostError
from tfgda.errors import did_you_mean
from tfgda.errors import first_line
from tfgda.errors import positive_int
from tfgda.errors import resumes_from
from tfgda.training import distribute
from tfgda.training import gan as gan_lib
from tfgda.training import hooks as hooks_lib
from tfgda.training import losses
from tfgda.training import optim
from tfgda.training import regularizers as regularizers_lib

__all__ = [
    "PRECISIONS",
    "DivergenceError",
    "dtype_policy",
    "loss_scaled",
    "train",
]


@gin.configurable("train", denylist=["model_dir"])
@data_lib.shared_indexes()  # the dataset, hooks and evaluations: one index
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
    ema_decay=0.0,
    ema_start=0,
    precision="float32",
    jit_compile=False,
    steps_per_call=1,
    hooks=(),
    regularizers=None,
):
    """Trains a GAN in `model_dir`, resuming from its latest checkpoint.

    Args:
      model_dir: holds checkpoints, operative_config.gin, TensorBoard events
        and sample grids (`tfgda.rundir`); a rerun with the same directory
        resumes.
      steps: total generator steps (the paper: 200k SNDCGAN, 100k BigGAN).
      batch_size: the global batch, split over replicas.
      seed: seeds the data order, the latents and every augmentation.
      model: a factory from `tfgda.models` returning (G, D).
      loss: a GAN loss from `tfgda.training.losses`.
      n_disc: discriminator steps per generator step.
      g_optimizer, d_optimizer: optimizer factories, called in the gin scopes
        'generator' and 'discriminator'.
      ema_decay: decay of the exponential moving average of G's weights
        that samples, evaluation and export use; 0 turns it off.
      ema_start: steps before the average starts (it copies G until then).
      precision: 'float32', or a Keras mixed-precision policy:
        'mixed_float16' (GPUs; with dynamic loss scaling) or
        'mixed_bfloat16' (TPUs, recent CPUs and GPUs). Weights, the spectral
        norm, losses and regularizers stay float32, so checkpoints move
        between policies.
      jit_compile: compile each step's maths with XLA (faster on GPUs and
        TPUs; slower on CPUs).
      steps_per_call: training steps per compiled call (raise it on TPUs to
        cut host round trips); every hook's steps are met exactly.
      hooks: optional periodic work (`tfgda.training.hooks`), e.g.
        [@evaluation(), @leak_check()]; progress lines, sample grids and
        checkpoints (`progress`, `samples`, `checkpoints`) always run.
      regularizers: D's regularizers (`tfgda.training.regularizers`), by
        reference, e.g. [@bcr(), @contrastive()]; one whose weights are 0
        is dropped. None (unbound): every built-in one whose weights are
        set.

    Returns:
      The metrics of the last step, as Python floats.
    """
    # --- Check the inputs before touching model_dir.
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("n_disc", n_disc),
        ("steps_per_call", steps_per_call),
    ):
        positive_int(f"train.{name}", value)
    _check_precision(precision)
    checkpoints = hooks_lib.Checkpoints()
    # The run, opened once (its directory checked before the strategy,
    # which may take minutes to connect).
    run_dir = rundir.Run(model_dir, write=True, keep=checkpoints.keep)
    hooks = [
        hooks_lib.Progress(),
        hooks_lib.Samples(),
        checkpoints,
        *_check_hooks(hooks),
    ]
    strategy = distribute.strategy()
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(
            f"train.batch_size {batch_size} does not divide over "
            f"{replicas} replicas: use a multiple of {replicas}."
        )
    # Another trainer of this run stops this one now, not after start-up.
    chief, task_id = distribute.worker_role(strategy)
    run_dir.set_worker(chief, task_id)
    keras.utils.set_random_seed(seed)  # initial weights; tf.data's seeds
    augment = augment_lib.augment(total_steps=steps)
    # The data order of step 0; a resumed run's follows the step restored.
    dataset, info = data_lib.dataset(batch_size, seed=_data_seed(seed, 0))
    augment.pipeline.check_shape([None, *info.image_shape])
    _check_batch_memory(batch_size, info.image_shape)
    if 0 < info.num_examples < batch_size:
        logging.warning(
            "train.batch_size %d is larger than the dataset (%d images): "
            "every batch holds some images more than once. Training goes "
            "on; for batches of distinct images use at most %d.",
            batch_size,
            info.num_examples,
            info.num_examples,
        )
    regularizers = regularizers_lib.resolve(regularizers)
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
    run_dir.track(gan.trackables(), _run_info(model, info, gan))
    run = hooks_lib.Run(
        run_dir,
        gan,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        chief=chief,
        strategy=strategy,
        data_info=info,
        augment=augment,
        stats=models.standing_stats(),  # of the EMA G, before it is sampled
    )
    # Every worker cuts its calls at every hook's steps (the steps are
    # collective); a worker other than the chief runs the collective hooks.
    periods = [hook.every for hook in hooks]
    hooks = [h for h in hooks if chief or h.collective]
    for hook in hooks:  # their inputs are checked now, not hours later
        hook.begin(run)

    with (
        run_dir,
        _InterruptGuard(run_dir.latest) as interrupt,
        _HostOutOfMemoryGuard(batch_size, run_dir.latest),
    ):
        # --- Resume, from the newest readable checkpoint of the run's own
        # files (a copied run resumes from its copies): its weights and its
        # data order.
        reached = run_dir.restore()
        resumed = run_dir.resumed
        if reached:
            dataset, _ = data_lib.dataset(
                batch_size, seed=_data_seed(seed, reached)
            )
        if reached >= steps:  # nothing to do; the run's files stay as they are
            where = (
                f"is at step {reached}, already past train.steps = {steps}"
                if reached > steps
                else f"has finished its train.steps = {steps}"
            )
            logging.info(
                "The run in %s %s: nothing to train (raise train.steps to "
                "train on). Latest checkpoint %s.",
                model_dir,
                where,
                resumed,
            )
            return {}
        logging.info(
            _summary(model, gan, info, steps, batch_size, resumed, model_dir)
        )
        begun = time.time()
        if chief:
            run_dir.write_run_info()
            run_dir.write_operative_config()
        try:
            metrics = _loop(
                run,
                run_dir,
                gan,
                dataset,
                hooks,
                interrupt,
                steps_per_call,
                periods,
            )
        except (tf.errors.OpError, OSError) as e:  # samples, summaries
            if not rundir.is_disk_full(e):
                raise
            raise run_dir.disk_full() from e
    logging.info(
        "Finished: step %d of %d in %s; latest checkpoint %s.",
        int(gan.step.numpy()),
        steps,
        hooks_lib.clock(time.time() - begun),
        run_dir.latest(),
    )
    return metrics


def _check_hooks(hooks):
    for hook in hooks:
        if not isinstance(hook, hooks_lib.Hook):
            raise UserError(
                f"train.hooks holds {hook!r}, not a hook: list hooks as "
                "gin calls, e.g. train.hooks = [@evaluation()]."
            )
    return list(hooks)


def _summary(model, gan, info, steps, batch_size, resumed, model_dir):
    """The run in one line, before its first step."""
    h, w, c = info.image_shape
    images = (
        f"{info.num_examples} images" if info.num_examples > 0 else "images"
    )
    start = (
        f"resuming at step {rundir.checkpoint_step(resumed)}"
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
    run, run_dir, gan, dataset, hooks, interrupt, steps_per_call, periods
):
    """The training loop: compiled calls, each ending at the next step a
    hook is due (`periods`: every hook's, on every worker) or after
    steps_per_call steps, then this worker's due hooks, until the last step
    or an interrupt (`_InterruptGuard`). Returns the last metrics."""
    strategy = run.strategy
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    train_call = _compile_train_call(gan, strategy)
    step = int(gan.step.numpy())
    metrics, first_call = {}, True
    while step < run.steps:
        n = _steps_until_event(
            step,
            run.steps,
            steps_per_call,
            *periods,
        )
        started = time.time()
        if first_call:
            logging.info(
                "Compiling the training step (the first call "
                "traces and compiles it) ..."
            )
        metrics = _run_call(
            train_call,
            iterator,
            n,
            strategy,
            step,
            run_dir.latest(),
            run.data_info,
            run.batch_size,
        )
        step += n
        _check_finite(metrics, step, run_dir.latest())
        if first_call:  # tracing and compiling: not in the rate or the ETA
            logging.info(
                "First compiled call (tracing, compiling, %d step%s): %.1f s.",
                n,
                "s"[: n > 1],
                time.time() - started,
            )
            for hook in hooks:
                hook.compiled(step)
            if run.chief:  # now every configurable has been called
                run_dir.write_operative_config()
            first_call = False
        for hook in hooks:
            if hook.due(step):
                hook(step, metrics)
        if interrupt.signum:
            _stop_at_interrupt(interrupt.signum, step, run_dir, strategy)
    run_dir.writer.flush()
    return metrics


class _InterruptGuard:
    """SIGINT (Ctrl-C) and SIGTERM (schedulers) stop the loop after its
    current compiled call, not inside it: the loop then saves a checkpoint
    and exits. A second signal stops at once, even inside a compiled call
    that takes long (a first call compiling for minutes, a batch too large
    for memory): a thread woken by the signal itself (`set_wakeup_fd`: the
    main thread runs no Python while TensorFlow computes) ends the process
    with the checkpoint to resume from. Checkpoints are never half-written
    (`tfgda.rundir`), so none is lost."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, latest=lambda: None):
        self.signum = None
        self._latest = latest  # the checkpoint a rerun resumes from
        self._count = 0
        self._previous = {}
        self._wakeup = None

    def _handle(self, signum, frame):
        del signum, frame  # the watcher thread acts on the wake-up byte

    def _watch(self, fd):
        while True:
            try:
                received = os.read(fd, 64)
            except OSError:
                received = b""
            if not received:  # closed by __exit__
                os.close(fd)
                return
            for signum in received:
                if signum in self._SIGNALS:
                    self._received(signum)

    def _received(self, signum):
        self._count += 1
        name = signal.Signals(signum).name
        if self._count == 1:
            self.signum = signum
            logging.warning(
                "%s received: stopping after this step with a "
                "checkpoint (again to stop at once).",
                name,
            )
            return
        latest = self._latest()
        print(
            f"error: stopped at once by a second {name}; rerun the same "
            "command to resume from "
            f"{resumes_from(latest)}.",
            file=sys.stderr,
            flush=True,
        )
        os._exit(128 + signum)  # noqa: SLF001  (no Python runs to unwind)

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._wakeup = (
            read,
            write,
            signal.set_wakeup_fd(write, warn_on_full_buffer=False),
        )
        threading.Thread(
            target=self._watch, args=(read,), name="signals", daemon=True
        ).start()
        for signum in self._SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._wakeup is not None:
            read, write, previous = self._wakeup
            signal.set_wakeup_fd(previous)
            os.close(write)  # the watcher reads the end, then stops


class _HostOutOfMemoryGuard:
    """A host allocation that fails outside TensorFlow's allocator (a
    kernel's own C++ buffers: `std::bad_alloc`, uncaught in a TensorFlow
    thread) ends the process through `std::terminate`, which no Python code
    can catch: here that ends with the same one line as any out-of-memory
    error (the fix and the checkpoint to resume from) and exit status 2,
    instead of an abort and a stack dump. Any other uncaught C++ exception
    goes on to the previous terminate handler. Where the C++ runtime cannot
    be reached (no libstdc++/libc++abi), nothing changes."""

    _HANDLER = ctypes.CFUNCTYPE(None)

    def __init__(self, batch_size, latest):
        self._batch_size = batch_size
        self._latest = latest
        self._handler = self._HANDLER(self._on_terminate)
        self._runtime = None
        self._previous = None

    def __enter__(self):
        try:
            runtime = ctypes.CDLL(
                ctypes.util.find_library("stdc++")
                or ctypes.util.find_library("c++abi")
                or "libstdc++.so.6"
            )
            set_terminate = runtime["_ZSt13set_terminatePFvvE"]
            exception_type = runtime["__cxa_current_exception_type"]
        except (OSError, AttributeError):
            return self
        set_terminate.restype = ctypes.c_void_p
        set_terminate.argtypes = [ctypes.c_void_p]
        exception_type.restype = ctypes.c_void_p
        self._runtime = (set_terminate, exception_type)
        self._previous = set_terminate(
            ctypes.cast(self._handler, ctypes.c_void_p)
        )
        return self

    def __exit__(self, *exc):
        if self._runtime is not None:
            self._runtime[0](self._previous)

    def _on_terminate(self):
        # The Itanium C++ ABI's std::type_info: a vtable pointer, then the
        # mangled name; std::bad_alloc's is "St9bad_alloc".
        info = self._runtime[1]()
        name = (
            ctypes.c_char_p.from_address(
                info + ctypes.sizeof(ctypes.c_void_p)
            ).value
            if info
            else None
        )
        if name == b"St9bad_alloc":
            error = _out_of_memory(
                self._batch_size,
                self._latest(),
                "std::bad_alloc: the host could not allocate a buffer",
            )
            print(f"error: {error}", file=sys.stderr, flush=True)
            os._exit(error.exit_status)  # noqa: SLF001  (nothing to unwind)
        if self._previous:
            self._HANDLER(self._previous)()
        os.abort()


def _stop_at_interrupt(signum, step, run_dir, strategy):
    """Saves the step (saving is collective: on a multi-worker job only if
    every worker would, so not there) and raises Interrupted."""
    name = signal.Signals(signum).name
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        where = f"its latest checkpoint, {run_dir.latest() or 'none'}"
    else:
        latest = run_dir.latest()
        if not latest or rundir.checkpoint_step(latest) != step:
            run_dir.save(step)
        where = run_dir.latest()
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


def _run_call(
    train_call, iterator, n, strategy, step, latest, data_info, batch_size
):
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
        if explained is not None:
            raise explained from e
        if _CONSTANT_NOT_ALLOCATED not in str(e):
            raise
        raise _out_of_memory(batch_size, latest, _constant_oom(str(e))) from e
    except tf.errors.ResourceExhaustedError as e:
        oom = next(
            (x for x in str(e).splitlines() if x.startswith("OOM ")),
            first_line(e),
        )
        raise _out_of_memory(batch_size, latest, oom) from e
    except _LOST_PEER_ERRORS as e:
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise
        tasks = _lost_tasks(str(e))
        lost = ", ".join(tasks) or "see the other workers' logs"
        raise WorkerLostError(
            f"a worker of the cluster was lost after step {step} "
            f"({type(e).__name__}; unhealthy: {lost}). Restart every worker "
            "with its command: the job resumes from "
            f"{resumes_from(latest)}."
        ) from e


# How TensorFlow's Const kernel reports a tensor it could not allocate
# (Tensor::FromProto fails when the allocator returns no buffer): on a host
# short of memory a large batch's constants fail this way, not as OOM.
_CONSTANT_NOT_ALLOCATED = "Cannot parse tensor from proto"


def _constant_oom(text):
    """'OOM when allocating tensor with shape[...] and type ...', worded as
    TensorFlow's allocator words an OOM, of a constant that could not be
    allocated (its shape and dtype from the proto the error prints)."""
    proto = text[text.find(_CONSTANT_NOT_ALLOCATED) :]
    dims = ",".join(re.findall(r"size: (\d+)", proto))
    dtype = re.search(r"dtype: DT_(\w+)", proto)
    kind = dtype.group(1).lower() if dtype else "unknown"
    return f"OOM when allocating tensor with shape[{dims}] and type {kind}"


def _out_of_memory(batch_size, latest, reason):
    """The one-line error of a batch that does not fit in memory."""
    return UserError(
        f"train.batch_size {batch_size} does not fit in memory ({reason}). "
        "Use a smaller train.batch_size, spread it over more devices "
        "(strategy.kind = 'mirrored' or 'tpu'), or on a GPU train."
        "precision = 'mixed_float16'; the run resumes from "
        f"{resumes_from(latest)}."
    )


def _check_batch_memory(batch_size, image_shape):
    """Refuses a global batch whose images alone (as float32, which the
    input pipeline makes of them) would take over half the host's memory:
    such a run would only thrash or be killed."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # not a POSIX host: nothing to compare
        return
    needed = batch_size * math.prod(image_shape) * 4
    if needed > memory / 2:
        raise UserError(
            f"train.batch_size {batch_size}: one batch of "
            f"{'x'.join(map(str, image_shape))} images is "
            f"{needed / 2**30:.0f} GiB as float32, more than half this "
            f"machine's {memory / 2**30:.0f} GiB of memory; use a batch of "
            f"at most {int(memory / 2 / (needed / batch_size)):,}."
        )


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
        f"training diverged at step {step}: "
        f"{hooks_lib.format_metrics(metrics)}. The last good checkpoint, "
        f"{latest or 'none'}, is kept; "
        "lower the learning rates or the regularizer weights and resume."
    )


class DivergenceError(UserError):
    """A non-finite loss: the run stops before saving anything from it."""


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


def _data_seed(seed, start_step):
    """A resumed run reads a fresh, still deterministic, data order."""
    return (seed * 1_000_003 + start_step) % (2**31 - 1)


def _compile_train_call(gan, strategy):
    # The step is a function of its own, traced once and called twice (the
    # first step gives the loop its metrics' structure): inlined twice, it
    # was traced twice, doubling every run's start-up.
    train_step = tf.function(
        lambda iterator: gan.train_step(strategy, iterator), autograph=False
    )

    @tf.function
    def train_call(iterator, num_steps):
        metrics = train_step(iterator)
        for _ in tf.range(num_steps - 1):
            metrics = train_step(iterator)
        return metrics

    return train_call


def _steps_until_event(step, steps, steps_per_call, *intervals):
    """Steps to run before the next log, image, checkpoint or the end."""
    n = min(steps_per_call, steps - step)
    for every in intervals:
        n = min(n, every - step % every)
    return n


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
