"""The `tf.distribute` strategy a run trains under, chosen in gin.

`strategy.kind`:
  * 'default': no distribution (one CPU or GPU);
  * 'mirrored': synchronous data parallelism over `strategy.devices` (all
    local GPUs when None);
  * 'tpu': a Cloud TPU named by `strategy.tpu` ('' for a TPU VM or Colab);
  * 'multi_worker': MultiWorkerMirroredStrategy, configured by TF_CONFIG.
The global batch (`train.batch_size`) is split evenly over the replicas.
"""

import gin
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.errors import first_line

__all__ = ["KINDS", "strategy", "worker_role"]

KINDS = ("default", "mirrored", "tpu", "multi_worker")


@gin.configurable("strategy")
def strategy(kind="default", devices=None, tpu=""):
    """Returns a tf.distribute.Strategy of the given kind."""
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if kind == "tpu":
        return _tpu_strategy(tpu)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"strategy.kind {kind!r} is not one of {KINDS}.")


def _tpu_strategy(tpu):
    """TPUStrategy on the TPU named `tpu`, or a UserError saying none was
    found (not TensorFlow's resolver traceback)."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, OSError, tf.errors.OpError) as e:
        where = (
            f"named {tpu!r}" if tpu else "on this machine (a TPU VM or Colab)"
        )
        raise UserError(
            f"strategy.kind = 'tpu' found no TPU {where} "
            f"({type(e).__name__}: {first_line(e)}): on a TPU VM or Colab "
            "bind nothing more, for a Cloud TPU node bind strategy.tpu = "
            "'NAME'; without a TPU use strategy.kind = 'default' or "
            "'mirrored'."
        ) from e
    return tf.distribute.TPUStrategy(resolver)


def worker_role(strategy):
    """(is_chief, task id) of this process in a multi-worker cluster.

    The chief (task 'chief', or worker 0 when there is none) writes the
    run's checkpoints, summaries and files; single-process runs are chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and not has_chief
    )
    return chief, task_id
