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

__all__ = ["GAN"]

# Purposes folded into a phase's seed.
_Z, _LABELS, _AUG_REAL, _AUG_FAKE = 0, 1, 2, 3


class GAN:
    """Generator, discriminator, their optimizers and the step maths.

    Args:
      generator, discriminator: Keras models (see `tfgda.models`).
      g_optimizer, d_optimizer: Keras optimizers.
      loss: a GAN loss from `tfgda.losses`.
      global_batch: the global batch size.
      num_classes: classes for conditional models (0: unconditional).
      n_disc: discriminator steps per generator step.
      seed: the run's seed.
      augment: an `AugmentPolicy` (default: none).
      jit_compile: compile the forward and backward passes with XLA (the
        optimizer updates stay outside, where tf.distribute merges them).
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer,
                 loss, global_batch, num_classes=0, n_disc=1, seed=0,
                 augment=None, jit_compile=False):
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
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                name="step")
        if jit_compile:
            self._d_grads = tf.function(self._d_grads, jit_compile=True)
            self._g_grads = tf.function(self._g_grads, jit_compile=True)

    def build(self):
        """Creates the variables of both networks and both optimizers."""
        z = tf.zeros([2, self.generator.dim_z])
        labels = tf.zeros([2], tf.int32)
        self.discriminator(self.generator(z, labels), labels)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def checkpoint_items(self):
        """What a checkpoint must hold to resume this GAN exactly."""
        return {"step": self.step, "generator": self.generator,
                "discriminator": self.discriminator,
                "g_optimizer": self.g_optimizer,
                "d_optimizer": self.d_optimizer}

    # ------------------------------------------------------------ randomness
    def phase_seed(self, phase):
        """The stateless seed of phase `phase` (0..n_disc) of this step."""
        base = tf.constant([self.seed, 0], tf.int64)
        seed = tf.random.experimental.stateless_fold_in(base, self.step)
        return tf.random.experimental.stateless_fold_in(seed, phase)

    def latents(self, seed):
        """z ~ N(0, I) and uniform class labels for this replica's slice."""
        ctx = tf.distribute.get_replica_context()
        local = self.global_batch // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
        fold = tf.random.experimental.stateless_fold_in
        z = tf.random.stateless_normal(
            [self.global_batch, self.generator.dim_z], fold(seed, _Z))
        labels = tf.random.stateless_uniform(
            [self.global_batch], fold(seed, _LABELS), 0,
            max(self.num_classes, 1), tf.int32)
        return (tf.slice(z, [start, 0], [local, -1]),
                tf.slice(labels, [start], [local]))

    def augment_seed(self, seed, purpose):
        """A seed for this replica's augmentation draws of one purpose."""
        fold = tf.random.experimental.stateless_fold_in
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return fold(fold(seed, purpose), tf.cast(replica, tf.int64))

    def _mean(self, per_example):
        """This replica's share of the global-batch mean."""
        return tf.reduce_sum(per_example) / self.global_batch

    # ----------------------------------------------------------------- steps
    def d_step(self, batch, phase):
        """One discriminator update on a real batch; returns metrics."""
        seed = self.phase_seed(phase)
        z, fake_labels = self.latents(seed)
        grads, metrics = self._d_grads(
            batch["images"], batch["labels"], z, fake_labels,
            self.augment_seed(seed, _AUG_REAL),
            self.augment_seed(seed, _AUG_FAKE))
        self.d_optimizer.apply_gradients(
            zip(grads, self.discriminator.trainable_variables))
        return metrics

    def _d_grads(self, real, real_labels, z, fake_labels, real_seed,
                 fake_seed):
        fake = self.generator(z, fake_labels, training=True)
        real = self.augment.real(real, real_seed)
        fake = self.augment.fake(fake, fake_seed)
        with tf.GradientTape() as tape:
            logits = self.discriminator(
                tf.concat([real, fake], 0),
                tf.concat([real_labels, fake_labels], 0), training=True)
            real_logits, fake_logits = tf.split(logits, 2)
            d_loss, _ = self.loss(real_logits, fake_logits)
            d_loss = self._mean(d_loss)
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        return grads, {"d_loss": d_loss, "d_real": self._mean(real_logits),
                       "d_fake": self._mean(fake_logits)}

    def g_step(self):
        """One generator update; returns metrics."""
        seed = self.phase_seed(self.n_disc)
        z, labels = self.latents(seed)
        grads, metrics = self._g_grads(z, labels,
                                       self.augment_seed(seed, _AUG_FAKE))
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables))
        return metrics

    def _g_grads(self, z, labels, fake_seed):
        with tf.GradientTape() as tape:
            fake = self.generator(z, labels, training=True)
            fake = self.augment.fake(fake, fake_seed)  # G learns through it
            fake_logits = self.discriminator(fake, labels, training=True)
            _, g_loss = self.loss(None, fake_logits)
            g_loss = self._mean(g_loss)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        return grads, {"g_loss": g_loss}

    def train_step(self, strategy, iterator):
        """n_disc D steps and one G step; metrics summed over replicas.

        Call inside a tf.function. D metrics are those of the last D step.
        """
        for phase in range(self.n_disc):
            metrics = strategy.run(self.d_step, (next(iterator), phase))
        metrics.update(strategy.run(self.g_step))
        self.step.assign_add(1)
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in metrics.items()}

    def sample(self, z, labels):
        """Generator output in inference mode (for grids and evaluation)."""
        return self.generator(z, labels, training=False)
