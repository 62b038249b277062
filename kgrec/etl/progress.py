"""Progress bars per ingest stage, on stderr (tqdm); silent when disabled (the Python API default)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


class _Null:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


class Progress:
    def __init__(self, enabled: bool = False):
        self.enabled = enabled

    @contextlib.contextmanager
    def stage(self, desc: str, total: int | None = None, unit: str = "step") -> Iterator[Any]:
        if not self.enabled:
            yield _Null()
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True, dynamic_ncols=True) as bar:
            yield bar
