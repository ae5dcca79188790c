"""The offline feature network: its shipped weights, its score (FCD), and
its place in evaluation, training and sweeps."""

import json
import os
import subprocess
import sys

from conftest import REPO
from conftest import tiny_bindings
from conftest import write_images
from conftest import zip_folder
import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda import configs
from tfgda import data
from tfgda.errors import UserError
from tfgda.metrics import classifier
from tfgda.metrics import evaluation
from tfgda.metrics import protocols
from tfgda.tools import score_sensitivity
from tfgda.tools import train_feature_net
from tfgda.training import trainer

# The accuracy docs/EVALUATION.md states for the shipped weights on the
# 10,000 CIFAR-10 test JPEGs.
STATED_ACCURACY = 0.852


def _cli(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def features():
    return classifier.load_feature_model()


def test_shipped_weights_classify_cifar10_test_at_the_stated_accuracy(
    features, cifar_zip
):
    model = classifier.load_weights(classifier.network())
    accuracy = train_feature_net.accuracy(model, cifar_zip)
    assert accuracy == pytest.approx(STATED_ACCURACY, abs=0.002)
    assert features.sha256 == classifier.sha256(classifier.WEIGHTS_PATH)
    assert features.handle.startswith("cifar10_classifier@")
    assert os.path.getsize(classifier.WEIGHTS_PATH) < 3 * 2**20


def _fcd(features, reference_batches, batches):
    protocol = protocols.parse("fid2k_test")
    reference = evaluation.reference_statistics(
        protocol, features, reference_batches, "test", None
    )
    feats, _ = evaluation.activations(features, batches)
    mu, sigma = evaluation.fid_lib.statistics(feats)
    return evaluation.fid_lib.fid_from_statistics(
        mu, sigma, reference["mu"], reference["sigma"]
    )


def _batches(path, count, subset_seed=0, augmentation=None):
    dataset, _ = data.dataset(
        100,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
        name="images",
        path=path,
        subset=count,
        subset_seed=subset_seed,
    )
    images = [b["images"] for b in dataset]
    if augmentation:
        images = [
            augmentation(x, tf.constant([i, 7])) for i, x in enumerate(images)
        ]
    return images


def test_fcd_is_small_between_splits_and_grows_with_augmentation(
    features, cifar_zip, cifar_train_zip
):
    test = _batches(cifar_zip, 2000)
    train = _batches(cifar_train_zip, 2000)
    other_test = _batches(cifar_zip, 2000, subset_seed=1)
    between = _fcd(features, lambda: test, train)
    within = _fcd(features, lambda: test, other_test)
    noise = [
        _fcd(
            features,
            lambda: test,
            _batches(
                cifar_zip,
                2000,
                subset_seed=1,
                augmentation=augment.get("instance_noise", s),
            ),
        )
        for s in (0.05, 0.1, 0.2)
    ]
    # Two real samples are close (train vs test barely more than two test
    # samples); a distorted sample is farther, the more so the stronger.
    assert within < between, (within, between)
    assert all(a < b for a, b in zip(noise, noise[1:])), noise
    assert noise[0] > 2 * between


@pytest.mark.slow  # 100 s
def test_the_score_sees_every_augmentation_the_study_compares(
    features, cifar_zip
):
    """Each of the study's augmentations, applied to test images at 0.1 to
    0.5, moves the score further from the other test images the stronger
    it is (docs/EVALUATION.md gives the slopes), from above the floor of
    two unaugmented halves."""
    strengths = (0.1, 0.2, 0.3, 0.4, 0.5)
    table = score_sensitivity.sensitivity(
        features,
        cifar_zip,
        score_sensitivity.STUDY_AUGMENTATIONS,
        strengths,
        count=2000,
    )
    for name in score_sensitivity.STUDY_AUGMENTATIONS:
        scores = table[name]
        assert all(a < b for a, b in zip(scores, scores[1:])), (name, scores)
        assert scores[0] > table["floor"], (name, scores, table["floor"])
        # at the study's strength, a leak moves the score by more than the
        # floor itself
        assert scores[3] - table["floor"] > table["floor"], (name, scores)


def test_evaluate_cli_writes_fcd_named_with_the_network(
    run_dir, tiny_zip, tmp_path, features
):
    done = _cli(
        "tfgda.evaluate",
        f"--model_dir={run_dir}",
        "--features=cifar10_classifier",
        f"--reference_path={tiny_zip}",
        "--protocol=fid8_test",
        "--batch_size=8",
        f"--cache_dir={tmp_path / 'cache'}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FCD" in done.stderr and "FID" not in done.stderr
    path = os.path.join(
        run_dir, "eval", "cifar10_classifier", "fid8_test", "ckpt-2.json"
    )
    with open(path) as f:
        result = json.load(f)
    assert result["fcd"] > 0 and result["kid_fcd"] == result["kid_fcd"]
    assert "fid" not in result and "inception_score" not in result
    assert result["features"] == "cifar10_classifier"
    assert result["feature_weights_sha256"] == features.sha256
    assert result["resize"] == "none"
    assert not os.path.exists(os.path.join(run_dir, "eval", "fid8_test"))
    # The reference statistics are cached under the weights' hash.
    cached = os.listdir(tmp_path / "cache")
    assert len(cached) == 1
    with np.load(tmp_path / "cache" / cached[0]) as f:
        assert str(f["feature_model"]) == features.handle


def test_bad_input_is_one_line_and_writes_no_result(
    run_dir, tiny_zip, tmp_path
):
    big = zip_folder(
        write_images(tmp_path / "big", {"a": 8, "b": 8}, size=(64, 64)),
        tmp_path / "big.zip",
    )
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not an npz file")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, a=np.zeros(3))
    common = [
        f"--model_dir={run_dir}",
        "--protocol=fid8_test",
        "--batch_size=8",
        f"--cache_dir={tmp_path / 'cache'}",
    ]
    for args, message in [
        (
            ("--features=vgg", f"--reference_path={tiny_zip}"),
            "unknown --features 'vgg': use one of inception, "
            "cifar10_classifier.",
        ),
        (
            (
                "--features=cifar10_classifier",
                f"--feature_weights={tmp_path / 'none.npz'}",
                f"--reference_path={tiny_zip}",
            ),
            f"the cifar10_classifier weights file "
            f"'{tmp_path / 'none.npz'}' is missing",
        ),
        (
            (
                "--features=cifar10_classifier",
                f"--feature_weights={corrupt}",
                f"--reference_path={tiny_zip}",
            ),
            f"the cifar10_classifier weights file '{corrupt}' is corrupt",
        ),
        (
            (
                "--features=cifar10_classifier",
                f"--feature_weights={wrong}",
                f"--reference_path={tiny_zip}",
            ),
            f"the weights file '{wrong}' does not fit",
        ),
        (
            ("--features=cifar10_classifier", f"--reference_path={big}"),
            "the cifar10_classifier features need 32x32 images, but the "
            f"reference images of '{big}' are 64x64",
        ),
    ]:
        done = _cli("tfgda.evaluate", *common, *args)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
        assert (
            done.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
        ), (args, done.stderr[-600:])
        assert not os.path.exists(os.path.join(run_dir, "eval"))
        assert not os.path.exists(tmp_path / "cache") or not os.listdir(
            tmp_path / "cache"
        )


def test_generated_images_of_another_size_are_refused(features):
    def sampler(z, labels, training=False):
        del labels, training
        return tf.zeros([tf.shape(z)[0], 16, 16, 3])

    sampler.dim_z, sampler.z_distribution = 4, "normal"
    reference = {
        "mu": np.zeros(192),
        "sigma": np.eye(192),
        "count": 8,
        "activations": np.zeros([8, 192], np.float32),
    }
    with pytest.raises(
        UserError, match="need 32x32 images, but the generated images are 16x16"
    ):
        evaluation.evaluate_sampler(
            sampler,
            0,
            protocols.parse("fid8_test"),
            features,
            reference,
            batch_size=8,
        )


def test_training_scores_itself_with_the_offline_network(tiny_zip, tmp_path):
    model_dir = str(tmp_path / "run")
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            2,
            "train.hooks = [@evaluation()]",
            "evaluation.every = 2",
            "evaluation.protocol = 'fid8_test'",
            f"evaluation.reference_path = '{tiny_zip}'",
            "evaluation.features = 'cifar10_classifier'",
        ),
    )
    trainer.train(model_dir)
    with open(
        os.path.join(
            model_dir, "eval", "cifar10_classifier", "fid8_test", "ckpt-2.json"
        )
    ) as f:
        result = json.load(f)
    assert result["step"] == 2 and result["fcd"] > 0
    # One evaluator: the offline program scores the step's checkpoint as
    # the hook scored the training sampler.
    (offline,) = evaluation.evaluate_run(
        model_dir,
        "latest",
        "fid8_test",
        evaluation.load_features(classifier.NAME),
        tiny_zip,
    )
    assert offline["checkpoint"].endswith("ckpt-2") and not result["checkpoint"]
    for key in ("fcd", "kid_fcd", "standing_stats_samples"):
        assert offline[key] == pytest.approx(result[key], rel=1e-5), key
    tags = set()
    for name in tf.io.gfile.glob(os.path.join(model_dir, "events.*")):
        for event in tf.compat.v1.train.summary_iterator(name):
            tags.update(v.tag for v in event.summary.value)
    assert {"eval/fid8_test/fcd", "eval/fid8_test/kid_fcd"} <= tags
    assert "eval/fid8_test/fid" not in tags


def test_an_unknown_training_feature_network_fails_before_training(
    tiny_zip, tmp_path
):
    configs.parse(
        [],
        tiny_bindings(
            tiny_zip,
            2,
            "train.hooks = [@evaluation()]",
            "evaluation.every = 2",
            "evaluation.protocol = 'fid8_test'",
            f"evaluation.reference_path = '{tiny_zip}'",
            "evaluation.features = 'vgg'",
        ),
    )
    run = tmp_path / "run"
    with pytest.raises(UserError, match="unknown --features 'vgg'"):
        trainer.train(str(run))
    assert not run.exists() or not any(
        n.startswith("ckpt") for n in os.listdir(run)
    )


def test_the_training_script_writes_loadable_weights(tmp_path):
    folder = write_images(
        tmp_path / "images", {c: 12 for c in "abc"}, size=(32, 32)
    )
    images = zip_folder(folder, tmp_path / "images.zip")
    out = tmp_path / "net.npz"
    done = _cli(
        "tfgda.tools.train_feature_net",
        f"--images={images}",
        f"--test_images={images}",
        f"--out={out}",
        "--epochs=2",
        "--train_batch_size=12",
        "--width=4",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sha256"] == classifier.sha256(out)
    assert summary["augment"] == ["flip"]
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert "epoch 2/2" in done.stderr
    assert not os.path.exists(f"{out}.training")  # its state, removed
    model = classifier.load_weights(
        classifier.network(width=4, num_classes=3), str(out)
    )
    features, logits = model(tf.zeros([2, 32, 32, 3]))
    assert features.shape == (2, 32) and logits.shape == (2, 3)
    bad = _cli(
        "tfgda.tools.train_feature_net",
        f"--images={images}",
        f"--out={tmp_path / 'net.h5'}",
    )
    assert bad.returncode == 2 and "must end in .npz" in bad.stderr


def test_the_training_images_are_flipped_and_never_shifted_by_default():
    images = tf.random.uniform([64, 32, 32, 3], -1, 1, seed=3)
    for names, shifted in ((["flip"], False), (["flip", "translation"], True)):
        out = train_feature_net._augment(names, seed=0)(images).numpy()
        same = np.all(out == images.numpy(), axis=(1, 2, 3))
        flipped = np.all(out == images.numpy()[:, :, ::-1], axis=(1, 2, 3))
        if shifted:
            assert not (same | flipped).any(), names
        else:  # about half of each
            assert same.any() and flipped.any() and (same | flipped).all()
    with pytest.raises(UserError, match="--train_augment rotate is not one of"):
        train_feature_net._augment(["flip", "rotate"], seed=0)


def test_the_training_script_keeps_a_state_folder_it_did_not_write(
    tmp_path,
):
    folder = write_images(tmp_path / "images", {"a": 4, "b": 4}, size=(32, 32))
    images = zip_folder(folder, tmp_path / "images.zip")
    work = tmp_path / "net.npz.training"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    done = _cli(
        "tfgda.tools.train_feature_net",
        f"--images={images}",
        f"--out={tmp_path / 'net.npz'}",
        "--epochs=1",
        "--train_batch_size=4",
        "--width=4",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "holds 'notes.txt', not this program's state" in done.stderr
    assert (work / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "net.npz").exists()


def test_saved_weights_round_trip_in_float16(tmp_path):
    model = classifier.network(width=4)
    x = tf.random.uniform([3, 32, 32, 3], -1, 1, seed=1)
    path = str(tmp_path / "w.npz")
    digest = classifier.save_weights(model, path)
    again = classifier.load_weights(classifier.network(width=4), path)
    assert digest == classifier.sha256(path)
    np.testing.assert_allclose(again(x)[1], model(x)[1], rtol=0.02, atol=0.02)
    with pytest.raises(UserError, match="does not fit"):
        classifier.load_weights(classifier.network(width=8), path)


def test_an_evaluator_refuses_a_reference_of_another_size(tmp_path):
    big = zip_folder(
        write_images(tmp_path / "big", {"a": 8}, size=(64, 64)),
        tmp_path / "big.zip",
    )
    run_info = {
        "dataset": "images",
        "source": big,
        "image_shape": [32, 32, 3],
        "num_classes": 1,
    }
    # At set-up, before any training step.
    with pytest.raises(UserError, match="reference images of .* are 64x64"):
        evaluation.Evaluator(
            str(tmp_path / "run"),
            run_info,
            "fid8_test",
            reference_path=big,
            features="cifar10_classifier",
        )
    with pytest.raises(UserError, match="generated images are 64x64"):
        evaluation.Evaluator(
            str(tmp_path / "run"),
            dict(run_info, image_shape=[64, 64, 3]),
            "fid8_test",
            reference_path=big,
            features="cifar10_classifier",
        )


def test_a_mixed_size_reference_names_the_size_it_needs(run_dir, tmp_path):
    write_images(tmp_path / "ref", {"a": 4}, size=(32, 32))
    write_images(tmp_path / "ref", {"b": 4}, size=(16, 16), seed=1)
    reference = zip_folder(tmp_path / "ref", tmp_path / "ref.zip")
    features = evaluation.load_features(classifier.NAME)
    with pytest.raises(UserError) as raised:
        evaluation.evaluate_run(
            run_dir,
            "latest",
            "fid8_test",
            features,
            reference,
            str(tmp_path / "cache"),
            batch_size=8,
        )
    message = str(raised.value)
    assert "have mixed sizes" in message and "must all be 32x32" in message
    assert "dataset.resize" not in message  # not a fix for evaluation
