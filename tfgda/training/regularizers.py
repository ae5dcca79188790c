"""The discriminator's regularizers, as plug-ins of the GAN's step.

A regularizer adds a term to D's loss (and may add one to G's). It says
which extra images D should judge in the same forward pass as its GAN loss
(`d_inputs`), turns their logits into its loss (`d_loss`), and may own
variables trained with D (`build`, e.g. a projection head). Each is made by
a gin-configurable function registered with `@register`, which returns None
when its weights are 0; `from_config()` builds every one that is on. A new
regularizer is one such function (with its class) and a test.

Three are here:
  * bCR, balanced consistency regularization (`bcr`; CR with lambda_fake 0),
  * the contrastive loss on D (`contrastive`, SimCLR's NT-Xent),
  * zCR, latent consistency regularization (`zcr`; with bCR, the ICR paper's
    "ICR").

Randomness: `DStep.seed(purpose)` gives the stateless seed of a purpose
number in this replica's draws; 0-3 are the GAN's own (latents, the
augmentation of real and generated images), so regularizers take 4 on.
"""

import dataclasses

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
    "DStep",
    "Regularizer",
    "ZCR",
    "bcr",
    "consistency",
    "contrastive",
    "from_config",
    "nt_xent",
    "register",
    "zcr",
]

_REGISTERED = {}


def register(factory):
    """Registers a gin-configurable factory of a regularizer: called with no
    arguments (its gin bindings), it returns the regularizer or None."""
    _REGISTERED[factory.__name__] = factory
    return factory


def from_config():
    """Every registered regularizer the gin config turns on, in the order
    they were registered."""
    made = (factory() for factory in _REGISTERED.values())
    return [r for r in made if r is not None]


@dataclasses.dataclass
class DStep:
    """What a regularizer sees of one discriminator step on one replica.

    real, fake: the clean real and generated images (fake = G(z,
      fake_labels)).
    real_in, fake_in: the images D's GAN loss judges (augmented, if any).
    real_logits, fake_logits: D's logits on real_in and fake_in (set before
      `d_loss` is called).
    seed: purpose -> this replica's stateless seed for that draw.
    mean: per-example values -> this replica's share of the global mean.
    """

    gan: object
    real: tf.Tensor
    fake: tf.Tensor
    real_in: tf.Tensor
    fake_in: tf.Tensor
    real_labels: tf.Tensor
    fake_labels: tf.Tensor
    z: tf.Tensor
    seed: object
    mean: object
    real_logits: tf.Tensor = None
    fake_logits: tf.Tensor = None


class Regularizer:
    """The interface. `name` keys its metrics (`<name>_loss`, and
    `<name>_g_loss` for a G term)."""

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

    def d_inputs(self, step):
        """[(images, labels)] for D to judge in its loss' forward pass."""
        del step
        return []

    def d_loss(self, step, logits):
        """This replica's share of the term added to D's loss; `logits` are
        D's outputs on `d_inputs`, in order."""
        raise NotImplementedError

    def g_loss(self, gan, z, labels, fake, seed):
        """This replica's share of a term added to G's loss, or None. fake:
        G(z, labels); seed: purpose -> seed, as in DStep."""
        del gan, z, labels, fake, seed
        return None


def consistency(logits, augmented_logits):
    """Consistency regularization per example (Zhang et al. 2020; bCR in
    Zhao et al. 2020): ||D(x) - D(T(x))||^2 on D's outputs."""
    return tf.square(logits - augmented_logits)


# --------------------------------------------------------------------- bCR
BCR_INPUTS = ("clean", "augmented")
_BCR_REAL, _BCR_FAKE = 4, 5  # seed purposes


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
        """[x, G(z), T(x), T(G(z))] when bcr.inputs is 'clean' and D's loss
        sees augmented images; else [T(real_in), T(fake_in)], compared
        with the GAN loss' own logits (x = what that loss sees)."""
        training = step.gan.augment
        transform = self.augment or training
        clean = self.inputs == "clean"
        real, fake = (
            (step.real, step.fake) if clean else (step.real_in, step.fake_in)
        )
        transformed = [
            (transform(real, step.seed(_BCR_REAL)), step.real_labels),
            (transform(fake, step.seed(_BCR_FAKE)), step.fake_labels),
        ]
        if clean and training.active:  # D's loss saw t(x), not x
            return [
                (real, step.real_labels),
                (fake, step.fake_labels),
                *transformed,
            ]
        return transformed

    def d_loss(self, step, logits):
        """lambda_real ||D(x) - D(T(x))||^2 + lambda_fake (same on fakes)."""
        if len(logits) == 4:
            real_logits, fake_logits, t_real, t_fake = logits
        else:
            (t_real, t_fake), real_logits, fake_logits = (
                logits,
                step.real_logits,
                step.fake_logits,
            )
        return self.lambda_real * step.mean(
            consistency(real_logits, t_real)
        ) + self.lambda_fake * step.mean(consistency(fake_logits, t_fake))


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
_VIEW_1, _VIEW_2 = 6, 7  # seed purposes


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
                self.views(images, step.seed(_VIEW_1)),
                self.views(images, step.seed(_VIEW_2)),
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
_ZCR_D, _ZCR_G = 8, 9  # seed purposes


@dataclasses.dataclass(frozen=True)
class ZCR(Regularizer):
    """Latent consistency regularization (see `zcr`)."""

    lambda_dis: float
    lambda_gen: float
    sigma: float
    name = "zcr"

    def _perturbed(self, gan, z, labels, seed):
        """G(z + dz, labels), dz ~ N(0, sigma^2 I)."""
        dz = self.sigma * tf.random.stateless_normal(
            tf.shape(z), seed, dtype=z.dtype
        )
        return gan.generator(z + dz, labels, training=True)

    def d_inputs(self, step):
        """[G(z), G(T(z))] (G(z) only when D's loss did not see it
        unaugmented); G(T(z)) is, like G(z) there, not trained here."""
        if not self.lambda_dis:
            return []
        perturbed = tf.cast(
            self._perturbed(
                step.gan, step.z, step.fake_labels, step.seed(_ZCR_D)
            ),
            step.fake.dtype,
        )
        inputs = [(perturbed, step.fake_labels)]
        if step.gan.augment.active:
            inputs.insert(0, (step.fake, step.fake_labels))
        return inputs

    def d_loss(self, step, logits):
        """lambda_dis ||D(G(z)) - D(G(T(z)))||^2."""
        if not self.lambda_dis:
            return tf.constant(0.0)
        fake_logits = logits[0] if len(logits) == 2 else step.fake_logits
        return self.lambda_dis * step.mean(consistency(fake_logits, logits[-1]))

    def g_loss(self, gan, z, labels, fake, seed):
        """-lambda_gen ||G(z) - G(T(z))||^2 (squared L2 over the image):
        G is rewarded for moving with its latent."""
        if not self.lambda_gen:
            return None
        perturbed = tf.cast(
            self._perturbed(gan, z, labels, seed(_ZCR_G)), fake.dtype
        )
        distance = tf.reduce_sum(
            tf.square(fake - perturbed), axis=list(range(1, fake.shape.rank))
        )
        return -self.lambda_gen * gan.mean(distance)


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
