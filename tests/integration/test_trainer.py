"""End-to-end training runs: the CLI, resume, distribution, bad input."""

import os
import re
import subprocess
import sys

from conftest import REPO
from conftest import built_gan
from conftest import python_process
from conftest import tiny_bindings
from conftest import write_images
import gin
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from tfgda import configs
from tfgda import rundir
from tfgda import train as train_cli_lib
from tfgda.rundir import checkpointing
from tfgda.training import gan as gan_lib
from tfgda.training import trainer


def _cli(model_dir, bindings, *gin_files):
    args = [sys.executable, "-m", "tfgda.train", f"--model_dir={model_dir}"]
    args += [f"--gin_file={f}" for f in gin_files]
    args += [f"--gin_bindings={b}" for b in bindings]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env=env, timeout=300
    )


def _checkpoint_steps(model_dir):
    state = tf.train.get_checkpoint_state(str(model_dir))
    return [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]


def test_cli_trains_checkpoints_and_resumes(tmp_path, tiny_zip):
    model_dir = tmp_path / "run"
    first = _cli(model_dir, tiny_bindings(tiny_zip, 3), "quickstart.gin")
    assert first.returncode == 0, first.stderr
    assert _checkpoint_steps(model_dir) == [3]
    operative = (model_dir / "operative_config.gin").read_text()
    assert "train.steps = 3" in operative and "sndcgan.ch = 4" in operative
    assert (model_dir / "samples" / "step_0000002.png").exists()
    assert any(
        f.startswith("events.out.tfevents") for f in os.listdir(model_dir)
    )

    second = _cli(model_dir, tiny_bindings(tiny_zip, 5), "quickstart.gin")
    assert second.returncode == 0, second.stderr
    assert "Resumed from" in second.stderr and "at step 3" in second.stderr
    assert "step 4/5" in second.stderr and "step 3/5" not in second.stderr
    assert _checkpoint_steps(model_dir) == [3, 5]


_UNESCAPE = {"S": "/", ".": "."}


def _train(model_dir, data_path, steps, *extra):
    configs.parse([], tiny_bindings(data_path, steps, *extra))
    return trainer.train(str(model_dir))


def test_mirrored_matches_one_device(tmp_path, tiny_zip):
    one = _train(tmp_path / "one", tiny_zip, 3)
    gin.clear_config()
    two = _train(
        tmp_path / "two",
        tiny_zip,
        3,
        "strategy.kind = 'mirrored'",
        "strategy.devices = ['/cpu:0', '/cpu:1']",
    )
    assert set(one) == {"d_loss", "g_loss", "d_real", "d_fake"}
    for name in one:
        assert two[name] == pytest.approx(one[name], abs=1e-5), name


def test_mirrored_ema_sample_grids_use_standing_statistics(tmp_path, tiny_zip):
    """The EMA generator's batch-norm statistics are recomputed before each
    grid, on two replicas too (outside the compiled step)."""
    _train(
        tmp_path,
        tiny_zip,
        2,
        "strategy.kind = 'mirrored'",
        "strategy.devices = ['/cpu:0', '/cpu:1']",
        "train.ema_decay = 0.5",
    )
    assert (tmp_path / "samples" / "step_0000002.png").exists()
    config = (tmp_path / "operative_config.gin").read_text()
    assert "standing_stats.grid_samples = 16" in config


def test_resume_restores_weights_and_optimizer(tmp_path, tiny_zip, monkeypatch):
    """A resumed run starts from every variable of its checkpoint: both
    networks, both optimizers (slots and iteration counts), the EMA
    generator and the step."""
    extra = ("checkpoints.every = 2", "train.ema_decay = 0.5")
    _train(tmp_path, tiny_zip, 2, *extra)
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt-2"))
    keys = [
        k
        for k in reader.get_variable_to_shape_map()
        if k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
        and not k.startswith("save_counter/")
    ]  # the saver's own count
    restored = {}
    real_restore = checkpointing.restore_latest

    def spy(items, *args, **kwargs):  # the trainer's own restore
        def values():
            out = {}
            for key in keys:
                name, _, rest = key.partition("/")
                item = items[name]
                if rest.startswith("by_key/"):
                    escaped = rest.split("/")[1]  # TensorFlow's escapes
                    item = item.by_key[
                        re.sub(r"\.(.)", lambda m: _UNESCAPE[m[1]], escaped)
                    ]
                out[key] = np.array(item.numpy())
            return out

        restored["before"] = values()
        path = real_restore(items, *args, **kwargs)
        restored["after"] = values()
        return path

    monkeypatch.setattr(checkpointing, "restore_latest", spy)
    gin.clear_config()
    _train(tmp_path, tiny_zip, 3, *extra)
    assert len(keys) > 50 and set(restored["after"]) == set(keys)
    for key in keys:
        np.testing.assert_array_equal(
            restored["after"][key], reader.get_tensor(key), err_msg=key
        )
    groups = {k.split("/")[0] for k in keys}
    assert groups == {
        "generator",
        "discriminator",
        "g_optimizer",
        "d_optimizer",
        "generator_ema",
        "step",
    }
    changed = {
        k.split("/")[0]
        for k in keys
        if not np.array_equal(restored["before"][k], restored["after"][k])
    }
    assert changed == groups  # every group came from the checkpoint


def test_n_disc_and_steps_per_call(tmp_path, tiny_zip, monkeypatch):
    calls = []  # the steps of each compiled call
    real_run_call = trainer._run_call

    def spy(train_call, iterator, n, *args):
        calls.append(n)
        return real_run_call(train_call, iterator, n, *args)

    monkeypatch.setattr(trainer, "_run_call", spy)
    traces = []  # a step's Python runs once per trace
    real_train_step = gan_lib.GAN.train_step

    def traced(self, *args):
        traces.append(1)
        return real_train_step(self, *args)

    monkeypatch.setattr(gan_lib.GAN, "train_step", traced)
    metrics = _train(
        tmp_path,
        tiny_zip,
        4,
        "train.n_disc = 2",
        "train.steps_per_call = 3",
        "progress.every = 4",
        "samples.every = 4",
    )
    assert all(tf.math.is_finite(v) for v in metrics.values())
    assert _checkpoint_steps(tmp_path) == [4]
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt-4"))

    def iterations(optimizer):  # a Keras optimizer's step count
        return reader.get_tensor(
            f"{optimizer}/by_key/iteration/.ATTRIBUTES/VARIABLE_VALUE"
        )

    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 4
    assert iterations("g_optimizer") == 4
    assert iterations("d_optimizer") == 8  # n_disc D updates per step
    # Calls of 3 steps, cut at the step logged and checkpointed (4).
    assert calls == [3, 1]
    # One trace of the step serves the call's first step and its loop (it
    # was traced twice, doubling every run's start-up).
    assert len(traces) == 1


def _assert_user_error(tmp_path, capsys, model_dir, bindings, message):
    before = sorted(os.listdir(tmp_path))
    status = train_cli_lib.train_cli([], bindings, str(model_dir))
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("error: ") and "\n" not in err, err
    assert message in err, err
    assert sorted(os.listdir(tmp_path)) == before  # model_dir untouched


ADAPTIVE = (
    "augment.mode = 'real_and_fake'",
    "augment.name = 'translation'",
    "augment.strength = 0.5",
    "augment.schedule = 'adaptive'",
    "adaptive.interval = 1",
    "adaptive.speed_images = 80",
    "adaptive.initial = 0.5",
)


@pytest.mark.parametrize(
    "bindings, message",
    [
        (
            ["trian.steps = 3"],
            "No configurable matching 'trian'. Did you mean 'train'?",
        ),
        (["train.stepz = 3"], "doesn't have a parameter named 'stepz'"),
        (["train.steps = [3"], "gin config error"),
        (["train.steps = 0"], "train.steps must be a positive integer"),
        (
            ["train.steps = 1", "train.model = @bigan"],
            "No configurable matching reference '@bigan'. Did you mean "
            "'biggan'?",
        ),
        (["train.steps = 1", "train.loss = @hingee"], "Did you mean 'hinge'?"),
        (
            ["train.steps = 1", "dataset.path = '/nonexistent/x.zip'"],
            "does not exist",
        ),
        (
            ["train.steps = 1", *ADAPTIVE[:4], "adaptive.target = 1.2"],
            "adaptive.target must be in (0, 1)",
        ),
        (
            ["train.steps = 1", *ADAPTIVE[:2], "augment.schedule = 'adaptive'"],
            "augment.schedule 'adaptive' scales the strength of 'translation', "
            "which has none",
        ),
        (
            ["train.steps = 1", "augment.schedule = 'anneal'"],
            "augment.schedule 'anneal' is not one of",
        ),
        (
            ["train.steps = 1", "train.batchsize = 4"],
            "doesn't have a parameter named 'batchsize'. Did you mean "
            "'batch_size'?",
        ),
        (
            ["train.steps = 1", "dataset.path=/x/y.zip"],
            "the binding 'dataset.path=/x/y.zip' has a value that is not a "
            "Python literal: quote strings, e.g. dataset.path = '/x/y.zip'.",
        ),
        (
            [
                "train.steps = 1",
                "augment.mode = 'real_and_fake'",
                "augment.name = 'translation'",
                "augment.strength = '0.4'",
            ],
            "the strength of 'translation' must be a number, got '0.4' (str)",
        ),
        (
            ["train.steps = 1", "dataset.resize = 0"],
            "dataset.resize must be a positive integer",
        ),
    ],
)
def test_bad_config_is_one_line_and_leaves_model_dir_alone(
    tmp_path, capsys, bindings, message
):
    _assert_user_error(tmp_path, capsys, tmp_path / "run", bindings, message)


def test_model_dir_that_is_a_file(tmp_path, capsys, tiny_zip):
    path = tmp_path / "file"
    path.write_text("keep me")
    _assert_user_error(
        tmp_path, capsys, path, tiny_bindings(tiny_zip, 1), "is a file"
    )
    assert path.read_text() == "keep me"


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no images"),
        ({"a": 1, "b": 1}, "mixed sizes"),
    ],
)
def test_bad_archives_stop_before_model_dir(tmp_path, capsys, layout, message):
    data = tmp_path / "data"
    data.mkdir()
    for i, (cls, count) in enumerate(layout.items()):
        write_images(data, {cls: count}, size=(8 + i, 8))
    _assert_user_error(
        tmp_path, capsys, tmp_path / "run", tiny_bindings(str(data), 1), message
    )


def test_cli_prints_user_errors_without_traceback(tmp_path):
    result = _cli(
        tmp_path / "run",
        ["train.steps = 1", "dataset.path = '/nonexistent.zip'"],
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "error: dataset.path '/nonexistent.zip' does not exist" in result.stderr
    )
    assert not (tmp_path / "run").exists()


def test_unknown_gin_file_suggests_shipped_configs():
    with pytest.raises(Exception, match="Did you mean 'quickstart.gin'"):
        configs.find_gin_file("quikstart.gin")


@pytest.mark.parametrize("name", ["sndcgan_cifar10.gin", "quickstart.gin"])
def test_shipped_configs_parse(name):
    configs.parse([name])
    assert gin.query_parameter("train.batch_size") in (32, 64)


def _summary_tags(model_dir):
    tags = set()
    for name in os.listdir(model_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(
                os.path.join(model_dir, name)
            ):
                tags |= {v.tag for v in event.summary.value}
    return tags


def test_augmented_run_shows_what_d_sees(tmp_path, tiny_zip):
    metrics = _train(
        tmp_path,
        tiny_zip,
        2,
        "augment.mode = 'real_and_fake'",
        "augment.name = 'translation+brightness'",
        "augment.strength = 0.3",
    )
    assert all(tf.math.is_finite(v) for v in metrics.values())
    tags = _summary_tags(tmp_path)
    assert {"augmented_real_top_fake_bottom", "samples", "train/d_loss"} <= tags
    operative = (tmp_path / "operative_config.gin").read_text()
    assert "augment.mode = 'real_and_fake'" in operative


def test_unknown_augmentation_is_a_config_error(tmp_path, capsys, tiny_zip):
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "run",
        tiny_bindings(
            tiny_zip,
            1,
            "augment.mode = 'real_and_fake'",
            "augment.name = 'zoomout'",
        ),
        "unknown augmentation 'zoomout'. Did you mean 'zoom_out'?",
    )


BIGGAN = (
    "train.model = @biggan",
    "biggan.ch = 4",
    "biggan.dim_z = 8",
    "train.n_disc = 2",
    "train.ema_decay = 0.9",
    "bcr.lambda_real = 5.0",
    "bcr.lambda_fake = 5.0",
    "bcr.augment = 'translation(0.4)'",
    "contrastive.weight = 0.1",
)


def test_biggan_cntr_bcr_run_checkpoints_ema_and_head(tmp_path, tiny_zip):
    metrics = _train(tmp_path, tiny_zip, 2, *BIGGAN)
    assert {"bcr_loss", "contrastive_loss"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    # Restore into freshly built objects: EMA and projection head come back.
    gin.clear_config()
    configs.parse([], tiny_bindings(tiny_zip, 2, *BIGGAN))
    from tfgda import models
    from tfgda.training import regularizers

    g, d = models.biggan((32, 32, 3), 3)
    ema = models.biggan((32, 32, 3), 3)[0]
    contrastive = regularizers.contrastive()
    gan = built_gan(
        g,
        d,
        8,
        num_classes=3,
        regularizers=[contrastive],
        ema_generator=ema,
    )
    before = [v.numpy().copy() for v in ema.trainable_variables]
    head_before = [
        v.numpy().copy() for v in contrastive.head.trainable_variables
    ]
    tf.train.Checkpoint(**rundir.checkpoint_items(gan.trackables())).restore(
        tf.train.latest_checkpoint(str(tmp_path))
    ).assert_consumed()
    assert int(gan.step.numpy()) == 2
    assert any(
        not np.array_equal(b, v.numpy())
        for b, v in zip(before, ema.trainable_variables)
    )
    assert any(
        not np.array_equal(b, v.numpy())
        for b, v in zip(head_before, contrastive.head.trainable_variables)
    )
    # The EMA differs from G after training steps with decay 0.9.
    assert any(
        not np.allclose(e.numpy(), v.numpy())
        for e, v in zip(ema.trainable_variables, g.trainable_variables)
    )


def test_conditional_model_on_unlabelled_data(tmp_path, capsys):
    data = write_images(tmp_path / "flat", {"": 4}, size=(32, 32))
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "run",
        tiny_bindings(data, 1, "train.model = @biggan"),
        "needs a dataset with labels",
    )


def test_bcr_without_any_augmentation_is_a_config_error(
    tmp_path, capsys, tiny_zip
):
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "run",
        tiny_bindings(tiny_zip, 1, "bcr.lambda_real = 10.0"),
        "bCR needs an augmentation",
    )


@pytest.mark.parametrize(
    "name",
    [
        "biggan_cifar10.gin",
        "biggan_cifar10_bcr.gin",
        "biggan_cifar10_cntr.gin",
        "biggan_cifar10_cntr_bcr.gin",
    ],
)
def test_biggan_configs_parse_and_build(name):
    configs.parse([name])
    assert gin.query_parameter("train.batch_size") == 256
    assert gin.query_parameter("train.n_disc") == 2
    from tfgda import models
    from tfgda.training import regularizers

    g, d = models.biggan((32, 32, 3), 10, ch=4)
    models.build(g, d)
    if "bcr" in name:
        assert regularizers.bcr() is not None
    if "cntr" in name:
        assert regularizers.contrastive().weight == 0.1
    if name == "biggan_cifar10_cntr_bcr.gin":
        assert regularizers.bcr().lambda_real == 5.0


@gin.configurable
def exploding_loss(real_logits, fake_logits):
    """A loss that is NaN: stands in for a diverging run."""
    nan = fake_logits * float("nan")
    return (None if real_logits is None else nan), nan


def test_divergence_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, capsys, tiny_zip
):
    _train(tmp_path, tiny_zip, 2)
    gin.clear_config()
    status = train_cli_lib.train_cli(
        [],
        tiny_bindings(tiny_zip, 4, "train.loss = @exploding_loss"),
        str(tmp_path),
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2
    assert err.startswith("error: training diverged at step 3: ")
    assert "d_loss=nan" in err and "g_loss=nan" in err
    assert "ckpt-2, is kept" in err
    assert _checkpoint_steps(tmp_path) == [2]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")


def test_resume_with_another_architecture_is_refused(
    tmp_path, capsys, tiny_zip
):
    _train(tmp_path / "run", tiny_zip, 1)
    gin.clear_config()
    before = sorted(os.listdir(tmp_path / "run"))
    status = train_cli_lib.train_cli(
        [], tiny_bindings(tiny_zip, 2, "sndcgan.ch = 8"), str(tmp_path / "run")
    )
    err = capsys.readouterr().err.strip()
    assert status == 2 and "does not fit this model" in err
    assert sorted(os.listdir(tmp_path / "run")) == before
    assert _checkpoint_steps(tmp_path / "run") == [1]


def test_model_dir_under_a_file(tmp_path, capsys, tiny_zip):
    (tmp_path / "file").write_text("x")
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "file" / "run",
        tiny_bindings(tiny_zip, 1),
        "lies under the file",
    )


@pytest.mark.parametrize("where", ["/proc/tfgda-run", "/sys/tfgda-run"])
def test_model_dir_where_no_directory_can_be_made(
    tmp_path, capsys, tiny_zip, where
):
    _assert_user_error(
        tmp_path, capsys, where, tiny_bindings(tiny_zip, 1), "cannot be created"
    )
    assert not os.path.exists(where)


def test_adaptive_strength_is_the_same_on_two_replicas(tmp_path):
    # D's signs are summed over replicas before p moves: mirrored over two
    # devices, p and r_t follow the one-device run. Each replica draws its
    # own translations, so on random images D would see other images than
    # on one device; a translated (reflection-filled) constant image is the
    # same image, so with constant images only the summing is compared
    # (counting one replica's signs alone fails this test).
    rng = np.random.default_rng(0)
    for i in range(48):
        folder = tmp_path / "flat" / "abc"[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(
            np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8)
        ).save(folder / f"{i:02d}.png")
    flat = str(tmp_path / "flat")
    one = _train(tmp_path / "one", flat, 1, *ADAPTIVE)
    gin.clear_config()
    two = _train(
        tmp_path / "two",
        flat,
        1,
        *ADAPTIVE,
        "strategy.kind = 'mirrored'",
        "strategy.devices = ['/cpu:0', '/cpu:1']",
    )
    # D's first step on these images has signs of both kinds (else any
    # count would agree), and p moved once by 0.1.
    assert -1.0 < one["aug_rt"] < 1.0
    assert abs(one["aug_p"] - 0.5) == pytest.approx(0.1, abs=1e-6)
    for name in ("aug_p", "aug_rt"):
        assert two[name] == pytest.approx(one[name], abs=1e-6), name


def test_adaptive_strength_is_logged_checkpointed_and_resumed(
    tmp_path, tiny_zip
):
    model_dir = tmp_path / "run"
    first = _cli(model_dir, tiny_bindings(tiny_zip, 2, *ADAPTIVE))
    assert first.returncode == 0, first.stderr
    line = [x for x in first.stderr.splitlines() if "step 2/2" in x][0]
    p = float(line.split("aug_p=")[1].split()[0])
    assert "aug_rt=" in line and 0.0 <= p <= 1.0
    reader = tf.train.load_checkpoint(str(model_dir / "ckpt-2"))
    assert reader.get_tensor(
        "augment_p/.ATTRIBUTES/VARIABLE_VALUE"
    ) == pytest.approx(p, abs=1e-4)
    assert {"train/aug_p", "train/aug_rt"} <= _summary_tags(model_dir)
    # Resumed, p moves on from its checkpointed value by one adjustment
    # (8 images x 1 step / 80 = 0.1), not from adaptive.initial.
    second = _cli(model_dir, tiny_bindings(tiny_zip, 3, *ADAPTIVE))
    assert second.returncode == 0, second.stderr
    line = [x for x in second.stderr.splitlines() if "step 3/3" in x][0]
    p3 = float(line.split("aug_p=")[1].split()[0])
    assert abs(abs(p3 - p) - 0.1) < 1e-3 or p3 in (0.0, 1.0)


# BigGAN (attention, conditional BN, class embedding, bCR, Cntr, EMA) in
# bfloat16; SNDCGAN in float16, with loss scaling.
@pytest.mark.parametrize(
    "precision, model", [("mixed_bfloat16", BIGGAN), ("mixed_float16", ())]
)
def test_mixed_precision_runs_stay_finite_and_restore_under_float32(
    tmp_path, tiny_zip, precision, model
):
    import keras

    metrics = _train(
        tmp_path, tiny_zip, 3, f"train.precision = '{precision}'", *model
    )
    assert all(np.isfinite(v) for v in metrics.values())
    assert keras.mixed_precision.global_policy().name == "float32"
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt-3"))
    weights = {
        n: reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if n.startswith("generator/")
    }
    assert weights and all(w.dtype == np.float32 for w in weights.values())
    # The same run resumes under float32 (and its weights are the same).
    gin.clear_config()
    metrics = _train(tmp_path, tiny_zip, 4, *model)
    assert all(np.isfinite(v) for v in metrics.values())
    assert _checkpoint_steps(tmp_path)[-2:] == [3, 4]


def test_unknown_precision_is_a_config_error(tmp_path, capsys, tiny_zip):
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "run",
        tiny_bindings(tiny_zip, 1, "train.precision = 'bfloat16'"),
        "train.precision 'bfloat16' is not one of ('float32', "
        "'mixed_float16', 'mixed_bfloat16'). Did you mean "
        "'mixed_bfloat16'?",
    )


def test_a_second_trainer_is_refused_before_it_reads_data(
    tmp_path, capsys, caplog, tiny_zip
):
    import logging  # pylint: disable=g-import-not-at-top

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom tfgda.rundir import runlock\n"
            "with runlock.hold(sys.argv[1]):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        caplog.set_level(logging.INFO, logger="absl")
        status = train_cli_lib.train_cli(
            [], tiny_bindings(tiny_zip, 1), str(run)
        )
        err = capsys.readouterr().err.strip()
        assert status == 2 and f"in use by PID {holder.pid}" in err, err
        assert not [r for r in caplog.records if "Indexing" in r.getMessage()]
        assert os.listdir(run) == [rundir.runlock.LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


def test_a_run_already_past_its_steps_says_so_and_changes_nothing(
    tmp_path, caplog, tiny_zip
):
    import logging  # pylint: disable=g-import-not-at-top

    run = tmp_path / "run"
    _train(run, tiny_zip, 3)
    gin.clear_config()
    before = {
        n: (run / n).read_bytes()
        for n in os.listdir(run)
        if (run / n).is_file()
    }
    caplog.set_level(logging.INFO, logger="absl")
    assert _train(run, tiny_zip, 2) == {}
    messages = [r.getMessage() for r in caplog.records]
    assert any("at step 3, already past train.steps = 2" in m for m in messages)
    caplog.clear()
    gin.clear_config()
    assert _train(run, tiny_zip, 3) == {}  # exactly at its steps
    messages += [r.getMessage() for r in caplog.records]
    assert any("has finished its train.steps = 3" in m for m in messages)
    assert not any(m.startswith("Finished") for m in messages)
    after = {
        n: (run / n).read_bytes()
        for n in os.listdir(run)
        if (run / n).is_file()
    }
    assert after == before  # the operative config still says 3 steps


def test_a_batch_larger_than_the_dataset_is_said_and_trains(
    tmp_path, caplog, tiny_zip
):
    import logging  # pylint: disable=g-import-not-at-top

    caplog.set_level(logging.INFO, logger="absl")
    _train(tmp_path / "run", tiny_zip, 2, "dataset.subset = 5")
    warned = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    ]
    assert any(
        "train.batch_size 8 is larger than the dataset (5 images)" in w
        for w in warned
    ), warned
    assert _checkpoint_steps(tmp_path / "run") == [2]


def test_a_batch_far_beyond_memory_is_refused_up_front(
    tmp_path, capsys, tiny_zip
):
    _assert_user_error(
        tmp_path,
        capsys,
        tmp_path / "run",
        tiny_bindings(tiny_zip, 2, "train.batch_size = 10000000"),
        "train.batch_size 10000000: one batch of 32x32x3 images is 114 GiB "
        "as float32, more than half this machine's",
    )


def test_a_batch_too_large_for_memory_stops_with_the_fix(tmp_path, tiny_zip):
    """The allocator's OOM (a GPU's memory; here an address-space limit of
    5 GB on the trainer) is one line naming the fix and the checkpoint.
    (8,000 images of 32x32 reach the limit in seconds; 100,000 under 8 GB
    took two minutes to assemble.)"""
    import resource  # pylint: disable=g-import-not-at-top

    run = tmp_path / "run"
    assert _cli(run, tiny_bindings(tiny_zip, 2)).returncode == 0
    limit = 5 * 10**9

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    args = [sys.executable, "-m", "tfgda.train", f"--model_dir={run}"]
    args += [
        f"--gin_bindings={b}"
        for b in tiny_bindings(tiny_zip, 4, "train.batch_size = 8000")
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
        preexec_fn=limited,
    )
    err = done.stderr.strip()
    assert done.returncode == 2 and "Traceback" not in err, err[-3000:]
    last = err.splitlines()[-1]
    # Where it fails depends on the host: TensorFlow's allocator (an OOM
    # error; Intel Xeon hosts), or a kernel's own C++ buffer (std::bad_alloc,
    # which ends the process through std::terminate; AMD EPYC hosts).
    assert re.match(
        r"error: train\.batch_size 8000 does not fit in memory \((OOM when "
        r"allocating tensor with shape\[|std::bad_alloc: the host could not)",
        last,
    ), last
    assert last.endswith(f"the run resumes from {run / 'ckpt-2'}."), last
    assert _checkpoint_steps(run) == [2]


_BAD_ALLOC_IN_A_THREAD = """
import ctypes, ctypes.util, threading
from tfgda.training import trainer
runtime = ctypes.CDLL(ctypes.util.find_library("stdc++"))
new = runtime["_Znwm"]  # operator new(size_t): throws std::bad_alloc
new.argtypes, new.restype = [ctypes.c_size_t], ctypes.c_void_p
def allocate():
    thread = threading.Thread(target=lambda: new(1 << 62))
    thread.start()
    thread.join()
if GUARDED:
    with trainer._HostOutOfMemoryGuard(64, lambda: "/runs/a/ckpt-7"):
        allocate()
else:
    with trainer._HostOutOfMemoryGuard(64, lambda: None):
        pass
    allocate()  # the guard is gone: the C++ runtime's own handler
print("not reached")
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_a_host_allocation_failing_in_a_kernel_thread_is_one_line(guarded):
    # A std::bad_alloc uncaught in a TensorFlow thread ends the process via
    # std::terminate: inside the loop, as the one out-of-memory line.
    done = python_process(f"GUARDED = {guarded}\n{_BAD_ALLOC_IN_A_THREAD}")
    assert "not reached" not in done.stdout
    if guarded:
        last = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 2, done.stderr[-2000:]
        assert last.startswith(
            "error: train.batch_size 64 does not fit in memory "
            "(std::bad_alloc: the host could not allocate a buffer)."
        ), last
        assert last.endswith("the run resumes from /runs/a/ckpt-7."), last
    else:
        assert done.returncode == -6, done.stderr[-2000:]  # SIGABRT
        assert "terminate called after throwing" in done.stderr
