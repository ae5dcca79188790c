"""`rundir.Run`: one object per run, opened by every program; the GAN's
plain trackables; the hooks' read-only view; the caller's gin config kept."""

import ast

from conftest import built_gan
import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgda import models
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.models import standing
from tfgda.training import gan as gan_lib
from tfgda.training import hooks


def _gan(seed=0):
    tf.keras.utils.set_random_seed(seed)
    g, d = models.sndcgan((32, 32, 3), 0, dim_z=8, ch=4)
    return built_gan(g, d, 4, seed=seed)


def _view(run_dir, gan, steps=10):
    return hooks.Run(
        run_dir,
        gan,
        steps=steps,
        seed=0,
        batch_size=4,
        chief=True,
        strategy=tf.distribute.get_strategy(),
        data_info=None,
        augment=gan.augment,
        stats=standing.StandingStats(8, 8, 4),
    )


def _weights(gan):
    return [v.numpy() for v in gan.generator.weights]


def test_the_gan_imports_nothing_of_rundir():
    # A GAN gives plain trackables; how they are saved is rundir's.
    tree = ast.parse(open(gan_lib.__file__).read())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {m for m in imported if "rundir" in m}, imported
    assert not [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for name in (a.name for a in node.names)
        if name == "rundir"
    ]


def test_a_run_saves_and_restores_the_gans_trackables(tmp_path):
    model_dir = str(tmp_path / "run")
    gan = _gan(seed=1)
    gan.step.assign(7)
    run = rundir.Run(model_dir, write=True)
    run.set_worker(True, 0)
    run.track(gan.trackables(), {})
    with run:
        assert run.restore() == 0 and run.resumed is None
        run.save(7)
    assert run.latest().endswith("ckpt-7")
    fresh = _gan(seed=2)
    assert not all(
        np.array_equal(a, b) for a, b in zip(_weights(fresh), _weights(gan))
    )
    again = rundir.Run(model_dir, write=True)
    again.set_worker(True, 0)
    again.track(fresh.trackables(), {})
    with again:
        assert again.restore() == 7  # weights and the step
    assert int(fresh.step.numpy()) == 7
    for a, b in zip(_weights(fresh), _weights(gan)):
        np.testing.assert_array_equal(a, b)


def test_a_run_refuses_calls_out_of_order(tmp_path):
    run = rundir.Run(str(tmp_path / "run"), write=True)
    run.track(_gan().trackables(), {})
    with pytest.raises(ValueError, match="enter it"):
        run.save(1)  # not holding the lock
    with pytest.raises(ValueError, match="enter it"):
        run.restore()


def test_a_second_trainer_is_stopped_when_it_opens_the_run(tmp_path):
    model_dir = str(tmp_path / "run")
    first = rundir.Run(model_dir, write=True)
    first.set_worker(True, 0)
    first.track(_gan().trackables(), {})
    with first:
        second = rundir.Run(model_dir, write=True)
        with pytest.raises(UserError, match="is in use by PID"):
            second.set_worker(True, 0)
    # Released on leaving: a later trainer may open it.
    rundir.Run(model_dir, write=True).set_worker(True, 0)


def test_a_reader_needs_a_run_and_cannot_write_it(tmp_path):
    with pytest.raises(UserError, match="not found"):
        rundir.Run(str(tmp_path / "none"))
    with pytest.raises(UserError, match="not found"):
        rundir.Run("ram://no/such/run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no training run"):
        rundir.Run(str(tmp_path / "empty"))
    run_dir = _written_run(tmp_path / "old")
    reader = rundir.Run(run_dir)
    with pytest.raises(ValueError, match="opened for reading"):
        reader.track({}, {})


def _written_run(model_dir):
    model_dir.mkdir()
    (model_dir / rundir.OPERATIVE_CONFIG).write_text(
        "train.steps = 7\nsndcgan.ch = 4\n"
    )
    (model_dir / rundir.RUN_INFO).write_text('{"model": "sndcgan"}')
    return str(model_dir)


def test_reading_a_runs_config_gives_the_callers_config_back(tmp_path):
    # A notebook that evaluates a run, then trains, keeps its own config.
    run = rundir.Run(_written_run(tmp_path / "run"))
    gin.clear_config()
    gin.bind_parameter("sndcgan.ch", 96)
    gin.bind_parameter("train.batch_size", 32)
    with run.config(["train.steps = 9"]) as run_info:
        assert run_info == {"model": "sndcgan"}
        assert gin.query_parameter("sndcgan.ch") == 4
        assert gin.query_parameter("train.steps") == 9
        with pytest.raises(ValueError):
            gin.query_parameter("train.batch_size")
    assert gin.query_parameter("sndcgan.ch") == 96
    assert gin.query_parameter("train.batch_size") == 32
    with pytest.raises(ValueError):
        gin.query_parameter("train.steps")
    gin.clear_config()


def test_a_hooks_view_is_read_only_and_narrow(tmp_path):
    gan = _gan()
    run = rundir.Run(str(tmp_path / "run"), write=True)
    run.set_worker(True, 0)
    run.track(gan.trackables(), {})
    view = _view(run, gan)
    for name in ("gan", "saver", "checkpoint_items", "save_dir"):
        with pytest.raises(AttributeError):
            getattr(view, name)
    for name, value in (("writer", None), ("steps", 3), ("step", 1)):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(view, name, value)
    gan.step.assign(4)
    assert view.step == 4 and view.steps == 10 and view.seed == 0
    with run:
        view.save(4)
        path = view.write_result("eval/x", 4, {"a": 1})
        assert run.read_result("eval/x", 4) == {"a": 1}
    assert run.latest().endswith("ckpt-4") and path.endswith("ckpt-4.json")
    with pytest.raises(TypeError, match="settings"):
        hooks.Run(run, gan, steps=1)


def test_checkpoint_items_name_what_they_cannot_save():
    with pytest.raises(TypeError, match="'head' is a str"):
        rundir.checkpoint_items({"head": "not a trackable"})
    step = tf.Variable(3, dtype=tf.int64)
    assert rundir.checkpoint_items({"step": step, "ema": None}) == {
        "step": step
    }
