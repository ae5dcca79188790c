"""Fig. 4's ratio FD(t(real), t(fake)) / FD(real, fake), on real CIFAR-10
images and the shipped feature network."""

import pytest
import tensorflow as tf

from tfgda import data
from tfgda.errors import UserError
from tfgda.metrics import classifier
from tfgda.metrics import fid_ratio

COUNT = 512


@pytest.fixture(scope="module")
def features():
    return classifier.load_feature_model()


@pytest.fixture(scope="module")
def sets(cifar_zip):
    """Real test images, and 'generated' ones: other test images, darker
    and blurred, so the two sets are apart as a weak generator's are."""
    dataset, _ = data.dataset(
        COUNT,
        shuffle=False,
        repeat=False,
        name="images",
        path=cifar_zip,
        subset=2 * COUNT,
    )
    images = next(iter(dataset))["images"]
    reals = images.numpy()
    others = next(iter(dataset.skip(1)))["images"]
    blurred = tf.nn.avg_pool2d(others, 3, 1, "SAME")
    fakes = (0.7 * blurred - 0.2).numpy()
    return reals, fakes


def test_the_ratio_falls_with_strength_as_in_figure_4(features, sets):
    reals, fakes = sets
    result = fid_ratio.ratios(
        features,
        reals,
        fakes,
        {
            "instance_noise": [0.02, 0.06, 0.1],
            "translation": [0.1, 0.5],
        },
        batch_size=128,
    )
    assert result["distance"] > 10
    noise = [r["ratio"] for r in result["ratios"]["instance_noise"]]
    assert noise == sorted(noise, reverse=True) and noise[-1] < 0.8
    shift = [r["ratio"] for r in result["ratios"]["translation"]]
    assert shift[1] < shift[0] < 1.05
    for rows in result["ratios"].values():
        for r in rows:
            assert r["ratio"] == pytest.approx(
                r["distance"] / result["distance"]
            )


def test_no_augmentation_keeps_the_distance_and_draws_are_independent(
    features, sets
):
    reals, fakes = sets
    # Strength 0 is the identity: the ratio is exactly 1.
    result = fid_ratio.ratios(
        features, reals, fakes, {"translation": [0.0]}, batch_size=128
    )
    assert result["ratios"]["translation"][0]["ratio"] == pytest.approx(
        1.0, abs=1e-9
    )
    # The real and the generated set are augmented with draws of their
    # own: the same images, translated for each side, are apart (shared
    # draws would give the same images and a distance of 0).
    pipeline = fid_ratio.augment_lib.get("translation", 0.5)
    real_side, fake_side, again = (
        fid_ratio._statistics(features, reals, pipeline, purpose, 0, 128)
        for purpose in (fid_ratio._REAL, fid_ratio._FAKE, fid_ratio._REAL)
    )
    assert fid_ratio.fid_lib.fid_from_statistics(*real_side, *fake_side) > 0.1
    assert fid_ratio.fid_lib.fid_from_statistics(
        *real_side, *again
    ) == pytest.approx(0.0, abs=1e-3)


def test_one_set_against_itself_and_a_bad_name_are_refused(features, sets):
    reals, _ = sets
    with pytest.raises(UserError, match="at distance .*no gap"):
        fid_ratio.ratios(features, reals, reals, {"translation": [0.1]})
    with pytest.raises(UserError, match="translatoin"):
        fid_ratio.ratios(features, reals, reals, {"translatoin": [0.1]})


def test_the_figure_has_a_line_per_augmentation():
    result = {
        "distance": 10.0,
        "metric": "fcd",
        "ratios": {
            "translation": [
                {"strength": 0.1, "distance": 9.0, "ratio": 0.9},
                {"strength": 0.5, "distance": 5.0, "ratio": 0.5},
            ],
            "mixup": [{"strength": 0.1, "distance": 10.0, "ratio": 1.0}],
        },
    }
    figure = fid_ratio.draw(result)
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["translation"].get_ydata()) == [0.9, 0.5]
    assert "FCD(t(real), t(fake))" in ax.get_ylabel()
