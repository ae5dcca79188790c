"""The GAN's training step: the maths of one discriminator and one generator
update, written per replica for `tf.distribute`.

Randomness is stateless: every random draw is seeded from (train.seed, step,
phase, purpose), so the step counter in the checkpoint is the whole random
state and a resumed run draws what an uninterrupted one would. Latents are
drawn for the global batch and each replica takes its slice, so a run gives
the same numbers on one device or on several.
"""

import tensorflow as tf

from tfgda.augment import policy as policy_lib
from tfgda.models import standing
from tfgda.models.latents import sample_z
from tfgda.training import losses
from tfgda.training.regularizers import Step

__all__ = ["GAN"]

# Purposes folded into a replica's seed (regularizers' draws:
# regularizers.purpose).
_Z, _LABELS, _AUG_REAL, _AUG_FAKE = range(4)
# D-step outputs that feed an adaptive augmentation strength, not the logs.
_SIGN_SUM, _COUNT = "real_sign_sum", "real_count"


class GAN:
    """Generator, discriminator, their optimizers and the step maths.

    Args:
      generator, discriminator: Keras models (see `tfgda.models`).
      g_optimizer, d_optimizer: Keras optimizers.
      loss: a GAN loss from `tfgda.training.losses`.
      global_batch: the global batch size.
      num_classes: classes for conditional models (0: unconditional).
      n_disc: discriminator steps per generator step.
      seed: the run's seed.
      augment: an `AugmentPolicy` (default: none).
      regularizers: D's regularizers (`tfgda.training.regularizers`), e.g. bCR.
      ema_generator: a second generator of the same architecture that holds
        the exponential moving average of G's weights, or None.
      ema_decay: its decay; ema_start: the step before which it copies G.
      jit_compile: compile the forward and backward passes with XLA (the
        optimizer updates stay outside, where tf.distribute merges them).
    """

    def __init__(
        self,
        *,
        generator,
        discriminator,
        g_optimizer,
        d_optimizer,
        loss,
        global_batch,
        num_classes=0,
        n_disc=1,
        seed=0,
        augment=None,
        regularizers=(),
        ema_generator=None,
        ema_decay=0.9999,
        ema_start=0,
        jit_compile=False,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.loss = loss
        self.global_batch = global_batch
        self.num_classes = num_classes
        self.n_disc = n_disc
        self.seed = seed
        self.augment = augment or policy_lib.AugmentPolicy.none()
        self.regularizers = list(regularizers)
        self._regularizer_items = {}
        self.ema_generator = ema_generator
        self.ema_decay = ema_decay
        self.ema_start = ema_start
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._prepared = None  # (step, samples, batch) of the EMA's stats
        if jit_compile:
            self._d_grads = tf.function(self._d_grads, jit_compile=True)
            self._g_grads = tf.function(self._g_grads, jit_compile=True)

    def build(self):
        """Creates every variable: networks, head, EMA and optimizers."""
        z = tf.zeros([2, self.generator.dim_z])
        labels = tf.zeros([2], tf.int32)
        images = self.generator(z, labels)
        self.discriminator(images, labels)
        features = self.discriminator.features(images, labels)
        for r in self.regularizers:
            self._regularizer_items.update(
                r.build(self.discriminator, features)
            )
        if self.ema_generator is not None:
            self.ema_generator(z, labels)
            for e, v in zip(
                self.ema_generator.variables, self.generator.variables
            ):
                e.assign(v)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.d_variables)
        self.augment.schedule.build(self.step, self.global_batch * self.n_disc)

    @property
    def d_variables(self):
        """What D's optimizer trains: D, and its regularizers' variables
        (e.g. the contrastive loss' projection head)."""
        return self.discriminator.trainable_variables + [
            v for r in self.regularizers for v in r.variables
        ]

    def trackables(self):
        """What a checkpoint must hold to resume this GAN exactly, as plain
        objects (call after `build`): every network and regularizer layer,
        each optimizer as (optimizer, [the networks it trains]), the step
        and the augmentation schedule's variables (None: absent).
        `tfgda.rundir.checkpoint_items` decides how they are saved."""
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "generator_ema": self.ema_generator,
            **self._regularizer_items,
            "g_optimizer": (self.g_optimizer, [self.generator]),
            "d_optimizer": (
                self.d_optimizer,
                [self.discriminator, *self._regularizer_items.values()],
            ),
            "step": self.step,
            **{
                f"augment_{name}": v
                for name, v in self.augment.schedule.variables().items()
            },
        }

    # ------------------------------------------------------------ randomness
    def phase_seed(self, phase):
        """The stateless seed of phase `phase` (0..n_disc) of this step."""
        base = tf.constant([self.seed, 0], tf.int64)
        seed = tf.random.experimental.stateless_fold_in(base, self.step)
        return tf.random.experimental.stateless_fold_in(seed, phase)

    def latents(self, seed):
        """z (of G's distribution) and uniform class labels for this
        replica's slice."""
        ctx = tf.distribute.get_replica_context()
        local = self.global_batch // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
        fold = tf.random.experimental.stateless_fold_in
        z = sample_z(self.generator, self.global_batch, fold(seed, _Z))
        labels = tf.random.stateless_uniform(
            [self.global_batch],
            fold(seed, _LABELS),
            0,
            max(self.num_classes, 1),
            tf.int32,
        )
        return (
            tf.slice(z, [start, 0], [local, -1]),
            tf.slice(labels, [start], [local]),
        )

    def replica_seed(self, seed):
        """The seed of this replica's draws (see `_purposes`)."""
        fold = tf.random.experimental.stateless_fold_in
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return fold(seed, tf.cast(replica, tf.int64))

    @staticmethod
    def _purposes(replica_seed):
        """purpose -> the stateless seed of that draw on this replica."""
        return lambda purpose: tf.random.experimental.stateless_fold_in(
            replica_seed, purpose
        )

    def mean(self, per_example):
        """This replica's share of the global-batch mean."""
        return tf.reduce_sum(per_example) / self.global_batch

    # ----------------------------------------------------------------- steps
    def d_step(self, batch, phase):
        """One discriminator update on a real batch; returns metrics."""
        seed = self.phase_seed(phase)
        z, fake_labels = self.latents(seed)
        grads, metrics = self._d_grads(
            batch["images"],
            batch["labels"],
            z,
            fake_labels,
            self.replica_seed(seed),
        )
        self.d_optimizer.apply_gradients(zip(grads, self.d_variables))
        return metrics

    def _step(self, z, fake_labels, fake, seeds, **d_only):
        """The regularizers' context (`regularizers.Step`); `d_only`: the
        real batch and D's inputs, in the D step."""
        return Step(
            gan=self,
            z=z,
            fake_labels=fake_labels,
            fake=fake,
            seeds=seeds,
            mean=self.mean,
            **d_only,
        )

    def _d_grads(self, real, real_labels, z, fake_labels, replica_seed):
        seeds = self._purposes(replica_seed)
        fake = tf.cast(
            self.generator(z, fake_labels, training=True), real.dtype
        )
        realness = None  # mixed real/fake targets (augment.mix_real_fake)
        if self.augment.mixes_real_and_fake:
            real_in, fake_in, realness = self.augment.joint(
                real, fake, seeds(_AUG_REAL)
            )
        else:
            real_in, fake_in = self.augment.d_inputs(
                real, fake, seeds(_AUG_REAL), seeds(_AUG_FAKE)
            )
        step = self._step(
            z,
            fake_labels,
            fake,
            seeds,
            real=real,
            real_labels=real_labels,
            real_in=real_in,
            fake_in=fake_in,
        )
        # Every image D judges, in one forward pass: the GAN loss' pair,
        # then each regularizer's own, by name.
        inputs = [(real_in, real_labels), (fake_in, fake_labels)]
        extra = [r.d_inputs(step) for r in self.regularizers]
        for r, more in zip(self.regularizers, extra):
            if {"real", "fake"} & set(more):
                raise ValueError(
                    f"regularizer {r.name}: 'real' and 'fake' name the GAN "
                    "loss' own logits; name its inputs otherwise."
                )
            inputs += more.values()
        with tf.GradientTape() as tape:
            logits = tf.cast(
                self.discriminator(
                    tf.concat([x for x, _ in inputs], 0),
                    tf.concat([y for _, y in inputs], 0),
                    training=True,
                ),
                tf.float32,
            )  # losses in float32 under mixed precision
            logits = tf.split(logits, len(inputs))
            real_logits, fake_logits = logits[:2]
            if realness is None:
                d_loss, _ = self.loss(real_logits, fake_logits)
            else:
                d_loss = losses.mixed_target_d_loss(
                    self.loss, tf.concat(logits[:2], 0), realness
                )
            d_loss = self.mean(d_loss)
            metrics = {
                "d_loss": d_loss,
                "d_real": self.mean(real_logits),
                "d_fake": self.mean(fake_logits),
            }
            if self.augment.schedule.observes_d:  # the overfitting signal
                metrics[_SIGN_SUM] = tf.reduce_sum(tf.sign(real_logits))
                metrics[_COUNT] = tf.cast(tf.size(real_logits), tf.float32)
            total, start = d_loss, 2
            for r, more in zip(self.regularizers, extra):
                named = dict(zip(more, logits[start : start + len(more)]))
                term = r.d_loss(
                    step, {"real": real_logits, "fake": fake_logits, **named}
                )
                metrics[f"{r.name}_loss"] = term
                total += term
                start += len(more)
            scaled = self.d_optimizer.scale_loss(total)  # mixed_float16
        grads = tape.gradient(scaled, self.d_variables)
        return grads, metrics

    def g_step(self):
        """One generator update; returns metrics."""
        seed = self.phase_seed(self.n_disc)
        z, labels = self.latents(seed)
        grads, metrics = self._g_grads(z, labels, self.replica_seed(seed))
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables)
        )
        return metrics

    def _g_grads(self, z, labels, replica_seed):
        seeds = self._purposes(replica_seed)
        with tf.GradientTape() as tape:
            clean = tf.cast(
                self.generator(z, labels, training=True), tf.float32
            )
            fake = self.augment.fake(clean, seeds(_AUG_FAKE))  # G learns
            fake_logits = tf.cast(
                self.discriminator(fake, labels, training=True), tf.float32
            )
            _, g_loss = self.loss(None, fake_logits)
            g_loss = self.mean(g_loss)
            metrics, total = {"g_loss": g_loss}, g_loss
            step = self._step(z, labels, clean, seeds)
            for r in self.regularizers:
                term = r.g_loss(step)
                if term is not None:
                    metrics[f"{r.name}_g_loss"] = term
                    total += term
            scaled = self.g_optimizer.scale_loss(total)  # mixed_float16
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        return grads, metrics

    def update_ema(self):
        """ema = decay ema + (1 - decay) G for weights; a copy of G's
        non-trainable state (BN statistics, spectral-norm vectors). Before
        ema_start the EMA is a copy of G. Cross-replica context."""
        if self.ema_generator is None:
            return
        decay = tf.where(self.step < self.ema_start, 0.0, self.ema_decay)
        for e, v in zip(
            self.ema_generator.trainable_variables,
            self.generator.trainable_variables,
        ):
            e.assign(decay * e + (1.0 - decay) * v)
        for e, v in zip(
            self.ema_generator.non_trainable_variables,
            self.generator.non_trainable_variables,
        ):
            e.assign(v)

    def train_step(self, strategy, iterator):
        """n_disc D steps, one G step, the EMA and the augmentation
        schedule's update; metrics summed over replicas, with the schedule's
        own. Call inside a tf.function. D metrics are those of the last D
        step."""

        def total(value):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

        schedule = self.augment.schedule
        for phase in range(self.n_disc):
            metrics = strategy.run(self.d_step, (next(iterator), phase))
            if schedule.observes_d:
                schedule.observe(
                    total(metrics.pop(_SIGN_SUM)), total(metrics.pop(_COUNT))
                )
        metrics.update(strategy.run(self.g_step))
        self.update_ema()
        self.step.assign_add(1)
        schedule.update()
        metrics = {k: total(v) for k, v in metrics.items()}
        metrics.update(schedule.metrics())
        return metrics

    @property
    def sampler(self):
        """The generator used for samples, evaluation and export: the EMA
        generator when there is one."""
        if self.ema_generator is not None:
            return self.ema_generator
        return self.generator

    def prepare_sampler(self, num_samples, batch_size=256):
        """Gives the EMA generator its own batch-norm statistics, from
        num_samples of its samples (`tfgda.models.standing`); a raw G keeps
        its trained ones. Call before sampling from `sampler`; at a step
        where they were computed alike (an evaluation and a leak check due
        together) they are kept: the same seed gives the same ones."""
        key = (int(self.step.numpy()), num_samples, batch_size)
        if self.ema_generator is not None and self._prepared != key:
            self._prepared = key
            standing.recompute(
                self.ema_generator,
                self.num_classes,
                num_samples,
                batch_size,
                self.seed,
            )

    def sample(self, z, labels):
        """Sampler output in inference mode (for grids and evaluation)."""
        return tf.cast(self.sampler(z, labels, training=False), tf.float32)
