"""Building blocks shared by the GAN architectures.

Spectral normalization (Miyato et al., 2018) follows compare_gan: the weight is
reshaped to a matrix W of shape [fan_in, fan_out], one power iteration per call
estimates its largest singular value sigma, and the layer uses W / sigma. The
gradient flows through sigma (unlike Keras' `SpectralNormalization` wrapper,
which overwrites the kernel with its normalized value). The power-iteration
vector `u` is a non-trainable variable, updated only when `training=True`;
under a `tf.distribute` strategy it is aggregated with ONLY_FIRST_REPLICA,
since every replica computes the same update from the same weights.

Under a mixed-precision policy the weights stay float32 and the layers
compute in float16 or bfloat16, except where precision matters: the
spectral norm's power iteration, the attention softmax (and, in the models,
D's global pooling and its logits) run in float32.
"""

import keras
import tensorflow as tf

__all__ = [
    "BuiltByCall",
    "ConditionalBatchNorm",
    "NonLocalBlock",
    "SNConv2D",
    "SNDense",
    "SNEmbedding",
    "avg_pool",
    "spectral_normalize",
    "upsample",
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


class BuiltByCall:
    """For a layer or model made of sublayers: its first call builds them.

    Keras builds a layer that has no `build` method by first running its
    `call` on symbolic inputs, and does so again inside for every such
    sublayer: one level of nesting, one more trace. A tiny BigGAN's G and D
    took 4.5 s to build that way on a 2-core CPU, 0.65 s with this mixin,
    which makes `build` a no-op so the sublayers build themselves, in the
    same order, during the first real call (the same initial weights, bit
    for bit: tests/test_models.py). Put it first among the bases.
    """

    def build(self, input_shape):
        del input_shape  # each sublayer reads its own at its first call


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
        """W / sigma, in float32 whatever the layer computes in."""
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), tf.float32)
        if not self.spectral_norm:
            return kernel
        kernel_sn, u_new = spectral_normalize(kernel, self.sn_u)
        if training:
            self.sn_u.assign(tf.cast(u_new, self.sn_u.dtype))
        return kernel_sn


class SNDense(_SpectralNormMixin, keras.layers.Layer):
    """A dense layer y = x W + b, with W spectrally normalized if asked."""

    def __init__(
        self,
        units,
        use_bias=True,
        spectral_norm=True,
        kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.spectral_norm = spectral_norm
        self.kernel_initializer = kernel_initializer or weight_init()

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer="zeros", name="bias"
            )
        self._build_sn(self.units)

    def call(self, inputs, training=False):
        kernel = tf.cast(self._normalized_kernel(training), inputs.dtype)
        outputs = tf.matmul(inputs, kernel)
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return outputs


class SNConv2D(_SpectralNormMixin, keras.layers.Layer):
    """A 2-D convolution with 'SAME' padding, spectrally normalized if asked."""

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        use_bias=True,
        spectral_norm=True,
        kernel_initializer=None,
        **kwargs,
    ):
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
            initializer=self.kernel_initializer,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.filters,), initializer="zeros", name="bias"
            )
        self._build_sn(self.filters)

    def call(self, inputs, training=False):
        kernel = tf.cast(self._normalized_kernel(training), inputs.dtype)
        outputs = tf.nn.conv2d(inputs, kernel, self.strides, "SAME")
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return outputs


class SNEmbedding(_SpectralNormMixin, keras.layers.Layer):
    """A class embedding (lookup table), spectrally normalized if asked.

    The power iteration runs on the [classes, dim] table with u over its
    columns (compare_gan), or with `sn_over_classes` over its rows, as
    BigGAN-PyTorch's SNEmbedding does (its u has one entry per class). Both
    converge to the same sigma; they differ step by step.
    """

    def __init__(
        self,
        num_classes,
        dim,
        spectral_norm=True,
        kernel_initializer=None,
        sn_over_classes=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dim = dim
        self.spectral_norm = spectral_norm
        self.sn_over_classes = sn_over_classes
        self.kernel_initializer = kernel_initializer or weight_init()

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(self.num_classes, self.dim),
            initializer=self.kernel_initializer,
            name="embeddings",
        )
        self._build_sn(self.num_classes if self.sn_over_classes else self.dim)

    def _table(self, training):
        if not (self.spectral_norm and self.sn_over_classes):
            return self._normalized_kernel(training)
        kernel = tf.cast(tf.convert_to_tensor(self.kernel), tf.float32)
        table_t, u_new = spectral_normalize(tf.transpose(kernel), self.sn_u)
        if training:
            self.sn_u.assign(tf.cast(u_new, self.sn_u.dtype))
        return tf.transpose(table_t)

    def call(self, labels, training=False):
        return tf.cast(
            tf.gather(self._table(training), labels), self.compute_dtype
        )


class ConditionalBatchNorm(keras.layers.Layer):
    """Batch norm whose scale and offset are linear maps of a condition.

    out = standardize(x) * gamma(c) + beta(c), gamma and beta dense layers
    without bias of the conditioning vector c (compare_gan's
    `conditional_batch_norm`); with `one_plus_gamma` the scale is
    1 + gamma(c) (BigGAN-PyTorch's `ccbn`). Statistics are synchronized
    across replicas.
    """

    def __init__(
        self,
        spectral_norm=True,
        one_plus_gamma=False,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.bn = keras.layers.BatchNormalization(
            center=False,
            scale=False,
            synchronized=True,
            momentum=momentum,
            epsilon=epsilon,
        )
        self.spectral_norm = spectral_norm
        self.one_plus_gamma = one_plus_gamma
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = SNDense(
            channels,
            use_bias=False,
            spectral_norm=self.spectral_norm,
            kernel_initializer=self.kernel_initializer,
        )
        self.beta = SNDense(
            channels,
            use_bias=False,
            spectral_norm=self.spectral_norm,
            kernel_initializer=self.kernel_initializer,
        )

    def call(self, x, condition, training=False):
        x = self.bn(x, training=training)
        gamma = self.gamma(condition, training=training)
        if self.one_plus_gamma:
            gamma += 1.0
        beta = self.beta(condition, training=training)
        return x * gamma[:, None, None, :] + beta[:, None, None, :]


class NonLocalBlock(keras.layers.Layer):
    """SAGAN self-attention as in compare_gan's `non_local_block`.

    theta, phi, g: 1x1 convolutions (no bias) to C/8, C/8 and C/2 channels,
    phi and g max-pooled 2x2; out = x + sigma * conv1x1(softmax(theta phi^T)
    g), sigma a scalar initialized to 0.
    """

    def __init__(self, spectral_norm=True, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        c = input_shape[-1]

        def conv(filters):
            return SNConv2D(
                filters,
                1,
                use_bias=False,
                spectral_norm=self.spectral_norm,
                kernel_initializer=self.kernel_initializer,
            )

        self.theta, self.phi, self.g = conv(c // 8), conv(c // 8), conv(c // 2)
        self.out = conv(c)
        self.sigma = self.add_weight(
            shape=(), initializer="zeros", name="sigma"
        )

    def call(self, x, training=False):
        _, h, w, c = x.shape
        pool = lambda t: tf.nn.max_pool2d(t, 2, 2, "VALID")  # noqa: E731
        theta = tf.reshape(
            self.theta(x, training=training), [-1, h * w, c // 8]
        )
        phi = tf.reshape(
            pool(self.phi(x, training=training)), [-1, h * w // 4, c // 8]
        )
        g = tf.reshape(
            pool(self.g(x, training=training)), [-1, h * w // 4, c // 2]
        )
        attn = tf.nn.softmax(
            tf.cast(tf.matmul(theta, phi, transpose_b=True), tf.float32)
        )
        attn = tf.cast(attn, g.dtype)
        attn_g = tf.reshape(tf.matmul(attn, g), [-1, h, w, c // 2])
        return x + tf.cast(self.sigma, x.dtype) * self.out(
            attn_g, training=training
        )


def upsample(x, method):
    """2x up-sampling: 'zeros' (compare_gan's zero-insertion unpooling: each
    value at the top-left of its 2x2 cell) or 'nearest'."""
    if method == "nearest":
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    b, h, w, c = tf.unstack(tf.shape(x))
    zeros = tf.zeros_like(x)
    x = tf.stack([x, zeros], axis=3)  # [B, H, W, 2, C]
    x = tf.reshape(x, [b, h, 2 * w, c])
    x = tf.stack([x, tf.zeros_like(x)], axis=2)  # [B, H, 2, 2W, C]
    return tf.reshape(x, [b, 2 * h, 2 * w, c])


def avg_pool(x):
    """2x2 average pooling."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")
