"""Images/s of DiffAugment's PyTorch ops (the reference in
../shared/reference/diffaugment), forward and forward + backward, as JSON on
stdout. Run by augment_speed.py in a process of its own (TensorFlow and
PyTorch in one process can crash each other).

  python benchmarks/diffaugment_reference_speed.py REPEATS THREADS BATCH...
"""

import json
import os
import sys
import time

import torch

REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "shared",
    "reference",
    "diffaugment",
)
POLICIES = ("color", "translation", "cutout", "color,translation,cutout")


def _rate(fn, x, repeats, backward):
    def once():
        y = fn(x)
        if backward:
            y.sum().backward()
        return y

    once()  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return repeats * x.shape[0] / (time.perf_counter() - start)


def main(repeats, threads, batches):
    sys.path.insert(0, REFERENCE)
    from DiffAugment_pytorch import DiffAugment  # pylint: disable=g-import-not-at-top,import-error

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {}
    for batch in batches:
        x = torch.rand(batch, 3, 32, 32) * 2 - 1
        x.requires_grad_(True)
        for policy in POLICIES:
            for backward in (False, True):
                fn = lambda t, p=policy: DiffAugment(t, p)  # noqa: E731
                out[f"{policy}|{batch}|{int(backward)}"] = _rate(
                    fn, x, repeats, backward
                )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), [int(b) for b in sys.argv[3:]])
