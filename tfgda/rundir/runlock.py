"""One trainer per model_dir: a lock file holding the owner's PID and host.

On a local (or NFS) disk the lock is the kernel's: an exclusive `flock` on
the lock file, held while the trainer runs and released by the kernel when
its process ends in any way (SIGKILL, a crash), so no lock is ever stale. A
second trainer is stopped with a message naming the holder's PID and host,
read from the file.

Where the filesystem has no flock (it fails with ENOLCK, EOPNOTSUPP), the
lock is created atomically (O_CREAT | O_EXCL); a lock whose process is gone
(same host, PID no longer alive) is stale and taken over.

On a filesystem reached through tf.io.gfile (gs://, ram://) there is no
exclusive create: the lock is advisory there. It is written, and a lock
left by another live trainer still stops the run, but two trainers that
start in the same instant can both take it; and a lock from another host
is never taken over (delete it, as the message says).
"""

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

import tensorflow as tf

from tfgda.errors import UserError

__all__ = ["LOCK_NAME", "check_free", "hold"]

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
    return os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY), "w")


def _remove(path):
    if _remote(path):
        tf.io.gfile.remove(path)
    else:
        os.remove(path)


def _me():
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _in_use(path, owner):
    return UserError(
        f"{os.path.dirname(path)!r} is in use by PID {owner.get('pid')} on "
        f"{owner.get('host')} (since {owner.get('since')}; lock file "
        f"{path}): stop that trainer, or use another --model_dir. If it is "
        "gone (its machine or container restarted), delete the lock "
        f"file: rm {path}"
    )


_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


def _acquire_flock(path):
    """The open lock file, flocked; None where the filesystem has no
    flock."""
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _in_use(path, _read(path) or {}) from None
        except OSError as e:
            os.close(fd)
            if e.errno in _NO_FLOCK:
                return None
            raise
        try:  # the file we locked may have been removed by its last owner
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(_me()).encode())
            return fd
        os.close(fd)
    raise UserError(
        f"could not lock {path!r}: another trainer is starting "
        "in the same --model_dir."
    )


def _acquire_exclusive(path):
    """A lock created with an exclusive create (advisory on gfile
    filesystems); a dead local owner's lock is taken over."""
    me = _me()
    for _ in range(2):
        try:
            f = _create(path)
        except FileExistsError:
            owner = _read(path)
            if owner and (
                owner.get("host") != me["host"]
                or _alive(int(owner.get("pid", -1)))
            ):
                raise _in_use(path, owner) from None
            _remove(path)  # stale: its owner is gone
            continue
        with f:
            json.dump(me, f)
        return
    raise UserError(
        f"could not lock {path!r}: another trainer is starting "
        "in the same --model_dir."
    )


def check_free(model_dir):
    """Raises the UserError `hold` would, without taking the lock: a
    second trainer is told at once, before it reads any data."""
    path = os.path.join(model_dir, LOCK_NAME)
    if _remote(path):
        if not tf.io.gfile.exists(path):
            return
    else:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return  # no lock file (or none readable): nothing holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return  # free: the shared lock goes with the close
        except BlockingIOError:
            raise _in_use(path, _read(path) or {}) from None
        except OSError as e:
            if e.errno not in _NO_FLOCK:
                raise
        finally:
            os.close(fd)
    owner = _read(path)
    me = _me()
    if owner and (
        owner.get("host") != me["host"] or _alive(int(owner.get("pid", -1)))
    ):
        raise _in_use(path, owner)


@contextlib.contextmanager
def hold(model_dir):
    """Holds model_dir's lock for the duration of the block."""
    path = os.path.join(model_dir, LOCK_NAME)
    fd = None if _remote(path) else _acquire_flock(path)
    if fd is None:
        _acquire_exclusive(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, tf.errors.OpError):
            _remove(path)  # before the unlock: see _acquire_flock
        if fd is not None:
            os.close(fd)  # releases the flock
