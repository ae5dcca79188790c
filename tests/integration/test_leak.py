"""The augmentation-leak check: a generator that applies the augmentation
reads near the ceiling, one that does not near the baseline; the CLI on a
run; training-time checks; bad input."""

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
from tfgda.errors import UserError
from tfgda.metrics import leakage as leak
from tfgda.training import trainer


def _smooth_images(n, seed, size=16):
    """Images with structure and per-image colour casts: low-resolution
    noise, upsampled, plus a random offset per channel."""
    low = tf.random.stateless_uniform([n, 4, 4, 3], [seed, 0], -0.6, 0.6)
    cast = tf.random.stateless_uniform([n, 1, 1, 3], [seed, 1], -0.3, 0.3)
    return tf.image.resize(low, [size, size]) + cast


@pytest.fixture(scope="module")
def detector():
    return leak.LeakDetector(
        "blueness(0.5)", _smooth_images(768, 0), steps=300, seed=0
    )


def test_wilson_interval():
    low, high = leak.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4)
    assert high == pytest.approx(0.5962, abs=1e-4)
    assert leak.wilson_interval(0, 20)[0] == 0.0
    assert leak.wilson_interval(20, 20)[1] == 1.0


def test_a_generator_that_applies_the_augmentation_reads_near_the_ceiling(
    detector,
):
    assert detector.accuracy > 0.75
    reals = _smooth_images(512, 1)  # images the classifier never saw
    blue = augment.get("blueness(0.5)")(reals, tf.constant([5, 5], tf.int64))
    report = detector.check(blue)
    low, high = report.intervals["ceiling"]
    assert report.ceiling > 0.6 and report.baseline < 0.2
    assert abs(report.generated - report.ceiling) < 0.08
    assert report.score > 0.85
    assert (
        report.intervals["generated"][0]
        < report.generated
        < report.intervals["generated"][1]
    )
    assert "leak score" in report.summary()


def test_a_generator_that_returns_real_images_reads_near_the_baseline(detector):
    report = detector.check(_smooth_images(512, 2))
    assert abs(report.generated - report.baseline) < 0.08
    assert report.score < 0.15


def test_an_invisible_augmentation_gives_no_verdict(tmp_path):
    # Strength 1e-4 blueness: the classifier cannot tell; no score.
    weak = leak.LeakDetector(
        "blueness(0.0001)", _smooth_images(128, 0), steps=20
    )
    report = weak.check(_smooth_images(64, 3))
    assert np.isnan(report.score)
    assert "no conclusion" in report.summary()


@pytest.mark.parametrize(
    "spec, count, message",
    [
        ("blueness(0)", 128, "at strength 0 changes nothing"),
        ("blueness(0.5)", 32, "needs at least 64 real images, got 32"),
        ("blueness(2)", 128, "out of range"),
        ("blue(0.5)", 128, "unknown augmentation 'blue'"),
    ],
)
def test_bad_leak_checks(spec, count, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        leak.LeakDetector(spec, _smooth_images(count, 0), steps=1)


@pytest.fixture
def run_with_images(tmp_path):
    folder = write_images(
        tmp_path / "images", {"a": 80, "b": 80}, size=(32, 32)
    )
    data = zip_folder(folder, tmp_path / "data.zip")
    model_dir = tmp_path / "run"
    configs.parse(
        [],
        tiny_bindings(
            data,
            2,
            "train.hooks = [@leak_check()]",
            "leak_check.every = 2",
            "leak_check.augmentation = 'blueness(0.5)'",
            "leak_check.num_images = 160",
            "leak_check.classifier_steps = 60",
        ),
    )
    trainer.train(str(model_dir))
    return model_dir


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "tfgda.leak", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_cli_checks_a_run_and_training_logs_the_check(
    run_with_images, tmp_path
):
    model_dir = run_with_images
    # During training: the scalars of the check at step 2.
    tags = set()
    for name in os.listdir(model_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(
                str(model_dir / name)
            ):
                tags |= {v.tag for v in event.summary.value}
    assert {
        "leak/blueness_0.5/generated",
        "leak/blueness_0.5/baseline",
        "leak/blueness_0.5/ceiling",
    } <= tags
    # ... and its result file, as the program writes one.
    hook_result = model_dir / "eval" / "leak" / "blueness_0.5" / "ckpt-2.json"
    with open(hook_result) as f:
        hooked = json.load(f)
    assert hooked["step"] == 2 and hooked["counts"]["generated"] == 160
    # From the command line, on the run's own training images.
    done = _cli(
        f"--model_dir={model_dir}",
        "--augment=blueness(0.5)",
        "--leak_images=160",
        "--classifier_steps=60",
    )
    assert done.returncode == 0, done.stderr
    assert "classifier held-out accuracy" in done.stdout
    # Trained without augmentation: the score is said not to be a leak.
    assert (
        "note: this run trained without augmenting real images" in done.stdout
    )
    assert "generated" in done.stdout and "ceiling" in done.stdout
    with open(
        model_dir / "eval" / "leak" / "blueness_0.5" / "ckpt-2.json"
    ) as f:
        result = json.load(f)
    assert result["step"] == 2 and result["counts"]["generated"] == 160
    assert result["counts"]["baseline"] == 40  # a quarter held out
    assert "standing_stats_samples" in result  # 0 for a raw G
    empty = tmp_path / "empty"
    empty.mkdir()
    none = _cli(f"--model_dir={empty}", "--augment=blueness(0.5)")
    assert none.returncode == 2 and "Traceback" not in none.stderr
    assert "holds no training run" in none.stderr
    few = _cli(
        f"--model_dir={model_dir}", "--augment=blueness(0.5)", "--leak_images=0"
    )
    assert few.returncode == 2 and "Traceback" not in few.stderr
    assert "--leak_images must be a positive integer, got 0" in few.stderr


@pytest.mark.parametrize(
    "bindings, caveat",
    [
        ([], "without augmenting real images"),
        (
            [
                "augment.mode = 'real_only'",
                "augment.name = 'translation'",
                "augment.strength = 0.2",
            ],
            "with 'translation', not this",
        ),
        (
            [
                "augment.mode = 'real_only'",
                "augment.name = 'translation+blueness'",
                "augment.strength = 0.2",
            ],
            None,
        ),
    ],
)
def test_a_score_is_a_leak_only_where_the_run_could_leak(bindings, caveat):
    configs.parse([], bindings)
    text = leak.training_caveat(augment.get("blueness(0.5)"))
    if caveat is None:
        assert text == ""
    else:
        assert caveat in text and "not a leak" in text


def test_leak_check_needs_an_augmentation(tmp_path, tiny_zip):
    configs.parse(
        [], tiny_bindings(tiny_zip, 1, "train.hooks = [@leak_check()]")
    )
    with pytest.raises(
        UserError, match="leak_check needs leak_check.augmentation"
    ):
        trainer.train(str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_check_is_repeatable_with_its_seed():
    images = _smooth_images(128, 0)
    generated = _smooth_images(64, 4)
    reports = [
        leak.LeakDetector("blueness(0.5)", images, steps=20, seed=3).check(
            generated
        )
        for _ in range(2)
    ]
    assert reports[0].as_dict() == reports[1].as_dict()
