"""Trains DiffAugment's own BigGAN-CIFAR code (the reference in
../shared/reference/diffaugment, loaded, never copied) on a small image set,
on the CPU, with or without a DiffAugment policy: the peer control of
docs/CPU_REPRODUCTION.md. Run by diffaugment_control.py in a process of its
own (TensorFlow and PyTorch in one process can crash each other).

  python benchmarks/diffaugment_control_torch.py OUT STEPS EVERY POLICY \\
      SEED CH D_STEPS BATCH SAMPLES

Reads OUT/images.npz (images NHWC in [-1, 1], labels); every EVERY steps
writes OUT/samples/step_<N>.npz (SAMPLES generated images, NHWC in [-1, 1],
uniform labels, fixed z) and saves OUT/state.pt, so a rerun resumes. The
loop is the peer's training function reduced to the CPU: its G_D forward
with `policy` (both of D's inputs augmented), its hinge loss, its Adam
settings and N(0, 0.02) initialisation from the BigGAN-PyTorch CIFAR
script; no EMA (samples from G in eval mode, its BN running statistics).
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "shared",
    "reference",
    "diffaugment",
)
DIM_Z = 128


def main(out, steps, every, policy, seed, ch, d_steps, batch, samples):
    sys.path.insert(0, REFERENCE)
    import BigGAN  # pylint: disable=g-import-not-at-top,import-error

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(seed)
    data = np.load(os.path.join(out, "images.npz"))
    images = torch.from_numpy(np.transpose(data["images"], (0, 3, 1, 2)))
    labels = torch.from_numpy(data["labels"].astype(np.int64))
    classes = int(labels.max()) + 1
    common = dict(resolution=32, n_classes=classes, G_attn="0", D_attn="0")
    g = BigGAN.Generator(
        G_ch=ch,
        dim_z=DIM_Z,
        bottom_width=4,
        G_shared=True,
        hier=False,
        G_lr=2e-4,
        G_B1=0.0,
        G_B2=0.999,
        G_init="N02",
        **common,
    )
    d = BigGAN.Discriminator(
        D_ch=ch,
        D_wide=True,
        D_lr=2e-4,
        D_B1=0.0,
        D_B2=0.999,
        D_init="N02",
        **common,
    )
    gd = BigGAN.G_D(g, d)
    state_path = os.path.join(out, "state.pt")
    step = 0
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        g.load_state_dict(state["g"])
        d.load_state_dict(state["d"])
        g.optim.load_state_dict(state["g_optim"])
        d.optim.load_state_dict(state["d_optim"])
        torch.set_rng_state(state["rng"])
        step = state["step"]
    fixed = torch.Generator().manual_seed(1234)
    z_fixed = torch.randn(samples, DIM_Z, generator=fixed)
    y_fixed = torch.randint(0, classes, (samples,), generator=fixed)
    os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    log = open(os.path.join(out, "train.log"), "a")  # noqa: SIM115
    start = time.time()
    n = images.shape[0]
    while step < steps:
        g.train()
        d.train()
        for _ in range(d_steps):
            idx = torch.randint(0, n, (batch,))
            z = torch.randn(batch, DIM_Z)
            gy = torch.randint(0, classes, (batch,))
            d.optim.zero_grad()
            d_fake, d_real = gd(
                z, gy, images[idx], labels[idx], train_G=False, policy=policy
            )
            d_loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            d_loss.backward()
            d.optim.step()
        g.optim.zero_grad()
        z = torch.randn(batch, DIM_Z)
        gy = torch.randint(0, classes, (batch,))
        g_loss = -gd(z, gy, train_G=True, policy=policy).mean()
        g_loss.backward()
        g.optim.step()
        step += 1
        if step % 50 == 0 or step == steps:
            line = (
                f"step {step}/{steps}  {time.time() - start:.0f} s  "
                f"d_loss={d_loss.item():.4f}  "
                f"d_real={d_real.mean().item():.4f}  "
                f"d_fake={d_fake.mean().item():.4f}  "
                f"g_loss={g_loss.item():.4f}"
            )
            print(line, file=log, flush=True)
            print(line, flush=True)
        if step % every == 0 or step == steps:
            g.eval()
            with torch.no_grad():
                fakes = torch.cat(
                    [
                        g(z_fixed[i : i + 500], g.shared(y_fixed[i : i + 500]))
                        for i in range(0, samples, 500)
                    ]
                )
            np.savez_compressed(
                os.path.join(out, "samples", f"step_{step:07d}.npz"),
                images=np.transpose(fakes.numpy(), (0, 2, 3, 1)),
            )
            torch.save(
                {
                    "g": g.state_dict(),
                    "d": d.state_dict(),
                    "g_optim": g.optim.state_dict(),
                    "d_optim": d.optim.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": step,
                },
                state_path + ".tmp",
            )
            os.replace(state_path + ".tmp", state_path)
    with open(os.path.join(out, "timing.json"), "a") as f:
        f.write(json.dumps({"steps_to": step, "seconds": time.time() - start}))
        f.write("\n")


if __name__ == "__main__":
    a = sys.argv[1:]
    main(
        a[0],
        int(a[1]),
        int(a[2]),
        a[3] if a[3] != "none" else "",
        int(a[4]),
        int(a[5]),
        int(a[6]),
        int(a[7]),
        int(a[8]),
    )
