"""Seconds per call of DiffAugment's PyTorch ops (the reference in
../shared/reference/diffaugment), forward and forward + backward, as JSON on
stdout. Run by augment_speed.py in a process of its own (TensorFlow and
PyTorch in one process can crash each other), with its timing rule: the
best of ROUNDS rounds of REPEATS calls, after a warm-up.

  python benchmarks/diffaugment_reference_speed.py REPEATS ROUNDS THREADS \\
      BATCH...

Keys are "what|batch|backward": `what` is a single op (color, translation,
cutout, and brightness, the first third of color) on one batch, or
"d_inputs:<policy>", the policy as DiffAugment trains with it: one call on
the real batch and one on the fake batch, the gradient (backward 1) to both.
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
SINGLE = ("color", "translation", "cutout")
POLICIES = ("color,translation,cutout", "translation,cutout")


def seconds_per_call(once, repeats, rounds):
    """The best over `rounds` of the mean time of `repeats` calls."""
    for _ in range(3):
        once()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            once()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main(repeats, rounds, threads, batches):
    sys.path.insert(0, REFERENCE)
    import DiffAugment_pytorch as reference  # pylint: disable=g-import-not-at-top,import-error

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ops = {p: lambda t, p=p: reference.DiffAugment(t, p) for p in SINGLE}
    ops["brightness"] = reference.rand_brightness
    out = {}
    for batch in batches:
        real = (torch.rand(batch, 3, 32, 32) * 2 - 1).requires_grad_(True)
        fake = (torch.rand(batch, 3, 32, 32) * 2 - 1).requires_grad_(True)
        for backward in (0, 1):

            def single(fn, backward=backward, real=real):
                y = fn(real)
                if backward:
                    y.sum().backward()

            def pair(policy, backward=backward, real=real, fake=fake):
                y_real = reference.DiffAugment(real, policy)
                y_fake = reference.DiffAugment(fake, policy)
                if backward:
                    (y_real.sum() + y_fake.sum()).backward()

            for name, fn in ops.items():
                out[f"{name}|{batch}|{backward}"] = seconds_per_call(
                    lambda fn=fn: single(fn), repeats, rounds
                )
            for policy in POLICIES:
                out[f"d_inputs:{policy}|{batch}|{backward}"] = seconds_per_call(
                    lambda p=policy: pair(p), repeats, rounds
                )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(
        int(sys.argv[1]),
        int(sys.argv[2]),
        int(sys.argv[3]),
        [int(b) for b in sys.argv[4:]],
    )
