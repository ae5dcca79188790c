"""tfgda: image augmentations for GAN training, in TensorFlow 2 and Keras 3.

The top level holds the command-line programs, each `python -m tfgda.<name>`
(train, evaluate, export, leak, sweep, report; developer tools in
`tfgda.tools`), and what they share (cli, console, errors, data; configs,
whose `parse` registers every gin configurable through `configurables`, and
ginfiles, the gin-file parsing the library below the trainer uses).
The library is in packages: `augment` (the augmentations), `models`,
`training` (the step, its losses and regularizers, the loop and its hooks,
which see the run through a read-only view), `rundir` (a run on disk: every
program opens one `rundir.Run`, through which it reads and writes the run's
directory on any filesystem TensorFlow reaches), `metrics` (FID and the
rest; one evaluator per kind: scores, the leak check, D's overfitting, each
with the training hook that calls it beside it) and `experiments` (sweeps
and their reports).
"""

__version__ = "0.1.0"

# TensorFlow's C++ start-up lines are hidden unless asked for (tfgda.console).
from tfgda import console as _console  # noqa: E402

_console.import_tensorflow_quietly()
