"""Where training runs: the device and thread choice from `base`, and freed memory kept in the process."""

from __future__ import annotations

import ctypes
import sys

import torch

from oekaki.core.config import BaseConfig
from oekaki.core.errors import TrainingError

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Keep the memory freed tensors leave behind in the process, for the next step's tensors (glibc only).

    PyTorch has no caching allocator on the CPU: every training step frees its activations and
    gradients and allocates them again. glibc then gives the freed top of the heap back to the
    kernel (above 128 KiB by default) and serves large blocks with mmap, so each step's buffers
    come back as fresh pages the kernel must zero on first touch. With both thresholds raised
    (`mallopt`), the diffusion model's training step took 71-74 ms instead of 76-81 ms, with
    150,000 page faults instead of 465,000-614,000 over 85 steps (docs/speed.md). Raising the
    trim threshold alone is worse than neither: it also freezes the mmap threshold at 128 KiB.
    The arithmetic does not change (CPU tensors stay 64-byte aligned, c10's allocator). True
    when glibc took both settings; elsewhere (macOS, musl) nothing happens.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def resolve_device(base: BaseConfig) -> torch.device:
    """`auto` = CUDA when present, else CPU; `cuda` without a GPU is an error, not a silent CPU run.

    Also sets the process up for training: `base.threads` torch threads, freed memory kept.
    """
    torch.set_num_threads(base.threads)
    keep_freed_memory()
    if base.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("base.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if base.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
