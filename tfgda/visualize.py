"""Image grids for TensorBoard, sample files and galleries."""

import math

import numpy as np
import tensorflow as tf

from tfgda.data import to_uint8

__all__ = ["image_grid", "write_png"]


def image_grid(images, columns=None, pad=1):
    """Tiles a batch [N, H, W, C] in [-1, 1] into one uint8 image.

    Args:
      images: N images; missing cells of the last row are left white.
      columns: images per row (default: ceil(sqrt(N))).
      pad: white pixels between images.
    """
    images = np.asarray(to_uint8(tf.convert_to_tensor(images)))
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8
    )
    for i, image in enumerate(images):
        r, q = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid


def write_png(path, grid):
    """Writes a uint8 [H, W, C] array as a PNG file."""
    tf.io.write_file(path, tf.io.encode_png(grid))
