"""BigGAN for 32x32 images: compare_gan's `resnet_biggan`, and the widths and
options of public BigGAN-PyTorch CIFAR code, for like-for-like comparisons.

`biggan` (compare_gan at resolution 32, width ch = 96 by default):
  G: class -> shared embedding (128, no bias, no spectral norm); z split in
     4 chunks of dim_z / 4 (hierarchical z); chunk 0 -> dense to 4x4x(4ch);
     three up-blocks 4 -> 8 -> 16 -> 32, each conditioned on [its z chunk,
     the embedding]: CBN, ReLU, 2x up-sampling, conv 3x3, CBN, ReLU, conv
     3x3; shortcut: up-sampling then conv 1x1. CBN scale is gamma(c) itself
     and up-sampling inserts zeros (compare_gan's choices). Output: BN,
     ReLU, conv 3x3 to 3, tanh. Spectral norm on every layer but the
     embedding.
  D: four blocks 2ch wide, down-sampling (2x2 average pool) in all but the
     last: ReLU, conv 3x3, ReLU, conv 3x3, pool (the first block without
     the leading ReLU: compare_gan's images are in [0, 1], where it is an
     identity; ours are in [-1, 1]); a 1x1 shortcut (+ pool)
     only where the channel count changes, no skip at all elsewhere (as in
     compare_gan); a non-local block after the first block; ReLU; global sum
     pooling to h; logit = dense(h) + <embed(y), h> (projection).
  Parameters with ch = 64: G 4,373,251, D 1,059,074 (1,038,593 without
  attention); with ch = 96: G 9,360,899, D 2,378,114 (2,332,033).
`biggan_pytorch` (ch = 64): G and D blocks 4ch wide, z fed whole to the
  first dense layer and CBN conditioned on the embedding alone with scale
  1 + gamma(c), nearest up-sampling; D down-samples in its first two blocks,
  has a skip in every block (1x1 where channels or size change, identity
  elsewhere) and no attention; the projection embedding's spectral norm
  iterates over classes, as BigGAN-PyTorch's SNEmbedding does. Parameters:
  G 4,668,163, D 4,207,361. With the same weights it gives the reference
  code's images and logits (tests/parity/).
Weights are initialized orthogonally (BigGAN's choice). Both models are
class-conditional.
"""

import gin
import keras
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.models import latents
from tfgda.models import layers

__all__ = ["BigGANDiscriminator", "BigGANGenerator", "biggan", "biggan_pytorch"]


def _init():
    return keras.initializers.Orthogonal()


class GeneratorBlock(layers.BuiltByCall, keras.layers.Layer):
    def __init__(self, channels, upsample, one_plus_gamma, **kwargs):
        super().__init__(**kwargs)
        self.upsample = upsample
        self.bn1 = layers.ConditionalBatchNorm(
            one_plus_gamma=one_plus_gamma, kernel_initializer=_init()
        )
        self.bn2 = layers.ConditionalBatchNorm(
            one_plus_gamma=one_plus_gamma, kernel_initializer=_init()
        )
        self.conv1 = layers.SNConv2D(channels, 3, kernel_initializer=_init())
        self.conv2 = layers.SNConv2D(channels, 3, kernel_initializer=_init())
        self.shortcut = layers.SNConv2D(channels, 1, kernel_initializer=_init())

    def call(self, x, condition, training=False):
        h = tf.nn.relu(self.bn1(x, condition, training=training))
        h = self.conv1(layers.upsample(h, self.upsample), training=training)
        h = tf.nn.relu(self.bn2(h, condition, training=training))
        h = self.conv2(h, training=training)
        return h + self.shortcut(
            layers.upsample(x, self.upsample), training=training
        )


class BigGANGenerator(layers.BuiltByCall, keras.Model):
    """The BigGAN generator for 32x32 images; output in [-1, 1]."""

    conditional = True

    def __init__(
        self,
        dim_z,
        num_classes,
        ch,
        hierarchical_z=True,
        one_plus_gamma=False,
        upsample="zeros",
        embed_dim=128,
        z_distribution="normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dim_z = dim_z
        self.z_distribution = latents.check_z_distribution(z_distribution)
        self.num_blocks = 3
        self.hierarchical_z = hierarchical_z
        if hierarchical_z and dim_z % (self.num_blocks + 1):
            raise UserError(
                f"dim_z {dim_z} must split into "
                f"{self.num_blocks + 1} equal chunks."
            )
        self.channels = 4 * ch
        self.embed = layers.SNEmbedding(
            num_classes,
            embed_dim,
            spectral_norm=False,
            kernel_initializer=_init(),
        )
        self.fc = layers.SNDense(
            4 * 4 * self.channels, kernel_initializer=_init()
        )
        self.blocks = [
            GeneratorBlock(self.channels, upsample, one_plus_gamma)
            for _ in range(self.num_blocks)
        ]
        self.bn = keras.layers.BatchNormalization(
            synchronized=True, momentum=0.9, epsilon=1e-5
        )
        self.to_rgb = layers.SNConv2D(3, 3, kernel_initializer=_init())

    def call(self, z, labels=None, training=False):
        y = self.embed(labels, training=training)
        if self.hierarchical_z:
            chunks = tf.split(z, self.num_blocks + 1, axis=1)
            x, conditions = (
                chunks[0],
                [tf.concat([c, y], 1) for c in chunks[1:]],
            )
        else:
            x, conditions = z, [y] * self.num_blocks
        x = tf.reshape(self.fc(x, training=training), [-1, 4, 4, self.channels])
        for block, condition in zip(self.blocks, conditions):
            x = block(x, condition, training=training)
        x = tf.nn.relu(self.bn(x, training=training))
        return tf.tanh(self.to_rgb(x, training=training))


class DiscriminatorBlock(layers.BuiltByCall, keras.layers.Layer):
    """ReLU, conv, ReLU, conv, [pool]; the shortcut as configured."""

    def __init__(self, channels, down, preactivation, shortcut, **kwargs):
        super().__init__(**kwargs)
        self.down = down
        self.preactivation = preactivation
        self.shortcut_kind = shortcut  # 'conv', 'identity' or 'none'
        self.conv1 = layers.SNConv2D(channels, 3, kernel_initializer=_init())
        self.conv2 = layers.SNConv2D(channels, 3, kernel_initializer=_init())
        if shortcut == "conv":
            self.shortcut = layers.SNConv2D(
                channels, 1, kernel_initializer=_init()
            )

    def call(self, x, training=False):
        h = tf.nn.relu(x) if self.preactivation else x
        h = self.conv1(h, training=training)
        h = self.conv2(tf.nn.relu(h), training=training)
        if self.down:
            h = layers.avg_pool(h)
        if self.shortcut_kind == "none":
            return h
        if self.shortcut_kind == "identity":
            return h + x
        if self.preactivation:  # conv, then pool
            s = self.shortcut(x, training=training)
            return h + (layers.avg_pool(s) if self.down else s)
        # The first block of BigGAN-PyTorch pools, then convolves.
        s = layers.avg_pool(x) if self.down else x
        return h + self.shortcut(s, training=training)


class BigGANDiscriminator(layers.BuiltByCall, keras.Model):
    """The projection discriminator; returns logits of shape [batch]."""

    conditional = True

    def __init__(
        self,
        num_classes,
        widths,
        downs,
        shortcuts,
        preactivations,
        attention=True,
        sn_over_classes=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.blocks = [
            DiscriminatorBlock(w, d, p, s)
            for w, d, s, p in zip(widths, downs, shortcuts, preactivations)
        ]
        self.attention = (
            layers.NonLocalBlock(kernel_initializer=_init())
            if attention
            else None
        )
        self.out = layers.SNDense(1, kernel_initializer=_init())
        self.embed = layers.SNEmbedding(
            num_classes,
            widths[-1],
            kernel_initializer=keras.initializers.GlorotNormal(),
            sn_over_classes=sn_over_classes,
        )

    def features(self, images, labels=None, training=False):
        """h: the globally sum-pooled features D's output is read from."""
        del labels
        x = images
        for i, block in enumerate(self.blocks):
            x = block(x, training=training)
            if i == 0 and self.attention is not None:
                x = self.attention(x, training=training)
        # Summed in float32: a bfloat16 sum of 4x4 positions loses digits.
        return tf.reduce_sum(tf.cast(tf.nn.relu(x), tf.float32), axis=[1, 2])

    def call(self, images, labels=None, training=False):
        h = self.features(images, labels, training=training)
        logits = tf.cast(
            tf.squeeze(self.out(h, training=training), -1), tf.float32
        )
        embed = tf.cast(self.embed(labels, training=training), tf.float32)
        return logits + tf.reduce_sum(embed * h, axis=1)


def _check(image_shape, num_classes):
    if tuple(image_shape[:2]) != (32, 32):
        raise UserError(
            f"BigGAN here is for 32x32 images, got "
            f"{image_shape[0]}x{image_shape[1]}; bind "
            "dataset.resize = 32."
        )
    if num_classes < 1:
        raise UserError(
            "BigGAN is class-conditional: it needs a dataset with labels."
        )


@gin.configurable(denylist=["image_shape", "num_classes"])
def biggan(
    image_shape,
    num_classes,
    dim_z=128,
    ch=96,
    d_attention=True,
    z_distribution="normal",
):
    """compare_gan's BigGAN at 32x32 (see the module docstring).

    Args:
      image_shape, num_classes: from the dataset.
      dim_z: latent dimension, split in 4 chunks.
      ch: width multiplier (96 in compare_gan; G blocks 4ch, D blocks 2ch).
      d_attention: a non-local block after D's first block.
      z_distribution: 'normal' (compare_gan's BigGAN configs) or 'uniform'.
    """
    _check(image_shape, num_classes)
    generator = BigGANGenerator(
        dim_z, num_classes, ch, z_distribution=z_distribution
    )
    discriminator = BigGANDiscriminator(
        num_classes,
        widths=[2 * ch] * 4,
        downs=[True, True, True, False],
        shortcuts=["conv", "none", "none", "none"],
        # No ReLU on the images: compare_gan's first block starts with one,
        # an identity on its [0, 1] inputs; on our [-1, 1] images it would
        # hide every pixel below mid-grey from the block's main path.
        preactivations=[False, True, True, True],
        attention=d_attention,
    )
    return generator, discriminator


@gin.configurable(denylist=["image_shape", "num_classes"])
def biggan_pytorch(
    image_shape, num_classes, dim_z=128, ch=64, z_distribution="normal"
):
    """The BigGAN-PyTorch CIFAR-10 widths and options (module docstring);
    z ~ N(0, 1) as BigGAN-PyTorch draws it."""
    _check(image_shape, num_classes)
    generator = BigGANGenerator(
        dim_z,
        num_classes,
        ch,
        hierarchical_z=False,
        one_plus_gamma=True,
        upsample="nearest",
        z_distribution=z_distribution,
    )
    discriminator = BigGANDiscriminator(
        num_classes,
        widths=[4 * ch] * 4,
        downs=[True, True, False, False],
        shortcuts=["conv", "conv", "identity", "identity"],
        preactivations=[False, True, True, True],
        attention=False,
        sn_over_classes=True,
    )
    return generator, discriminator
