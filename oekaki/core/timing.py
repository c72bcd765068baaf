"""Where a stage's time goes, by phase: what bench/breakdown.py reads to split the pipeline's wall time.

Stage code wraps its parts in `phase("optimiser_steps")`, `phase("figures")`...; the runner
resets the record before a stage and stores it in the stage's provenance record. Phases nest:
time spent in an inner phase is not counted in the outer one, so the parts add up.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

# The work the pipeline exists for; everything else (start-up, per-epoch evaluation, logging,
# export, figures, scoring) is overhead in bench/breakdown.py's sense.
WORK_PHASES = ("optimiser_steps", "final_sampling")

_seconds: dict[str, float] = defaultdict(float)
_stack: list[list] = []  # [name, started, seconds spent in inner phases]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the block's wall time under `name` (minus any inner phase's)."""
    frame = [name, time.perf_counter(), 0.0]
    _stack.append(frame)
    try:
        yield
    finally:
        _stack.pop()
        spent = time.perf_counter() - frame[1]
        _seconds[name] += spent - frame[2]
        if _stack:
            _stack[-1][2] += spent


def reset() -> None:
    _seconds.clear()
    _stack.clear()


def recorded() -> dict[str, float]:
    """Seconds per phase since the last reset, rounded for the provenance record."""
    return {k: round(v, 3) for k, v in sorted(_seconds.items())}
