"""Reading image archives: time to the first batch, images/s, peak memory.

  python benchmarks/data_speed.py [--sizes=1000,50000] [--batches=100]
      [--work_dir=/tmp/tfgda_data_speed]

Writes zip archives of N random 64x64 JPEGs in 10 class folders (once; kept
in --work_dir), then, for each archive and `dataset.cache` on and off, in a
fresh process each: the seconds from `dataset` to the first batch of 64
(indexing the archive, checking a sample of 500 images, starting the
pipeline), the images/s over the next --batches batches, and the process's
peak resident memory. Beside it, the up-front cost of reading the whole
archive and decoding every image before the first batch (what a loader that
holds the archive in memory pays): its seconds and peak memory. Last, the
ratios 50k / 1k of each figure.
"""

import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import numpy as np  # noqa: E402

_SIZES = flags.DEFINE_list("sizes", ["1000", "50000"], "Archive sizes.")
_BATCHES = flags.DEFINE_integer(
    "batches", 100, "Batches timed after the first."
)
_WORK_DIR = flags.DEFINE_string(
    "work_dir",
    "/tmp/tfgda_data_speed",
    "Where the generated archives are kept.",
)
_CHILD = flags.DEFINE_string(
    "child",
    None,
    "Internal: one measurement, 'tfgda:<cache>' or 'read_all', of --archive.",
)
_ARCHIVE = flags.DEFINE_string("archive", None, "Internal: the archive.")
BATCH = 64


def _write_archive(path, count):
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    tmp = path + ".partial"
    with zipfile.ZipFile(tmp, "w") as archive:
        for i in range(count):
            # Smooth images with noise: JPEG sizes like photographs' (~2 KB).
            image = np.kron(
                np.roll(base, i, axis=(0, 1)), np.ones((8, 8, 1), np.uint8)
            )
            image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255)
            buffer = io.BytesIO()
            Image.fromarray(image.astype(np.uint8)).save(
                buffer, "JPEG", quality=90
            )
            archive.writestr(f"class{i % 10}/{i:06d}.jpg", buffer.getvalue())
    os.replace(tmp, path)


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_tfgda(archive, cache):
    from tfgda import data

    started = time.perf_counter()
    ds, _ = data.dataset(BATCH, path=archive, cache=cache)
    it = iter(ds)
    next(it)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(_BATCHES.value):
        next(it)
    rate = _BATCHES.value * BATCH / (time.perf_counter() - started)
    return {"first_batch_s": first, "images_per_s": rate, "peak_mb": _peak_mb()}


def _measure_read_all(archive):
    import io
    import zipfile

    from PIL import Image
    import tensorflow  # noqa: F401  (the same runtime as the others)

    started = time.perf_counter()
    with zipfile.ZipFile(archive) as z:
        contents = [z.read(n) for n in z.namelist()]
    pixels = [
        np.asarray(Image.open(io.BytesIO(c)).convert("RGB")) for c in contents
    ]
    return {
        "first_batch_s": time.perf_counter() - started,
        "images": len(pixels),
        "peak_mb": _peak_mb(),
    }


def _child(what, archive):
    args = [
        sys.executable,
        os.path.abspath(__file__),
        f"--child={what}",
        f"--archive={archive}",
        f"--batches={_BATCHES.value}",
    ]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if _CHILD.value:
        what = _CHILD.value
        result = (
            _measure_read_all(_ARCHIVE.value)
            if what == "read_all"
            else _measure_tfgda(_ARCHIVE.value, what == "tfgda:cache")
        )
        print(json.dumps(result))
        return
    os.makedirs(_WORK_DIR.value, exist_ok=True)
    results = {}
    for size in map(int, _SIZES.value):
        archive = os.path.join(_WORK_DIR.value, f"jpeg64_{size}.zip")
        if not os.path.exists(archive):
            started = time.perf_counter()
            _write_archive(archive, size)
            print(
                f"wrote {archive} ({os.path.getsize(archive) / 1e6:.1f} "
                f"MB) in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        for what in ("tfgda:cache", "tfgda:stream", "read_all"):
            r = results[size, what] = _child(what, archive)
            line = (
                f"{size:>6} images  {what:<13} first batch "
                f"{r['first_batch_s']:6.2f} s"
            )
            if "images_per_s" in r:
                line += f"  {r['images_per_s']:8.0f} images/s"
            print(f"{line}  peak {r['peak_mb']:6.0f} MB", flush=True)
    sizes = sorted(map(int, _SIZES.value))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"ratios {large} / {small} images:")
        for what in ("tfgda:cache", "tfgda:stream", "read_all"):
            a, b = results[small, what], results[large, what]
            print(
                f"  {what:<13} first batch "
                f"{b['first_batch_s'] / a['first_batch_s']:5.2f}x  "
                f"peak memory {b['peak_mb'] / a['peak_mb']:5.2f}x"
            )


if __name__ == "__main__":
    app.run(main)
