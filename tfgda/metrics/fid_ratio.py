"""How much an augmentation narrows the gap between real and generated
images: the paper's Fig. 4.

For a trained generator, the Frechet distance of augmented real against
augmented generated images, divided by the distance of the clean sets,

    ratio(t) = FD(t(real), t(fake)) / FD(real, fake),

at each strength of each augmentation. The paper's Fig. 4 shows it falling
as the strength grows (Translation about 0.86 -> 0.49, instance noise
0.80 -> 0.33): a discriminator shown only augmented images sees real and
generated ones closer together, the stronger the augmentation.

Both sets are augmented with independent draws (one seed purpose for the
real images, another for the generated ones), batch by batch; the real
images are shuffled once first, so a mixing op (mixup, cutmix) mixes images
of all classes in either set, not the class-sorted neighbours of an archive.
"""

import os

from absl import logging
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfgda import augment as augment_lib  # noqa: E402
from tfgda import rundir  # noqa: E402
from tfgda.errors import UserError  # noqa: E402
from tfgda.metrics import evaluation  # noqa: E402
from tfgda.metrics import fid as fid_lib  # noqa: E402
from tfgda.metrics import protocols  # noqa: E402
from tfgda.models import standing  # noqa: E402

__all__ = ["FIG4", "RESULT_FOLDER", "draw", "fid_ratio_run", "ratios"]

# The paper's Fig. 4: its augmentations, each at its strengths.
_SPATIAL = (0.1, 0.2, 0.3, 0.4, 0.5)
FIG4 = {
    "greenness": _SPATIAL,
    "mixup": _SPATIAL,
    "translation": _SPATIAL,
    "instance_noise": (0.02, 0.04, 0.06, 0.08, 0.1),
}
RESULT_FOLDER = "fid_ratio"
_REAL, _FAKE = 0, 1  # seed purposes: independent draws for the two sets


def _augmented(images, pipeline, purpose, seed, batch_size):
    for i, start in enumerate(range(0, len(images), batch_size)):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        if pipeline:
            batch = pipeline(
                batch, tf.constant([seed * 2 + purpose, i], tf.int64)
            )
        yield batch


def _statistics(feature_model, images, pipeline, purpose, seed, batch_size):
    features, _ = evaluation.activations(
        feature_model,
        _augmented(images, pipeline, purpose, seed, batch_size),
        what="images",
    )
    return fid_lib.statistics(features)


def ratios(feature_model, reals, fakes, grid, batch_size=100, seed=0):
    """The Frechet distances of the clean sets and of each augmented pair.

    Args:
      feature_model: a network of `evaluation.load_features`.
      reals, fakes: float images in [-1, 1], NHWC (numpy or tensors).
      grid: {augmentation name: [strengths]}.
    Returns:
      {'distance': FD(real, fake), 'ratios': {name: [{'strength': s,
      'distance': FD(t(real), t(fake)), 'ratio': that / FD(real, fake)},
      ...]}}.
    """
    pipelines = {  # every name and strength checked before any scoring
        name: [(float(s), augment_lib.get(name, float(s))) for s in strengths]
        for name, strengths in grid.items()
    }
    reals = np.random.default_rng(seed).permutation(np.asarray(reals))
    fakes = np.asarray(fakes)

    def distance(pipeline):
        return fid_lib.fid_from_statistics(
            *_statistics(
                feature_model, reals, pipeline, _REAL, seed, batch_size
            ),
            *_statistics(
                feature_model, fakes, pipeline, _FAKE, seed, batch_size
            ),
        )

    base = float(distance(None))
    if base < 1e-3:  # 0 up to the matrix square root's rounding
        raise UserError(
            "the real and generated images are at distance "
            f"{base:.2g}: there is no gap for an augmentation to narrow "
            "(are they the same images?)."
        )
    out = {"distance": base, "ratios": {}}
    for name, points in pipelines.items():
        rows = out["ratios"][name] = []
        for strength, pipeline in points:
            d = float(distance(pipeline))
            rows.append(
                {"strength": strength, "distance": d, "ratio": d / base}
            )
            logging.info(
                "%s(%g): distance %.3f, ratio %.3f", name, strength, d, d / base
            )
    return out


def draw(result, title=None):
    """The ratio against strength, one line per augmentation (Fig. 4)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, rows in result["ratios"].items():
        ax.plot(
            [r["strength"] for r in rows],
            [r["ratio"] for r in rows],
            marker="o",
            label=name,
        )
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("strength (lambda_aug)")
    distance = result.get("metric", "FD").upper()
    ax.set_ylabel(f"{distance}(t(real), t(fake)) / {distance}(real, fake)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "", fontsize="small")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _real_images(run_info, protocol, batch_size, reference_path, resize):
    batches, _ = evaluation.reference_batches(
        run_info, protocol, batch_size, reference_path, resize=resize
    )
    return np.concatenate(
        [
            np.asarray(batch, np.float32)
            for batch in evaluation.take(batches(), protocol.num_reference)
        ]
    )


@evaluation.data_lib.shared_indexes()
def fid_ratio_run(
    model_dir,
    grid=None,
    checkpoint="latest",
    protocol="fid10k_test",
    feature_model=None,
    reference_path=None,
    batch_size=100,
    seed=0,
):
    """Fig. 4 for one checkpoint of a run: the protocol's reference images
    against as many generated ones, clean and under every augmentation of
    `grid` (default FIG4). Writes DIR/eval/fid_ratio/ckpt-N.json and .png
    (DIR/eval/<features>/fid_ratio/ for a feature network other than
    Inception); returns the result dict."""
    grid = dict(FIG4 if grid is None else grid)
    for name, strengths in grid.items():  # a bad spec: before any work
        for strength in strengths:
            augment_lib.get(name, float(strength))
    run = rundir.opened(model_dir)  # a Run, or its directory
    path = run.checkpoints(checkpoint)[-1]
    protocol = protocols.parse(protocol)
    with run.config() as run_info:  # the caller's config is back after
        evaluation.check_reference_count(run_info, protocol, reference_path)
        feature_model = feature_model or evaluation.load_features()
        reals = _real_images(
            run_info,
            protocol,
            batch_size,
            reference_path,
            resize=not feature_model.fixed_size,
        )
        sampler = run.generator(path)
        step = rundir.checkpoint_step(path)
        fakes = np.concatenate(
            [
                np.asarray(tf.cast(b, tf.float32))
                for b in evaluation.generated_batches(
                    sampler,
                    run_info["num_classes"],
                    protocol.num_generated,
                    batch_size,
                    seed,
                )
            ]
        )
        feature_model = feature_model.with_resize(protocol.resize)
        result = ratios(feature_model, reals, fakes, grid, batch_size, seed)
        metric = feature_model.metric_names[0]
        result.update(
            step=step,
            checkpoint=path,
            protocol=protocol.name,
            metric=metric,
            num_real=len(reals),
            num_generated=len(fakes),
            features=feature_model.name,
            feature_model=feature_model.handle,
            standing_stats_samples=standing.samples_used(sampler),
        )
        if feature_model.sha256:
            result["feature_weights_sha256"] = feature_model.sha256
        folder = os.path.join(
            "eval", evaluation.result_folder(RESULT_FOLDER, feature_model.name)
        )
        json_path = run.write_result(folder, step, result)
        name = os.path.basename(os.path.normpath(run.model_dir))
        figure = draw(
            result,
            f"{name}, step {step}, "
            f"{protocol.name}, {metric.upper()} {result['distance']:.2f}",
        )
        png_path = os.path.splitext(json_path)[0] + ".png"
        with tf.io.gfile.GFile(png_path, "wb") as f:
            figure.savefig(f, dpi=120, format="png")
        plt.close(figure)
        result["png"] = png_path
        return result
