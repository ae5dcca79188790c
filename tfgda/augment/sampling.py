"""Per-sample separable resampling: the one primitive of every spatial op.

Each spatial augmentation here (translation, zoom, crop + flip) is an
axis-aligned map: output row i reads source row y_i, output column j reads
source column x_j, with y and x affine in i and j. Such a map is separable,
so it is exactly `out[b] = R[b] @ image[b] @ C[b]^T` for per-sample matrices
R [H, H] and C [W, W] whose rows hold bilinear weights. Reflection padding is
folded into the matrices (a source index outside the image is reflected back
into it), so:
  * gradients reach the input images exactly (the op is linear in them);
  * it runs as two batched matrix products: fast on GPUs and TPUs, no
    gathers, and XLA-friendly;
  * integer shifts give 0/1 matrices, i.e. exact pixel copies, no blur.
"""

import tensorflow as tf

__all__ = ["axis_matrix", "reflect", "resample", "window_matrices"]


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


def window_matrices(scale, start, size, padding="reflect"):
    """Matrices of the affine map source = scale * (i + 0.5) + start - 0.5.

    Output position i (of `size`) reads the source coordinate whose pixel
    edge lies at `start + scale * (i + 0.5)`: scale 1 and start -t shift by
    t pixels; scale < 1 zooms in on a window starting at `start`; scale -1
    with start = size flips.
    Args:
      scale, start: float [B].
    """
    centres = tf.range(size, dtype=tf.float32) + 0.5
    source = scale[:, None] * centres + start[:, None] - 0.5
    return axis_matrix(source, size, padding)


def resample(images, rows, cols):
    """out[b, i, j] = sum_{y, x} rows[b, i, y] images[b, y, x] cols[b, j, x].

    Args:
      images: [B, H, W, C].
      rows: [B, H', H] row matrices; cols: [B, W', W] column matrices.
    """
    rows = tf.cast(rows, images.dtype)
    cols = tf.cast(cols, images.dtype)
    out = tf.einsum("biy,byxc->bixc", rows, images)
    return tf.einsum("bjx,bixc->bijc", cols, out)
