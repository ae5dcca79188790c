"""CutMix and MixUp: the partner, the law of the mixed share."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment

SEED = tf.constant([8, 9], tf.int64)
N = 2000


def _labelled_images():
    """Image i is the constant i / N, so pixels tell their source."""
    values = tf.range(N, dtype=tf.float32) / N
    return tf.broadcast_to(values[:, None, None, None], [N, 16, 16, 3])


def test_partners_are_a_permutation():
    _, (mix,) = augment.get("cutmix", 0.5).apply(_labelled_images(), SEED)
    assert sorted(mix.partner.numpy()) == list(range(N))


@pytest.mark.parametrize("strength", [0.2, 0.5])
def test_cutmix_pastes_a_box_of_area_below_lambda(strength):
    x = _labelled_images()
    y, (mix,) = augment.get("cutmix", strength).apply(x, SEED)
    y, partner = y.numpy()[..., 0], mix.partner.numpy()
    own = x.numpy()[:, 0, 0, 0]
    from_partner = np.isclose(y, own[partner][:, None, None]) & ~np.isclose(
        y, own[:, None, None]
    )
    area = from_partner.mean(axis=(1, 2))
    moved = partner != np.arange(N)
    np.testing.assert_allclose(
        area[moved], mix.weight.numpy()[moved], atol=1e-6
    )
    assert mix.weight.numpy().max() <= strength + 0.05  # rounding of sides
    assert mix.weight.numpy().max() > 0.8 * strength


def test_mixup_weight_is_uniform_below_lambda():
    _, (mix,) = augment.get("mixup", 0.4).apply(_labelled_images(), SEED)
    a = mix.weight.numpy()
    assert a.min() >= 0 and a.max() <= 0.4
    assert a.mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(
    "spec", ["cutmix(0.5)", "mixup(0.5)", "translation(0.2)+cutmix(0.5)"]
)
def test_real_and_fake_mixed_with_their_targets(spec):
    """augment.mix_real_fake: reals (all +1) and fakes (all -1) mixed with
    each other; each image's target realness r is its real share, so its
    mean pixel is r - (1 - r)."""
    policy = augment.augment("real_and_fake", spec, mix_real_fake=True)
    assert policy.mixes_real_and_fake
    real, fake = tf.ones([200, 8, 8, 3]), -tf.ones([200, 8, 8, 3])
    real_in, fake_in, realness = policy.joint(real, fake, SEED)
    images = tf.concat([real_in, fake_in], 0).numpy()
    r = realness.numpy()
    assert r.min() >= 0.0 and r.max() <= 1.0
    assert 0.0 < r[200:].max() and r[:200].min() < 1.0  # crossed kinds
    np.testing.assert_allclose(
        images.mean(axis=(1, 2, 3)), 2 * r - 1, atol=1e-5
    )


def test_mixing_real_with_fake_needs_real_and_fake_mode():
    from tfgda.errors import UserError

    with pytest.raises(UserError, match="use it with 'real_and_fake'"):
        augment.augment("real_only", "cutmix", 0.3, mix_real_fake=True)
    assert not augment.augment(
        "real_and_fake", "cutmix(0.3)"
    ).mixes_real_and_fake
