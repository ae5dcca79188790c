"""`Run`: one training run's directory, opened once by each program.

The trainer opens its run for writing; evaluation, export, the leak check,
Fig. 4's ratios and the sweep open theirs for reading. Either way the
directory is validated through tf.io.gfile (local disks, gs://, ram://)
when the `Run` is made, and every file of the run is reached through it:

    run = rundir.Run(model_dir, write=True, keep=3)    # the trainer
    run.set_worker(chief, task_id)   # checks the lock
    run.track(gan.trackables(), run_info)  # what a checkpoint holds
    with run:                        # the lock; partial saves cleaned
        step = run.restore()         # newest readable checkpoint, or 0
        ... run.save(step), run.writer, run.write_result(...)

    run = rundir.Run(model_dir)      # a reader: the run must exist
    with run.config(gin_bindings):   # the run's gin config, then the
        for path in run.checkpoints("all"):  # caller's again
            generator = run.generator(path)
"""

import contextlib
import os

from absl import logging
import keras
import tensorflow as tf

from tfgda import ginfiles
from tfgda.rundir import checkpointing
from tfgda.rundir import files
from tfgda.rundir import runlock

__all__ = ["Run", "checkpoint_items", "opened"]


class Run:
    """A training run's directory.

    Args:
      model_dir: the run's directory (local, gs://, ram://).
      write: open it for training (it may not exist yet: it must be a
        place a directory can be made; `set_worker` then takes the lock's
        check); else for reading (it must hold a run: a UserError
        otherwise).
      keep: checkpoints kept (the newest ones).
      flag: the command-line flag named in errors.
    """

    def __init__(
        self,
        model_dir,
        *,
        write=False,
        keep=3,
        flag="--model_dir",
    ):
        self.write = write
        self.keep = keep
        if write:
            files.check(model_dir)
        else:
            files.existing_run(model_dir, flag)
        self.model_dir = model_dir
        self.chief = True
        self.save_dir = model_dir
        self._saver = None
        self._items = None
        self._writer = None
        self._lock = None
        self._run_info = None
        self.resumed = None  # the checkpoint `restore` read, if any

    # ------------------------------------------------------------- reading
    @property
    def run_info(self):
        """What rebuilding G needs (run_info.json)."""
        if self._run_info is None:
            self._run_info = files.read_run_info(self.model_dir)
        return self._run_info

    @contextlib.contextmanager
    def config(self, gin_bindings=()):
        """The run's gin config (operative_config.gin, then `gin_bindings`)
        inside the block, so models are rebuilt as trained; yields
        run_info. On leaving, the caller's gin config is back as it was."""
        with ginfiles.kept_gin_state():
            yield files.replace_config(self.model_dir, gin_bindings)

    def checkpoints(self, which="latest"):
        """Checkpoint paths for 'latest', 'all' or a step number."""
        return files.select_checkpoints(self.model_dir, which)

    def generator(self, checkpoint_path):
        """The (EMA) generator of a checkpoint; call inside `config`."""
        return files.restore_generator(
            self.model_dir, self.run_info, checkpoint_path
        )

    def write_result(self, folder, step, result):
        """model_dir/<folder>/ckpt-<step>.json, atomically."""
        return files.write_result(self.model_dir, folder, step, result)

    def read_result(self, folder, step):
        """The result `write_result` wrote, or None if there is none."""
        return files.read_result(self.model_dir, folder, step)

    def read_results(self, folder):
        """[(step, result)] of every result in <folder>, by step."""
        return files.read_results(self.model_dir, folder)

    def samples_path(self, step):
        return files.samples_path(self.model_dir, step)

    def summary_writer(self, folder):
        """A TensorBoard writer of model_dir/<folder> (e.g. 'eval')."""
        return tf.summary.create_file_writer(
            os.path.join(self.model_dir, folder)
        )

    # ------------------------------------------------------------ training
    def set_worker(self, chief, task_id):
        """This worker's role in a (multi-worker) job: the chief saves into
        model_dir, another worker into its own folder (`save_dir`). Another
        trainer holding that folder stops this one now, before any work."""
        self._need_write("set_worker")
        self.chief = chief
        self.save_dir = files.save_dir(self.model_dir, chief, task_id)
        runlock.check_free(self.save_dir)

    def track(self, trackables, run_info):
        """What this run's checkpoints hold, `trackables` as a GAN gives
        them (`checkpoint_items`), and what rebuilding its G needs
        (`run_info`, written by `write_run_info`)."""
        self._need_write("track")
        self._run_info = dict(run_info)
        self._items = checkpoint_items(trackables)
        self._saver = checkpointing.Saver(
            tf.train.Checkpoint(**self._items), self.save_dir, self.keep
        )

    def __enter__(self):
        """Holds the run's lock, removes what an unfinished save left and
        opens the TensorBoard writer (the chief's; a no-op elsewhere)."""
        self._need_write("enter")
        files.make_dir(self.save_dir)
        self._lock = runlock.hold(self.save_dir)
        self._lock.__enter__()
        try:
            for left in checkpointing.clean_partial_writes(self.save_dir):
                logging.warning(
                    "Removed %s, left by a save that did not finish.",
                    os.path.join(self.save_dir, left),
                )
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc):
        if self._writer is not None:
            with contextlib.suppress(tf.errors.OpError, OSError):
                self._writer.flush()
        self._release()

    def _release(self):
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

    @property
    def writer(self):
        """The run's TensorBoard writer (created on first use)."""
        if self._writer is None:
            self._writer = (
                tf.summary.create_file_writer(self.model_dir)
                if self.chief
                else tf.summary.create_noop_writer()
            )
        return self._writer

    def restore(self):
        """Restores the tracked objects from the newest readable checkpoint
        of the run (a copied run resumes from its copies; an unreadable
        one is set aside by the chief, and the one before is read).
        Returns the step restored, 0 when there is none: the one step a
        resumed run continues from, its data order included."""
        self._need_lock("restore")
        self.resumed = checkpointing.restore_latest(
            self._items, self.model_dir, quarantine_bad=self.chief
        )
        if self.resumed is None:
            return 0
        return checkpointing.checkpoint_step(self.resumed)

    def save(self, step):
        self._need_lock("save")
        self._saver.save(step)

    def latest(self):
        """The newest complete checkpoint this worker saved, or None."""
        return self._saver.latest() if self._saver else None

    def disk_full(self, step=None):
        """The DiskFullError of a write that found no space."""
        return self._saver.disk_full(step)

    def write_run_info(self):
        self._need_lock("write_run_info")
        files.write_run_info(self.model_dir, self._run_info)

    def write_operative_config(self):
        self._need_lock("write_operative_config")
        files.write_operative_config(self.model_dir)

    def _need_write(self, what):
        if not self.write:
            raise ValueError(f"Run.{what}: the run was opened for reading.")

    def _need_lock(self, what):
        self._need_write(what)
        if self._lock is None or self._saver is None:
            raise ValueError(
                f"Run.{what}: track() the run's objects and enter it "
                "(`with run:`) first."
            )


def opened(run_or_dir):
    """`run_or_dir` if it is a `Run`, else the run of that directory opened
    for reading (the library's functions take either)."""
    return run_or_dir if isinstance(run_or_dir, Run) else Run(run_or_dir)


def checkpoint_items(trackables):
    """{name: checkpointable} of a GAN's plain `trackables`: a Keras model or
    layer as its variables keyed by place (`Variables.of_model`); an
    optimizer given as (optimizer, [models it trains]) with its slots keyed
    by those models' variables, a loss-scaling optimizer as its inner one
    (so checkpoints move between precision policies; the loss scale
    restarts and adapts within a few steps); a variable as itself."""
    items = {}
    for name, value in trackables.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            optimizer, models = value
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)
            items[name] = checkpointing.Variables.of_optimizer(
                optimizer, *models
            )
        elif isinstance(value, keras.layers.Layer):
            items[name] = checkpointing.Variables.of_model(value)
        elif isinstance(value, tf.Variable):
            items[name] = value
        else:
            raise TypeError(
                f"checkpoint item {name!r} is a {type(value).__name__}: give "
                "a Keras model or layer, (optimizer, [models]) or a variable."
            )
    return items
