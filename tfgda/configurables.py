"""Every gin configurable of tfgda, registered by importing this module.

`tfgda.configs` imports it, so a program, a notebook or a test that calls
`configs.parse` parses any tfgda config without knowing which modules
define what it binds. It imports the leaves only: the modules that declare
configurables (`@gin.configurable`), none of which imports `configs` (they
use `ginfiles`). A module that declares a new configurable is listed here
(tests/test_configs.py checks that every one is registered). The sweep's
grid (`sweep`) is declared by `configs` itself.
"""

# pylint: disable=unused-import
from tfgda import data  # noqa: F401  (dataset)
from tfgda.augment import policy  # noqa: F401  (augment)
from tfgda.augment import schedule  # noqa: F401  (decay, adaptive)
from tfgda.metrics import evaluation  # noqa: F401  (evaluation)
from tfgda.metrics import inception  # noqa: F401  (inception)
from tfgda.metrics import leakage  # noqa: F401  (leak_check)
from tfgda.metrics import overfitting  # noqa: F401  (overfitting)
from tfgda.models import biggan  # noqa: F401  (biggan, biggan_pytorch)
from tfgda.models import sndcgan  # noqa: F401  (sndcgan)
from tfgda.models import standing  # noqa: F401  (standing_stats)
from tfgda.training import distribute  # noqa: F401  (strategy)
from tfgda.training import hooks  # noqa: F401  (progress, samples, checkpoints)
from tfgda.training import losses  # noqa: F401  (hinge, non_saturating)
from tfgda.training import optim  # noqa: F401  (adam)
from tfgda.training import regularizers  # noqa: F401  (bcr, contrastive, zcr)
from tfgda.training import trainer  # noqa: F401  (train)
