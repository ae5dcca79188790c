"""The GAN's training step: the maths of one discriminator and one generator
update, written per replica for `tf.distribute`.

Randomness is stateless: every random draw is seeded from (train.seed, step,
phase, purpose), so the step counter in the checkpoint is the whole random
state and a resumed run draws what an uninterrupted one would. Latents are
drawn for the global batch and each replica takes its slice, so a run gives
the same numbers on one device or on several.
"""

import keras
import tensorflow as tf

from tfgda import losses
from tfgda.augment import policy as policy_lib
from tfgda.checkpointing import VariableList
from tfgda.models import standing
from tfgda.models.latents import sample_z

__all__ = ["GAN"]

# Purposes folded into a phase's seed.
(_Z, _LABELS, _AUG_REAL, _AUG_FAKE, _BCR_REAL, _BCR_FAKE, _VIEW_1,
 _VIEW_2) = range(8)
# D-step outputs that feed an adaptive augmentation strength, not the logs.
_SIGN_SUM, _COUNT = "real_sign_sum", "real_count"


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
      bcr: `losses.BCR` settings, or None.
      contrastive: `losses.Contrastive` settings, or None.
      ema_generator: a second generator of the same architecture that holds
        the exponential moving average of G's weights, or None.
      ema_decay: its decay; ema_start: the step before which it copies G.
      jit_compile: compile the forward and backward passes with XLA (the
        optimizer updates stay outside, where tf.distribute merges them).
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer,
                 loss, global_batch, num_classes=0, n_disc=1, seed=0,
                 augment=None, bcr=None, contrastive=None,
                 ema_generator=None, ema_decay=0.9999, ema_start=0,
                 jit_compile=False):
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
        self.bcr = bcr
        self.contrastive = contrastive
        self.ema_generator = ema_generator
        self.ema_decay = ema_decay
        self.ema_start = ema_start
        self.projection_head = None
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                name="step")
        if jit_compile:
            self._d_grads = tf.function(self._d_grads, jit_compile=True)
            self._g_grads = tf.function(self._g_grads, jit_compile=True)

    def build(self):
        """Creates every variable: networks, head, EMA and optimizers."""
        z = tf.zeros([2, self.generator.dim_z])
        labels = tf.zeros([2], tf.int32)
        images = self.generator(z, labels)
        self.discriminator(images, labels)
        if self.contrastive:
            features = self.discriminator.features(images, labels)
            self.projection_head = keras.Sequential([
                keras.layers.Dense(features.shape[-1], activation="relu"),
                keras.layers.Dense(self.contrastive.projection_dim)])
            self.projection_head(features)
        if self.ema_generator is not None:
            self.ema_generator(z, labels)
            for e, v in zip(self.ema_generator.variables,
                            self.generator.variables):
                e.assign(v)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.d_variables)
        self.augment.schedule.build(self.step,
                                    self.global_batch * self.n_disc)

    @property
    def d_variables(self):
        """What D's optimizer trains: D, and the projection head if any."""
        head = self.projection_head
        return self.discriminator.trainable_variables + (
            head.trainable_variables if head is not None else [])

    def checkpoint_items(self):
        """What a checkpoint must hold to resume this GAN exactly: every
        variable of every network and optimizer (call after `build`)."""
        # A loss-scaling optimizer (mixed_float16) is checkpointed as its
        # inner optimizer, so checkpoints move between precision policies;
        # the loss scale itself restarts (it adapts within a few steps).
        objects = {"generator": self.generator,
                   "discriminator": self.discriminator,
                   "g_optimizer": getattr(self.g_optimizer,
                                          "inner_optimizer",
                                          self.g_optimizer),
                   "d_optimizer": getattr(self.d_optimizer,
                                          "inner_optimizer",
                                          self.d_optimizer),
                   "projection_head": self.projection_head,
                   "generator_ema": self.ema_generator}
        items = {name: VariableList(obj) for name, obj in objects.items()
                 if obj is not None}
        items["step"] = self.step
        items.update({f"augment_{name}": v for name, v in
                      self.augment.schedule.variables().items()})
        return items

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
            [self.global_batch], fold(seed, _LABELS), 0,
            max(self.num_classes, 1), tf.int32)
        return (tf.slice(z, [start, 0], [local, -1]),
                tf.slice(labels, [start], [local]))

    def replica_seeds(self, seed):
        """Seeds for this replica's augmentation draws, one per purpose."""
        fold = tf.random.experimental.stateless_fold_in
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = fold(seed, tf.cast(replica, tf.int64))
        return tf.stack([fold(seed, p) for p in range(8)])

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
            self.replica_seeds(seed))
        self.d_optimizer.apply_gradients(zip(grads, self.d_variables))
        return metrics

    def _d_grads(self, real, real_labels, z, fake_labels, seeds):
        fake = tf.cast(self.generator(z, fake_labels, training=True),
                       real.dtype)
        realness = None  # mixed real/fake targets (augment.mix_real_fake)
        if self.augment.mixes_real_and_fake:
            real_in, fake_in, realness = self.augment.joint(
                real, fake, seeds[_AUG_REAL])
        else:
            real_in = self.augment.real(real, seeds[_AUG_REAL])
            fake_in = self.augment.fake(fake, seeds[_AUG_FAKE])
        labels = tf.concat([real_labels, fake_labels], 0)
        inputs = [real_in, fake_in]
        if self.bcr:  # bCR's x and T(x), judged in the same pass
            inputs += self._bcr_inputs(real, fake, real_in, fake_in, seeds)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.discriminator(
                tf.concat(inputs, 0),
                tf.concat([labels] * (len(inputs) // 2), 0), training=True),
                tf.float32)  # losses in float32 under mixed precision
            logits = tf.split(logits, len(inputs))
            real_logits, fake_logits = logits[:2]
            if realness is None:
                d_loss, _ = self.loss(real_logits, fake_logits)
            else:
                d_loss = losses.mixed_target_d_loss(
                    self.loss, tf.concat(logits[:2], 0), realness)
            d_loss = self._mean(d_loss)
            metrics = {"d_loss": d_loss, "d_real": self._mean(real_logits),
                       "d_fake": self._mean(fake_logits)}
            if self.augment.schedule.observes_d:  # the overfitting signal
                metrics[_SIGN_SUM] = tf.reduce_sum(tf.sign(real_logits))
                metrics[_COUNT] = tf.cast(tf.size(real_logits), tf.float32)
            if self.bcr:  # (x, G(z), T(x), T(G(z))): the last four
                metrics["bcr_loss"] = self._bcr_loss(*logits[-4:])
            if self.contrastive:
                metrics["contrastive_loss"] = self._contrastive_loss(
                    real, fake, labels, seeds)
            total = d_loss + metrics.get("bcr_loss", 0.0) + metrics.get(
                "contrastive_loss", 0.0)
            scaled = self.d_optimizer.scale_loss(total)  # mixed_float16
        grads = tape.gradient(scaled, self.d_variables)
        return grads, metrics

    def _bcr_inputs(self, real, fake, real_in, fake_in, seeds):
        """[x, G(z), T(x), T(G(z))] when bcr.inputs is 'clean' and D's loss
        sees augmented images; else [T(real_in), T(fake_in)], compared
        with the GAN loss' own logits (x = what that loss sees)."""
        transform = self.bcr.augment or self.augment
        clean = self.bcr.inputs == "clean"
        base_real, base_fake = (real, fake) if clean else (real_in, fake_in)
        transformed = [transform(base_real, seeds[_BCR_REAL]),
                       transform(base_fake, seeds[_BCR_FAKE])]
        if clean and self.augment.active:  # D's loss saw t(x), not x
            return [base_real, base_fake, *transformed]
        return transformed

    def _bcr_loss(self, real_logits, fake_logits, t_real_logits,
                  t_fake_logits):
        """lambda_real ||D(x) - D(T(x))||^2 + lambda_fake (same on fakes)."""
        return (self.bcr.lambda_real * self._mean(losses.consistency(
            real_logits, t_real_logits)) + self.bcr.lambda_fake * self._mean(
                losses.consistency(fake_logits, t_fake_logits)))

    def _contrastive_loss(self, real, fake, labels, seeds):
        """weight (NT-Xent of two views of the reals + the same of fakes)."""
        images = tf.concat([real, fake], 0)
        views = tf.concat([self.contrastive.views(images, seeds[_VIEW_1]),
                           self.contrastive.views(images, seeds[_VIEW_2])], 0)
        h = self.discriminator.features(views, tf.concat([labels, labels], 0),
                                        training=True)
        p = tf.cast(self.projection_head(h, training=True), tf.float32)
        real_1, fake_1, real_2, fake_2 = tf.split(p, 4)
        return self.contrastive.weight * self._mean(
            self._nt_xent(real_1, real_2) + self._nt_xent(fake_1, fake_2))

    def _nt_xent(self, a, b):
        """NT-Xent with the negatives asked for: this replica's batch, or
        every replica's (gathered, with gradients back to their owners)."""
        tau = self.contrastive.temperature
        ctx = tf.distribute.get_replica_context()
        if self.contrastive.negatives != "global" or \
                ctx.num_replicas_in_sync == 1:
            return losses.nt_xent(a, b, tau)
        offset = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * \
            tf.shape(a)[0]
        return losses.nt_xent(a, b, tau, ctx.all_gather(a, 0),
                              ctx.all_gather(b, 0), offset)

    def g_step(self):
        """One generator update; returns metrics."""
        seed = self.phase_seed(self.n_disc)
        z, labels = self.latents(seed)
        grads, metrics = self._g_grads(z, labels, self.replica_seeds(seed))
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables))
        return metrics

    def _g_grads(self, z, labels, seeds):
        with tf.GradientTape() as tape:
            fake = tf.cast(self.generator(z, labels, training=True),
                           tf.float32)
            fake = self.augment.fake(fake, seeds[_AUG_FAKE])  # G learns
            fake_logits = tf.cast(
                self.discriminator(fake, labels, training=True), tf.float32)
            _, g_loss = self.loss(None, fake_logits)
            g_loss = self._mean(g_loss)
            scaled = self.g_optimizer.scale_loss(g_loss)  # mixed_float16
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        return grads, {"g_loss": g_loss}

    def update_ema(self):
        """ema = decay ema + (1 - decay) G for weights; a copy of G's
        non-trainable state (BN statistics, spectral-norm vectors). Before
        ema_start the EMA is a copy of G. Cross-replica context."""
        if self.ema_generator is None:
            return
        decay = tf.where(self.step < self.ema_start, 0.0, self.ema_decay)
        for e, v in zip(self.ema_generator.trainable_variables,
                        self.generator.trainable_variables):
            e.assign(decay * e + (1.0 - decay) * v)
        for e, v in zip(self.ema_generator.non_trainable_variables,
                        self.generator.non_trainable_variables):
            e.assign(v)

    def train_step(self, strategy, iterator):
        """n_disc D steps, one G step, the EMA and the augmentation
        schedule's update; metrics summed over replicas, with the schedule's
        own. Call inside a tf.function. D metrics are those of the last D
        step."""
        def total(value):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value,
                                   axis=None)
        schedule = self.augment.schedule
        for phase in range(self.n_disc):
            metrics = strategy.run(self.d_step, (next(iterator), phase))
            if schedule.observes_d:
                schedule.observe(total(metrics.pop(_SIGN_SUM)),
                                 total(metrics.pop(_COUNT)))
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
        its trained ones. Call before sampling from `sampler`."""
        if self.ema_generator is not None:
            standing.recompute(self.ema_generator, self.num_classes,
                               num_samples, batch_size, self.seed)

    def sample(self, z, labels):
        """Sampler output in inference mode (for grids and evaluation)."""
        return tf.cast(self.sampler(z, labels, training=False), tf.float32)
