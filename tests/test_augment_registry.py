"""Every registered augmentation: contract properties, swept over the
registry; and the spec parser's errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfgda import augment
from tfgda.errors import UserError

SEED = tf.constant([7, 11], tf.int64)


def _images(batch=8, size=16, seed=0):
    return tf.random.stateless_uniform([batch, size, size, 3], [seed, 1], -1, 1)


def _strength(name):
    op = augment.describe(name)
    return op.default_strength or min(0.3, op.max_strength)


ALL = augment.names()


def test_the_paper_names_are_registered():
    paper = {
        "zoom_in",
        "zoom_out",
        "translation",
        "translation_x",
        "translation_y",
        "cutout",
        "cutmix",
        "mixup",
        "brightness",
        "redness",
        "greenness",
        "blueness",
        "instance_noise",
        "crop_flip",
    }
    assert paper <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_shape_dtype_and_determinism(name):
    pipeline = augment.get(name, _strength(name))
    x = _images()
    y = pipeline(x, SEED)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y, pipeline(x, SEED))
    assert not np.array_equal(y, pipeline(x, SEED + 1))


@pytest.mark.parametrize(
    "name", [n for n in ALL if augment.describe(n).identity_at_zero]
)
def test_strength_zero_is_identity(name):
    x = _images()
    np.testing.assert_allclose(augment.get(name, 0.0)(x, SEED), x, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_gradient_reaches_the_input(name):
    x = tf.Variable(_images())
    weights = _images(seed=5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(
            augment.get(name, _strength(name))(x, SEED) * weights
        )
    grad = tape.gradient(loss, x)
    assert grad is not None
    assert np.isfinite(grad.numpy()).all() and np.abs(grad).sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_same_result_in_tf_function_xla_and_tf_data(name):
    pipeline = augment.get(name, _strength(name))
    x = _images()
    eager = pipeline(x, SEED).numpy()
    graph = tf.function(pipeline)(x, SEED)
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    xla = tf.function(pipeline, jit_compile=True)(x, SEED)
    assert xla.shape == x.shape and np.isfinite(xla.numpy()).all()
    ds = tf.data.Dataset.from_tensors(x).map(lambda b: pipeline(b, SEED))
    np.testing.assert_allclose(next(iter(ds)), eager, atol=1e-5)


def test_spatial_ops_keep_the_value_range():
    x = _images(batch=64)
    for name in augment.names("spatial") + augment.names("mixing"):
        y = augment.get(name, _strength(name))(x, SEED).numpy()
        assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5, name


def test_composition_applies_in_order_with_own_strengths():
    x = _images()
    both = augment.get("translation(0.2)+brightness(0.1)")
    assert both.spec == "translation(0.2)+brightness(0.1)"
    # The same as applying each with the seed the pipeline folds for it.
    fold = tf.random.experimental.stateless_fold_in
    first = augment.get("translation", 0.2).ops[0][0].fn(x, fold(SEED, 0), 0.2)
    expected = (
        augment.get("brightness", 0.1).ops[0][0].fn(first, fold(SEED, 1), 0.1)
    )
    np.testing.assert_allclose(both(x, SEED), expected, atol=1e-6)
    assert (
        augment.get(["translation", "brightness"], 0.3).spec
        == "translation(0.3)+brightness(0.3)"
    )


def test_diffaugment_policy_names_resolve_to_its_ops():
    assert augment.get("color,translation,cutout").spec == (
        "color(1)+diffaugment_translation(0.125)+diffaugment_cutout(0.5)"
    )


def test_mixing_ops_report_partner_and_weight():
    x = _images()
    y, mixes = augment.get("mixup(0.5)").apply(x, SEED)
    (mix,) = mixes
    a = mix.weight.numpy()[:, None, None, None]
    np.testing.assert_allclose(
        y, (1 - a) * x + a * tf.gather(x, mix.partner), atol=1e-6
    )


@pytest.mark.parametrize(
    "spec, strength, message",
    [
        ("translaton", 0.1, "Did you mean 'translation'"),
        ("warp", 0.1, "Known: blueness"),
        ("translation", 1.5, r"out of range: use a value in \[0, 1\]"),
        ("zoom_in", -0.1, "out of range"),
        ("translation", None, "needs a strength"),
        ("translation(0.1", None, "malformed"),
    ],
)
def test_bad_specs(spec, strength, message):
    with pytest.raises(UserError, match=message):
        augment.get(spec, strength)


def test_bad_batches_are_caught_before_tracing():
    pipeline = augment.get("redness", 0.1)
    with pytest.raises(UserError, match=r"\[N, H, W, C\]"):
        pipeline(tf.zeros([16, 16, 3]), SEED)
    with pytest.raises(UserError, match="3 channels"):
        pipeline.check_shape([None, 16, 16, 1])


def test_duplicate_registration_raises():
    from tfgda.augment import registry

    with pytest.raises(ValueError, match="registered twice"):
        registry.register("translation", family="spatial")(lambda *a: a)


def test_a_users_op_registers_and_a_cell_run_again_replaces_it():
    from tfgda.augment import registry

    def define(shift):  # the same function, defined again (a notebook cell)
        @augment.register("test_user_shift", family="appearance")
        def test_user_shift(images, seed, strength):
            del seed
            return images + shift * strength

    try:
        define(0.1)
        x = _images()
        once = augment.get("test_user_shift", 1.0)(x, SEED)
        define(0.5)  # replaced, not "registered twice"
        again = augment.get("test_user_shift", 1.0)(x, SEED)
        np.testing.assert_allclose(again - once, 0.4, atol=1e-6)
        assert "test_user_shift" in augment.names("appearance")
    finally:
        registry._REGISTRY.pop("test_user_shift", None)


@pytest.mark.parametrize("name", ALL)
def test_a_scaled_strength_equals_that_strength(name):
    # Schedules and adaptive control move the strength as a tensor, inside
    # compiled steps: the op must give what the float strength gives.
    strength = _strength(name)
    x = _images()
    scaled = tf.function(lambda s: augment.get(name, strength)(x, SEED, s))
    for scale in (1.0, 0.5):
        np.testing.assert_allclose(
            scaled(tf.constant(scale)),
            augment.get(name, strength * scale)(x, SEED),
            atol=1e-5,
        )
    if augment.describe(name).identity_at_zero:
        np.testing.assert_allclose(scaled(tf.constant(0.0)), x, atol=1e-5)


def test_integer_images_and_a_scalar_seed_name_the_fix():
    pipeline = augment.get("translation", 0.2)
    with pytest.raises(UserError, match=r"got uint8: convert first"):
        pipeline(tf.zeros([2, 8, 8, 3], tf.uint8), SEED)
    with pytest.raises(UserError, match=r"seed of shape \[2\].*got int32"):
        pipeline(tf.zeros([2, 8, 8, 3]), 0)
    inside = tf.function(lambda x: pipeline(x, tf.constant([1, 2])))
    assert inside(tf.zeros([2, 8, 8, 3])).shape == (2, 8, 8, 3)


@pytest.mark.parametrize("name", ALL)
def test_xla_changes_no_result_and_no_gradient(name, monkeypatch):
    # The ops' pixel work runs compiled by XLA (`sampling.compiled`), their
    # random draws outside it: a seed gives the same images and the same
    # gradients with XLA off.
    pipeline = augment.get(name, _strength(name))
    x = _images(batch=16, size=12)
    weights = tf.random.stateless_uniform(x.shape, [5, 5])

    def run():
        @tf.function
        def forward_backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = pipeline(x, SEED)
                loss = tf.reduce_sum(y * weights)
            return y, tape.gradient(loss, x)

        return [t.numpy() for t in forward_backward(x)]

    y_xla, g_xla = run()
    monkeypatch.setenv("TFGDA_AUGMENT_XLA", "0")
    y_plain, g_plain = run()
    scale = max(1.0, np.abs(g_plain).max())
    np.testing.assert_allclose(y_xla, y_plain, atol=1e-6)
    np.testing.assert_allclose(g_xla, g_plain, atol=1e-6 * scale)


FUSABLE = [n for n in ALL if augment.describe(n).fusable]
# Every fusable op, then DiffAugment's two policies and a mixed chain.
CHAINS = [
    *FUSABLE,
    "color,translation,cutout",
    "translation,cutout",
    "crop_flip+redness+cutout",
]


def _one_by_one(pipeline, x, seed):
    """The pipeline's ops called in order, each its own compiled call."""
    for op, op_seed, strength in pipeline._steps(seed, None):
        x = op.fn(x, op_seed, strength)
    return x


def _forward_backward(fn, inputs, weights):
    @tf.function
    def run(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(inputs)
            loss = tf.add_n(
                [tf.reduce_sum(y * w) for y, w in zip(outputs, weights)]
            )
        return outputs, tape.gradient(loss, inputs)

    return tf.nest.map_structure(lambda t: t.numpy(), run(inputs))


def test_every_registered_fusable_op_is_one_compiled_call():
    # `fusable` promises that the op's pixel work is one compiled call:
    # the translations, cutouts, appearance shifts and DiffAugment's ops.
    assert {
        "translation",
        "cutout",
        "brightness",
        "color",
        "diffaugment_translation",
        "diffaugment_cutout",
    } <= set(FUSABLE)
    assert not {"zoom_in", "zoom_out", "instance_noise", "cutmix"} & set(
        FUSABLE
    )


@pytest.mark.parametrize("spec", CHAINS)
def test_a_fused_pipeline_on_two_batches_equals_its_ops_one_by_one(spec):
    # Pipeline.each runs every op on D's real and fake batches in one
    # compiled call: the same images and gradients as each op's own calls.
    strength = None if "," in spec else 0.3
    pipeline = augment.get(spec, strength)
    seeds = [SEED, SEED + 1]
    inputs = [_images(batch=16, size=12, seed=s) for s in (1, 2)]
    weights = [
        tf.random.stateless_uniform([16, 12, 12, 3], [5, s]) for s in (1, 2)
    ]
    fused = _forward_backward(
        lambda xs: pipeline.each(xs, seeds), inputs, weights
    )
    alone = _forward_backward(
        lambda xs: [_one_by_one(pipeline, x, s) for x, s in zip(xs, seeds)],
        inputs,
        weights,
    )
    for got, want in zip(tf.nest.flatten(fused), tf.nest.flatten(alone)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def _compiled_calls(fn, *args):
    """How many XLA-compiled function calls the graph of fn holds."""
    graph = tf.function(fn).get_concrete_function(*args).graph
    return sum(
        1
        for op in graph.get_operations()
        if "PartitionedCall" in op.type
        and op.get_attr("f").name
        and "_XlaMustCompile" in op.node_def.attr
    )


def test_a_policy_on_both_d_inputs_is_one_compiled_call():
    policy = augment.augment("real_and_fake", "color,translation,cutout")
    real, fake = _images(batch=4), _images(batch=4, seed=1)

    def d_inputs(real, fake):
        return policy.d_inputs(real, fake, SEED, SEED + 1)

    def one_by_one(real, fake):
        return [_one_by_one(policy.pipeline, x, SEED) for x in (real, fake)]

    assert _compiled_calls(d_inputs, real, fake) == 1
    assert _compiled_calls(one_by_one, real, fake) == 6
    # And the same images as the policy's real() and fake().
    got = d_inputs(real, fake)
    want = (policy.real(real, SEED), policy.fake(fake, SEED + 1))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)


def test_d_inputs_follow_the_mode():
    real, fake = _images(batch=4), _images(batch=4, seed=1)
    only = augment.augment("real_only", "translation", 0.4)
    real_in, fake_in = only.d_inputs(real, fake, SEED, SEED + 1)
    np.testing.assert_allclose(real_in, only.real(real, SEED))
    assert fake_in is fake
    none = augment.augment()
    assert none.d_inputs(real, fake, SEED, SEED + 1) == (real, fake)


def test_an_op_wrongly_registered_fusable_is_named():
    @augment.register("test_not_one_call", family="spatial", fusable=True)
    def not_one_call(images, seed, strength):
        return images * 1.0

    try:
        pipeline = augment.get("test_not_one_call+translation", 0.1)
        with pytest.raises(RuntimeError, match="test_not_one_call"):
            pipeline.each([_images()], [SEED])
    finally:
        augment.registry._REGISTRY.pop("test_not_one_call")
