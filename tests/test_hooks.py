"""Periodic work as hooks: the seam (a new hook is one registered class),
their steps, their order, their settings, and settings that moved."""

from conftest import tiny_bindings
import gin
import pytest
import tensorflow as tf

from tfgda import configs
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import leakage
from tfgda.metrics import overfitting
from tfgda.models import standing
from tfgda.models.latents import sample_z
from tfgda.training import hooks
from tfgda.training import trainer


@gin.configurable("recording_hook")
class RecordingHook(hooks.Hook):
    """Records its calls; fails at `fail_at`."""

    calls = []

    def __init__(self, every=2, fail_at=None, sample=False):
        self.every = every
        self.fail_at = fail_at
        self.sample = sample

    def begin(self, run):
        super().begin(run)
        RecordingHook.calls.append(("begin", run.steps))

    def __call__(self, step, metrics):
        checkpoints = [
            s for s, _ in rundir.list_checkpoints(self.run.model_dir)
        ]
        RecordingHook.calls.append((step, sorted(metrics), checkpoints))
        if self.sample:  # the run's sampler, its statistics prepared
            sampler = self.run.sampler()
            z = sample_z(sampler, 2, [0, 0])
            images = sampler(z, tf.zeros([2], tf.int32), training=False)
            RecordingHook.calls.append(
                ("sampled", standing.samples_used(sampler), images.shape)
            )
        if step == self.fail_at:
            raise RuntimeError("the hook failed")


@pytest.fixture(autouse=True)
def _fresh_calls():
    RecordingHook.calls = []


def _parse(tiny_zip, steps, *extra):
    configs.parse([], tiny_bindings(tiny_zip, steps, *extra))


def test_a_registered_hook_runs_at_its_steps_after_the_checkpoint(
    tmp_path, tiny_zip
):
    _parse(
        tiny_zip,
        5,
        "train.hooks = [@recording_hook()]",
        "recording_hook.every = 2",
        "checkpoints.every = 2",
        "train.steps_per_call = 4",  # calls stop at the hook's steps
    )
    trainer.train(str(tmp_path / "run"))
    assert RecordingHook.calls[0] == ("begin", 5)
    steps = [call[0] for call in RecordingHook.calls[1:]]
    assert steps == [2, 4, 5]  # every 2 steps and at the last one
    for step, metrics, checkpoints in RecordingHook.calls[1:]:
        assert "d_loss" in metrics and "g_loss" in metrics
        assert checkpoints[-1] == step  # its step's checkpoint came first


def test_a_hook_that_samples_gets_the_sampler_prepared(tmp_path, tiny_zip):
    # An EMA G's batch-norm statistics are recomputed for each call's
    # weights by the run's sampler, not by each hook.
    _parse(
        tiny_zip,
        2,
        "train.hooks = [@recording_hook()]",
        "recording_hook.sample = True",
        "train.ema_decay = 0.5",
    )
    trainer.train(str(tmp_path / "run"))
    sampled = [c for c in RecordingHook.calls if c[0] == "sampled"]
    assert sampled == [("sampled", 64, (2, 32, 32, 3))]


def test_a_failing_hook_keeps_its_steps_checkpoint(tmp_path, tiny_zip):
    _parse(
        tiny_zip,
        4,
        "train.hooks = [@recording_hook()]",
        "recording_hook.fail_at = 2",
        "checkpoints.every = 2",
    )
    with pytest.raises(RuntimeError, match="the hook failed"):
        trainer.train(str(tmp_path / "run"))
    assert [s for s, _ in rundir.list_checkpoints(str(tmp_path / "run"))] == [2]


def test_something_else_in_hooks_stops_before_model_dir_is_touched(
    tmp_path, tiny_zip
):
    _parse(tiny_zip, 2, "train.hooks = ['evaluation']")
    with pytest.raises(UserError, match="not a hook.*@evaluation\\(\\)"):
        trainer.train(str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "binding, message",
    [
        ("progress.every = 0", "progress.every must be a positive integer"),
        ("checkpoints.keep = -1", "checkpoints.keep must be a positive"),
        ("samples.every = 1.5", "samples.every must be a positive integer"),
    ],
)
def test_bad_periods_stop_before_model_dir_is_touched(
    tmp_path, tiny_zip, binding, message
):
    _parse(tiny_zip, 2, binding)
    with pytest.raises(UserError, match=message):
        trainer.train(str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "old, says",
    [
        ("train.log_every = 5", "train.log_every is now progress.every."),
        ("train.checkpoint_every = 5", "is now checkpoints.every."),
        (
            "train.eval_every = 5",
            "is now evaluation.every, with the hook listed: "
            "train.hooks = [@evaluation()].",
        ),
        (
            "train.leak_augment = 'blueness(0.5)'",
            "is now leak_check.augmentation.",
        ),
    ],
)
def test_a_setting_that_moved_names_its_new_place(old, says):
    with pytest.raises(UserError) as error:
        configs.parse([], [old])
    assert says in str(error.value)


def test_a_run_of_an_older_version_still_loads(tmp_path):
    # The operative config of a run trained before the settings moved.
    model_dir = tmp_path / "old_run"
    model_dir.mkdir()
    (model_dir / "operative_config.gin").write_text(
        "# Parameters for train:\n"
        "train.eval_every = 0\n"
        "train.keep_checkpoints = 3\n"
        "train.log_every = 100\n"
        "train.steps = 7\n"
        "train.loss = @hinge\n"
        "sndcgan.ch = 4\n"
    )
    (model_dir / rundir.RUN_INFO).write_text('{"model": "sndcgan"}')
    with rundir.Run(str(model_dir)).config() as info:
        assert info == {"model": "sndcgan"}
        assert gin.query_parameter("train.steps") == 7
        assert gin.query_parameter("sndcgan.ch") == 4
        with pytest.raises(ValueError):
            gin.query_parameter("train.log_every")


def test_the_loops_hooks_module_holds_no_evaluator():
    # Evaluators live beside their metrics; the hooks module below the
    # trainer holds progress, samples and checkpoints only.
    import ast  # pylint: disable=g-import-not-at-top

    tree = ast.parse(open(hooks.__file__).read())
    imported = {
        f"{node.module}.{alias.name}"
        if isinstance(node, ast.ImportFrom)
        else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {m for m in imported if "metrics" in m}, imported
    registered = {
        name
        for name, value in vars(hooks).items()
        if isinstance(value, type) and issubclass(value, hooks.Hook)
    }
    assert registered == {"Hook", "Progress", "Samples", "Checkpoints"}
    for name in ("evaluation", "leak_check", "overfitting"):
        assert gin.config._REGISTRY.get_match(name), name


def test_a_leak_check_too_small_to_learn_is_refused_when_configured():
    with pytest.raises(UserError, match="needs at least 64 images"):
        leakage.LeakCheck(augmentation="blueness(0.5)", num_images=10)
    with pytest.raises(UserError, match="classifier_steps must be a positive"):
        leakage.LeakCheck(augmentation="blueness(0.5)", classifier_steps=0)


def test_only_progress_and_checkpoints_run_on_every_worker():
    # Saving is collective: every worker of a multi-worker job must call it.
    assert hooks.Progress().collective and hooks.Checkpoints().collective
    assert not hooks.Samples().collective
    assert not evaluation.Evaluation().collective
    assert not leakage.LeakCheck(augmentation="blueness(0.5)").collective
    assert not overfitting.Overfitting().collective


@pytest.mark.parametrize("chief", [True, False])
def test_every_worker_cuts_its_calls_at_every_hooks_steps(
    tmp_path, tiny_zip, monkeypatch, chief
):
    # The steps of a multi-worker job are collective: every worker must
    # run the same calls, though only the chief writes sample grids.
    monkeypatch.setattr(
        trainer.distribute, "worker_role", lambda strategy: (chief, 1)
    )
    calls = []
    real_run_call = trainer._run_call

    def spy(train_call, iterator, n, *args):
        calls.append(n)
        return real_run_call(train_call, iterator, n, *args)

    monkeypatch.setattr(trainer, "_run_call", spy)
    _parse(
        tiny_zip,
        6,
        "samples.every = 3",
        "checkpoints.every = 4",
        "progress.every = 100",
        "train.steps_per_call = 10",
    )
    trainer.train(str(tmp_path / "run"))
    assert calls == [3, 1, 2]
    samples = tmp_path / "run" / "samples"
    assert samples.exists() == chief  # grids from the chief only
