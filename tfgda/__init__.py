"""tfgda: image augmentations for GAN training, in TensorFlow 2 and Keras 3."""

__version__ = "0.1.0"

# TensorFlow's C++ start-up lines are hidden unless asked for (tfgda.console).
from tfgda import console as _console  # noqa: E402

_console.import_tensorflow_quietly()
