"""Building blocks shared by the GAN architectures.

Spectral normalization (Miyato et al., 2018) follows compare_gan: the weight is
reshaped to a matrix W of shape [fan_in, fan_out], one power iteration per call
estimates its largest singular value sigma, and the layer uses W / sigma. The
gradient flows through sigma (unlike Keras' `SpectralNormalization` wrapper,
which overwrites the kernel with its normalized value). The power-iteration
vector `u` is a non-trainable variable, updated only when `training=True`;
under a `tf.distribute` strategy it is aggregated with ONLY_FIRST_REPLICA,
since every replica computes the same update from the same weights.
"""

import keras
import tensorflow as tf

__all__ = [
    "SNConv2D",
    "SNDense",
    "SNEmbedding",
    "spectral_normalize",
    "weight_init",
]


def weight_init(stddev=0.02):
    """compare_gan's default initializer: N(0, stddev^2)."""
    return keras.initializers.RandomNormal(stddev=stddev)


def _l2_normalize(x, eps=1e-12):
    return x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(x)), eps))


def spectral_normalize(kernel, u):
    """Returns (kernel / sigma, new u) after one power iteration.

    Args:
      kernel: a weight tensor whose last axis is the output axis.
      u: the [1, fan_out] power-iteration vector of the previous call.

    sigma = v W u'^T with v = normalize(u W^T), u' = normalize(v W): an
    estimate of the spectral norm of W that tightens with every training
    step. u' is returned with its gradient stopped.
    """
    w = tf.reshape(kernel, [-1, kernel.shape[-1]])
    u = tf.cast(u, w.dtype)
    v = _l2_normalize(tf.matmul(u, w, transpose_b=True))
    u_new = tf.stop_gradient(_l2_normalize(tf.matmul(v, w)))
    v = tf.stop_gradient(v)
    sigma = tf.squeeze(tf.matmul(tf.matmul(v, w), u_new, transpose_b=True))
    return kernel / sigma, u_new


class _SpectralNormMixin:
    """Adds an optional spectral norm to a layer owning `self.kernel`."""

    def _build_sn(self, fan_out):
        if self.spectral_norm:
            self.sn_u = self.add_weight(
                shape=(1, fan_out),
                initializer=keras.initializers.RandomNormal(stddev=1.0),
                trainable=False,
                aggregation="only_first_replica",
                name="sn_u",
            )

    def _normalized_kernel(self, training):
        kernel = tf.convert_to_tensor(self.kernel)
        if not self.spectral_norm:
            return kernel
        kernel_sn, u_new = spectral_normalize(kernel, self.sn_u)
        if training:
            self.sn_u.assign(tf.cast(u_new, self.sn_u.dtype))
        return kernel_sn


class SNDense(_SpectralNormMixin, keras.layers.Layer):
    """A dense layer y = x W + b, with W spectrally normalized if asked."""

    def __init__(self, units, use_bias=True, spectral_norm=True,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.spectral_norm = spectral_norm
        self.kernel_initializer = kernel_initializer or weight_init()

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer="zeros", name="bias")
        self._build_sn(self.units)

    def call(self, inputs, training=False):
        kernel = tf.cast(self._normalized_kernel(training), inputs.dtype)
        outputs = tf.matmul(inputs, kernel)
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return outputs


class SNConv2D(_SpectralNormMixin, keras.layers.Layer):
    """A 2-D convolution with 'SAME' padding, spectrally normalized if asked."""

    def __init__(self, filters, kernel_size=3, strides=1, use_bias=True,
                 spectral_norm=True, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.use_bias = use_bias
        self.spectral_norm = spectral_norm
        self.kernel_initializer = kernel_initializer or weight_init()

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, input_shape[-1], self.filters),
            initializer=self.kernel_initializer, name="kernel")
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.filters,), initializer="zeros", name="bias")
        self._build_sn(self.filters)

    def call(self, inputs, training=False):
        kernel = tf.cast(self._normalized_kernel(training), inputs.dtype)
        outputs = tf.nn.conv2d(inputs, kernel, self.strides, "SAME")
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return outputs


class SNEmbedding(_SpectralNormMixin, keras.layers.Layer):
    """A class embedding (lookup table), spectrally normalized if asked."""

    def __init__(self, num_classes, dim, spectral_norm=True,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dim = dim
        self.spectral_norm = spectral_norm
        self.kernel_initializer = kernel_initializer or weight_init()

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(self.num_classes, self.dim),
            initializer=self.kernel_initializer, name="embeddings")
        self._build_sn(self.dim)

    def call(self, labels, training=False):
        return tf.gather(self._normalized_kernel(training), labels)
