"""A whole run on a filesystem reached through tf.io.gfile (TensorFlow's
in-memory ram://, standing in for gs:// as a TPU run needs): train, resume
in the same process, evaluate offline, export and reload; and an unknown
filesystem named in one line."""

import json
import uuid

from conftest import tiny_bindings
import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgda import configs
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import inception
from tfgda.rundir import export
from tfgda.rundir.checkpointing import list_checkpoints
from tfgda.training import trainer


def test_train_resume_evaluate_export_on_ram(
    tmp_path, tiny_zip, standin_inception
):
    model_dir = f"ram://run-{uuid.uuid4().hex}"
    for steps in (2, 3):  # the second call resumes in the same process
        gin.clear_config()
        configs.parse(
            [],
            tiny_bindings(
                tiny_zip,
                steps,
                "train.ema_decay = 0.5",
                "checkpoints.every = 1",
            ),
        )
        trainer.train(model_dir)
    assert [s for s, _ in list_checkpoints(model_dir)] == [1, 2, 3]
    names = set(tf.io.gfile.listdir(model_dir))
    assert {"run_info.json", "operative_config.gin", "checkpoint"} <= names
    assert not tf.io.gfile.exists(f"{model_dir}/.tfgda.lock")  # released
    assert tf.io.gfile.glob(f"{model_dir}/samples/step_*.png")
    (result,) = evaluation.evaluate_run(
        model_dir,
        "latest",
        "fid8_test",
        inception.inception(standin_inception),
        tiny_zip,
        str(tmp_path / "cache"),
        batch_size=8,
    )
    with tf.io.gfile.GFile(f"{model_dir}/eval/fid8_test/ckpt-3.json") as f:
        assert json.load(f)["fid"] == pytest.approx(result["fid"])
    out = str(tmp_path / "exported")
    export.export_generator(model_dir, out)
    images = tf.saved_model.load(out).signatures["sample"](
        seed=tf.constant(1, tf.int64), count=tf.constant(2)
    )["images"]
    assert images.shape == (2, 32, 32, 3)
    assert np.asarray(images).std() > 0


def test_an_unknown_filesystem_is_one_line():
    with pytest.raises(
        UserError, match="TensorFlow cannot use this filesystem here"
    ):
        rundir.check("nosuchfs://bucket/run")
