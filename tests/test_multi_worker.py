"""MultiWorkerMirroredStrategy from TF_CONFIG: two worker processes on
127.0.0.1 train in step; only the chief writes the run's files."""

import json
import os
import socket
import subprocess
import sys

from conftest import REPO
from conftest import tiny_bindings
import numpy as np
import tensorflow as tf


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(model_dir, data, steps):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    bindings = tiny_bindings(data, steps, "strategy.kind = 'multi_worker'",
                             "train.checkpoint_every = 1")
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        args = [sys.executable, "-m", "tfgda.train",
                f"--model_dir={model_dir}"]
        args += [f"--gin_bindings={b}" for b in bindings]
        processes.append(subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True))
    return [p.communicate(timeout=600) for p in processes], processes


def _weights(path):
    reader = tf.train.load_checkpoint(path)
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n.startswith(("generator/", "discriminator/")))
    return {n: reader.get_tensor(n) for n in names}


def test_two_workers_train_in_step_and_only_the_chief_writes(tmp_path,
                                                             tiny_zip):
    model_dir = tmp_path / "run"
    outputs, processes = _start_workers(model_dir, tiny_zip, 3)
    for (_, err), p in zip(outputs, processes):
        assert p.returncode == 0, err
    chief = tf.train.latest_checkpoint(str(model_dir))
    worker = tf.train.latest_checkpoint(
        str(model_dir / "workers" / "worker-1"))
    assert chief.endswith("ckpt-3") and worker.endswith("ckpt-3")
    a, b = _weights(chief), _weights(worker)
    assert a and a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # The run's files come from the chief alone.
    events = [f for f in os.listdir(model_dir) if "tfevents" in f]
    assert len(events) == 1
    assert not [f for f in os.listdir(model_dir / "workers" / "worker-1")
                if "tfevents" in f or f.endswith(".gin")]
    # Both restart and resume the job from the chief's checkpoint.
    outputs, processes = _start_workers(model_dir, tiny_zip, 5)
    for (_, err), p in zip(outputs, processes):
        assert p.returncode == 0, err
        assert "at step 3." in err
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-5")
