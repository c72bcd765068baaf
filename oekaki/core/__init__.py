"""Shared by every layer: config, errors, paths, atomic I/O, plots, the stage contract, the training loop."""
