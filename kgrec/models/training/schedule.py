"""The learning rate at each optimiser step, as a pure function of where the step lies in the run.

``constant`` keeps the base rate. ``cosine`` decays it from the base rate to 0 along half a cosine
laid out over the run's ``epochs``: step ``i`` of ``n`` in epoch ``e`` is at
``t = (e - 1 + i / n) / epochs`` and trains with ``lr * (1 + cos(pi * t)) / 2``. Nothing but the
epoch and the step decides the rate, so a run stopped and resumed follows the one-go schedule
without any saved scheduler state; a run that ends earlier (early stopping, ``max_seconds``) has
not reached the low end.
"""

from __future__ import annotations

import math

from kgrec.errors import KgrecError
from kgrec.models.trainable import LR_SCHEDULES


def check_schedule(name: str) -> str:
    """``name`` if it is a known schedule; a one-line error naming the choices otherwise."""
    if name not in LR_SCHEDULES:
        raise KgrecError(f"unknown lr_schedule {name!r}", f"choose from {', '.join(LR_SCHEDULES)}")
    return name


def lr_factor(schedule: str, epoch: int, step: int, steps: int, epochs: int) -> float:
    """The multiple of the base rate for 0-based ``step`` of ``steps`` in 1-based ``epoch`` of ``epochs``."""
    if schedule == "constant":
        return 1.0
    check_schedule(schedule)
    t = (epoch - 1 + step / max(steps, 1)) / max(epochs, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
