"""tfgda's augmentations, adaptive strength and regularizers as Keras 3
building blocks, for a GAN with its own training loop.

  import tfgda.keras as tk

  augment = tk.Augment("translation+cutout", strength=0.2)
  # or "zoom_out(0.4)", or DiffAugment's policy "color,translation,cutout"
  # (its own strengths).
  # In D's step, the same layer on both of D's inputs:
  real_logits = discriminator(augment(real, training=True), training=True)
  fake_logits = discriminator(augment(fake, training=True), training=True)
  # and in G's step (gradients reach G through it):
  g_logits = discriminator(augment(generator(z), training=True))

  ada = tk.AdaptiveAugment("translation(0.5)+cutout(0.5)")  # p scales it
  ada.update(real_logits)  # once per D step: moves p toward r_t = 0.6
  t = tk.Augment("translation(0.4)")
  d_loss += tk.bcr_loss(discriminator, real, fake, t)

* `Augment`: any spec of the augmentation registry, applied in training and
  the identity in inference; seeded by a `keras.random.SeedGenerator`, so
  the user manages no seed; saved and loaded with its model (its seed
  state included).
* `AdaptiveAugment`: the same with StyleGAN2-ADA's controller of p (the
  scale of every op's strength), updated from D's outputs on real images;
  p, r_t and the controller's counters are the layer's weights, so a
  checkpoint or a saved model restores them. `metrics()` gives p and r_t
  for a `train_step`'s logs.
* `bcr_loss`: balanced consistency regularization, the paper's Algorithm 1
  term for a user's own D.
* `contrastive_loss`: the paper's Cntr term (SimCLR's NT-Xent on two views)
  for a user's own D features and projection head.

Everything reuses `tfgda.augment`'s registered ops, `tfgda.augment.schedule`'s
ADA rule and `tfgda.training.regularizers`' terms: one implementation each.
Images are float NHWC in [-1, 1] (as tfgda's models use them).
"""

import keras
import tensorflow as tf

from tfgda import augment as augment_lib
from tfgda.augment import schedule
from tfgda.augment.registry import MissingStrengthError
from tfgda.errors import UserError
from tfgda.training import regularizers

__all__ = ["AdaptiveAugment", "Augment", "bcr_loss", "contrastive_loss"]

_PACKAGE = "tfgda"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Augment(keras.layers.Layer):
    """An augmentation of the registry as a layer (see the module doc).

    Args:
      spec: an augmentation spec: "translation", "zoom_out(0.4)",
        "translation+cutout", DiffAugment's "color,translation,cutout".
      strength: lambda_aug for every op the spec gives no strength of
        (None: each op's default).
      seed: the seed of the layer's draws (None: a random one).
    """

    def __init__(self, spec, strength=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(spec, str) or not spec.strip() or spec == "none":
            raise UserError(
                f"Augment needs an augmentation spec, e.g. 'translation' or "
                f"'zoom_out(0.4)', got {spec!r}: the names are "
                f"{', '.join(augment_lib.names())}."
            )
        try:
            self.pipeline = augment_lib.get(spec, strength)
        except MissingStrengthError as e:
            raise UserError(
                f"augmentation {e.op_name!r} of {spec!r} needs a strength: "
                f"write '{e.op_name}(0.2)' in the spec or pass strength=0.2."
            ) from e
        self.spec, self.strength, self.seed = spec, strength, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def _scale(self):
        return None

    def call(self, images, training=None):
        if not training:
            return images
        self.pipeline.check_shape(images.shape)
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        return self.pipeline(images, seed, self._scale())

    def compute_output_shape(self, input_shape):
        return input_shape

    # The seed generator's state is saved with the layer's weights, so a
    # reloaded model draws on where the saved one left off.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        own = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) != len(own) + 1:
            raise ValueError(
                f"{self.name}: the saved state has {len(store.keys())} "
                f"entries, the layer {len(own) + 1}; was it saved by "
                "another version of the layer?"
            )
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])
        self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        return {
            **super().get_config(),
            "spec": self.spec,
            "strength": self.strength,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AdaptiveAugment(Augment):
    """`Augment` at p x its strength, p moved by StyleGAN2-ADA's controller.

    Call `update(real_logits)` once per discriminator step with D's outputs
    on the (augmented) real images: every `interval` calls, p moves up by
    (images seen) / `speed_images` if r_t = E[sign(D(real))] is above
    `target`, down otherwise, clamped to [0, 1] (`schedule.ada_adjust`).
    The strength reached at p = 1 is the spec's (or `strength`).

    Args:
      target, interval, speed_images, initial: as `adaptive.*` in gin
        (ADA: 0.6, 4, 500k; p starts at `initial`).
    """

    def __init__(
        self,
        spec,
        strength=None,
        seed=None,
        target=0.6,
        interval=4,
        speed_images=500_000,
        initial=0.0,
        **kwargs,
    ):
        super().__init__(spec, strength, seed, **kwargs)
        # The one validation of these values: the trainer's controller.
        schedule.Adaptive(target, interval, speed_images, initial)
        self.target, self.interval = float(target), int(interval)
        self.speed_images, self.initial = int(speed_images), float(initial)

        def state(name, value, dtype="float32"):
            return self.add_weight(
                name=name,
                shape=(),
                dtype=dtype,
                initializer=keras.initializers.Constant(value),
                trainable=False,
                aggregation="only_first_replica",
            )

        self.p = state("p", self.initial)
        self.rt = state("rt", 0.0)
        self.sign_sum = state("sign_sum", 0.0)
        self.count = state("count", 0.0)
        self.updates = state("updates", 0, "int64")

    def _scale(self):
        return tf.convert_to_tensor(self.p)

    def update(self, real_logits):
        """Takes D's outputs on this step's real images ([N] or [N, 1]);
        moves p every `interval` calls. Under a tf.distribute strategy, call
        it in replica context: the signs are summed over the replicas."""
        logits = tf.convert_to_tensor(real_logits)
        if logits.shape.rank == 2 and logits.shape[-1] == 1:
            logits = logits[:, 0]
        if logits.shape.rank != 1:
            raise UserError(
                "AdaptiveAugment.update takes D's outputs on real images, "
                f"one per image ([N] or [N, 1]), got shape {logits.shape}: "
                "pass the logits of the real batch, not a loss or a batch "
                "of feature maps."
            )
        signs = tf.stack(
            [
                tf.reduce_sum(tf.sign(tf.cast(logits, tf.float32))),
                tf.cast(tf.size(logits), tf.float32),
            ]
        )
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            signs = ctx.all_reduce(tf.distribute.ReduceOp.SUM, signs)
        sign_sum = self.sign_sum + signs[0]
        count = self.count + signs[1]
        updates = self.updates + 1
        due = tf.equal(updates % self.interval, 0)
        rt = sign_sum / tf.maximum(count, 1.0)
        p = schedule.ada_adjust(
            self.p, rt, self.target, count / self.speed_images
        )
        self.p.assign(tf.where(due, p, self.p))
        self.rt.assign(tf.where(due, rt, self.rt))
        self.sign_sum.assign(tf.where(due, 0.0, sign_sum))
        self.count.assign(tf.where(due, 0.0, count))
        self.updates.assign(updates)
        return self.p

    def metrics_dict(self):
        """{'aug_p': p, 'aug_rt': the last r_t}, for a train_step's logs."""
        return {
            "aug_p": tf.convert_to_tensor(self.p),
            "aug_rt": tf.convert_to_tensor(self.rt),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "target": self.target,
            "interval": self.interval,
            "speed_images": self.speed_images,
            "initial": self.initial,
        }


def _logits(discriminator, images):
    out = tf.convert_to_tensor(discriminator(images, training=True))
    return tf.reshape(tf.cast(out, tf.float32), [tf.shape(images)[0], -1])


def _transform(augment):
    if isinstance(augment, Augment):
        return lambda images: augment(images, training=True)
    if callable(augment) and not isinstance(augment, str):
        return augment
    raise UserError(
        "bcr_loss takes its T as an Augment layer (it owns the seeds), e.g. "
        f"tfgda.keras.Augment('translation(0.4)'), got {augment!r}."
    )


def bcr_loss(
    discriminator,
    real,
    fake,
    augment,
    lambda_real=10.0,
    lambda_fake=10.0,
    real_logits=None,
    fake_logits=None,
):
    """Balanced consistency regularization, the term to add to D's loss:

    lambda_real mean ||D(x) - D(T(x))||^2 + lambda_fake mean ||D(G(z)) -
    D(T(G(z)))||^2 (Zhao et al. 2020, Algorithm 1: x and G(z) clean, T
    drawn afresh each call; the paper's lambda is 10; lambda_fake = 0 is
    CR). `augment` is T: an `Augment` layer (or any callable on images).
    Pass D's logits of the clean images if the GAN loss already computed
    them (one forward pass fewer); G(z) should be detached by the caller
    (D's step does not train G).
    """
    regularizers.bcr(lambda_real, lambda_fake)  # the one validation
    transform = _transform(augment)
    terms = []
    for weight, images, logits in (
        (lambda_real, real, real_logits),
        (lambda_fake, fake, fake_logits),
    ):
        if not weight:
            continue
        clean = (
            _logits(discriminator, images)
            if logits is None
            else tf.reshape(
                tf.cast(logits, tf.float32), [tf.shape(images)[0], -1]
            )
        )
        augmented = _logits(discriminator, transform(images))
        terms.append(
            weight * tf.reduce_mean(regularizers.consistency(clean, augmented))
        )
    return tf.add_n(terms) if terms else tf.constant(0.0)


def contrastive_loss(embed, images, views, temperature=0.1):
    """The paper's Cntr term for one set of images (call it for the reals
    and for the fakes and add both; Algorithm 2): SimCLR's NT-Xent of two
    independent views of every image, its two directions summed, averaged
    over the batch.

    Args:
      embed: images -> projections: the user's D features followed by a
        projection head trained with D (e.g. keras.Sequential of Dense +
        ReLU and Dense(128)).
      views: an `Augment` layer that makes a view, e.g.
        Augment('simclr') (SimCLR's crop, flip and colour jitter).
      temperature: NT-Xent's tau (SimCLR's 0.1).
    """
    if temperature <= 0:
        raise UserError(f"temperature must be > 0, got {temperature}.")
    transform = _transform(views)
    a = embed(transform(images))
    b = embed(transform(images))
    return tf.reduce_mean(
        regularizers.nt_xent(
            tf.cast(a, tf.float32), tf.cast(b, tf.float32), temperature
        )
    )
