"""One trainer per model_dir."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tfgda import runlock
from tfgda.errors import UserError


def _write_lock(folder, pid, host=None):
    (folder / runlock.LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname(), "since": "then"}))


def test_a_live_lock_refuses_a_second_trainer(tmp_path):
    _write_lock(tmp_path, os.getpid())
    with pytest.raises(UserError, match=f"in use by PID {os.getpid()}"):
        with runlock.hold(str(tmp_path)):
            pass
    assert (tmp_path / runlock.LOCK_NAME).exists()  # not taken from it


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    with runlock.hold(str(tmp_path)):
        owner = json.loads((tmp_path / runlock.LOCK_NAME).read_text())
        assert owner["pid"] == os.getpid()
    assert not (tmp_path / runlock.LOCK_NAME).exists()


def test_a_half_written_lock_is_stale(tmp_path):
    (tmp_path / runlock.LOCK_NAME).write_text('{"pid": ')
    with runlock.hold(str(tmp_path)):
        pass


def test_a_lock_from_another_host_is_respected(tmp_path):
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
