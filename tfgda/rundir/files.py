"""A run directory's files: checks, run_info, the config, the choice of
checkpoints, results (`tfgda.rundir` re-exports them; `Run` uses them).
"""

import json
import os
import re

from absl import logging
import gin
import tensorflow as tf

from tfgda import ginfiles
from tfgda import models
from tfgda.errors import UserError
from tfgda.errors import first_line
from tfgda.models import standing
from tfgda.rundir import runlock
from tfgda.rundir.checkpointing import UNREADABLE_ERRORS
from tfgda.rundir.checkpointing import Variables
from tfgda.rundir.checkpointing import checkpoint_step
from tfgda.rundir.checkpointing import list_checkpoints
from tfgda.rundir.checkpointing import restore
from tfgda.rundir.checkpointing import write_atomically

RUN_INFO = "run_info.json"
OPERATIVE_CONFIG = "operative_config.gin"
SWEEP_RECORD = "sweep.json"
# Files that make a directory a run's or a sweep's.
RUN_MARKERS = (RUN_INFO, OPERATIVE_CONFIG, SWEEP_RECORD, runlock.LOCK_NAME)
CHECKPOINT_INDEX = re.compile(r"^(corrupt-ckpt-\d+(-\d+)?|ckpt-\d+)\.index$")


def check(model_dir):
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
    check_writable(model_dir, "--model_dir")


def existing_run(model_dir, flag="--model_dir"):
    """Returns model_dir if it holds a training run, on any filesystem
    TensorFlow reaches (local, gs://, ram://); else a UserError naming the
    problem: no directory given, an unusable filesystem, no such
    directory, or a directory that holds no run."""
    if not model_dir:
        raise UserError(f"{flag} is required: the training run's directory.")
    if "://" in model_dir:
        check(model_dir)  # the filesystem is usable here
    if not tf.io.gfile.isdir(model_dir):
        what = "a file" if tf.io.gfile.exists(model_dir) else "not found"
        raise UserError(
            f"{flag} {model_dir!r} is {what}: give the directory of a "
            "training run (the --model_dir it was trained with)."
        )
    if not tf.io.gfile.exists(os.path.join(model_dir, RUN_INFO)):
        raise UserError(
            f"{flag} {model_dir!r} holds no training run (no {RUN_INFO}): "
            "give the --model_dir a run was trained with, or train first."
        )
    return model_dir


def check_writable(path, flag):
    """Raises a UserError, naming `flag`, unless a directory can be made
    (or is) at the local `path`: not a file, not under one, writable."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(
            f"{flag.lstrip('-')} {path!r} is a file, not a "
            f"directory: choose another {flag}."
        )
    parent = (
        path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    )
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(
            f"{flag.lstrip('-')} {path!r} lies under the file "
            f"{parent!r}: choose another {flag}."
        )
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise UserError(
            f"{flag.lstrip('-')} {path!r} is on a read-only filesystem "
            f"({parent!r}): choose another {flag}."
        )
    if not os.access(parent, os.W_OK):
        raise UserError(
            f"{flag.lstrip('-')} {path!r} is not writable (no write "
            f"permission on {parent!r}): choose another {flag}."
        )


def find_run_files(path):
    """The first file under the directory `path` that marks a training run
    or a sweep (a checkpoint, the run lock, run_info.json, the operative
    config, sweep.json), or None: what no tool but the trainer may delete or
    replace."""
    if not tf.io.gfile.isdir(path):
        return None
    for folder, _, names in tf.io.gfile.walk(path):
        for name in sorted(names):
            if name in RUN_MARKERS or CHECKPOINT_INDEX.match(name):
                return os.path.join(folder, name)
    return None


def make_dir(path, flag="--model_dir"):
    """Creates the directory `path` (and its parents), or raises a UserError
    naming `flag` when the filesystem refuses (/proc, /sys, permissions)."""
    try:
        tf.io.gfile.makedirs(path)
    except (tf.errors.OpError, OSError) as e:
        raise UserError(
            f"{flag.lstrip('-')} {path!r} cannot be created "
            f"({type(e).__name__}: {first_line(e)}): choose another {flag}."
        ) from e


def save_dir(model_dir, chief, task_id):
    """Where a worker saves: the chief into model_dir, the others (saving
    is collective) into their own folder, so only the chief's checkpoints
    are the run's."""
    if chief:
        return model_dir
    return os.path.join(model_dir, "workers", f"worker-{task_id}")


def write_run_info(model_dir, run_info):
    write_atomically(
        os.path.join(model_dir, RUN_INFO), json.dumps(run_info, indent=2)
    )


def read_run_info(model_dir):
    path = os.path.join(model_dir, RUN_INFO)
    if not tf.io.gfile.exists(path):
        raise UserError(
            f"{path!r} is missing: is {model_dir!r} a tfgda training directory?"
        )
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def write_operative_config(model_dir):
    """gin's operative config: the values every configurable called so far
    was called with."""
    write_atomically(
        os.path.join(model_dir, OPERATIVE_CONFIG), gin.operative_config_str()
    )


def replace_config(model_dir, gin_bindings=()):
    """Replaces the global gin config with the run's operative_config.gin
    (then `gin_bindings`), so models are rebuilt as trained; returns its
    run_info. Bindings to configurables or parameters that no longer exist
    (a run of an older tfgda) are skipped. Programs use `Run.config`,
    which gives the caller's config back afterwards."""
    run_info = read_run_info(model_dir)
    with gin.unlock_config():
        gin.clear_config()
        ginfiles.parse(
            [os.path.join(model_dir, OPERATIVE_CONFIG)],
            gin_bindings,
            finalize=False,
            skip_unknown_in_files=True,
        )
    return run_info


def select_checkpoints(model_dir, which):
    """Checkpoint paths for 'latest', 'all' or a step number."""
    paths = [path for _, path in list_checkpoints(model_dir)]
    if not paths:
        raise UserError(
            f"no checkpoint in {model_dir!r}: train first, or "
            "check --model_dir."
        )
    steps = {checkpoint_step(p): p for p in paths}
    if which == "latest":
        return [paths[-1]]
    if which == "all":
        return [steps[s] for s in sorted(steps)]
    if not str(which).isdigit() or int(which) not in steps:
        raise UserError(
            f"checkpoint {which!r} is not in {model_dir!r}; "
            f"there are steps {sorted(steps)}."
        )
    return [steps[int(which)]]


def restore_generator(model_dir, run_info, checkpoint_path):
    """The (EMA) generator of a checkpoint, rebuilt from the gin config
    (`Run.config`); an EMA generator with its standing statistics
    (`standing_stats`)."""
    model = gin.get_configurable(run_info["model"])
    generator, _ = model(
        tuple(run_info["image_shape"]), run_info["num_classes"]
    )
    z = tf.zeros([1, generator.dim_z])
    generator(z, tf.zeros([1], tf.int32))
    name = "generator_ema" if run_info.get("ema") else "generator"
    try:
        restore(
            {name: Variables.of_model(generator)}, checkpoint_path
        ).expect_partial().assert_existing_objects_matched()
    except UNREADABLE_ERRORS as e:
        listed = [path for _, path in list_checkpoints(model_dir)]
        if checkpoint_path not in listed:  # the trainer's `keep` removed it
            raise CheckpointRemovedError(
                f"checkpoint {checkpoint_path!r} was removed while it was "
                "being read (a trainer that keeps only its latest "
                f"checkpoints.keep); the run's checkpoints now are steps "
                f"{[checkpoint_step(p) for p in listed]}."
            ) from e
        others = [
            checkpoint_step(path) for path in listed if path != checkpoint_path
        ]
        raise UserError(
            f"checkpoint {checkpoint_path!r} is unreadable (corrupt or "
            f"truncated: {type(e).__name__}); the run's other checkpoints "
            f"are steps {others}: pass --checkpoint=STEP."
        ) from e
    except (AssertionError, ValueError) as e:
        raise UserError(
            f"checkpoint {checkpoint_path!r} does not fit the model of "
            f"{model_dir}/{OPERATIVE_CONFIG} ({type(e).__name__}): was it "
            "written by another architecture?"
        ) from e
    if run_info.get("ema"):  # its own batch-norm statistics, not G's
        stats = models.standing_stats()
        logging.info(
            "Standing statistics of the EMA generator from %d samples.",
            stats.num_samples,
        )
        standing.recompute(
            generator,
            run_info["num_classes"],
            stats.num_samples,
            stats.batch_size,
        )
    return generator


class CheckpointRemovedError(UserError):
    """A listed checkpoint that was deleted before it could be read (not a
    corrupt one): a reader of a run that is still training skips it."""


def samples_path(model_dir, step):
    folder = os.path.join(model_dir, "samples")
    tf.io.gfile.makedirs(folder)
    return os.path.join(folder, f"step_{step:07d}.png")


def sample_grids(model_dir):
    """[(step, path)] of the run's sample grids, by step."""
    folder = os.path.join(model_dir, "samples")
    if not tf.io.gfile.isdir(folder):
        return []
    return sorted(
        (int(m.group(1)), os.path.join(folder, name))
        for name in tf.io.gfile.listdir(folder)
        if (m := re.fullmatch(r"step_(\d+)\.png", name))
    )


def write_result(model_dir, folder, step, result):
    """A result of the checkpoint of `step` (an evaluation, a leak check)
    as model_dir/<folder>/ckpt-<step>.json, atomically: a sweep takes the
    file's existence as "done"."""
    tf.io.gfile.makedirs(os.path.join(model_dir, folder))
    path = result_path(model_dir, folder, step)
    write_atomically(path, json.dumps(result, indent=2))
    return path


def result_path(model_dir, folder, step):
    """Where `write_result` writes the result of `step`."""
    return os.path.join(model_dir, folder, f"ckpt-{step}.json")


def read_result(model_dir, folder, step):
    """The result `write_result` wrote for `step`, or None."""
    path = result_path(model_dir, folder, step)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def read_results(model_dir, folder):
    """[(step, result)] of every result in model_dir/<folder>, by step."""
    folder_path = os.path.join(model_dir, folder)
    if not tf.io.gfile.isdir(folder_path):
        return []
    steps = sorted(
        int(m.group(1))
        for name in tf.io.gfile.listdir(folder_path)
        if (m := re.fullmatch(r"ckpt-(\d+)\.json", name))
    )
    return [(step, read_result(model_dir, folder, step)) for step in steps]
