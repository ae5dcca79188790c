"""The peer control: DiffAugment's own code, trained in our study's setting
and scored by our offline score (docs/CPU_REPRODUCTION.md, "The peer
control").

  python benchmarks/diffaugment_control.py --images=cifar10-jpeg/train.zip \\
      --reference=cifar10-jpeg/test.zip --out=DIR [--policy=translation,cutout]
      [--subset=200] [--steps=5000] [--every=500] [--ch=16] [--d_steps=1]

1. Writes DIR/images.npz: the study's training images, the same fixed
   choice `dataset.subset` makes (200 of the archive, subset_seed 0).
2. Trains DiffAugment's BigGAN-CIFAR G and D on them with its own G_D
   forward, policy and hinge loss (diffaugment_control_torch.py, PyTorch in
   a process of its own), writing 2,000 samples every --every steps;
   a rerun resumes.
3. Scores each sample set as the study's evaluation hook does: the shipped
   classifier's Frechet distance (FCD) of the 2,000 samples against the
   first 2,000 images of --reference (fid2k_test), into DIR/scores.json,
   and prints the curve.
"""

import glob
import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

from tfgda import data
from tfgda.metrics import evaluation
from tfgda.metrics import fid as fid_lib
from tfgda.metrics import protocols

_IMAGES = flags.DEFINE_string("images", None, "The training archive.")
_REFERENCE = flags.DEFINE_string("reference", None, "The test archive.")
_OUT = flags.DEFINE_string("out", None, "The control's folder.")
_POLICY = flags.DEFINE_string(
    "policy", "translation,cutout", "DiffAugment's policy ('none': none)."
)
_SUBSET = flags.DEFINE_integer("subset", 200, "Training images.")
_STEPS = flags.DEFINE_integer("steps", 5000, "G steps.")
_EVERY = flags.DEFINE_integer("every", 500, "Steps between sample sets.")
_CH = flags.DEFINE_integer("ch", 16, "G_ch = D_ch (the peer's CIFAR: 64).")
_D_STEPS = flags.DEFINE_integer("d_steps", 1, "D steps per G step.")
_BATCH = flags.DEFINE_integer("batch", 64, "Batch size.")
_SEED = flags.DEFINE_integer("seed", 0, "torch's seed.")
_PROTOCOL = "fid2k_test"
_TORCH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "diffaugment_control_torch.py"
)


def export_images(path, subset, out):
    dataset, info = data.dataset(
        subset,
        shuffle=False,
        repeat=False,
        drop_remainder=False,
        cache=False,
        name="images",
        path=path,
        subset=subset,
        subset_seed=0,
    )
    batch = next(iter(dataset))
    np.savez(
        out, images=batch["images"].numpy(), labels=batch["labels"].numpy()
    )
    return info


def score(out, reference):
    protocol = protocols.parse(_PROTOCOL)
    features = evaluation.load_features("cifar10_classifier")
    run_info = {"image_shape": (32, 32, 3), "dataset": "images"}
    batches, dataset_id = evaluation.reference_batches(
        run_info, protocol, 100, reference, resize=False
    )
    ref = evaluation.reference_statistics(
        protocol, features, batches, dataset_id, None
    )
    path = os.path.join(out, "scores.json")
    scores = {}
    if os.path.exists(path):
        with open(path) as f:
            scores = json.load(f)["fcd"]
    for npz in sorted(glob.glob(os.path.join(out, "samples", "step_*.npz"))):
        step = str(int(os.path.basename(npz)[5:-4]))
        if step in scores:
            continue
        images = np.load(npz)["images"].astype(np.float32)
        feats, _ = evaluation.activations(
            features, [images[i : i + 100] for i in range(0, len(images), 100)]
        )
        mu, sigma = fid_lib.statistics(feats)
        scores[step] = float(
            fid_lib.fid_from_statistics(mu, sigma, ref["mu"], ref["sigma"])
        )
        record = {
            "protocol": _PROTOCOL,
            "feature_weights_sha256": features.sha256,
            "fcd": {k: scores[k] for k in sorted(scores, key=int)},
        }
        with open(path + ".tmp", "w") as f:
            json.dump(record, f, indent=1)
        os.replace(path + ".tmp", path)
    return scores


def grid(out):
    """The last sample set's first 64 images as an 8x8 PNG."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    last = sorted(glob.glob(os.path.join(out, "samples", "step_*.npz")))[-1]
    images = np.load(last)["images"][:64]
    tiles = images.reshape(8, 8, 32, 32, 3).swapaxes(1, 2).reshape(256, 256, 3)
    pixels = np.clip((tiles + 1) * 127.5, 0, 255).astype(np.uint8)
    path = last[:-4] + ".png"
    Image.fromarray(pixels).resize((512, 512), Image.NEAREST).save(path)
    return path


def main(argv):
    del argv
    out = _OUT.value
    os.makedirs(out, exist_ok=True)
    images = os.path.join(out, "images.npz")
    if not os.path.exists(images):
        export_images(_IMAGES.value, _SUBSET.value, images)
    status = subprocess.call(
        [
            sys.executable,
            _TORCH,
            out,
            str(_STEPS.value),
            str(_EVERY.value),
            _POLICY.value or "none",
            str(_SEED.value),
            str(_CH.value),
            str(_D_STEPS.value),
            str(_BATCH.value),
            "2000",
        ]
    )
    if status:
        sys.exit(status)
    scores = score(out, _REFERENCE.value)
    for step in sorted(scores, key=int):
        print(f"step {step}: FCD {scores[step]:.1f}")
    print("grid:", grid(out))


if __name__ == "__main__":
    app.run(main)
