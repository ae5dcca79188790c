"""MultiWorkerMirroredStrategy from TF_CONFIG: two worker processes on
127.0.0.1 train in step; only the chief writes the run's files."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from conftest import REPO
from conftest import tiny_bindings
import numpy as np
import tensorflow as tf

from tfgda.rundir.checkpointing import checkpoint_step


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch_workers(model_dir, data, steps, checkpoint_every=1, logs=None):
    """Starts the two workers; returns their Popen objects. Their stderr
    goes to logs/worker-<i>.log if logs is given (a pipe would fill up
    while nobody reads it), else to a pipe."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    bindings = tiny_bindings(
        data,
        steps,
        "strategy.kind = 'multi_worker'",
        f"checkpoints.every = {checkpoint_every}",
    )
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="3",
            TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        )
        args = [sys.executable, "-m", "tfgda.train", f"--model_dir={model_dir}"]
        args += [f"--gin_bindings={b}" for b in bindings]
        stderr = (
            open(logs / f"worker-{index}.log", "w") if logs else subprocess.PIPE
        )
        processes.append(
            subprocess.Popen(
                args,
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )
        )
    return processes


def _start_workers(model_dir, data, steps):
    """Runs the two workers to their end; returns (outputs, processes)."""
    processes = _launch_workers(model_dir, data, steps)
    return [p.communicate(timeout=600) for p in processes], processes


def _weights(path):
    reader = tf.train.load_checkpoint(path)
    names = sorted(
        n
        for n in reader.get_variable_to_shape_map()
        if n.startswith(("generator/", "discriminator/"))
    )
    return {n: reader.get_tensor(n) for n in names}


def test_two_workers_train_in_step_and_only_the_chief_writes(
    tmp_path, tiny_zip
):
    model_dir = tmp_path / "run"
    outputs, processes = _start_workers(model_dir, tiny_zip, 3)
    for (_, err), p in zip(outputs, processes):
        assert p.returncode == 0, err
    chief = tf.train.latest_checkpoint(str(model_dir))
    worker = tf.train.latest_checkpoint(str(model_dir / "workers" / "worker-1"))
    assert chief.endswith("ckpt-3") and worker.endswith("ckpt-3")
    a, b = _weights(chief), _weights(worker)
    assert a and a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # The run's files come from the chief alone.
    events = [f for f in os.listdir(model_dir) if "tfevents" in f]
    assert len(events) == 1
    assert not [
        f
        for f in os.listdir(model_dir / "workers" / "worker-1")
        if "tfevents" in f or f.endswith(".gin")
    ]
    # Both restart and resume the job from the chief's checkpoint.
    outputs, processes = _start_workers(model_dir, tiny_zip, 5)
    for (_, err), p in zip(outputs, processes):
        assert p.returncode == 0, err
        assert "at step 3." in err
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-5")


def test_a_killed_worker_stops_the_job_which_resumes_on_restart(
    tmp_path, tiny_zip
):
    model_dir = tmp_path / "run"
    chief, worker = _launch_workers(
        model_dir, tiny_zip, 100_000, checkpoint_every=2, logs=tmp_path
    )
    try:
        deadline = time.time() + 300
        latest = None
        while not latest or checkpoint_step(latest) < 6:
            assert time.time() < deadline, "no checkpoint 6 in 300 s"
            assert chief.poll() is None, (tmp_path / "worker-0.log").read_text()
            time.sleep(0.2)
            latest = tf.train.latest_checkpoint(str(model_dir))
        worker.send_signal(signal.SIGKILL)  # mid-run, between any two ops
        chief.wait(timeout=300)
    finally:
        for p in (chief, worker):
            p.kill()
            p.wait()
    err = (tmp_path / "worker-0.log").read_text()
    # The chief notices, says how to recover, and asks for a restart.
    assert chief.returncode == 75, err
    assert "Traceback" not in err
    assert "error: a worker of the cluster was lost" in err
    assert "/job:worker/replica:0/task:1" in err
    last = tf.train.latest_checkpoint(str(model_dir))
    resumed_at = checkpoint_step(last)
    assert resumed_at >= 6
    assert f"resumes from {last}" in err
    # Every checkpoint the chief kept still restores with its step.
    for path in tf.train.get_checkpoint_state(
        str(model_dir)
    ).all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(path)
        assert reader.get_tensor(
            "step/.ATTRIBUTES/VARIABLE_VALUE"
        ) == checkpoint_step(path)
    # Restarted (the killed worker's stale lock is taken over), both
    # workers resume at the chief's step and finish the job in step.
    outputs, processes = _start_workers(model_dir, tiny_zip, resumed_at + 3)
    for (_, err), p in zip(outputs, processes):
        assert p.returncode == 0, err
        assert f"at step {resumed_at}." in err
    final = tf.train.latest_checkpoint(str(model_dir))
    assert checkpoint_step(final) == resumed_at + 3
    a, b = (
        _weights(final),
        _weights(
            tf.train.latest_checkpoint(str(model_dir / "workers" / "worker-1"))
        ),
    )
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_the_lost_worker_is_named_from_either_error():
    from tfgda.training import trainer

    heartbeat = (
        "Collective ops is aborted by: cluster check ... The "
        "following tasks are unhealthy (stopped sending "
        "heartbeats):\n/job:worker/replica:0/task:1\n"
    )
    socket = (
        "Collective ops is aborted by: Socket closed\nAdditional GRPC "
        "error information from remote target "
        "/job:worker/replica:0/task:1 while calling "
        "/tensorflow.WorkerService/RecvBuf"
    )
    for text in (heartbeat, socket):
        assert trainer._lost_tasks(
            "at /job:worker/replica:0/task:0 " + text
        ) == ["/job:worker/replica:0/task:1"]
    assert trainer._lost_tasks("Connection reset") == []
