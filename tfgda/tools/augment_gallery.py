"""Draws the paper's Figure 1: every augmentation at strengths 0.1 to 0.5.

  python -m tfgda.tools.augment_gallery --images=train.zip --out=gallery.png

One row per augmentation, the original image first and then one column per
strength, all on the same image (or `--num_images` images side by side per
cell). Mixing augmentations take their partners from the images read.
Augmentations of one's own are drawn once their module is imported:
`--modules=my_ops --names=invert,translation` (my_ops on PYTHONPATH).
"""

import importlib
import os

from absl import app
from absl import flags
from matplotlib.figure import Figure
import tensorflow as tf

from tfgda import augment
from tfgda import cli
from tfgda import data
from tfgda.errors import UserError

__all__ = ["PAPER_ORDER", "gallery", "read_images"]

PAPER_ORDER = (
    "zoom_in",
    "zoom_out",
    "translation",
    "translation_x",
    "translation_y",
    "cutout",
    "cutmix",
    "mixup",
    "brightness",
    "redness",
    "greenness",
    "blueness",
    "instance_noise",
    "crop_flip",
)

_NUM_IMAGES = flags.DEFINE_integer("num_images", 1, "Images per cell.")
_POOL = flags.DEFINE_integer("pool", 64, "Images read (mixing partners).")
_MODULES = flags.DEFINE_list(
    "modules",
    [],
    "Python modules to import first, e.g. ones that register augmentations "
    "of their own with tfgda.augment.register (on PYTHONPATH).",
)

_NAMES = cli.flag("names", "Augmentations, one row each (default: all).")
_STRENGTHS = cli.flag("strengths", "Strengths (columns).")
_IMAGES = cli.flag("images", "An image archive: a zip file or image folder.")
_SEED = cli.flag("seed", "The seed of the augmentations' random parameters.")
_OUT = cli.flag("out", "The image file to write (default gallery.png).")


def read_images(path, count, seed=0):
    """Reads up to `count` images from an archive, in a seeded order."""
    dataset, _ = data.dataset(
        count,
        seed=seed,
        path=path,
        repeat=False,
        drop_remainder=False,
        cache=False,
        shuffle_buffer=4 * count,
    )
    return next(iter(dataset))["images"]


def gallery(images, names, strengths, num_images=1, seed=0):
    """Returns a [rows][columns] list of uint8 cells (original first)."""
    rows = []
    for row, name in enumerate(names):
        # One seed per row: along a row only the strength changes.
        row_seed = tf.constant([seed, row], tf.int64)
        cells = [images[:num_images]]
        for strength in strengths:
            op = augment.describe(name)
            pipeline = augment.get(name, min(strength, op.max_strength))
            cells.append(pipeline(images, row_seed)[:num_images])
        rows.append(
            [data.image_grid(c, columns=num_images, pad=0) for c in cells]
        )
    return rows


def _draw(rows, names, strengths, out):
    n_rows, n_cols = len(rows), len(rows[0])
    fig = Figure(figsize=(1.3 * n_cols + 1, 1.3 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, cells) in enumerate(zip(names, rows)):
        for c, cell in enumerate(cells):
            ax = axes[r][c]
            ax.imshow(cell, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(
                    name, rotation=0, ha="right", va="center", fontsize=9
                )
            if r == 0:
                ax.set_title(
                    "original" if c == 0 else f"λ = {strengths[c - 1]:g}",
                    fontsize=9,
                )
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def import_module(name):
    """Imports `name`; a UserError saying how to make it importable."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise UserError(
            f"--modules: {e}: put the folder holding {name}.py on PYTHONPATH "
            "(or install it)."
        ) from e


def _gallery_cli():
    if not _IMAGES.value:
        raise UserError(
            "--images is required: a zip file or a folder of images."
        )
    try:
        strengths = [float(x) for x in _STRENGTHS.value]
    except ValueError as e:
        raise UserError(f"--strengths must be numbers: {e}") from e
    for module in _MODULES.value:
        import_module(module)
    names = _NAMES.value or list(PAPER_ORDER)
    for name in names:
        augment.describe(name)  # unknown names fail before any work
    out = _OUT.value or "gallery.png"
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise UserError(
            f"--out {out!r}: its folder {folder!r} does not "
            "exist: create it, or write elsewhere."
        )
    images = read_images(
        _IMAGES.value, max(_POOL.value, _NUM_IMAGES.value), _SEED.value
    )
    rows = gallery(images, names, strengths, _NUM_IMAGES.value, _SEED.value)
    _draw(rows, names, strengths, out)
    print(
        f"wrote {out}: {len(rows)} augmentations x {len(strengths)} strengths"
    )


if __name__ == "__main__":
    app.run(cli.main(_gallery_cli))
