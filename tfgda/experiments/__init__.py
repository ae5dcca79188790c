"""Experiments: sweeps of training runs (`sweep`) and their reports
(`report`), behind the `tfgda.sweep` and `tfgda.report` programs."""
