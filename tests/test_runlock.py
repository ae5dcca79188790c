"""One trainer per model_dir: the kernel's flock on local disks, an
exclusive create where there is no flock."""

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tfgda.errors import UserError
from tfgda.rundir import runlock

_HOLDER = """
import sys, time
from tfgda.rundir import runlock
with runlock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _write_lock(folder, pid, host=None):
    (folder / runlock.LOCK_NAME).write_text(
        json.dumps(
            {"pid": pid, "host": host or socket.gethostname(), "since": "then"}
        )
    )


def _holder(folder):
    """Another process holding folder's lock (until killed)."""
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "held"
    return p


def _owner(folder):
    return json.loads((folder / runlock.LOCK_NAME).read_text())


def test_a_held_lock_refuses_a_second_trainer(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(
            UserError,
            match=f"in use by PID {holder.pid} on {socket.gethostname()}",
        ):
            with runlock.hold(str(tmp_path)):
                pass
        assert _owner(tmp_path)["pid"] == holder.pid  # not taken from it
    finally:
        holder.kill()
        holder.wait()


def test_the_kernel_releases_a_killed_trainers_lock(tmp_path):
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert _owner(tmp_path)["pid"] == holder.pid  # its file is left...
    with runlock.hold(str(tmp_path)):  # ...but its lock is gone
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / runlock.LOCK_NAME).exists()


def test_the_flock_not_the_pid_decides(tmp_path):
    """A lock file naming a live process that holds no flock (e.g. a PID
    reused after a reboot) is taken over."""
    _write_lock(tmp_path, os.getppid())
    with runlock.hold(str(tmp_path)):
        assert _owner(tmp_path)["pid"] == os.getpid()


def test_a_half_written_lock_is_taken_over(tmp_path):
    (tmp_path / runlock.LOCK_NAME).write_text('{"pid": ')
    with runlock.hold(str(tmp_path)):
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / runlock.LOCK_NAME).exists()


def test_a_trainer_released_while_another_waits_to_lock(tmp_path, monkeypatch):
    """The holder removes the file, then unlocks: a trainer that opened the
    old file and locks it after that retries on the new one."""
    path = tmp_path / runlock.LOCK_NAME
    real_flock = fcntl.flock
    calls = []

    def flock(fd, op):
        if not calls:  # the old owner finishes between open and flock
            os.remove(path)
        calls.append(op)
        return real_flock(fd, op)

    _write_lock(tmp_path, 1)
    monkeypatch.setattr(fcntl, "flock", flock)
    with runlock.hold(str(tmp_path)):
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert len(calls) == 2


# Where the filesystem has no flock: an exclusive create and PIDs.
@pytest.fixture
def no_flock(monkeypatch):
    def flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", flock)


def test_without_flock_a_live_lock_refuses_a_second_trainer(tmp_path, no_flock):
    _write_lock(tmp_path, os.getpid())
    with pytest.raises(UserError, match=f"in use by PID {os.getpid()}"):
        with runlock.hold(str(tmp_path)):
            pass
    assert (tmp_path / runlock.LOCK_NAME).exists()  # not taken from it


def test_without_flock_a_stale_lock_is_taken_over_and_released(
    tmp_path, no_flock
):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    with runlock.hold(str(tmp_path)):
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / runlock.LOCK_NAME).exists()


def test_without_flock_a_half_written_lock_is_stale(tmp_path, no_flock):
    (tmp_path / runlock.LOCK_NAME).write_text('{"pid": ')
    with runlock.hold(str(tmp_path)):
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / runlock.LOCK_NAME).exists()


def test_without_flock_a_lock_from_another_host_is_respected(
    tmp_path, no_flock
):
    _write_lock(tmp_path, 1, host="elsewhere")
    with pytest.raises(UserError, match="on elsewhere") as raised:
        with runlock.hold(str(tmp_path)):
            pass
    # A dead host's lock (a restarted container has another name): the
    # message names the lock file and how to clear it.
    lock = os.path.join(str(tmp_path), runlock.LOCK_NAME)
    assert f"lock file {lock}" in str(raised.value)
    assert str(raised.value).endswith(f"delete the lock file: rm {lock}")
    assert os.path.exists(lock)  # kept: only the user can know


def test_the_holder_keeps_its_lock_for_the_whole_block(tmp_path):
    with runlock.hold(str(tmp_path)):
        time.sleep(0.1)
        fd = os.open(tmp_path / runlock.LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_check_free_says_what_hold_would_and_takes_nothing(tmp_path, capfd):
    runlock.check_free(str(tmp_path))  # no lock file
    runlock.check_free(str(tmp_path / "missing"))  # no directory yet
    _write_lock(tmp_path, os.getppid())  # a file, no flock: free
    runlock.check_free(str(tmp_path))
    holder = _holder(tmp_path)
    try:
        with pytest.raises(UserError, match=f"in use by PID {holder.pid}"):
            runlock.check_free(str(tmp_path))
        assert _owner(tmp_path)["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    runlock.check_free(str(tmp_path))  # the kernel released it
    with runlock.hold(str(tmp_path)):  # and it is still takeable
        assert _owner(tmp_path)["pid"] == os.getpid()


def test_without_flock_check_free_reads_the_owner(tmp_path, no_flock):
    _write_lock(tmp_path, os.getpid())
    with pytest.raises(UserError, match=f"in use by PID {os.getpid()}"):
        runlock.check_free(str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    runlock.check_free(str(tmp_path))
