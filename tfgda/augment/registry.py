"""The augmentation registry, specs and pipelines.

An augmentation is a pure function `fn(images, seed, strength)` on a batch of
NHWC images in [-1, 1], returning the augmented batch (mixing augmentations
return `(images, MixInfo)`). It draws its random parameters per sample with
stateless ops from `seed` (a [2] integer tensor), so the same seed gives the
same output. `strength` is a Python float or a scalar float32 tensor (a
schedule or an adaptive controller moves it during training), so an op must
not turn it into a Python number. `@register` adds one under its name.

A spec names one augmentation or a composition applied in order:
  * 'translation'             with the strength given to `get`;
  * 'translation(0.4)'        with its own strength;
  * 'translation+brightness'  (or a list of names) applied in order;
  * 'color,translation,cutout'  a DiffAugment policy: DiffAugment's own ops
    (`color`, `diffaugment_translation`, `diffaugment_cutout`) at its
    default strengths, for comparison with that paper.
"""

import collections
from collections.abc import Callable
import dataclasses
import re

import tensorflow as tf

from tfgda.augment import sampling
from tfgda.errors import UserError
from tfgda.errors import did_you_mean

__all__ = [
    "MissingStrengthError",
    "MixInfo",
    "Op",
    "Pipeline",
    "describe",
    "get",
    "names",
    "register",
]

# Fraction of each image taken from another one of the batch.
MixInfo = collections.namedtuple("MixInfo", ["partner", "weight"])

DIFFAUGMENT_POLICY = {
    "color": "color",
    "translation": "diffaugment_translation",
    "cutout": "diffaugment_cutout",
}


@dataclasses.dataclass(frozen=True)
class Op:
    """A registered augmentation and what the registry knows of it."""

    name: str
    fn: Callable
    family: str
    max_strength: float
    default_strength: float | None
    mixing: bool
    needs_rgb: bool
    identity_at_zero: bool
    fusable: bool


_REGISTRY = {}


def register(
    name,
    *,
    family,
    max_strength=1.0,
    default_strength=None,
    mixing=False,
    needs_rgb=False,
    identity_at_zero=True,
    fusable=False,
):
    """Registers `fn(images, seed, strength)` under `name`.

    Args:
      family: 'spatial', 'appearance', 'mixing', 'diffaugment', 'simclr'.
      max_strength: strengths must lie in [0, max_strength].
      default_strength: used when a spec gives none (None: required).
      mixing: fn returns (images, MixInfo).
      needs_rgb: fn needs 3 channels.
      identity_at_zero: strength 0 leaves images unchanged.
      fusable: fn draws its parameters and returns one call of a
        `sampling.compiled` function on its images, so a pipeline of such
        ops runs in one compiled call (`Pipeline.each`).
    """

    def decorator(fn):
        old = _REGISTRY.get(name)
        if old is not None and _origin(old.fn) != _origin(fn):
            raise ValueError(
                f"augmentation {name!r} is registered twice (by "
                f"{'.'.join(_origin(old.fn))} and {'.'.join(_origin(fn))}): "
                "choose another name."
            )
        # The same function defined again (a notebook cell run twice, a
        # module reloaded) replaces its earlier self, as gin allows.
        _REGISTRY[name] = Op(
            name,
            fn,
            family,
            max_strength,
            default_strength,
            mixing,
            needs_rgb,
            identity_at_zero,
            fusable,
        )
        return fn

    return decorator


def _origin(fn):
    return (fn.__module__, fn.__qualname__)


def names(family=None):
    """The registered names, sorted (optionally of one family)."""
    return sorted(
        n for n, op in _REGISTRY.items() if family in (None, op.family)
    )


def describe(name):
    """The registry's record of one augmentation."""
    return _lookup(name)


class Pipeline:
    """Augmentations applied in order, each with its strength.

    Call it as `pipeline(images, seed)`; `pipeline.apply(images, seed)` also
    returns the MixInfo of every mixing op, for losses that mix targets.
    Both take an optional `scale`, a scalar in [0, 1] (a tensor) that
    multiplies every op's strength: how a strength schedule or adaptive
    control moves the strength without retracing.
    """

    def __init__(self, ops):
        self.ops = tuple(ops)  # ((Op, strength), ...)

    @property
    def spec(self):
        return "+".join(f"{op.name}({s:g})" for op, s in self.ops)

    def __repr__(self):
        return f"Pipeline({self.spec!r})"

    def __bool__(self):
        return bool(self.ops)

    def check_shape(self, shape):
        """Raises a UserError unless `shape` is [batch, H, W, channels]."""
        shape = tf.TensorShape(shape)
        if shape.rank != 4:
            raise UserError(
                f"augmentation {self.spec} needs a batch of "
                f"images [N, H, W, C], got shape {shape}."
            )
        if any(op.needs_rgb for op, _ in self.ops) and shape[-1] != 3:
            raise UserError(
                f"augmentation {self.spec} needs RGB images "
                f"(3 channels), got shape {shape}."
            )

    def check_inputs(self, images, seed):
        """Raises a UserError naming the fix for images that are not
        floats or a seed that is not a [2] integer pair."""
        images = tf.convert_to_tensor(images)
        if not images.dtype.is_floating:
            raise UserError(
                f"augmentation {self.spec} takes float images in [-1, 1], "
                f"got {images.dtype.name}: convert first, e.g. "
                "tf.cast(images, tf.float32) / 127.5 - 1."
            )
        seed = tf.convert_to_tensor(seed)
        if not seed.shape.is_compatible_with([2]) or not seed.dtype.is_integer:
            raise UserError(
                f"augmentation {self.spec} takes a stateless seed of shape "
                f"[2] (integers), got {seed.dtype.name} of shape "
                f"{seed.shape}: e.g. tf.constant([0, step], tf.int64)."
            )
        return images, tf.cast(seed, tf.int64)

    def apply(self, images, seed, scale=None):
        """Returns (augmented images, [MixInfo of each mixing op])."""
        if len(self.ops) > 1 and self._fused:
            return self.each([images], [seed], scale)[0], []
        images, seed = self.check_inputs(images, seed)
        self.check_shape(images.shape)
        mixes = []
        for op, op_seed, strength in self._steps(seed, scale):
            images = op.fn(images, op_seed, strength)
            if op.mixing:
                images, mix = images
                mixes.append(mix)
        return images, mixes

    def __call__(self, images, seed, scale=None):
        return self.apply(images, seed, scale)[0]

    def each(self, batches, seeds, scale=None):
        """[self(images, seed, scale) for images, seed in zip(batches,
        seeds)], e.g. D's real and fake batches with their own seeds.

        When every op is fusable (see `register`) and XLA is on, the same
        numbers come from one compiled call for all ops and batches, and one
        for the gradient, instead of one call per op and batch: the pipeline
        is first run with its compiled calls deferred (`sampling.deferred`),
        which draws every parameter, and then replayed at once.
        """
        if not self._fused:
            return [self(x, s, scale) for x, s in zip(batches, seeds)]
        inputs, chains = [], []
        for images, seed in zip(batches, seeds):
            images, seed = self.check_inputs(images, seed)
            self.check_shape(images.shape)
            with sampling.deferred() as calls:
                for op, op_seed, strength in self._steps(seed, scale):
                    recorded = len(calls)
                    if (
                        op.fn(images, op_seed, strength) is not images
                        or len(calls) != recorded + 1
                    ):
                        raise RuntimeError(
                            f"augmentation {op.name!r} is registered "
                            "fusable but does not return one call of a "
                            "sampling.compiled function on its images: "
                            "register it without fusable=True."
                        )
            inputs.append(images)
            chains.append(calls)
        return sampling.run_deferred(inputs, chains)

    @property
    def _fused(self):
        return (
            bool(self.ops)
            and all(op.fusable for op, _ in self.ops)
            and sampling.xla_enabled()
        )

    def _steps(self, seed, scale):
        """(op, its seed, its strength) for each op, in order."""
        for i, (op, strength) in enumerate(self.ops):
            op_seed = tf.random.experimental.stateless_fold_in(seed, i)
            if scale is not None:
                strength = strength * tf.cast(scale, tf.float32)
            yield op, op_seed, strength


def get(spec, strength=None):
    """Returns the Pipeline of a spec (see the module docstring).

    Args:
      spec: a name, a spec string, or a list of them.
      strength: lambda_aug for every op the spec gives no strength of.
    Raises:
      UserError: an unknown name or a strength out of range.
    """
    if isinstance(spec, Pipeline):
        return spec
    if spec is None or spec in ("", "none"):
        return Pipeline([])
    terms = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    ops = []
    for term in terms:
        if "," in term:
            ops += [
                _with_strength(
                    _lookup(DIFFAUGMENT_POLICY.get(p.strip(), p.strip())), None
                )
                for p in term.split(",")
            ]
            continue
        for part in term.split("+"):
            name, own = _parse_term(part)
            op = _lookup(name)
            ops.append(_with_strength(op, own if own is not None else strength))
    return Pipeline(ops)


_TERM = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([-+0-9.eE]+)\s*\))?\s*$")


def _parse_term(term):
    match = _TERM.match(term)
    if not match:
        raise UserError(
            f"augmentation spec {term!r} is malformed: write "
            "a name, or a name and strength like "
            "'translation(0.4)'."
        )
    name, strength = match.groups()
    return name, None if strength is None else float(strength)


def _lookup(name):
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise UserError(
        f"unknown augmentation {name!r}."
        f"{did_you_mean(name, _REGISTRY)} Known: "
        f"{', '.join(names())}."
    )


class MissingStrengthError(UserError):
    """An op of a spec has no strength (given or default)."""

    def __init__(self, message, op_name):
        super().__init__(message)
        self.op_name = op_name


def _with_strength(op, strength):
    if strength is not None and (
        isinstance(strength, bool) or not isinstance(strength, (int, float))
    ):
        raise UserError(
            f"the strength of {op.name!r} must be a number, got "
            f"{strength!r} ({type(strength).__name__}): write "
            f"it without quotes, e.g. augment.strength = 0.4."
        )
    if strength is None:
        strength = op.default_strength
    if strength is None:
        raise MissingStrengthError(
            f"augmentation {op.name!r} needs a strength: write "
            f"'{op.name}(0.2)' or bind augment.strength.",
            op.name,
        )
    if not 0.0 <= strength <= op.max_strength:
        raise UserError(
            f"strength {strength:g} of {op.name!r} is out of "
            f"range: use a value in [0, {op.max_strength:g}]."
        )
    return op, float(strength)
