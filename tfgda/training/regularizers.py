"""The discriminator's regularizers, as plug-ins of the GAN's step.

A regularizer adds a term to D's loss (and may add one to G's). It names
the extra images D should judge in the same forward pass as its GAN loss
(`d_inputs`: {name: (images, labels)}), and receives D's logits on them
under the same names, with the GAN loss' own as 'real' and 'fake'
(`d_loss`); it may own variables trained with D (`build`, e.g. a
projection head). Both terms get one context, a `Step`. Its random draws
are named (`seed(step, 'real')`) and seeded from its own name.

A config lists the regularizers it uses, by reference, as hooks are:

    train.regularizers = [@bcr(), @contrastive()]
    bcr.lambda_real = 10.0

A listed factory whose weights are all 0 returns None and is dropped, so a
sweep may switch one off by its weight. Left unbound, `train.regularizers`
is every built-in one (`register`) whose weights are set: the configs
written before the list existed keep working. A new regularizer is one
class with a gin-configurable factory, and a test. The training step is
traced without AutoGraph: branch on tensors with `tf.cond`, not `if`.

Three are here:
  * bCR, balanced consistency regularization (`bcr`; CR with lambda_fake 0),
  * the contrastive loss on D (`contrastive`, SimCLR's NT-Xent),
  * zCR, latent consistency regularization (`zcr`; with bCR, the ICR paper's
    "ICR").
"""

import copy
import dataclasses
import zlib

import gin
import keras
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda.errors import UserError

__all__ = [
    "BCR",
    "BCR_INPUTS",
    "NEGATIVES",
    "Contrastive",
    "Regularizer",
    "Step",
    "ZCR",
    "bcr",
    "consistency",
    "contrastive",
    "from_config",
    "nt_xent",
    "purpose",
    "register",
    "resolve",
    "zcr",
]

_REGISTERED = {}


def register(factory):
    """Registers a built-in regularizer's gin-configurable factory (called
    with no arguments, its gin bindings, it returns the regularizer or None
    when its weights are 0): what an unbound `train.regularizers` uses."""
    _REGISTERED[factory.__name__] = factory
    return factory


def resolve(listed=None):
    """The regularizers a run trains with: `listed` (train.regularizers,
    its references evaluated) without the Nones of factories switched off;
    None: every registered one whose weights are set. A registered one
    switched on by its weights but not listed is an error, not ignored."""
    if listed is None:
        made = (factory() for factory in _REGISTERED.values())
        return [r for r in made if r is not None]
    listed = [r for r in listed if r is not None]
    for r in listed:
        if not isinstance(r, Regularizer):
            raise UserError(
                f"train.regularizers holds {r!r}, not a regularizer: list "
                "references with their parentheses, e.g. "
                "train.regularizers = [@bcr(), @contrastive()]."
            )
    names = [r.name for r in listed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(
            f"train.regularizers lists {', '.join(twice)} more than once."
        )
    for name, factory in _REGISTERED.items():
        if name not in names and factory() is not None:
            fixed = ", ".join(f"@{n}()" for n in [*names, name])
            raise UserError(
                f"{name}'s weights are set but train.regularizers does not "
                f"list it: add @{name}() to the list (train.regularizers = "
                f"[{fixed}]), or set its weights to 0."
            )
    return listed


def from_config():
    """The regularizers the parsed gin config trains with (`resolve` of
    train.regularizers), as the trainer builds them."""
    try:
        listed = gin.query_parameter("train.regularizers")
    except ValueError:  # unbound
        listed = None
    return resolve(copy.deepcopy(listed))  # a copy evaluates @references


# The GAN's own draws (latents, labels, the augmentation of real and of
# generated images) are purposes 0-3 of a replica's seed (`gan.py`); a
# regularizer's draw is a purpose of its own, named. The built-in ones keep
# the numbers they had when they were numbered by hand, so their runs draw
# what they drew; any other name is hashed into a range of its own.
_NUMBERED = {
    "bcr/real": 4,
    "bcr/fake": 5,
    "contrastive/view_1": 6,
    "contrastive/view_2": 7,
    "zcr/d": 8,
    "zcr/g": 9,
}


def purpose(name):
    """The purpose number of draw `name` ('<regularizer>/<draw>')."""
    if name in _NUMBERED:
        return _NUMBERED[name]
    return 1_000 + zlib.crc32(name.encode()) % (1 << 30)


@dataclasses.dataclass
class Step:
    """What a regularizer sees of one step on one replica: the context of
    both its D term and its G term.

    gan: the GAN (its networks and `augment`, the training augmentation).
    z, fake_labels, fake: the latents, their labels and G(z, fake_labels)
      (in G's term, the clean G(z) that G's loss augments).
    seeds: purpose number -> this replica's stateless seed (see `seed`).
    mean: per-example values -> this replica's share of the global mean.
    D's term only (None in G's):
    real, real_labels: the clean real batch.
    real_in, fake_in: the images D's GAN loss judges (augmented, if any).
    """

    gan: object
    z: tf.Tensor
    fake_labels: tf.Tensor
    fake: tf.Tensor
    seeds: object
    mean: object
    real: tf.Tensor = None
    real_labels: tf.Tensor = None
    real_in: tf.Tensor = None
    fake_in: tf.Tensor = None


class Regularizer:
    """The interface. `name` keys its metrics (`<name>_loss`, and
    `<name>_g_loss` for a G term) and seeds its draws."""

    name = "regularizer"
    uses_training_augmentation = False  # T is augment.name's pipeline

    def build(self, discriminator, features):
        """Creates what it trains with D, given D's penultimate `features`
        of two images; returns {checkpoint key: trackable}."""
        del discriminator, features
        return {}

    @property
    def variables(self):
        """Variables trained with D (after `build`)."""
        return []

    def seed(self, step, draw):
        """This replica's stateless seed of this regularizer's draw `draw`."""
        return step.seeds(purpose(f"{self.name}/{draw}"))

    def d_inputs(self, step):
        """{name: (images, labels)} for D to judge in its loss' forward
        pass (not 'real' or 'fake': those are the GAN loss' own)."""
        del step
        return {}

    def d_loss(self, step, logits):
        """This replica's share of the term added to D's loss; `logits`:
        {name: D's logits} for `d_inputs`' names, and 'real' and 'fake',
        D's logits on real_in and fake_in."""
        raise NotImplementedError

    def g_loss(self, step):
        """This replica's share of a term added to G's loss, or None."""
        del step
        return None


def consistency(logits, augmented_logits):
    """Consistency regularization per example (Zhang et al. 2020; bCR in
    Zhao et al. 2020): ||D(x) - D(T(x))||^2 on D's outputs."""
    return tf.square(logits - augmented_logits)


# --------------------------------------------------------------------- bCR
BCR_INPUTS = ("clean", "augmented")


@dataclasses.dataclass(frozen=True)
class BCR(Regularizer):
    """Balanced consistency regularization (see `bcr`)."""

    lambda_real: float
    lambda_fake: float
    augment: object  # an augment.Pipeline, or None for the training one
    inputs: str = "clean"  # one of BCR_INPUTS
    name = "bcr"

    @property
    def uses_training_augmentation(self):
        return self.augment is None

    def d_inputs(self, step):
        """T(x) and T(G(z)), as 't_real' and 't_fake'; and x and G(z)
        themselves ('x_real', 'x_fake') when bcr.inputs is 'clean' and D's
        loss sees augmented images. x is what the GAN loss sees otherwise,
        whose logits are 'real' and 'fake'."""
        training = step.gan.augment
        transform = self.augment or training
        clean = self.inputs == "clean"
        real, fake = (
            (step.real, step.fake) if clean else (step.real_in, step.fake_in)
        )
        inputs = {}
        if clean and training.active:  # D's loss saw t(x), not x
            inputs["x_real"] = (real, step.real_labels)
            inputs["x_fake"] = (fake, step.fake_labels)
        inputs["t_real"] = (
            transform(real, self.seed(step, "real")),
            step.real_labels,
        )
        inputs["t_fake"] = (
            transform(fake, self.seed(step, "fake")),
            step.fake_labels,
        )
        return inputs

    def d_loss(self, step, logits):
        """lambda_real ||D(x) - D(T(x))||^2 + lambda_fake (same on fakes)."""
        real = logits.get("x_real", logits["real"])
        fake = logits.get("x_fake", logits["fake"])
        return self.lambda_real * step.mean(
            consistency(real, logits["t_real"])
        ) + self.lambda_fake * step.mean(consistency(fake, logits["t_fake"]))


@register
@gin.configurable("bcr")
def bcr(
    lambda_real=0.0,
    lambda_fake=0.0,
    augment=None,
    strength=None,
    inputs="clean",
):
    """Balanced consistency regularization (Zhao et al. 2020, ICR):

    L_D += lambda_real ||D(x) - D(T(x))||^2 + lambda_fake ||D(G(z)) -
    D(T(G(z)))||^2, with a fresh T each step. lambda_fake = 0 is CR (Zhang
    et al. 2020); the paper uses 10 for both. Returns None when both lambdas
    are 0.

    `inputs` says what x is:
      * 'clean' (the paper's Algorithm 1, and the default): x and G(z) are
        the un-augmented images, whatever augmentation D's GAN loss sees;
        the paper's bCR runs train the GAN loss on clean images
        (augment.mode = 'none') with T only inside this term.
      * 'augmented': x is the image D's GAN loss sees, t(x) under
        real+fake augmentation, so T is stacked on t (StyleGAN2-ADA's
        form; not the paper's).

    Args:
      lambda_real, lambda_fake: the weights (>= 0).
      augment: the spec of T; None uses the training augmentation
        (augment.name at augment.strength, with its schedule).
      strength: T's strength where the spec gives none.
      inputs: 'clean' or 'augmented' (above).
    """
    _check_non_negative(
        bcr=dict(lambda_real=lambda_real, lambda_fake=lambda_fake)
    )
    if inputs not in BCR_INPUTS:
        raise UserError(
            f"bcr.inputs {inputs!r} is not one of "
            f"{BCR_INPUTS}: 'clean' is the paper's "
            "Algorithm 1."
        )
    if not lambda_real and not lambda_fake:
        return None
    pipeline = None if augment is None else augment_lib.get(augment, strength)
    return BCR(float(lambda_real), float(lambda_fake), pipeline, inputs)


# -------------------------------------------------------------- contrastive
NEGATIVES = ("replica", "global")


def nt_xent(a, b, temperature=0.1, all_a=None, all_b=None, offset=0):
    """NT-Xent (SimCLR) per pair: a[i] and b[i] are two views of image i.

    As SimCLR's `add_contrastive_loss`: with u = l2-normalized a, v = the
    same of b, and sim(x, y) = x.y / tau, view a[i] is classified among
    [v_1..v_M, u_1..u_M without u_i] (its positive v_i), and b[i] among
    [u_1..u_M, v_1..v_M without v_i]; the loss of pair i is the sum of
    the two cross-entropies, so the batch mean is SimCLR's loss_a + loss_b
    (the two directions summed, not averaged).

    Args:
      a, b: [N, D] projections of the two views of this replica's batch.
      temperature: tau (SimCLR's default 0.1).
      all_a, all_b: [M, D] the candidates (negatives and positives): by
        default a and b themselves (negatives from the per-replica batch);
        the views gathered over every replica for global negatives, as
        SimCLR does on TPUs.
      offset: where this replica's rows sit in all_a and all_b.
    """
    a = tf.math.l2_normalize(a, axis=1)
    b = tf.math.l2_normalize(b, axis=1)
    all_a = a if all_a is None else tf.math.l2_normalize(all_a, axis=1)
    all_b = b if all_b is None else tf.math.l2_normalize(all_b, axis=1)
    own = offset + tf.range(tf.shape(a)[0])
    self_mask = tf.one_hot(own, tf.shape(all_a)[0], dtype=a.dtype) * 1e9

    def direction(x, positives, same):
        logits = tf.concat(
            [
                tf.matmul(x, positives, transpose_b=True) / temperature,
                tf.matmul(x, same, transpose_b=True) / temperature - self_mask,
            ],
            1,
        )
        return tf.nn.sparse_softmax_cross_entropy_with_logits(own, logits)

    return direction(a, all_b, all_a) + direction(b, all_a, all_b)


@dataclasses.dataclass
class Contrastive(Regularizer):
    """The contrastive loss on D (see `contrastive`)."""

    weight: float
    temperature: float
    projection_dim: int
    views: object  # an augment.Pipeline
    negatives: str = "replica"  # one of NEGATIVES
    head: object = None  # the projection head, made by `build`
    name = "contrastive"

    def build(self, discriminator, features):
        self.head = keras.Sequential(
            [
                keras.layers.Dense(features.shape[-1], activation="relu"),
                keras.layers.Dense(self.projection_dim),
            ]
        )
        self.head(features)
        return {"projection_head": self.head}

    @property
    def variables(self):
        return self.head.trainable_variables

    def d_loss(self, step, logits):
        """weight (NT-Xent of two views of the reals + the same of fakes)."""
        del logits
        images = tf.concat([step.real, step.fake], 0)
        labels = tf.concat([step.real_labels, step.fake_labels], 0)
        views = tf.concat(
            [
                self.views(images, self.seed(step, "view_1")),
                self.views(images, self.seed(step, "view_2")),
            ],
            0,
        )
        h = step.gan.discriminator.features(
            views, tf.concat([labels, labels], 0), training=True
        )
        p = tf.cast(self.head(h, training=True), tf.float32)
        real_1, fake_1, real_2, fake_2 = tf.split(p, 4)
        return self.weight * step.mean(
            self.nt_xent(real_1, real_2) + self.nt_xent(fake_1, fake_2)
        )

    def nt_xent(self, a, b):
        """NT-Xent with the negatives asked for: this replica's batch, or
        every replica's (gathered, with gradients back to their owners)."""
        ctx = tf.distribute.get_replica_context()
        if self.negatives != "global" or ctx.num_replicas_in_sync == 1:
            return nt_xent(a, b, self.temperature)
        offset = (
            tf.cast(ctx.replica_id_in_sync_group, tf.int32) * tf.shape(a)[0]
        )
        return nt_xent(
            a,
            b,
            self.temperature,
            ctx.all_gather(a, 0),
            ctx.all_gather(b, 0),
            offset,
        )


@register
@gin.configurable("contrastive")
def contrastive(
    weight=0.0,
    temperature=0.1,
    projection_dim=128,
    views="simclr",
    strength=None,
    negatives="replica",
):
    """The contrastive loss on D (Zhao et al. 2020, "Cntr"):

    L_D += weight (NT-Xent(f(h(t1(x))), f(h(t2(x)))) + the same for G(z)),
    with h D's penultimate features, f a projection head (dense + ReLU,
    dense to `projection_dim`) trained with D, t1, t2 two views (four
    independent transforms in all, as the paper's Algorithm 2; D's GAN loss
    stays on clean images). `strength` is the views' strength: for
    'simclr', the crop-and-resize strength the paper's Fig. 6 varies (None:
    SimCLR's own crop; the colour jitter is SimCLR's CIFAR-10 0.5).
    The paper's best: weight 0.1 with bCR 5. tau and the head follow
    SimCLR's defaults (0.1, 128); NT-Xent sums its two directions as
    SimCLR's code does. `negatives`: 'replica' (each replica's own batch)
    or 'global' (the views of every replica, as SimCLR on TPUs; the loss
    then does not depend on how the batch is split). Returns None when
    weight is 0.
    """
    _check_non_negative(contrastive=dict(weight=weight))
    if temperature <= 0:
        raise UserError(
            f"contrastive.temperature must be > 0, got {temperature}."
        )
    if negatives not in NEGATIVES:
        raise UserError(
            f"contrastive.negatives {negatives!r} is not one of {NEGATIVES}."
        )
    if not weight:
        return None
    return Contrastive(
        float(weight),
        float(temperature),
        int(projection_dim),
        augment_lib.get(views, strength),
        negatives,
    )


# --------------------------------------------------------------------- zCR
@dataclasses.dataclass(frozen=True)
class ZCR(Regularizer):
    """Latent consistency regularization (see `zcr`)."""

    lambda_dis: float
    lambda_gen: float
    sigma: float
    name = "zcr"

    def _perturbed(self, step, draw):
        """G(z + dz, labels), dz ~ N(0, sigma^2 I), in G(z)'s dtype."""
        z = step.z
        dz = self.sigma * tf.random.stateless_normal(
            tf.shape(z), self.seed(step, draw), dtype=z.dtype
        )
        images = step.gan.generator(z + dz, step.fake_labels, training=True)
        return tf.cast(images, step.fake.dtype)

    def d_inputs(self, step):
        """G(T(z)) as 'perturbed', and G(z) as 'clean' when D's loss did not
        see it unaugmented; G(T(z)) is, like G(z) there, not trained here."""
        if not self.lambda_dis:
            return {}
        inputs = {}
        if step.gan.augment.active:
            inputs["clean"] = (step.fake, step.fake_labels)
        inputs["perturbed"] = (self._perturbed(step, "d"), step.fake_labels)
        return inputs

    def d_loss(self, step, logits):
        """lambda_dis ||D(G(z)) - D(G(T(z)))||^2."""
        if not self.lambda_dis:
            return tf.constant(0.0)
        clean = logits.get("clean", logits["fake"])
        return self.lambda_dis * step.mean(
            consistency(clean, logits["perturbed"])
        )

    def g_loss(self, step):
        """-lambda_gen ||G(z) - G(T(z))||^2 (squared L2 over the image):
        G is rewarded for moving with its latent."""
        if not self.lambda_gen:
            return None
        fake = step.fake
        distance = tf.reduce_sum(
            tf.square(fake - self._perturbed(step, "g")),
            axis=list(range(1, fake.shape.rank)),
        )
        return -self.lambda_gen * step.mean(distance)


@register
@gin.configurable("zcr")
def zcr(lambda_dis=0.0, lambda_gen=0.0, sigma=0.03):
    """Latent consistency regularization (Zhao et al. 2021, "Improved
    Consistency Regularization for GANs", Section 3.2):

    L_D += lambda_dis ||D(G(z)) - D(G(T(z)))||^2,
    L_G += -lambda_gen ||G(z) - G(T(z))||^2,  T(z) = z + dz,
    dz ~ N(0, sigma^2 I): D should not tell apart the images of nearby
    latents, and G should not collapse them to one image. With bCR it is
    the ICR paper's "ICR" (its CIFAR-10 BigGAN: FID 9.21). That paper's
    values: sigma 0.03, lambda_dis 5, lambda_gen 0.5 (its Section 4; there
    is no public code to check them against). Returns None when both
    lambdas are 0.
    """
    _check_non_negative(
        zcr=dict(lambda_dis=lambda_dis, lambda_gen=lambda_gen, sigma=sigma)
    )
    if not lambda_dis and not lambda_gen:
        return None
    if not sigma:
        raise UserError(
            "zcr.sigma must be > 0: with sigma 0, G(T(z)) is "
            "G(z) and zCR does nothing (the paper: 0.03)."
        )
    return ZCR(float(lambda_dis), float(lambda_gen), float(sigma))


def _check_non_negative(**groups):
    for group, values in groups.items():
        for name, value in values.items():
            if value < 0:
                raise UserError(f"{group}.{name} must be >= 0, got {value}.")
