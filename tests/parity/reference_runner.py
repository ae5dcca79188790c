"""Runs the reference code (PyTorch) in its own process and saves what the
parity tests compare with: TensorFlow and PyTorch in one process can crash
each other, so the tests call this script.

  python reference_runner.py biggan OUT.npz
  python reference_runner.py diffaugment OUT.npz

biggan: the BigGAN-PyTorch CIFAR G and D of DiffAugment-biggan-cifar
(small width), every parameter and buffer (state_dict keys prefixed 'G.',
'D.'), and their outputs on fixed inputs in eval mode, then in train mode
(with the spectral-norm vectors after that step, prefixed 'after.').
diffaugment: DiffAugment's translation, cutout and colour ops on fixed
images with the random draws the ops made, recorded by wrapping torch's
random functions.
"""

import os
import sys

import numpy as np
import torch

REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "..",
    "shared",
    "reference",
    "diffaugment",
)
sys.path.insert(0, REFERENCE)

CH, DIM_Z, CLASSES, BATCH = 4, 128, 10, 6


def inputs():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(BATCH, DIM_Z)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int64)
    images = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)
    return z, labels, images


def biggan(out):
    import BigGAN  # pylint: disable=g-import-not-at-top,import-error

    torch.manual_seed(0)
    g = BigGAN.Generator(
        G_ch=CH,
        dim_z=DIM_Z,
        bottom_width=4,
        resolution=32,
        G_attn="0",
        n_classes=CLASSES,
        G_shared=True,
        hier=False,
        no_optim=True,
    )
    d = BigGAN.Discriminator(
        D_ch=CH, resolution=32, D_attn="0", n_classes=CLASSES, D_wide=True
    )
    with torch.no_grad():  # batch-norm statistics as after some training
        for module in g.modules():
            if hasattr(module, "stored_mean"):
                module.stored_mean.uniform_(-0.3, 0.3)
                module.stored_var.uniform_(0.5, 1.5)
    saved = {f"G.{k}": v.numpy().copy() for k, v in g.state_dict().items()}
    saved.update(
        {f"D.{k}": v.numpy().copy() for k, v in d.state_dict().items()}
    )
    z, labels, images = inputs()
    y = torch.from_numpy(labels)
    x = torch.from_numpy(np.transpose(images, (0, 3, 1, 2)))
    for mode in ("eval", "train"):
        g.train(mode == "train")
        d.train(mode == "train")
        with torch.no_grad():
            fake = g(torch.from_numpy(z), g.shared(y))
            logits = d(x, y)
        saved[f"{mode}.images"] = np.transpose(fake.numpy(), (0, 2, 3, 1))
        saved[f"{mode}.logits"] = logits.numpy().reshape(-1)
    saved["after.G.output_layer.2.u0"] = g.output_layer[2].u0.numpy()
    saved["after.D.embed.u0"] = d.embed.u0.numpy()
    np.savez(out, **saved)


def diffaugment(out):
    import DiffAugment_pytorch as ops  # pylint: disable=g-import-not-at-top,import-error

    draws = {}

    def recording(name, fn):
        def wrapped(*args, **kwargs):
            value = fn(*args, **kwargs)
            draws.setdefault(name, []).append(value.numpy().copy())
            return value

        return wrapped

    torch.manual_seed(0)
    rand, randint = torch.rand, torch.randint
    torch.rand, torch.randint = (
        recording("rand", rand),
        recording("randint", randint),
    )
    try:
        _, _, images = inputs()
        x = torch.from_numpy(np.transpose(images, (0, 3, 1, 2)))
        saved = {}
        for name, fn in ops.AUGMENT_FNS.items():
            draws.clear()
            y = x
            for f in fn:
                y = f(y)
            saved[f"{name}.out"] = np.transpose(y.numpy(), (0, 2, 3, 1))
            for kind, values in draws.items():
                for i, value in enumerate(values):
                    saved[f"{name}.{kind}.{i}"] = value
    finally:
        torch.rand, torch.randint = rand, randint
    np.savez(out, **saved)


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"biggan": biggan, "diffaugment": diffaugment}[sys.argv[1]](sys.argv[2])
