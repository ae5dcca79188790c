"""SNDCGAN for 32x32 images, as in compare_gan's `architectures/sndcgan.py`.

Generator (z of `dim_z` = 128 dims, width `ch` = 64):
  dense to 4x4x(8ch), BN, ReLU; deconv 4x4/2 to 4ch, BN, ReLU; deconv 4x4/2 to
  2ch, BN, ReLU; deconv 4x4/2 to ch, BN, ReLU; deconv 3x3/1 to 3; tanh.
  The first batch norm acts on the 8192 dense features before the reshape, as
  in compare_gan. Batch norms are synchronized across replicas so a global
  batch split over devices gives the statistics of the whole batch.
Discriminator (spectral norm on every layer, LeakyReLU 0.1):
  conv 3x3/1 ch; 4x4/2 2ch; 3x3/1 2ch; 4x4/2 4ch; 3x3/1 4ch; 4x4/2 8ch;
  3x3/1 8ch; flatten; dense to 1.
With ch = 64: G has 3,828,739 and D 5,860,865 trainable parameters.
Both are unconditional: `labels` is accepted and ignored.
Select it in gin with `train.model = @sndcgan`.
"""

import gin
import keras
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.models import latents
from tfgda.models import layers

__all__ = ["SNDCGANDiscriminator", "SNDCGANGenerator", "sndcgan"]


class SNDCGANGenerator(layers.BuiltByCall, keras.Model):
    """The SNDCGAN generator; output in [-1, 1]."""

    conditional = False

    def __init__(
        self,
        dim_z=128,
        image_shape=(32, 32, 3),
        num_classes=0,
        ch=64,
        z_distribution="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        del num_classes
        self.dim_z = dim_z
        self.z_distribution = latents.check_z_distribution(z_distribution)
        h, w, c = image_shape
        if h % 8 or w % 8:
            raise UserError(
                f"SNDCGAN needs image sides divisible by 8, got {h}x{w}; "
                "bind dataset.resize to a multiple of 8."
            )
        self._start = (h // 8, w // 8, 8 * ch)
        init = layers.weight_init()
        self.dense = keras.layers.Dense(
            self._start[0] * self._start[1] * 8 * ch, kernel_initializer=init
        )
        self.bns = [
            keras.layers.BatchNormalization(
                synchronized=True, momentum=0.9, epsilon=1e-5
            )
            for _ in range(4)
        ]
        self.deconvs = [
            keras.layers.Conv2DTranspose(
                filters, 4, strides=2, padding="same", kernel_initializer=init
            )
            for filters in (4 * ch, 2 * ch, ch)
        ]
        self.to_rgb = keras.layers.Conv2DTranspose(
            c, 3, strides=1, padding="same", kernel_initializer=init
        )

    def call(self, z, labels=None, training=False):
        del labels
        x = tf.nn.relu(self.bns[0](self.dense(z), training=training))
        x = tf.reshape(x, [-1, *self._start])
        for deconv, bn in zip(self.deconvs, self.bns[1:]):
            x = tf.nn.relu(bn(deconv(x), training=training))
        return tf.tanh(self.to_rgb(x))


class SNDCGANDiscriminator(layers.BuiltByCall, keras.Model):
    """The SNDCGAN discriminator; returns logits of shape [batch]."""

    conditional = False

    def __init__(self, image_shape=(32, 32, 3), num_classes=0, ch=64, **kwargs):
        super().__init__(**kwargs)
        del image_shape, num_classes
        spec = [
            (ch, 3, 1),
            (2 * ch, 4, 2),
            (2 * ch, 3, 1),
            (4 * ch, 4, 2),
            (4 * ch, 3, 1),
            (8 * ch, 4, 2),
            (8 * ch, 3, 1),
        ]
        self.convs = [layers.SNConv2D(f, k, s) for f, k, s in spec]
        self.out = layers.SNDense(1)

    def features(self, images, labels=None, training=False):
        """D's penultimate features (the flattened last conv block)."""
        del labels
        x = images
        for conv in self.convs:
            x = tf.nn.leaky_relu(conv(x, training=training), alpha=0.1)
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def call(self, images, labels=None, training=False):
        h = self.features(images, labels, training=training)
        return tf.cast(
            tf.squeeze(self.out(h, training=training), axis=-1), tf.float32
        )


@gin.configurable(denylist=["image_shape", "num_classes"])
def sndcgan(
    image_shape, num_classes, dim_z=128, ch=64, z_distribution="uniform"
):
    """Returns the SNDCGAN (generator, discriminator) pair.

    Args:
      image_shape: (height, width, channels) of the data; sides divisible by 8.
      num_classes: ignored (SNDCGAN is unconditional).
      dim_z: latent dimension (compare_gan: 128).
      ch: base width; 64 is the paper's model, smaller values give test-sized
        models of the same shape.
      z_distribution: 'uniform' (U(-1, 1), compare_gan's default for
        SNDCGAN) or 'normal'.
    """
    return (
        SNDCGANGenerator(
            dim_z,
            image_shape,
            num_classes,
            ch=ch,
            z_distribution=z_distribution,
        ),
        SNDCGANDiscriminator(image_shape, num_classes, ch=ch),
    )
