"""A generator's FID, IS and KID under a protocol, with cached references.

  feature_model = load_features("inception")  # or "cifar10_classifier"
  reference = reference_statistics(protocol, feature_model, batches,
                                   dataset_id, cache_dir)
  results = evaluate_sampler(sampler, num_classes, protocol,
                             feature_model, reference)

With TF-GAN's Inception the results are `fid`, `kid` and
`inception_score`; with the offline classifier (`tfgda.metrics.classifier`)
they are `fcd` and `kid_fcd` (Frechet distance and KID on its features),
kept apart from Inception's in name and in folder (`result_folder`).

Generated images come from fixed seeds (the same z and labels for every
checkpoint, labels uniform for conditional models) and the sampler in
inference mode. Reference statistics (mu, sigma, count, protocol, feature
model, and up to 10k activations for KID) are computed once per dataset,
split, feature model and protocol, and cached as an npz file; a cache file
made for anything else is refused, never overwritten.
"""

import hashlib
import os

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfgda import data as data_lib
from tfgda import rundir
from tfgda.errors import UserError
from tfgda.errors import did_you_mean
from tfgda.errors import positive_int
from tfgda.metrics import classifier
from tfgda.metrics import fid as fid_lib
from tfgda.metrics import inception
from tfgda.metrics import inception_score as is_lib
from tfgda.metrics import kid as kid_lib
from tfgda.metrics import protocols
from tfgda.models import standing
from tfgda.models.latents import sample_z
from tfgda.training import hooks

__all__ = [
    "FEATURES",
    "METRIC_KEYS",
    "Evaluation",
    "Evaluator",
    "activations",
    "evaluate_run",
    "evaluate_sampler",
    "generated_batches",
    "load_features",
    "real_images_source",
    "reference_batches",
    "reference_statistics",
    "result_folder",
    "summary",
    "take",
]

_KID_ACTIVATIONS = 10_000
FEATURES = ("inception", classifier.NAME)


def load_features(name="inception", inception_handle=None, weights=None):
    """The feature network called `name`: 'inception' (TF-GAN's, from
    `inception_handle` or the gin-bound `inception.handle`) or
    'cifar10_classifier' (the shipped weights, or the npz file `weights`
    that tfgda.tools.train_feature_net wrote)."""
    if name == "inception":
        if weights:
            raise UserError(
                "--feature_weights is for the offline "
                "classifier; Inception's is --inception=DIR."
            )
        return inception.inception(
            *([inception_handle] if inception_handle else [])
        )
    if name == classifier.NAME:
        return classifier.load_feature_model(weights or classifier.WEIGHTS_PATH)
    raise UserError(
        f"unknown --features {name!r}: use one of {', '.join(FEATURES)}."
        f"{did_you_mean(name, FEATURES)}"
    )


def result_folder(protocol_name, features_name="inception"):
    """Where under model_dir/eval a protocol's results go: <protocol> for
    Inception, <features>/<protocol> for another feature network."""
    if features_name == "inception":
        return protocol_name
    return f"{features_name}/{protocol_name}"


def activations(feature_model, batches, strategy=None, what="images"):
    """Features and logits of an iterable of image batches, concatenated.

    With a strategy, each batch is split over its replicas (so the feature
    model runs on the GPUs or TPU cores) and the outputs gathered. A
    network of one size refuses (UserError) `what` of another size.
    """
    strategy = strategy or tf.distribute.get_strategy()
    run = tf.function(
        lambda x: strategy.run(feature_model, (x,)), autograph=False
    )
    features, logits = [], []
    for images in batches:
        if not features:
            feature_model.check(images, what)
        feats, logs = run(
            strategy.experimental_distribute_values_from_function(
                lambda ctx, images=images: _replica_slice(images, ctx)
            )
        )
        features.append(strategy.gather(feats, axis=0).numpy())
        logits.append(strategy.gather(logs, axis=0).numpy())
    return np.concatenate(features), np.concatenate(logits)


def _replica_slice(images, ctx):
    n = ctx.num_replicas_in_sync
    size = -(-int(images.shape[0]) // n)
    return images[
        ctx.replica_id_in_sync_group * size : (ctx.replica_id_in_sync_group + 1)
        * size
    ]


def generated_batches(sampler, num_classes, count, batch_size, seed=0):
    """Yields `count` generated images in batches, from fixed seeds (z of
    the sampler's own distribution, uniform labels)."""
    sample = tf.function(
        lambda z, y: sampler(z, y, training=False), autograph=False
    )
    for i, start in enumerate(range(0, count, batch_size)):
        n = min(batch_size, count - start)
        batch_seed = tf.constant([seed, i], tf.int64)
        z = sample_z(sampler, n, batch_seed)
        labels = tf.random.stateless_uniform(
            [n], batch_seed + [0, 2**30], 0, max(num_classes, 1), tf.int32
        )
        yield sample(z, labels)


def reference_statistics(
    protocol,
    feature_model,
    reference_images,
    dataset_id,
    cache_dir,
    strategy=None,
):
    """mu, sigma and KID activations of the protocol's reference images.

    Args:
      reference_images: a function returning an iterable of image batches
        of the protocol's split, in a fixed order.
      dataset_id: names the dataset (TFDS name or archive path).
      cache_dir: where the npz lives (None: no cache).
    Returns:
      a dict with mu, sigma, count, activations, protocol, feature_model,
      and `cached` (True if read from the cache).
    """
    feature_model = feature_model.with_resize(protocol.resize)
    path = _cache_path(cache_dir, dataset_id, protocol, feature_model)
    if path and os.path.exists(path):
        return _read_cache(path, protocol, feature_model)
    batches = take(reference_images(), protocol.num_reference)
    features, _ = activations(
        feature_model,
        batches,
        strategy,
        what=f"reference images of {dataset_id!r}",
    )
    if len(features) < protocol.num_reference:
        raise UserError(
            f"protocol {protocol.name} needs {protocol.num_reference} "
            f"reference images but the {protocol.split} split of "
            f"{dataset_id!r} has {len(features)}: choose a smaller protocol."
        )
    mu, sigma = fid_lib.statistics(features)
    stats = {
        "mu": mu,
        "sigma": sigma,
        "count": len(features),
        "activations": features[:_KID_ACTIVATIONS].astype(np.float32),
        "protocol": protocol.name,
        "feature_model": feature_model.handle,
        "resize": feature_model.resize,
    }
    if path:
        _write_cache(path, stats)
    return dict(stats, cached=False)


def evaluate_sampler(
    sampler,
    num_classes,
    protocol,
    feature_model,
    reference,
    batch_size=100,
    seed=0,
    strategy=None,
):
    """The Frechet distance (mean and std over the protocol's repeats), KID
    and, with Inception, IS: keys named by `feature_model.metric_names`
    (fid, fid_std, fids, kid, inception_score; or fcd, fcd_std, fcds,
    kid_fcd).

    Args:
      sampler: a generator called as sampler(z, labels, training=False).
      reference: the dict of `reference_statistics`.
    """
    feature_model = feature_model.with_resize(protocol.resize)
    fd_key, kid_key, is_key = feature_model.metric_names
    fds, scores, kids = [], [], []
    for repeat in range(protocol.repeats):
        batches = generated_batches(
            sampler,
            num_classes,
            protocol.num_generated,
            batch_size,
            seed=seed * 1000 + repeat,
        )
        features, logits = activations(
            feature_model, batches, strategy, what="generated images"
        )
        mu, sigma = fid_lib.statistics(features)
        fds.append(
            fid_lib.fid_from_statistics(
                mu, sigma, reference["mu"], reference["sigma"]
            )
        )
        scores.append(is_lib.inception_score_from_logits(logits))
        kids.append(
            kid_lib.kid_from_activations(
                features[:_KID_ACTIVATIONS], reference["activations"]
            )
        )
    result = {
        "protocol": protocol.name,
        fd_key: float(np.mean(fds)),
        f"{fd_key}_std": float(np.std(fds)),
        f"{fd_key}s": fds,
        kid_key: float(np.mean(kids)),
    }
    if is_key:
        result[is_key] = float(np.mean(scores))
    result.update(
        {
            "num_generated": protocol.num_generated,
            "num_reference": int(reference["count"]),
            "repeats": protocol.repeats,
            "features": feature_model.name,
            "feature_model": feature_model.handle,
            "resize": feature_model.resize,
        }
    )
    if feature_model.sha256:
        result["feature_weights_sha256"] = feature_model.sha256
    return result


def take(batches, count):
    """The first `count` images of an iterable of batches, as batches."""
    taken = 0
    for batch in batches:
        if taken >= count:
            return
        batch = batch[: count - taken]
        taken += int(batch.shape[0])
        yield batch


def _cache_path(cache_dir, dataset_id, protocol, feature_model):
    if not cache_dir:
        return None
    key = (
        f"{dataset_id}|{protocol.split}|{feature_model.handle}|"
        f"{feature_model.resize}"
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = os.path.basename(str(dataset_id).rstrip("/")) or "data"
    return os.path.join(
        os.path.expanduser(cache_dir), f"{name}_{protocol.name}_{digest}.npz"
    )


def _read_cache(path, protocol, feature_model):
    with np.load(path) as f:
        stats = {k: f[k] for k in f.files}
    for key, want in (
        ("protocol", protocol.name),
        ("feature_model", feature_model.handle),
        ("resize", feature_model.resize),
    ):
        if str(stats.get(key)) != want:
            raise UserError(
                f"reference cache {path!r} is for {key} "
                f"{str(stats.get(key))!r}, not {want!r}: delete it or "
                "choose another cache directory."
            )
    stats["count"] = int(stats["count"])
    return dict(stats, cached=True)


def _write_cache(path, stats):
    """Writes atomically: a temporary file, then a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **stats)
    os.replace(tmp, path)


# --- A run's checkpoints, and its sampler during training.


def real_images_source(
    run_info,
    split,
    reference_path=None,
    needed_by="",
    resize=True,
    reference_setting="--reference_path",
):
    """(dataset keyword arguments, dataset id) of a run's real images
    of `split`: reference_path if given, else the run's TFDS dataset or, for
    the train split, its image archive (resized to the run's image size
    unless resize is False). `reference_setting` is how the caller's user
    gives reference_path (a flag, or a gin binding in training)."""
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
        f"image archive: {_how_to_give(reference_setting)} (an archive of "
        f"that split, e.g. cifar10-jpeg/{split}.zip)."
    )


def _how_to_give(setting):
    if setting.startswith("--"):
        return f"pass {setting}"
    return f"bind {setting} = '/path/to/archive.zip' in the gin config"


def check_reference_count(
    run_info,
    protocol,
    reference_path=None,
    reference_setting="--reference_path",
):
    """Refuses, before any image is scored, an image archive that holds
    fewer reference images than `protocol` needs (a TFDS split is counted
    when its images are read)."""
    kwargs, dataset_id = real_images_source(
        run_info,
        protocol.split,
        reference_path,
        needed_by=f"protocol {protocol.name}",
        reference_setting=reference_setting,
    )
    if kwargs["name"] != "images":
        return
    try:
        _, info = data_lib.dataset(
            1, shuffle=False, repeat=False, cache=False, subset=None, **kwargs
        )
    except data_lib.MixedSizesError:
        return  # reference_batches says what to do about it
    if info.num_examples < protocol.num_reference:
        raise UserError(
            f"protocol {protocol.name} needs {protocol.num_reference} "
            f"reference images but {dataset_id!r} has {info.num_examples}: "
            f"choose a protocol of at most {info.num_examples} images (e.g. "
            f"{_largest_protocol(info.num_examples, protocol.split)}) or a "
            "larger archive."
        )


def _largest_protocol(count, split):
    """The name of a protocol of at most `count` images, as round as the
    count allows: 'fid10k_test' for 10,000 or 12,345, 'fid500_test' for
    512."""
    if count >= 1000:
        return f"fid{count // 1000}k_{split}"
    return f"fid{count}_{split}"


def reference_batches(
    run_info,
    protocol,
    batch_size,
    reference_path=None,
    resize=True,
    reference_setting="--reference_path",
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
        reference_setting=reference_setting,
    )

    def batches():  # the whole split, even for a run on a subset of it
        try:
            dataset, _ = data_lib.dataset(
                batch_size,
                shuffle=False,
                repeat=False,
                drop_remainder=False,
                cache=False,
                subset=None,
                **kwargs,
            )
        except data_lib.MixedSizesError as e:  # dataset.resize is not the fix
            raise UserError(
                f"{e.problem} The reference images of {protocol.name} must "
                f"all be {'x'.join(map(str, run_info['image_shape'][:2]))}, "
                "the size the feature network takes them at: give an "
                "archive of images of that size (e.g. cifar10-jpeg/test.zip)."
            ) from e
        return (b["images"] for b in dataset)

    return batches, dataset_id


@data_lib.shared_indexes()  # the count check and the scoring: one index
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
    """Evaluates checkpoints of a run (`python -m tfgda.evaluate`): an
    `Evaluator` called on each one restored; returns the result dicts.

    The run's gin config (then `gin_bindings`) rebuilds its generator; the
    caller's config is back afterwards (`rundir.Run.config`).
    """
    run = rundir.opened(model_dir)  # a Run, or its directory
    paths = run.checkpoints(which)
    protocol = protocols.parse(protocol)
    with run.config(gin_bindings) as run_info:
        evaluator = Evaluator(
            run.model_dir,
            run_info,
            protocol,
            features=feature_model or "inception",
            reference_path=reference_path,
            cache_dir=cache_dir,
            batch_size=batch_size,
        )
        evaluator.reference()
        results, skipped = [], []
        writer = run.summary_writer("eval")
        for path in paths:
            step = rundir.checkpoint_step(path)
            try:
                sampler = run.generator(path)
            except rundir.CheckpointRemovedError as e:
                if len(paths) == 1:
                    raise
                logging.warning("Skipped step %d: %s", step, e)
                skipped.append(step)
                continue
            results.append(evaluator(sampler, step, writer, checkpoint=path))
        writer.flush()
        if skipped:
            logging.warning(
                "Scored %d of the %d checkpoints listed; steps %s were removed "
                "by the run's trainer before they could be read.",
                len(results),
                len(paths),
                skipped,
            )
        return results


class Evaluator:
    """A sampler's scores under one protocol, kept as results of the run
    (model_dir/eval/<folder>/ckpt-<step>.json and TensorBoard
    eval/<protocol>/<metric>) and logged.

    The one evaluation of a run: `evaluate_run` calls it on every
    checkpoint it restores, the `evaluation` hook on the training sampler.
    Settings are checked when it is made (the reference's size and count,
    and, for a fixed-size feature network, the images' size), so a mistake
    stops a run before its first step; the feature model and the reference
    statistics are loaded once, at the first call or `reference()`.

    Args:
      features: 'inception', 'cifar10_classifier' (loaded now: small and
        offline) or a loaded FeatureModel.
      reference_setting: the setting a user changes to give a reference
        archive, named in errors.
    """

    def __init__(
        self,
        model_dir,
        run_info,
        protocol,
        features="inception",
        reference_path=None,
        cache_dir="~/.cache/tfgda",
        batch_size=100,
        reference_setting="--reference_path",
    ):
        self.model_dir = model_dir
        self.run_info = run_info
        self.protocol = protocols.parse(protocol)
        self.reference_path = reference_path
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.reference_setting = reference_setting
        self._reference = None
        check_reference_count(
            run_info, self.protocol, reference_path, reference_setting
        )
        if isinstance(features, str):
            self._features = None
            if features != "inception":
                self._features = load_features(features)
        else:
            self._features = features
        fixed_size = bool(self._features and self._features.fixed_size)
        # Fail now, not hours into the run, on a protocol we cannot serve.
        batches, dataset_id = self._reference_batches(fixed_size)
        if fixed_size:  # and on images of another size
            self._features.check(
                tf.zeros([1, *run_info["image_shape"]]), "generated images"
            )
            self._features.check(
                next(iter(batches())), f"reference images of {dataset_id!r}"
            )

    def _reference_batches(self, fixed_size):
        return reference_batches(
            self.run_info,
            self.protocol,
            self.batch_size,
            self.reference_path,
            resize=not fixed_size,
            reference_setting=self.reference_setting,
        )

    def reference(self, strategy=None):
        """The reference statistics (loaded, or computed and cached, once)."""
        if self._reference is None:
            self._features = self._features or load_features()
            batches, dataset_id = self._reference_batches(
                self._features.fixed_size
            )
            self._reference = reference_statistics(
                self.protocol,
                self._features,
                batches,
                dataset_id,
                self.cache_dir,
                strategy,
            )
            logging.info(
                "Reference %s: %d images (%s).",
                self.protocol.name,
                self._reference["count"],
                "cached" if self._reference["cached"] else "computed",
            )
        return self._reference

    def __call__(self, sampler, step, writer, strategy=None, checkpoint=None):
        """Scores `sampler` (in inference mode, its statistics prepared) as
        the run's result at `step`; returns the result dict."""
        reference = self.reference(strategy)
        result = evaluate_sampler(
            sampler,
            self.run_info["num_classes"],
            self.protocol,
            self._features,
            reference,
            self.batch_size,
            strategy=strategy,
        )
        result.update(
            step=step,
            checkpoint=checkpoint,
            standing_stats_samples=standing.samples_used(sampler),
        )
        _write_result(self.model_dir, writer, result)
        logging.info(
            "step %d  %s  %s", step, result["protocol"], summary(result)
        )
        return result


@gin.configurable("evaluation")
class Evaluation(hooks.Hook):
    """The `evaluation` hook: an `Evaluator` of the training sampler (FID,
    IS and KID under `protocol`; results in model_dir/eval/, TensorBoard
    eval/<protocol>/...).

    Args:
      every: steps between evaluations.
      protocol: e.g. 'fid10k_test' or 'fid50k_train'.
      reference_path: an archive of the protocol's split, for runs on
        image archives.
      features: 'inception' (TF-GAN's; FID; needs `inception.handle`) or
        'cifar10_classifier' (the offline network shipped with tfgda, for
        32x32 runs on machines without Inception; FCD, not comparable with
        FID).
    """

    def __init__(
        self,
        every=5000,
        protocol="fid10k_test",
        reference_path=None,
        features="inception",
    ):
        self.every = positive_int("evaluation.every", every)
        self.protocol = protocol
        self.reference_path = reference_path
        self.features = features

    def begin(self, run):
        super().begin(run)
        self.evaluator = Evaluator(
            run.model_dir,
            run.run_info,
            self.protocol,
            features=self.features,
            reference_path=self.reference_path,
            reference_setting="evaluation.reference_path",
        )

    def __call__(self, step, metrics):
        run = self.run
        self.evaluator(run.sampler(), step, run.writer, run.strategy)


def summary(result):
    """'FID 12.345  IS 7.890  KID 0.01234' (or 'FCD ...  KID_FCD ...')."""
    return "  ".join(
        f"{key.upper() if key != 'inception_score' else 'IS'} "
        f"{result[key]:{'.5f' if key.startswith('kid') else '.3f'}}"
        for key in METRIC_KEYS
        if key in result
    )


METRIC_KEYS = ("fid", "inception_score", "kid", "fcd", "kid_fcd")


def _write_result(model_dir, writer, result):
    rundir.write_result(
        model_dir,
        os.path.join(
            "eval", result_folder(result["protocol"], result["features"])
        ),
        result["step"],
        result,
    )
    with writer.as_default(step=result["step"]):
        for key in METRIC_KEYS:
            if key in result:
                tf.summary.scalar(
                    f"eval/{result['protocol']}/{key}", result[key]
                )
