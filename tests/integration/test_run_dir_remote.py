"""A whole run on a filesystem reached through tf.io.gfile (TensorFlow's
in-memory ram://, standing in for gs:// as a TPU run needs): train, resume
in the same process, evaluate offline, export and reload; and an unknown
filesystem named in one line."""

import json
import uuid

from absl import flags
from conftest import tiny_bindings
from conftest import write_images
from conftest import zip_folder
import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgda import cli
from tfgda import configs
from tfgda import evaluate as evaluate_program
from tfgda import export as export_program
from tfgda import fid_ratio as fid_ratio_program
from tfgda import leak as leak_program
from tfgda import rundir
from tfgda import train as train_program
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


def _program(module, *args):
    """Runs a program's main as `python -m` would, in this process (ram://
    lives in this process alone); returns its exit status."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfgda", *args])
    try:
        return cli.report(module.main)
    finally:
        gin.clear_config()


def test_every_program_reads_a_run_on_an_object_store(tmp_path, tiny_zip):
    """train, evaluate (offline score), export, leak and fid_ratio on a
    ram:// model_dir, each through its own main: no program may assume a
    local directory (gs:// runs are read the same way)."""
    model_dir = f"ram://programs-{uuid.uuid4().hex}"
    bindings = tiny_bindings(tiny_zip, 2, "train.ema_decay = 0.5")
    assert (
        _program(
            train_program,
            f"--model_dir={model_dir}",
            *[f"--gin_bindings={b}" for b in bindings],
        )
        == 0
    )
    offline = [
        "--features=cifar10_classifier",
        f"--reference_path={tiny_zip}",
        "--protocol=fid8_test",
        "--batch_size=8",
    ]
    assert (
        _program(
            evaluate_program,
            f"--model_dir={model_dir}",
            f"--cache_dir={tmp_path / 'cache'}",
            *offline,
        )
        == 0
    )
    assert tf.io.gfile.exists(
        f"{model_dir}/eval/cifar10_classifier/fid8_test/ckpt-2.json"
    )
    out = tmp_path / "exported"
    assert (
        _program(
            export_program, f"--model_dir={model_dir}", f"--export_dir={out}"
        )
        == 0
    )
    assert (out / "saved_model.pb").exists()
    many = write_images(tmp_path / "many", {"a": 40, "b": 40}, size=(32, 32))
    assert (
        _program(
            leak_program,
            f"--model_dir={model_dir}",
            "--augment=blueness(0.5)",
            "--leak_images=64",
            "--classifier_steps=5",
            f"--leak_reference_path={zip_folder(many, tmp_path / 'many.zip')}",
        )
        == 0
    )
    assert tf.io.gfile.exists(f"{model_dir}/eval/leak/blueness_0.5/ckpt-2.json")
    assert (
        _program(
            fid_ratio_program,
            f"--model_dir={model_dir}",
            "--names=translation",
            "--strengths=0.2",
            *offline,
        )
        == 0
    )
    assert tf.io.gfile.exists(
        f"{model_dir}/eval/cifar10_classifier/fid_ratio/ckpt-2.png"
    )


def test_a_directory_without_a_run_is_one_line(tmp_path, capsys):
    for module in (evaluate_program, export_program, leak_program):
        assert _program(module, f"--model_dir={tmp_path}") == 2
        assert "holds no training run (no run_info.json)" in (
            capsys.readouterr().err
        )
    missing = f"ram://missing-{uuid.uuid4().hex}"
    assert _program(evaluate_program, f"--model_dir={missing}") == 2
    assert "is not found" in capsys.readouterr().err
