"""A run on disk: what a model_dir holds, and every read and write of it.

Training, evaluation, export, the leak check and the sweep reach a run's
directory only through this package, each program by opening one `Run`
(`run.py`: the lock, the checkpointed objects, the saver, the TensorBoard
writer, restore and save for the trainer; the config, checkpoints,
generators and results for readers):

  model_dir/
    ckpt-<step>.index, ckpt-<step>.data-*   checkpoints (`Saver`)
    checkpoint                  TensorFlow's state file, relative names
                                (written, never trusted on read)
    .tfgda.lock                 one trainer at a time (`hold`)
    run_info.json               what rebuilding G needs (`write_run_info`)
    operative_config.gin        the config as trained
    events.out.tfevents.*       TensorBoard: train/, samples, eval/, leak/
    samples/step_<step>.png     sample grids
    eval/<protocol>/ckpt-<step>.json   evaluation results
    eval/leak/<augmentation>/ckpt-<step>.json   leak-check results
    workers/worker-<i>/         other workers' saves (multi-worker jobs)

`checkpointing` and `runlock` hold the two hard parts (kill-safe saves and
the lock), `files` the rest of the layout; their public names are
re-exported here.
"""

from tfgda.rundir.checkpointing import UNREADABLE_ERRORS
from tfgda.rundir.checkpointing import DiskFullError
from tfgda.rundir.checkpointing import Saver
from tfgda.rundir.checkpointing import VariableList
from tfgda.rundir.checkpointing import Variables
from tfgda.rundir.checkpointing import checkpoint_step
from tfgda.rundir.checkpointing import clean_partial_writes
from tfgda.rundir.checkpointing import is_disk_full
from tfgda.rundir.checkpointing import list_checkpoints
from tfgda.rundir.checkpointing import restore
from tfgda.rundir.checkpointing import restore_latest
from tfgda.rundir.checkpointing import write_atomically
from tfgda.rundir.files import OPERATIVE_CONFIG
from tfgda.rundir.files import RUN_INFO
from tfgda.rundir.files import RUN_MARKERS
from tfgda.rundir.files import SWEEP_RECORD
from tfgda.rundir.files import CheckpointRemovedError
from tfgda.rundir.files import check
from tfgda.rundir.files import check_writable
from tfgda.rundir.files import existing_run
from tfgda.rundir.files import find_run_files
from tfgda.rundir.files import make_dir
from tfgda.rundir.files import read_result
from tfgda.rundir.files import read_results
from tfgda.rundir.files import read_run_info
from tfgda.rundir.files import restore_generator
from tfgda.rundir.files import result_path
from tfgda.rundir.files import sample_grids
from tfgda.rundir.files import samples_path
from tfgda.rundir.files import save_dir
from tfgda.rundir.files import select_checkpoints
from tfgda.rundir.files import write_operative_config
from tfgda.rundir.files import write_result
from tfgda.rundir.files import write_run_info
from tfgda.rundir.run import Run
from tfgda.rundir.run import checkpoint_items
from tfgda.rundir.run import opened
from tfgda.rundir.runlock import check_free
from tfgda.rundir.runlock import hold

__all__ = [
    "CheckpointRemovedError",
    "DiskFullError",
    "OPERATIVE_CONFIG",
    "RUN_INFO",
    "RUN_MARKERS",
    "Run",
    "SWEEP_RECORD",
    "Saver",
    "UNREADABLE_ERRORS",
    "VariableList",
    "Variables",
    "check",
    "check_free",
    "check_writable",
    "checkpoint_items",
    "checkpoint_step",
    "clean_partial_writes",
    "existing_run",
    "find_run_files",
    "hold",
    "is_disk_full",
    "list_checkpoints",
    "make_dir",
    "opened",
    "read_result",
    "read_results",
    "read_run_info",
    "result_path",
    "restore",
    "restore_generator",
    "restore_latest",
    "sample_grids",
    "samples_path",
    "save_dir",
    "select_checkpoints",
    "write_atomically",
    "write_operative_config",
    "write_result",
    "write_run_info",
]
