"""The overfitting hook in training runs: its results, resume, replicas,
and held-out images that are not held out."""

import json
import os

from conftest import tiny_bindings
import gin
import pytest

from tfgda import configs
from tfgda.errors import UserError
from tfgda.training import trainer

_HOOK = (
    "train.hooks = [@overfitting()]",
    "overfitting.every = 2",
    "dataset.subset = 24",
)


def _train(model_dir, data, steps, *extra):
    configs.parse([], tiny_bindings(data, steps, *_HOOK, *extra))
    trainer.train(str(model_dir))
    gin.clear_config()


def _results(model_dir):
    folder = os.path.join(model_dir, "eval", "overfitting")
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            found[name] = json.load(f)
    return found


def test_results_every_n_steps_resume_with_the_run(tmp_path, tiny_zip):
    run = tmp_path / "run"
    _train(run, tiny_zip, 4)
    first = _results(run)
    assert sorted(first) == ["ckpt-2.json", "ckpt-4.json"]
    result = first["ckpt-4.json"]
    assert result["step"] == 4
    # 24 training images of 48; the other 24 are held out
    assert result["count_train"] == result["count_held_out"] == 24
    assert -1.0 <= result["r_t"] <= 1.0
    assert result["r_v"] == pytest.approx(
        (result["d_train"] - result["d_held_out"])
        / (result["d_train"] - result["d_fake"])
    )
    assert first["ckpt-2.json"]["d_train"] != result["d_train"]  # D trained
    _train(run, tiny_zip, 6)
    resumed = _results(run)
    assert sorted(resumed) == ["ckpt-2.json", "ckpt-4.json", "ckpt-6.json"]
    assert {k: resumed[k] for k in first} == first


def test_two_replicas_measure_what_one_does(tmp_path, tiny_zip):
    _train(tmp_path / "one", tiny_zip, 2)
    _train(tmp_path / "two", tiny_zip, 2, "strategy.kind = 'mirrored'")
    one = _results(tmp_path / "one")["ckpt-2.json"]
    two = _results(tmp_path / "two")["ckpt-2.json"]
    for key in ("d_train", "d_held_out", "d_fake", "r_t"):
        assert two[key] == pytest.approx(one[key], abs=1e-4), key


def test_held_out_images_must_be_held_out(tmp_path, tiny_zip):
    run = tmp_path / "run"
    configs.parse(
        [], tiny_bindings(tiny_zip, 2, "train.hooks = [@overfitting()]")
    )
    with pytest.raises(UserError, match="needs held-out images: bind"):
        trainer.train(str(run))
    gin.clear_config()
    # The training archive itself, named as the held-out one.
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            2,
            "train.hooks = [@overfitting()]",
            f"overfitting.holdout_path = '{tiny_zip}'",
        ),
    )
    with pytest.raises(UserError, match="are also training images"):
        trainer.train(str(run))
    assert not os.path.exists(run)  # stopped before writing anything


def test_a_run_lists_its_archive_once(tmp_path, tiny_zip, monkeypatch):
    """The dataset, the augmented grid's reals and the probe's training and
    held-out images come from one index of the archive."""
    from tfgda import data  # pylint: disable=g-import-not-at-top

    listed = []
    real_init = data.ImageArchive.__init__
    monkeypatch.setattr(
        data.ImageArchive,
        "__init__",
        lambda self, p: listed.append(p) or real_init(self, p),
    )
    _train(
        tmp_path / "run",
        tiny_zip,
        2,
        "augment.mode = 'real_and_fake'",
        "augment.name = 'translation'",
        "augment.strength = 0.2",
    )
    assert listed == [tiny_zip]
