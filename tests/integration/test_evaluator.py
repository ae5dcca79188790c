"""Evaluation of runs and during training, through a stand-in Inception."""

import json
import logging
import os

from conftest import tiny_bindings
import gin
import numpy as np
import pytest

from tfgda import configs
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import evaluation as evaluate
from tfgda.metrics import inception
from tfgda.metrics import protocols
from tfgda.training import trainer


class _CountingActivations:
    """Wraps evaluation.activations and counts the images it is fed."""

    def __init__(self, monkeypatch):
        self.images = 0
        self._activations = evaluation.activations
        monkeypatch.setattr(evaluation, "activations", self)

    def __call__(self, model, batches, strategy=None, what="images"):
        def counted():
            for batch in batches:
                self.images += int(batch.shape[0])
                yield batch

        return self._activations(model, counted(), strategy, what)


def test_whole_pipeline_and_reference_cache(
    run_dir, tiny_zip, tmp_path, standin_inception, monkeypatch
):
    features = inception.inception(standin_inception)
    counter = _CountingActivations(monkeypatch)
    cache = str(tmp_path / "cache")
    results = evaluate.evaluate_run(
        run_dir, "latest", "fid16_test", features, tiny_zip, cache, batch_size=8
    )
    (result,) = results
    assert result["step"] == 2 and result["protocol"] == "fid16_test"
    assert result["num_generated"] == 16 and result["num_reference"] == 16
    assert result["fid"] > 0 and np.isfinite(result["kid"])
    assert 1.0 <= result["inception_score"] <= 10.0
    saved = json.loads(
        open(os.path.join(run_dir, "eval", "fid16_test", "ckpt-2.json")).read()
    )
    assert saved["fid"] == pytest.approx(result["fid"])
    # The EMA generator had its own BN statistics (the run's binding).
    assert saved["standing_stats_samples"] == 64
    assert saved["resize"] == "bilinear"  # TF1's only under fid10k_test
    assert counter.images == 32  # 16 reference + 16 generated
    # The second evaluation reads the reference statistics from the cache.
    again = evaluate.evaluate_run(
        run_dir, "latest", "fid16_test", features, tiny_zip, cache, batch_size=8
    )
    assert counter.images == 48  # only the 16 generated images
    assert again[0]["fid"] == pytest.approx(result["fid"], rel=1e-5)


def test_a_cache_from_another_protocol_is_refused_and_kept(
    tmp_path, tiny_zip, standin_inception
):
    features = inception.inception(standin_inception)
    protocol = protocols.parse("fid8_test")
    batches, dataset_id = evaluate.reference_batches(
        {"dataset": "images", "image_shape": [32, 32, 3]}, protocol, 8, tiny_zip
    )
    cache = str(tmp_path / "cache")
    stats = evaluation.reference_statistics(
        protocol, features, batches, dataset_id, cache
    )
    assert not stats["cached"]
    (path,) = [os.path.join(cache, f) for f in os.listdir(cache)]
    with np.load(path) as f:
        forged = dict(f)
    forged["protocol"] = "fid50k_train"
    np.savez(path, **forged)
    before = open(path, "rb").read()
    with pytest.raises(UserError, match="is for protocol 'fid50k_train'"):
        evaluation.reference_statistics(
            protocol, features, batches, dataset_id, cache
        )
    assert open(path, "rb").read() == before


def test_too_few_reference_images(tmp_path, tiny_zip, standin_inception):
    features = inception.inception(standin_inception)
    protocol = protocols.parse("fid1k_test")
    batches, dataset_id = evaluate.reference_batches(
        {"dataset": "images", "image_shape": [32, 32, 3]}, protocol, 8, tiny_zip
    )
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="needs 1000 reference images"):
        evaluation.reference_statistics(
            protocol, features, batches, dataset_id, str(cache)
        )
    assert not cache.exists()  # nothing cached


def test_too_few_reference_images_are_refused_before_any_scoring(
    run_dir, tmp_path, tiny_zip, monkeypatch
):
    loaded = []
    monkeypatch.setattr(
        evaluation, "load_features", lambda *a, **k: loaded.append(a)
    )
    with pytest.raises(UserError) as raised:
        evaluate.evaluate_run(run_dir, "latest", "fid1k_test", None, tiny_zip)
    assert str(raised.value).startswith(
        f"protocol fid1k_test needs 1000 reference images but '{tiny_zip}' "
        "has 48: choose a protocol of at most 48 images (e.g. fid48_test)"
    )
    assert not loaded  # refused before the feature network is loaded
    # In training: before the run starts, whatever the feature network.
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            4,
            "train.hooks = [@evaluation()]",
            "evaluation.protocol = 'fid20k_test'",
            f"evaluation.reference_path = '{tiny_zip}'",
        ),
    )
    with pytest.raises(UserError, match="fid20k_test needs 20000 reference"):
        trainer.train(str(tmp_path / "new"))
    assert not (tmp_path / "new").exists() and not loaded


def test_missing_inception_says_how_to_provide_it(tmp_path):
    with pytest.raises(UserError, match="--inception=DIR"):
        inception.inception(str(tmp_path / "nowhere"))


def test_checkpoint_choices(run_dir):
    assert rundir.select_checkpoints(run_dir, "latest")[0].endswith("ckpt-2")
    assert len(rundir.select_checkpoints(run_dir, "all")) == 1
    with pytest.raises(UserError, match=r"there are steps \[2\]"):
        rundir.select_checkpoints(run_dir, "7")


def test_no_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        rundir.select_checkpoints(str(tmp_path), "latest")


def test_trainer_evaluates_every_n_steps(tmp_path, tiny_zip, standin_inception):
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            4,
            "train.hooks = [@evaluation()]",
            "evaluation.every = 2",
            "evaluation.protocol = 'fid8_train'",
            f"inception.handle = '{standin_inception}'",
        ),
    )
    trainer.train(str(tmp_path / "run"))
    folder = tmp_path / "run" / "eval" / "fid8_train"
    assert sorted(os.listdir(folder)) == ["ckpt-2.json", "ckpt-4.json"]


def test_trainer_rejects_an_unservable_protocol_before_starting(
    tmp_path, tiny_zip
):
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            4,
            "train.hooks = [@evaluation()]",
            "evaluation.every = 2",
        ),
    )
    # train has no --reference_path flag: the fix named is the binding.
    with pytest.raises(UserError) as raised:
        trainer.train(str(tmp_path / "run"))
    assert "bind evaluation.reference_path = " in str(raised.value)
    assert "--reference_path" not in str(raised.value)
    assert not (tmp_path / "run").exists()


def test_the_reference_is_the_whole_split_when_training_used_a_subset(
    tiny_zip, tmp_path, standin_inception
):
    # A data-scarce run (dataset.subset, bound in its operative config) is
    # still scored against every image of the protocol's split.
    model_dir = str(tmp_path / "run")
    configs.parse([], tiny_bindings(tiny_zip, 2, "dataset.subset = 16"))
    trainer.train(model_dir)
    gin.clear_config()
    features = inception.inception(standin_inception)
    (result,) = evaluate.evaluate_run(
        model_dir,
        "latest",
        "fid40_test",
        features,
        tiny_zip,
        None,
        batch_size=8,
    )
    assert result["num_reference"] == 40


def test_all_skips_what_a_live_trainer_removed_and_keeps_what_is_corrupt(
    tmp_path, tiny_zip, standin_inception, monkeypatch, caplog
):
    """`--checkpoint=all` on a run still training: a checkpoint that the
    trainer's `keep` deletes after the listing is skipped, said so, and not
    called corrupt; a corrupt one is named, and left where it is."""
    model_dir = str(tmp_path / "run")
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip, 3, "checkpoints.every = 1", "checkpoints.keep = 5"
        ),
    )
    trainer.train(model_dir)
    gin.clear_config()
    listed = rundir.select_checkpoints(model_dir, "all")
    assert [rundir.checkpoint_step(p) for p in listed] == [1, 2, 3]
    select = rundir.select_checkpoints

    def listed_then_kept(model_dir, which):  # the trainer's save, between
        paths = select(model_dir, which)
        rundir.checkpointing.remove_checkpoint(paths[0])
        return paths

    monkeypatch.setattr(rundir.files, "select_checkpoints", listed_then_kept)
    features = inception.inception(standin_inception)
    caplog.set_level(logging.INFO, logger="absl")
    results = evaluate.evaluate_run(
        model_dir,
        "all",
        "fid8_test",
        features,
        tiny_zip,
        str(tmp_path / "cache"),
        batch_size=8,
    )
    warned = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    ]
    assert [r["step"] for r in results] == [2, 3]
    assert any("Skipped step 1" in w and "removed" in w for w in warned)
    assert not any("corrupt" in w for w in warned)
    monkeypatch.setattr(rundir.files, "select_checkpoints", select)
    # Only that step is gone; a corrupt checkpoint stops with its name and
    # is not set aside by a process that is not the run's trainer.
    (data,) = [f for f in os.listdir(model_dir) if f.startswith("ckpt-2.data")]
    with open(os.path.join(model_dir, data), "r+b") as f:
        f.truncate(10)
    with pytest.raises(UserError, match=r"ckpt-2' is unreadable \(corrupt"):
        evaluate.evaluate_run(
            model_dir,
            "2",
            "fid8_test",
            features,
            tiny_zip,
            str(tmp_path / "cache"),
            batch_size=8,
        )
    assert data in os.listdir(model_dir)
    assert not [f for f in os.listdir(model_dir) if f.startswith("corrupt-")]
