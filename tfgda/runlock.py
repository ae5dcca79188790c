"""One trainer per model_dir: a lock file holding the owner's PID and host.

The lock is created atomically (O_CREAT | O_EXCL). A lock whose process is
gone (same host, PID no longer alive, e.g. after a SIGKILL) is stale and
taken over; a live one stops the second trainer with a message naming it.

On a filesystem reached through tf.io.gfile (gs://, ram://) there is no
exclusive create: the lock is advisory there. It is written, and a lock
left by another live trainer still stops the run, but two trainers that
start in the same instant can both take it; and a lock from another host
is never taken over (delete it, as the message says).
"""

import contextlib
import json
import os
import socket
import time

import tensorflow as tf

from tfgda.errors import UserError

__all__ = ["LOCK_NAME", "hold"]

LOCK_NAME = ".tfgda.lock"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _remote(path):
    return "://" in path


def _read(path):
    try:
        if _remote(path):
            with tf.io.gfile.GFile(path) as f:
                return json.load(f)
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError, tf.errors.OpError):
        return None  # half-written by a killed process: stale


def _create(path):
    """An open file object for a new lock; FileExistsError if there is
    one (exclusive on local disks, advisory on gfile filesystems)."""
    if _remote(path):
        if tf.io.gfile.exists(path):
            raise FileExistsError(path)
        return tf.io.gfile.GFile(path, "w")
    return os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY),
                     "w")


def _remove(path):
    if _remote(path):
        tf.io.gfile.remove(path)
    else:
        os.remove(path)


def _acquire(path):
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            f = _create(path)
        except FileExistsError:
            owner = _read(path)
            if owner and (owner.get("host") != me["host"] or
                          _alive(int(owner.get("pid", -1)))):
                raise UserError(
                    f"{os.path.dirname(path)!r} is in use by PID "
                    f"{owner.get('pid')} on {owner.get('host')} (since "
                    f"{owner.get('since')}; lock file {path}): stop that "
                    "trainer, or use another --model_dir. If it is gone "
                    "(its machine or container restarted), delete the lock "
                    f"file: rm {path}") from None
            _remove(path)  # stale: its owner is gone
            continue
        with f:
            json.dump(me, f)
        return
    raise UserError(f"could not lock {path!r}: another trainer is starting "
                    "in the same --model_dir.")


@contextlib.contextmanager
def hold(model_dir):
    """Holds model_dir's lock for the duration of the block."""
    path = os.path.join(model_dir, LOCK_NAME)
    _acquire(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, tf.errors.OpError):
            _remove(path)
