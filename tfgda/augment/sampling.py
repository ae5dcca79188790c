"""Per-sample resampling, the primitives of the spatial ops, compiled.

Each spatial augmentation here (translation, zoom, crop + flip) is an
axis-aligned map: output row i reads source row y_i, output column j reads
source column x_j, with y and x affine in i and j. Such a map is separable,
so by definition it is `out[b] = R[b] @ image[b] @ C[b]^T` for per-sample
matrices R [H, H] and C [W, W] whose rows hold bilinear weights, with
reflection padding folded in (a source index outside the image is reflected
back into it): `window_matrices` and `resample`. It is linear in the image,
so gradients reach the input images exactly, and integer shifts are exact
pixel copies, no blur.

The ops compute the same numbers without the matrices, each row holding at
most two weights:
  * `shift`, whole-pixel shifts: one gather of rows and one of columns;
    its gradient (the transpose) is three windows per axis for reflection,
    one for zero padding;
  * `bilinear`, zooms and crops: two gathers and a blend per axis; its
    gradient the dense transpose R^T g C.

The functions that touch every pixel are compiled with XLA (`compiled`):
on CPUs and GPUs XLA fuses an op's elementwise work and gathers into a few
kernels, where plain TensorFlow runs dozens of small ones. Each op draws
its random parameters outside the compiled function, because XLA's random
draws differ from TensorFlow's: so a seed gives the same augmentation
with XLA on or off. `TFGDA_AUGMENT_XLA=0` in the environment turns it off.
"""

import contextlib
import functools
import os
import threading

import tensorflow as tf

__all__ = [
    "axis_matrix",
    "bilinear",
    "compiled",
    "deferred",
    "reflect",
    "resample",
    "run_deferred",
    "shift",
    "window_matrices",
    "window_sources",
    "xla_enabled",
]


def xla_enabled():
    """Whether `compiled` functions run under XLA: yes, unless
    TFGDA_AUGMENT_XLA=0 in the environment (read when a function is traced).
    """
    return os.environ.get("TFGDA_AUGMENT_XLA", "1") != "0"


def compiled(fn=None, *, gradient=None):
    """`fn` and its gradient, each compiled by XLA (unless
    TFGDA_AUGMENT_XLA=0).

    `fn(images, *tensors, **options)`: positional arguments are tensors,
    keyword arguments Python values fixed at tracing. The gradient flows to
    the images only (the other tensors are an op's drawn parameters). It is
    a compiled function of its own that recomputes `fn` inside it (cheap
    beside the pixel work it fuses): TensorFlow would otherwise run the
    backward pass of a compiled function as plain ops. Inside a caller's
    XLA-compiled step both are inlined. `@compiled(gradient=g)` gives the
    gradient in closed form instead, `g(upstream, images, *tensors)` (e.g.
    the identity for a shift of values).

    Under `deferred()` a call computes nothing: it records itself and
    returns its images, so that `run_deferred` can run several such calls
    in one compiled function.
    """
    if fn is None:
        return functools.partial(compiled, gradient=gradient)

    @functools.cache
    def functions(options):
        kwargs = dict(options)
        return _compile_pair(
            lambda images, params: fn(images[0], *params, **kwargs)
        )

    @functools.wraps(fn)
    def call(*args, **options):
        if not xla_enabled():
            return fn(*args, **options)
        images, *params = [tf.convert_to_tensor(a) for a in args]
        calls = getattr(_recording, "calls", None)
        if calls is not None:
            calls.append((fn, tuple(sorted(options.items())), tuple(params)))
            return args[0]
        closed_form = None
        if gradient is not None:

            def closed_form(upstream, images):
                return [gradient(*upstream, *images, *params)]

        pair = functions(tuple(sorted(options.items())))
        return _run_pair(pair, [images], params, closed_form)

    return call


def _compile_pair(body):
    """(forward, backward): `body(images, params)` compiled by XLA, and the
    gradient of its outputs to `images` (a tuple of tensors) given the
    upstream gradients, compiled, recomputing `body` inside it."""

    @tf.function(jit_compile=True, autograph=False)
    def forward(images, params):
        return body(images, params)

    @tf.function(jit_compile=True, autograph=False)
    def backward(images, params, upstream):
        with tf.GradientTape() as tape:
            tape.watch(images)
            out = body(images, params)
        return tape.gradient(
            out,
            images,
            output_gradients=upstream,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    return forward, backward


def _run_pair(pair, images, params, closed_form=None):
    """The outputs of `pair` (`_compile_pair`) on `images` (a list of
    tensors) and drawn `params`, differentiable with respect to the images
    by its backward function (or `closed_form(upstream, images)`)."""
    forward, backward = pair
    params = tuple(params)

    @tf.custom_gradient
    def op(*images):
        outputs = forward(images, params)

        def grad(*upstream):
            upstream = [
                tf.zeros_like(o) if u is None else u
                for u, o in zip(upstream, tf.nest.flatten(outputs))
            ]
            if closed_form is not None:
                return closed_form(upstream, images)
            return list(backward(images, params, upstream))

        return outputs, grad

    return op(*images)


_recording = threading.local()


@contextlib.contextmanager
def deferred():
    """Inside it, calls of `compiled` functions are recorded, not run: each
    returns its images unchanged and appends (fn, options, tensors) to the
    list this yields, for `run_deferred`."""
    calls = []
    _recording.calls = calls
    try:
        yield calls
    finally:
        _recording.calls = None


def run_deferred(inputs, chains):
    """Runs every recorded chain of `compiled` calls (`deferred`) on its
    input, all in one compiled function, and the gradient in another.

    Args:
      inputs: a list of image batches.
      chains: for each input, the calls recorded while an augmentation
        pipeline was traced on it, applied in order.
    Returns:
      The list of outputs: the same numbers as the calls one by one, with one
      XLA launch instead of one per call (a millisecond each on a CPU).
    """
    static = tuple(
        tuple((fn, options, len(params)) for fn, options, params in chain)
        for chain in chains
    )
    params = [p for chain in chains for _, _, ps in chain for p in ps]
    return list(_run_pair(_chain_pair(static), inputs, params))


@functools.cache
def _chain_pair(static):
    def body(images, params):
        params = iter(params)
        outputs = []
        for x, chain in zip(images, static):
            for fn, options, count in chain:
                x = fn(
                    x, *[next(params) for _ in range(count)], **dict(options)
                )
            outputs.append(x)
        return tuple(outputs)

    return _compile_pair(body)


def reflect(index, size):
    """Reflects integer indices into [0, size) without repeating the edge.

    ... 2 1 | 0 1 2 ... size-1 | size-2 ...  (numpy's and tf.pad's REFLECT).
    """
    if size == 1:
        return tf.zeros_like(index)
    period = 2 * (size - 1)
    index = tf.math.floormod(index, period)
    return tf.where(index >= size, period - index, index)


def axis_matrix(source, size, padding="reflect", dtype=tf.float32):
    """Bilinear resampling matrices from source coordinates.

    Args:
      source: float [B, N], the source coordinate (pixel centres at
        integers) read by each of the N output positions.
      size: the source axis length.
      padding: 'reflect', or 'zeros' (outside the image reads 0).
    Returns:
      [B, N, size] matrices; row n holds the weights of output position n.
    """
    lower = tf.floor(source)
    frac = tf.cast(source - lower, dtype)[..., None]
    lower = tf.cast(lower, tf.int32)
    upper = lower + 1
    if padding == "reflect":
        lower, upper = reflect(lower, size), reflect(upper, size)
    # one_hot of an index outside [0, size) is a zero row: zero padding.
    return (
        tf.one_hot(lower, size, dtype=dtype) * (1 - frac)
        + tf.one_hot(upper, size, dtype=dtype) * frac
    )


def window_sources(scale, start, size):
    """Source coordinates [B, size] of the affine map of `window_matrices`:
    output position i reads scale * (i + 0.5) + start - 0.5."""
    centres = tf.range(size, dtype=tf.float32) + 0.5
    return scale[:, None] * centres + start[:, None] - 0.5


def bilinear(images, source_y, source_x, padding="reflect"):
    """out[b, i, j] = images at (source_y[b, i], source_x[b, j]), bilinear:
    `resample` with the matrices of these coordinates. The forward pass is
    two gathers and a blend per axis (compiled), where dense products would
    multiply by 30 zeros for each 2 weights; the backward pass is the dense
    transpose, R^T g C, in TensorFlow's matrix products: a sum over every
    output that read a pixel, which XLA's scatter does slower on CPUs.

    Args:
      images: [B, H, W, C].
      source_y: float [B, H'], source_x: float [B, W'] (`window_sources`).
      padding: 'reflect', or 'zeros'.
    """

    @tf.custom_gradient
    def op(images):
        def grad(upstream):
            rows = axis_matrix(source_y, images.shape[1], padding)
            cols = axis_matrix(source_x, images.shape[2], padding)
            rows = tf.cast(rows, upstream.dtype)
            cols = tf.cast(cols, upstream.dtype)
            out = tf.einsum("biy,bijc->byjc", rows, upstream)
            return tf.einsum("bjx,byjc->byxc", cols, out)

        return _gather_blend(images, source_y, source_x, padding=padding), grad

    return op(images)


@compiled
def _gather_blend(images, source_y, source_x, padding):
    out = _blend_axis(images, source_y, 1, padding)
    return _blend_axis(out, source_x, 2, padding)


def _blend_axis(x, source, axis, padding):
    size = x.shape[axis]
    lower = tf.floor(source)
    frac = source - lower
    lower = tf.cast(lower, tf.int32)
    shape = [-1, 1, 1, 1]
    shape[axis] = source.shape[1]
    out = 0.0
    for index, weight in ((lower, 1 - frac), (lower + 1, frac)):
        if padding == "reflect":
            index = reflect(index, size)
        else:  # zeros: a source outside the image reads 0
            weight = tf.where((index >= 0) & (index < size), weight, 0.0)
        taken = tf.gather(
            x, tf.clip_by_value(index, 0, size - 1), axis=axis, batch_dims=1
        )
        out += taken * tf.cast(tf.reshape(weight, shape), x.dtype)
    return out


def window_matrices(scale, start, size, padding="reflect"):
    """Matrices of the affine map source = scale * (i + 0.5) + start - 0.5.

    Output position i (of `size`) reads the source coordinate whose pixel
    edge lies at `start + scale * (i + 0.5)`: scale 1 and start -t shift by
    t pixels; scale < 1 zooms in on a window starting at `start`; scale -1
    with start = size flips.
    Args:
      scale, start: float [B].
    """
    return axis_matrix(window_sources(scale, start, size), size, padding)


def resample(images, rows, cols):
    """out[b, i, j] = sum_{y, x} rows[b, i, y] images[b, y, x] cols[b, j, x].

    Not compiled: TensorFlow's own batched matrix products (oneDNN) beat
    XLA's on CPUs, most of all in the backward pass (1.9 against 1.6 ms
    forward, 3.2 against 5.1 ms forward + backward at batch 256, one run).

    Args:
      images: [B, H, W, C].
      rows: [B, H', H] row matrices; cols: [B, W', W] column matrices.
    """
    rows = tf.cast(rows, images.dtype)
    cols = tf.cast(cols, images.dtype)
    out = tf.einsum("biy,byxc->bixc", rows, images)
    return tf.einsum("bjx,bixc->bijc", cols, out)


def _window(x, start, axis):
    """out[b, ..., i, ...] = x[b, ..., start[b] + i, ...] along `axis`, and
    0 where start[b] + i lies outside. Injective, so its gradient is the
    window at -start."""
    size = x.shape[axis]

    @tf.custom_gradient
    def window(x):
        def grad(upstream):
            return _gather_window(upstream, -start, axis, size)

        return _gather_window(x, start, axis, size), grad

    return window(x)


def _gather_window(x, start, axis, size):
    index = start[:, None] + tf.range(size)[None]
    inside = (index >= 0) & (index < size)
    out = tf.gather(
        x, tf.clip_by_value(index, 0, size - 1), axis=axis, batch_dims=1
    )
    shape = [-1, 1, 1, 1]
    shape[axis] = size
    return out * tf.cast(tf.reshape(inside, shape), x.dtype)


def _shift_axis(x, offset, axis, padding):
    """out[i] = x[i + offset[b]] along `axis`, outside filled by `padding`."""
    size = x.shape[axis]
    if padding == "zeros":
        return _window(x, offset, axis)
    if size == 1:
        return x
    # Reflection has period 2 (size - 1): bring the offset into
    # [-(size - 1), size - 1), where a source index leaves the image at most
    # once. The forward pass is one gather of the reflected indices; its
    # transpose sums three windows: out[i] = x[i + o] inside, x[-(i + o)]
    # below the first index and x[2 (size - 1) - (i + o)] past the last,
    # the two reflected parts being windows of the reversed axis.
    period = 2 * (size - 1)
    offset = tf.math.floormod(offset + size - 1, period) - (size - 1)
    source = offset[:, None] + tf.range(size)[None]

    @tf.custom_gradient
    def reflected(x):
        def grad(upstream):
            return _reflect_transpose(upstream, offset, axis)

        index = reflect(source, size)
        return tf.gather(x, index, axis=axis, batch_dims=1), grad

    return reflected(x)


def _reflect_transpose(upstream, offset, axis):
    """The transpose of `_shift_axis` with reflection, for its offset in
    [-(size - 1), size - 1)."""
    size = upstream.shape[axis]
    source = offset[:, None] + tf.range(size)[None]
    shape = [-1, 1, 1, 1]
    shape[axis] = size

    def part(condition, start):
        inside = tf.cast(tf.reshape(condition, shape), upstream.dtype)
        window = _gather_window(upstream * inside, start, axis, size)
        return tf.reverse(window, [axis])

    return (
        _gather_window(upstream, -offset, axis, size)
        + part(source < 0, -(offset + size - 1))
        + part(source >= size, size - 1 - offset)
    )


@compiled
def shift(images, rows, cols, padding="reflect"):
    """out[b, i, j] = images[b, i + rows[b], j + cols[b]] for integer
    [B] shifts, exactly; outside the image: 'reflect' or 'zeros'.

    Equal to `resample` with `window_matrices(1, rows, ...)` and
    `window_matrices(1, cols, ...)`, and its gradient too.
    """
    rows = tf.cast(rows, tf.int32)
    cols = tf.cast(cols, tf.int32)
    out = _shift_axis(images, rows, 1, padding)
    return _shift_axis(out, cols, 2, padding)
