"""Evaluation of a run's checkpoints, and during training.

The library behind `python -m tfgda.evaluate` and `train.eval_every`: it
rebuilds the (EMA) generator of a checkpoint from the run's
operative_config.gin and run_info.json, computes FID, IS and KID under a
protocol, and writes model_dir/eval/<protocol>/ckpt-<step>.json and
TensorBoard scalars `eval/<protocol>/{fid,inception_score,kid}`. With the
offline classifier's features (`cifar10_classifier`) the results are
`fcd` and `kid_fcd`, in model_dir/eval/cifar10_classifier/<protocol>/.
"""

import json
import os

from absl import logging
import gin
import tensorflow as tf

from tfgda import configs
from tfgda import data as data_lib
from tfgda import models
from tfgda.checkpointing import UNREADABLE_ERRORS
from tfgda.checkpointing import VariableList
from tfgda.checkpointing import checkpoint_step
from tfgda.checkpointing import list_checkpoints
from tfgda.checkpointing import write_atomically
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import protocols
from tfgda.models import standing

__all__ = [
    "TrainingEvaluator",
    "build_sampler",
    "checkpoints_to_evaluate",
    "evaluate_run",
    "load_run",
    "read_run_info",
    "real_images_source",
    "reference_batches",
    "summary",
]


def checkpoints_to_evaluate(model_dir, which):
    """Checkpoint paths for 'latest', 'all' or a step number."""
    paths = [path for _, path in list_checkpoints(model_dir)]
    if not paths:
        raise UserError(
            f"no checkpoint in {model_dir!r}: train first, or "
            "check --model_dir."
        )
    steps = {checkpoint_step(p): p for p in paths}
    if which == "latest":
        return [paths[-1]]
    if which == "all":
        return [steps[s] for s in sorted(steps)]
    if not str(which).isdigit() or int(which) not in steps:
        raise UserError(
            f"checkpoint {which!r} is not in {model_dir!r}; "
            f"there are steps {sorted(steps)}."
        )
    return [steps[int(which)]]


def real_images_source(
    run_info, split, reference_path=None, needed_by="", resize=True
):
    """(make_dataset keyword arguments, dataset id) of a run's real images
    of `split`: reference_path if given, else the run's TFDS dataset or, for
    the train split, its image archive (resized to the run's image size
    unless resize is False)."""
    size = tuple(run_info["image_shape"][:2]) if resize else None
    if reference_path:
        return (
            {"name": "images", "path": reference_path, "resize": size},
            os.path.abspath(reference_path),
        )
    if run_info["dataset"] != "images":
        return (
            {"name": run_info["dataset"], "path": None, "split": split},
            f"tfds:{run_info['dataset']}",
        )
    if split == "train":
        return (
            {"name": "images", "path": run_info["source"], "resize": size},
            run_info["source"],
        )
    raise UserError(
        f"{needed_by} needs the {split} split, but the run trained on an "
        "image archive: pass --reference_path (e.g. "
        "cifar10-jpeg/test.zip)."
    )


def reference_batches(
    run_info, protocol, batch_size, reference_path=None, resize=True
):
    """A function returning the protocol's reference images in batches
    (at their own size if resize is False: for a feature network of one
    size, which refuses images of another)."""
    kwargs, dataset_id = real_images_source(
        run_info,
        protocol.split,
        reference_path,
        needed_by=f"protocol {protocol.name}",
        resize=resize,
    )

    def batches():  # the whole split, even for a run on a subset of it
        dataset, _ = data_lib.make_dataset(
            batch_size,
            shuffle=False,
            repeat=False,
            drop_remainder=False,
            cache=False,
            subset=None,
            **kwargs,
        )
        return (b["images"] for b in dataset)

    return batches, dataset_id


def build_sampler(model_dir, run_info, checkpoint_path):
    """The (EMA) generator of a checkpoint, rebuilt from the gin config;
    an EMA generator with its standing statistics (`standing_stats`)."""
    model = gin.get_configurable(run_info["model"])
    generator, _ = model(
        tuple(run_info["image_shape"]), run_info["num_classes"]
    )
    z = tf.zeros([1, generator.dim_z])
    generator(z, tf.zeros([1], tf.int32))
    name = "generator_ema" if run_info.get("ema") else "generator"
    try:
        tf.train.Checkpoint(**{name: VariableList(generator)}).restore(
            checkpoint_path
        ).expect_partial().assert_existing_objects_matched()
    except UNREADABLE_ERRORS as e:
        others = [
            step
            for step, path in list_checkpoints(model_dir)
            if path != checkpoint_path
        ]
        raise UserError(
            f"checkpoint {checkpoint_path!r} is unreadable (corrupt or "
            f"truncated: {type(e).__name__}); the run's other checkpoints "
            f"are steps {others}: pass --checkpoint=STEP."
        ) from e
    except (AssertionError, ValueError) as e:
        raise UserError(
            f"checkpoint {checkpoint_path!r} does not fit the model of "
            f"{model_dir}/operative_config.gin ({type(e).__name__}): was it "
            "written by another architecture?"
        ) from e
    if run_info.get("ema"):  # its own batch-norm statistics, not G's
        stats = models.standing_stats()
        logging.info(
            "Standing statistics of the EMA generator from %d samples.",
            stats.num_samples,
        )
        standing.recompute(
            generator,
            run_info["num_classes"],
            stats.num_samples,
            stats.batch_size,
        )
    return generator


def evaluate_run(
    model_dir,
    which="latest",
    protocol="fid10k_test",
    feature_model=None,
    reference_path=None,
    cache_dir="~/.cache/tfgda",
    batch_size=100,
    gin_bindings=(),
):
    """Evaluates checkpoints of a run; returns the list of result dicts.

    The run's gin config is loaded as `load_run` does.
    """
    paths = checkpoints_to_evaluate(model_dir, which)
    protocol = protocols.parse(protocol)
    run_info = load_run(model_dir, gin_bindings)
    feature_model = feature_model or evaluation.load_features()
    batches, dataset_id = reference_batches(
        run_info,
        protocol,
        batch_size,
        reference_path,
        resize=not feature_model.fixed_size,
    )
    reference = evaluation.reference_statistics(
        protocol, feature_model, batches, dataset_id, cache_dir
    )
    logging.info(
        "Reference %s: %d images (%s).",
        protocol.name,
        reference["count"],
        "cached" if reference["cached"] else "computed",
    )
    results = []
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval"))
    for path in paths:
        step = checkpoint_step(path)
        sampler = build_sampler(model_dir, run_info, path)
        result = evaluation.evaluate_sampler(
            sampler,
            run_info["num_classes"],
            protocol,
            feature_model,
            reference,
            batch_size,
        )
        result.update(
            step=step,
            checkpoint=path,
            standing_stats_samples=standing.samples_used(sampler),
        )
        _write_result(model_dir, writer, result)
        logging.info("step %d  %s  %s", step, protocol.name, summary(result))
        results.append(result)
    writer.flush()
    return results


class TrainingEvaluator:
    """Evaluates the sampler during training (train.eval_every).

    The feature model and the reference statistics are loaded at the first
    evaluation and kept. features: 'inception' or 'cifar10_classifier'
    (loaded now, so a CPU run gets an offline score curve).
    """

    def __init__(
        self,
        model_dir,
        run_info,
        protocol,
        reference_path=None,
        cache_dir="~/.cache/tfgda",
        batch_size=100,
        features="inception",
    ):
        self.model_dir = model_dir
        self.run_info = run_info
        self.protocol = protocols.parse(protocol)
        self.reference_path = reference_path
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self._features = self._reference = None
        fixed_size = False
        if features != "inception":  # small, offline: load and check now
            self._features = evaluation.load_features(features)
            fixed_size = self._features.fixed_size
        # Fail now, not hours into the run, on a protocol we cannot serve.
        batches, dataset_id = reference_batches(
            run_info,
            self.protocol,
            batch_size,
            reference_path,
            resize=not fixed_size,
        )
        if fixed_size:  # and on images of another size
            self._features.check(
                tf.zeros([1, *run_info["image_shape"]]), "generated images"
            )
            self._features.check(
                next(iter(batches())), f"reference images of {dataset_id!r}"
            )
        self._loaded = False

    def __call__(self, sampler, step, writer, strategy=None):
        if not self._loaded:
            self._features = self._features or evaluation.load_features()
            batches, dataset_id = reference_batches(
                self.run_info,
                self.protocol,
                self.batch_size,
                self.reference_path,
                resize=not self._features.fixed_size,
            )
            self._reference = evaluation.reference_statistics(
                self.protocol,
                self._features,
                batches,
                dataset_id,
                self.cache_dir,
                strategy,
            )
            self._loaded = True
        result = evaluation.evaluate_sampler(
            sampler,
            self.run_info["num_classes"],
            self.protocol,
            self._features,
            self._reference,
            self.batch_size,
            strategy=strategy,
        )
        result.update(
            step=step,
            checkpoint=None,
            standing_stats_samples=standing.samples_used(sampler),
        )
        _write_result(self.model_dir, writer, result)
        return result


def load_run(model_dir, gin_bindings=()):
    """Replaces the global gin config with the run's operative_config.gin
    (then `gin_bindings`), so models are rebuilt as trained; returns its
    run_info. Bindings of configurables this tool does not load (the
    trainer's, the optimizers') are skipped."""
    run_info = read_run_info(model_dir)
    with gin.unlock_config():
        gin.clear_config()
        configs.parse(
            [os.path.join(model_dir, "operative_config.gin")],
            gin_bindings,
            finalize=False,
            skip_unknown_in_files=True,
        )
    return run_info


def read_run_info(model_dir):
    path = os.path.join(model_dir, "run_info.json")
    if not tf.io.gfile.exists(path):
        raise UserError(
            f"{path!r} is missing: is {model_dir!r} a tfgda training directory?"
        )
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def summary(result):
    """'FID 12.345  IS 7.890  KID 0.01234' (or 'FCD ...  KID_FCD ...')."""
    return "  ".join(
        f"{key.upper() if key != 'inception_score' else 'IS'} "
        f"{result[key]:{'.5f' if key.startswith('kid') else '.3f'}}"
        for key in _METRIC_KEYS
        if key in result
    )


_METRIC_KEYS = ("fid", "inception_score", "kid", "fcd", "kid_fcd")


def _write_result(model_dir, writer, result):
    folder = os.path.join(
        model_dir,
        "eval",
        evaluation.result_folder(result["protocol"], result["features"]),
    )
    tf.io.gfile.makedirs(folder)
    # Atomic: a sweep takes this file's existence as "evaluated".
    write_atomically(
        os.path.join(folder, f"ckpt-{result['step']}.json"),
        json.dumps(result, indent=2),
    )
    with writer.as_default(step=result["step"]):
        for key in _METRIC_KEYS:
            if key in result:
                tf.summary.scalar(
                    f"eval/{result['protocol']}/{key}", result[key]
                )
