"""The one bridge to TF-GAN's evaluation functions.

`import tensorflow_gan` fails on TensorFlow >= 2.16: its package
`__init__` imports `tf.estimator`, which was removed. Its evaluation module
`tensorflow_gan/python/eval/classifier_metrics.py` itself works. We import
that module directly, standing in empty parent packages for the time of the
import (and putting back whatever was there), so TF-GAN's own FID, KID and
Inception Score code computes every number tfgda reports.
"""

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import types

__all__ = ["classifier_metrics"]

_PARENTS = (
    "tensorflow_gan",
    "tensorflow_gan.python",
    "tensorflow_gan.python.eval",
)
_MODULE = "tensorflow_gan.python.eval.classifier_metrics"


@functools.cache
def classifier_metrics():
    """TF-GAN's `classifier_metrics` module.

    Raises:
      ImportError: tensorflow-gan is not installed, or its module changed.
    """
    try:
        import tensorflow_gan  # noqa: F401  pylint: disable=g-import-not-at-top

        return importlib.import_module(_MODULE)
    except AttributeError:  # tf.estimator is gone: bypass the package init
        pass
    spec = importlib.util.find_spec(_PARENTS[0])
    if spec is None:
        raise ImportError(
            "tensorflow-gan is not installed: pip install tensorflow-gan"
        )
    root = spec.submodule_search_locations[0]
    with _stand_in_packages(root):
        return importlib.import_module(_MODULE)


@contextlib.contextmanager
def _stand_in_packages(root):
    saved = {name: sys.modules.get(name) for name in _PARENTS}
    try:
        for name in _PARENTS:
            package = types.ModuleType(name)
            parts = name.split(".")[1:]
            package.__path__ = [os.path.join(root, *parts)]
            sys.modules[name] = package
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
