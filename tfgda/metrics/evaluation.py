"""A generator's FID, IS and KID under a protocol, with cached references.

  results = evaluate_sampler(sampler, num_classes, protocol,
                             feature_model, reference_images, cache_dir)

Generated images come from fixed seeds (the same z and labels for every
checkpoint, labels uniform for conditional models) and the sampler in
inference mode. Reference statistics (mu, sigma, count, protocol, feature
model, and up to 10k activations for KID) are computed once per dataset,
split, feature model and protocol, and cached as an npz file; a cache file
made for anything else is refused, never overwritten.
"""

import hashlib
import os

import numpy as np
import tensorflow as tf

from tfgda.errors import UserError
from tfgda.metrics import fid as fid_lib
from tfgda.metrics import inception_score as is_lib
from tfgda.metrics import kid as kid_lib
from tfgda.models.latents import sample_z

__all__ = ["activations", "evaluate_sampler", "reference_statistics",
           "generated_batches"]

_KID_ACTIVATIONS = 10_000


def activations(feature_model, batches, strategy=None):
    """Features and logits of an iterable of image batches, concatenated.

    With a strategy, each batch is split over its replicas (so the feature
    model runs on the GPUs or TPU cores) and the outputs gathered.
    """
    strategy = strategy or tf.distribute.get_strategy()
    run = tf.function(lambda x: strategy.run(feature_model, (x,)))
    features, logits = [], []
    for images in batches:
        feats, logs = run(strategy.experimental_distribute_values_from_function(
            lambda ctx, images=images: _replica_slice(images, ctx)))
        features.append(strategy.gather(feats, axis=0).numpy())
        logits.append(strategy.gather(logs, axis=0).numpy())
    return np.concatenate(features), np.concatenate(logits)


def _replica_slice(images, ctx):
    n = ctx.num_replicas_in_sync
    size = -(-int(images.shape[0]) // n)
    return images[ctx.replica_id_in_sync_group * size:
                  (ctx.replica_id_in_sync_group + 1) * size]


def generated_batches(sampler, num_classes, count, batch_size, seed=0):
    """Yields `count` generated images in batches, from fixed seeds (z of
    the sampler's own distribution, uniform labels)."""
    sample = tf.function(lambda z, y: sampler(z, y, training=False))
    for i, start in enumerate(range(0, count, batch_size)):
        n = min(batch_size, count - start)
        batch_seed = tf.constant([seed, i], tf.int64)
        z = sample_z(sampler, n, batch_seed)
        labels = tf.random.stateless_uniform(
            [n], batch_seed + [0, 2**30], 0, max(num_classes, 1), tf.int32)
        yield sample(z, labels)


def reference_statistics(protocol, feature_model, reference_images,
                         dataset_id, cache_dir, strategy=None):
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
    batches = _take(reference_images(), protocol.num_reference)
    features, _ = activations(feature_model, batches, strategy)
    if len(features) < protocol.num_reference:
        raise UserError(
            f"protocol {protocol.name} needs {protocol.num_reference} "
            f"reference images but the {protocol.split} split of "
            f"{dataset_id!r} has {len(features)}: choose a smaller protocol.")
    mu, sigma = fid_lib.statistics(features)
    stats = {"mu": mu, "sigma": sigma, "count": len(features),
             "activations": features[:_KID_ACTIVATIONS].astype(np.float32),
             "protocol": protocol.name,
             "feature_model": feature_model.handle,
             "resize": protocol.resize}
    if path:
        _write_cache(path, stats)
    return dict(stats, cached=False)


def evaluate_sampler(sampler, num_classes, protocol, feature_model,
                     reference, batch_size=100, seed=0, strategy=None):
    """FID (mean and std over the protocol's repeats), IS and KID.

    Args:
      sampler: a generator called as sampler(z, labels, training=False).
      reference: the dict of `reference_statistics`.
    """
    feature_model = feature_model.with_resize(protocol.resize)
    fids, scores, kids = [], [], []
    for repeat in range(protocol.repeats):
        batches = generated_batches(sampler, num_classes,
                                    protocol.num_generated, batch_size,
                                    seed=seed * 1000 + repeat)
        features, logits = activations(feature_model, batches, strategy)
        mu, sigma = fid_lib.statistics(features)
        fids.append(fid_lib.fid_from_statistics(mu, sigma, reference["mu"],
                                                reference["sigma"]))
        scores.append(is_lib.inception_score_from_logits(logits))
        kids.append(kid_lib.kid_from_activations(
            features[:_KID_ACTIVATIONS], reference["activations"]))
    return {"protocol": protocol.name, "fid": float(np.mean(fids)),
            "fid_std": float(np.std(fids)), "fids": fids,
            "inception_score": float(np.mean(scores)),
            "kid": float(np.mean(kids)),
            "num_generated": protocol.num_generated,
            "num_reference": int(reference["count"]),
            "repeats": protocol.repeats,
            "feature_model": feature_model.handle,
            "resize": protocol.resize}


def _take(batches, count):
    taken = 0
    for batch in batches:
        if taken >= count:
            return
        batch = batch[:count - taken]
        taken += int(batch.shape[0])
        yield batch


def _cache_path(cache_dir, dataset_id, protocol, feature_model):
    if not cache_dir:
        return None
    key = (f"{dataset_id}|{protocol.split}|{feature_model.handle}|"
           f"{protocol.resize}")
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = os.path.basename(str(dataset_id).rstrip("/")) or "data"
    return os.path.join(os.path.expanduser(cache_dir),
                        f"{name}_{protocol.name}_{digest}.npz")


def _read_cache(path, protocol, feature_model):
    with np.load(path) as f:
        stats = {k: f[k] for k in f.files}
    for key, want in (("protocol", protocol.name),
                      ("feature_model", feature_model.handle),
                      ("resize", protocol.resize)):
        if str(stats.get(key)) != want:
            raise UserError(
                f"reference cache {path!r} is for {key} "
                f"{str(stats.get(key))!r}, not {want!r}: delete it or "
                "choose another cache directory.")
    stats["count"] = int(stats["count"])
    return dict(stats, cached=True)


def _write_cache(path, stats):
    """Writes atomically: a temporary file, then a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **stats)
    os.replace(tmp, path)
